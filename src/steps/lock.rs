//! `lock:` the deploy lock: a directory created atomically with `mkdir`,
//! holding a note of who took it, when, for which commit, and a token that
//! only the owner's release matches.
//!
//! ```yaml
//! - name: take the deploy lock
//!   lock:
//!     path: "{{ lock_path }}"
//! ```
//!
//! Taking it is two commands: the first makes the directory with a
//! `pending.TOKEN` file in it, the second, sent once the first's answer is
//! back, renames that file to `confirmed`. A take that reached the host
//! only after its deploy gave up (a network that came back: the kernel
//! still delivers what it had queued) is never confirmed, and the next
//! deploy takes such a lock over once it is [`UNCONFIRMED_GRACE_SECS`] old,
//! so it can never be left behind stale. Claiming the pending file is one
//! rename, so the owner's confirmation and a takeover cannot both win.
//!
//! `action: take` (the default) takes it, waiting with `--lock-wait`, and
//! the run releases it however it ends; `action: hold` takes it and keeps
//! it (`wptdeploy lock ENV -m WHY`, for maintenance). `wptdeploy unlock` uses
//! `action: inspect` (read-only; registers `{held, holder}`) and
//! `action: remove` (removes it whoever holds it).

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::effect::lock::{LockSpec, holder};
use super::kind::{Effect, Prepared, Render, StepKind, Tmpl, check_literal, choice_error};
use super::outcome::Outcome;
use crate::template::TemplateError;

/// The `lock:` kind.
pub struct Lock;

/// `lock:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockArgs {
    /// The lock directory.
    pub path: Tmpl,
    /// `take` (default), `inspect` or `remove`.
    #[serde(default)]
    pub action: Option<Tmpl>,
}

const ACTIONS: [&str; 4] = ["take", "hold", "inspect", "remove"];

impl StepKind for Lock {
    const KEY: &'static str = "lock";
    const SUMMARY: &'static str =
        "take the deploy lock, released when the run ends however it ends";
    type Args = LockArgs;

    fn check(args: &LockArgs) -> Result<(), String> {
        check_literal(args.action.as_ref(), |a| {
            if ACTIONS.contains(&a) {
                Ok(())
            } else {
                Err(choice_error("lock: action", &ACTIONS, a))
            }
        })
    }

    fn templates(args: &LockArgs) -> Vec<&str> {
        let mut all = vec![args.path.0.as_str()];
        all.extend(args.action.iter().map(|a| a.0.as_str()));
        all
    }

    fn prepare(args: &LockArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let action = render.given(args.action.as_ref())?;
        let action = action.as_deref().unwrap_or("take");
        let spec = LockSpec {
            path: render.text(&args.path)?,
            become_user: render.become_user().map(str::to_owned),
            kept: action == "hold",
        };
        match action {
            "take" | "hold" => Ok(Prepared::new(render.command(String::new()), |_| {
                Ok(Outcome {
                    changed: true,
                    ..Outcome::default()
                })
            })
            .with_effect(Effect::TakesLock(spec))),
            "inspect" => {
                let path = spec.path.clone();
                Ok(Prepared::new(spec.inspect(), move |ran| {
                    ran.succeeded()?;
                    let holder = holder(ran.output).map(|h| h.describe());
                    let register = BTreeMap::from([
                        ("held", Value::from(holder.is_some())),
                        ("holder", Value::from(holder.clone().unwrap_or_default())),
                        ("path", Value::from(path.clone())),
                    ]);
                    Ok(Outcome {
                        changed: false,
                        register: Some(Value::from_serialize(&register)),
                        note: Some(holder.map_or_else(
                            || format!("not locked ({path})"),
                            |h| format!("locked by {h}"),
                        )),
                        ..Outcome::default()
                    })
                })
                .looking_only()
                .data_on_stdout())
            }
            "remove" => {
                let path = spec.path.clone();
                Ok(Prepared::new(spec.remove(), move |ran| {
                    ran.succeeded()?;
                    let removed = holder(ran.output).is_some();
                    Ok(Outcome {
                        changed: removed,
                        note: Some(if removed {
                            format!("lock removed ({path})")
                        } else {
                            format!("not locked ({path})")
                        }),
                        ..Outcome::default()
                    })
                })
                .data_on_stdout())
            }
            other => Err(TemplateError::new(choice_error(
                "lock: action",
                &ACTIONS,
                other,
            ))),
        }
    }
}
