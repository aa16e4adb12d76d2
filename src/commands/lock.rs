//! The deploy lock as commands, each a plan the engine runs (forks,
//! redaction, `--output json` and the reporter apply as to any run), made
//! from the deploy playbook's `lock:` step:
//!
//! - `wptdeploy unlock ENV`: `action: inspect`, then, when held,
//!   `action: remove`, confirmed host by host on a terminal, or by `--yes`;
//! - `wptdeploy lock ENV -m WHY`: `action: hold`, the lock kept after the
//!   run with WHY in its note, so every deploy it refuses says why;
//! - `wptdeploy lock status ENV`: `action: inspect` only.

use std::sync::Arc;

use super::Context;
use super::session::{Asking, Session};
use crate::cli::{HoldArgs, LockCommand, UnlockArgs};
use crate::error::CommandError;
use crate::error::Error;
use crate::playbook::{Playbook, Step, Tmpl};
use crate::steps::kind::Typed;
use crate::steps::lock::{Lock, LockArgs};
use crate::transport::quote;

/// What the inspect step registers.
const FOUND: &str = "deploy_lock";

/// Shows and removes the lock.
pub async fn unlock(args: UnlockArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let extra = cx.extra_vars();
    // With nobody to confirm, only look; then say how to remove what was found.
    let confirmed = cx.settings.yes || cx.settings.attended;
    let session = Session {
        name: "unlock",
        title: "the deploy lock on {env}",
        env: args.env,
        extra,
        reshape: Some(unlock_steps),
        asking: Asking::Confirm,
        check: !confirmed,
        ..Session::default()
    };
    let summaries = session.execute(cx).await?;
    if summaries.iter().any(|s| s.planned > 0) && !confirmed {
        return Err(CommandError::UnlockUnconfirmed.into());
    }
    Ok(())
}

/// Holds the lock (`-m WHY`), or shows who holds it (`status`).
pub async fn run(args: HoldArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let extra = cx.extra_vars();
    if let Some(LockCommand::Status(status)) = args.command {
        let session = Session {
            name: "lock status",
            title: "the deploy lock on {env}",
            env: status.env,
            extra,
            reshape: Some(status_steps),
            ..Session::default()
        };
        return session.execute(cx).await.map(drop);
    }
    let env = args.env.unwrap_or_default();
    let why = args.message.unwrap_or_default();
    let session = Session {
        name: "lock",
        title: "the deploy lock on {env}",
        lock_command: Some(format!("wptdeploy lock {} -m {}", quote(&env), quote(&why))),
        env,
        extra,
        reshape: Some(hold_steps),
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}

fn unlock_steps(playbook: &Playbook) -> Result<Vec<Step>, Error> {
    lock_steps(
        playbook,
        &[
            ("read the deploy lock", "inspect", None, Some(FOUND)),
            (
                "remove the deploy lock",
                "remove",
                Some(format!("{FOUND}.held")),
                None,
            ),
        ],
    )
}

fn status_steps(playbook: &Playbook) -> Result<Vec<Step>, Error> {
    lock_steps(playbook, &[("read the deploy lock", "inspect", None, None)])
}

fn hold_steps(playbook: &Playbook) -> Result<Vec<Step>, Error> {
    lock_steps(playbook, &[("hold the deploy lock", "hold", None, None)])
}

/// The deploy playbook's lock step as `steps`: each a name, an action, a
/// `when:` and a `register:`.
fn lock_steps(
    playbook: &Playbook,
    steps: &[(&str, &str, Option<String>, Option<&str>)],
) -> Result<Vec<Step>, Error> {
    let (step, args) = playbook
        .lock_step()
        .and_then(|step| {
            let args = step.action.as_any().downcast_ref::<Typed<Lock>>()?;
            Some((step, &args.args))
        })
        .ok_or_else(|| CommandError::NoLockStep(playbook.origin.clone()))?;
    Ok(steps
        .iter()
        .map(|(name, action, when, register)| Step {
            name: Tmpl((*name).into()),
            when: when.clone(),
            register: register.map(str::to_owned),
            action: Arc::new(Typed::<Lock> {
                args: LockArgs {
                    path: args.path.clone(),
                    action: Some(Tmpl((*action).into())),
                },
            }),
            ..step.clone()
        })
        .collect())
}
