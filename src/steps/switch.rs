//! `switch:` point the live symlink at a release, atomically.
//!
//! ```yaml
//! - name: switch to the new release
//!   switch:
//!     link: "{{ site_path }}"
//!     target: "{{ release.path }}"
//!   register: switched
//! ```
//!
//! A temporary symlink is renamed over the link, so it is never missing.
//! Registers `{link, previous, current}`; a later failure switches back
//! (and runs the `restart:` steps after it again).

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Effect, Prepared, Render, StepKind, Symlink, Tmpl};
use super::outcome::Outcome;
use crate::template::TemplateError;
use crate::transport::{RemoteCommand, quote};

/// The `switch:` kind.
pub struct SwitchKind;

/// `switch:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchArgs {
    /// The symlink (e.g. `site_path`).
    pub link: Tmpl,
    /// The release it should point at.
    pub target: Tmpl,
}

impl StepKind for SwitchKind {
    const KEY: &'static str = "switch";
    const SUMMARY: &'static str =
        "point the live symlink at a release, atomically; switched back on a later failure";
    type Args = SwitchArgs;

    fn templates(a: &SwitchArgs) -> Vec<&str> {
        vec![&a.link.0, &a.target.0]
    }

    fn prepare(a: &SwitchArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let link = render.text(&a.link)?;
        let target = render.text(&a.target)?;
        let command = render.command(switch_script(&link, &target));
        let symlink = Symlink { link: link.clone() };
        Ok(Prepared::new(command, move |ran| {
            let marks = ran.succeeded()?;
            let previous = marks.get("previous").cloned().unwrap_or_default();
            let register = BTreeMap::from([
                ("link", link.clone()),
                ("previous", previous),
                ("current", target.clone()),
            ]);
            Ok(Outcome {
                changed: marks.get("changed").is_none_or(|c| c == "true"),
                register: Some(Value::from_serialize(&register)),
                ..Outcome::default()
            })
        })
        .with_effect(Effect::Switches(symlink)))
    }
}

impl Symlink {
    /// Prints what the link points at (nothing if it is not a link), as `become_user`.
    pub fn read(&self, become_user: Option<String>) -> RemoteCommand {
        RemoteCommand {
            become_user,
            in_place: true,
            ..RemoteCommand::new(format!("readlink -- {} || true\n", quote(&self.link)))
        }
    }

    /// Points the link back at `previous`, as `become_user`.
    pub fn point_at(&self, previous: &str, become_user: Option<String>) -> RemoteCommand {
        RemoteCommand {
            become_user,
            ..RemoteCommand::new(switch_script(&self.link, previous))
        }
    }
}

/// Points `link` at `target` by renaming a temporary symlink over it, so
/// the link is never missing; prints the previous target.
fn switch_script(link: &str, target: &str) -> String {
    format!("link={} target={}\n", quote(link), quote(target))
        + r#"set -e
previous=$(readlink -- "$link" 2>/dev/null || true)
printf 'wptdeploy.previous=%s\n' "$previous"
[ -d "$target" ] || { echo "wptdeploy: $target is not a directory" >&2; exit 3; }
if [ "$previous" = "$target" ]; then touch -- "$target"; echo wptdeploy.changed=false; exit 0; fi
tmp="$link.wptdeploy-$$"
ln -sfn -- "$target" "$tmp"
mv -Tf -- "$tmp" "$link"
touch -- "$target"
echo wptdeploy.changed=true
"#
}
