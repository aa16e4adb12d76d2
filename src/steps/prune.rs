//! `prune:` remove old releases, never the live one.
//!
//! ```yaml
//! - name: remove old releases
//!   prune:
//!     releases: "{{ releases_path }}"
//!     keep: "{{ keep_releases }}"
//!     link: "{{ site_path }}"
//!     protect: ["{{ switched.previous }}"]
//!     backups: "{{ backup_path }}"
//! ```
//!
//! Keeps the `keep` most recently used release directories (40-hex names),
//! never the live one or those in `protect`; with `backups`, a removed
//! release's database backups go with it. It comes once the new release is
//! live and healthy: failures after it no longer switch back.

use serde::Deserialize;

use super::kind::{Effect, Prepared, Render, StepKind, Tmpl, check_number};
use super::outcome::Outcome;
use crate::template::TemplateError;
use crate::transport::quote;

/// The `prune:` kind.
pub struct PruneKind;

/// `prune:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneArgs {
    /// The directory holding the releases.
    pub releases: Tmpl,
    /// How many to keep.
    pub keep: Tmpl,
    /// The live symlink, whose target is never removed.
    pub link: Tmpl,
    /// More release paths never to remove.
    #[serde(default)]
    pub protect: Vec<Tmpl>,
    /// The directory of database backups named after releases.
    #[serde(default)]
    pub backups: Option<Tmpl>,
}

impl StepKind for PruneKind {
    const KEY: &'static str = "prune";
    const SUMMARY: &'static str =
        "keep the `keep` newest releases, never the live one; ends the switch-back window";
    type Args = PruneArgs;

    fn check(a: &PruneArgs) -> Result<(), String> {
        check_number::<usize>(Some(&a.keep), "prune: keep")
    }

    fn templates(a: &PruneArgs) -> Vec<&str> {
        [&a.releases, &a.keep, &a.link]
            .into_iter()
            .chain(&a.protect)
            .chain(&a.backups)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &PruneArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let keep: usize = render.number(Some(&a.keep), 0, "prune: keep")?;
        let protect = a
            .protect
            .iter()
            .map(|t| render.text(t))
            .collect::<Result<Vec<_>, _>>()?;
        let backups = render.given(a.backups.as_ref())?;
        let script = prune_script(
            &render.text(&a.releases)?,
            keep.max(1),
            &render.text(&a.link)?,
            &protect,
            backups.as_deref(),
        );
        Ok(Prepared::new(render.command(script), |ran| {
            ran.succeeded()?;
            let removed = ran
                .output
                .stdout
                .lines()
                .filter(|l| l.starts_with("wptdeploy.removed="))
                .count();
            Ok(Outcome {
                changed: removed > 0,
                note: (removed > 0).then(|| format!("removed {removed} old release(s)")),
                ..Outcome::default()
            })
        })
        .with_effect(Effect::EndsRollbackWindow))
    }
}

/// Removes all but the `keep` most recently used release directories,
/// never the live one nor any of `protect`; and, with `backups`, the
/// database backups named after a removed release.
fn prune_script(
    releases: &str,
    keep: usize,
    link: &str,
    protect: &[String],
    backups: Option<&str>,
) -> String {
    let mut protected: Vec<String> = protect
        .iter()
        .filter_map(|p| p.trim_end_matches('/').rsplit('/').next())
        .filter(|name| !name.is_empty())
        .map(quote)
        .collect();
    protected.push("\"$live\"".into());
    format!(
        "releases={} keep={keep} link={} backups={}\n",
        quote(releases),
        quote(link),
        quote(backups.unwrap_or_default())
    ) + &format!(
        r#"set -e
live=$(readlink -- "$link" 2>/dev/null || true); live=${{live%/}}; live=${{live##*/}}
cd -- "$releases"
n=0
for d in $(ls -1t); do
  printf %s "$d" | grep -Eqx '[0-9a-f]{{40}}' || continue
  [ -d "$d" ] || continue
  n=$((n + 1))
  [ "$n" -le "$keep" ] && continue
  case "$d" in {}) continue ;; esac
  rm -rf -- "$d"
  if [ -n "$backups" ]; then rm -f -- "$backups"/*-"$d"-*.dump; fi
  echo "wptdeploy.removed=$d"
done
"#,
        protected.join(" | ")
    )
}
