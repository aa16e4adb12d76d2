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
//!     venvs: "{{ venvs_path }}"
//! ```
//!
//! Keeps the `keep` most recently used release directories (40-hex names),
//! never the live one or those in `protect`; with `backups`, a removed
//! release's database backups go with it; with `venvs`, the environments
//! of the `virtualenv:` store that no release uses any more go too (one
//! being built is never touched). The note says how much disk it freed
//! (files hard-linked elsewhere, as uv's cache does, are not counted). It
//! comes once the new release is live and healthy: failures after it no
//! longer switch back, and what it cannot remove (a read-only directory
//! inside a release, as Go and npm caches leave, is made writable first)
//! is a warning, never a failure: the release is set aside under a name
//! that is not a release's (`.removing-SHA`, renamed before anything is
//! removed) and tried again at the next prune.

use serde::Deserialize;

use super::kind::{Effect, Prepared, Render, StepKind, Tmpl, check_number};
use super::outcome::Outcome;
use super::shell_fns::{IS_HEX, IS_VENV_NAME};
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
    /// The `virtualenv:` store, whose unused environments go too.
    #[serde(default)]
    pub venvs: Option<Tmpl>,
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
            .chain(&a.venvs)
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
        let prune = Prune {
            releases: render.text(&a.releases)?,
            keep: keep.max(1),
            link: render.text(&a.link)?,
            protect,
            backups: render.given(a.backups.as_ref())?,
            venvs: render.given(a.venvs.as_ref())?,
        };
        Ok(Prepared::new(render.command(prune.script()), |ran| {
            // The deploy is done: a prune that fails is said, never a failure.
            if let Err(failure) = ran.succeeded() {
                return Ok(Outcome {
                    warnings: vec![format!(
                        "pruning old releases failed: {}; the next deploy tries again",
                        failure.message
                    )],
                    ..Outcome::default()
                });
            }
            let removed = Removed::read(&ran.output.stdout);
            Ok(Outcome {
                changed: removed.releases + removed.venvs > 0,
                note: removed.note(),
                warnings: removed.kept,
                ..Outcome::default()
            })
        })
        .with_effect(Effect::EndsRollbackWindow))
    }
}

/// What a prune removed, from its `wptdeploy.removed*=NAME BYTES` lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct Removed {
    releases: usize,
    venvs: usize,
    bytes: u64,
    /// What could not be removed, and why: warnings, never a failure.
    kept: Vec<String>,
}

impl Removed {
    fn read(stdout: &str) -> Removed {
        let mut removed = Removed::default();
        for (key, value) in stdout.lines().filter_map(|l| l.split_once('=')) {
            let bytes = value
                .rsplit(' ')
                .next()
                .and_then(|b| b.parse::<u64>().ok())
                .unwrap_or(0);
            match key {
                "wptdeploy.removed" | "wptdeploy.removed_leftover" => removed.releases += 1,
                "wptdeploy.removed_venv" => removed.venvs += 1,
                "wptdeploy.kept" | "wptdeploy.kept_venv" => {
                    let (name, why) = value.split_once(' ').unwrap_or((value, ""));
                    let what = if key == "wptdeploy.kept" {
                        format!(
                            "the old release {name} (set aside as .removing-{name}, tried again at the next prune)"
                        )
                    } else {
                        format!("the unused virtualenv {name} (tried again at the next prune)")
                    };
                    removed.kept.push(format!("could not remove {what}: {why}"));
                    continue;
                }
                _ => continue,
            }
            removed.bytes += bytes;
        }
        removed
    }

    /// "removed 2 old release(s) and 1 virtualenv(s), freed 41.3 MB".
    fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.releases > 0 {
            parts.push(format!("{} old release(s)", self.releases));
        }
        if self.venvs > 0 {
            parts.push(format!("{} unused virtualenv(s)", self.venvs));
        }
        (!parts.is_empty()).then(|| {
            format!(
                "removed {}, freed {}",
                parts.join(" and "),
                human_bytes(self.bytes)
            )
        })
    }
}

/// `812 KB`, `41.3 MB`, `2.1 GB` (powers of 1000, as `df -H`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 && unit > 0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// What to prune.
struct Prune {
    releases: String,
    keep: usize,
    link: String,
    protect: Vec<String>,
    backups: Option<String>,
    venvs: Option<String>,
}

impl Prune {
    /// Removes all but the `keep` most recently used release directories,
    /// never the live one nor any of `protect`; with `backups`, the
    /// database backups named after a removed release; with `venvs`, the
    /// environments no release links to (under each one's `flock`).
    fn script(&self) -> String {
        let mut protected: Vec<String> = self
            .protect
            .iter()
            .filter_map(|p| p.trim_end_matches('/').rsplit('/').next())
            .filter(|name| !name.is_empty())
            .map(quote)
            .collect();
        protected.push("\"$live\"".into());
        format!(
            "releases={} keep={} link={} backups={} venvs={}\n",
            quote(&self.releases),
            self.keep,
            quote(&self.link),
            quote(self.backups.as_deref().unwrap_or_default()),
            quote(self.venvs.as_deref().unwrap_or_default()),
        ) + IS_HEX
            + IS_VENV_NAME
            + &format!(
                r#"set -e
# Bytes only this path holds (a file hard-linked elsewhere stays).
size() {{ find "$@" -type f -links 1 -printf '%s\n' 2>/dev/null | awk '{{ s += $1 }} END {{ printf "%d", s }}'; }}
live=$(readlink -- "$link" 2>/dev/null || true); live=${{live%/}}; live=${{live##*/}}
# Removes a directory already out of the releases' names; one that will
# not go (a read-only directory inside, as Go and npm caches leave) is made
# writable and tried again, and else named with the reason and kept.
remove() {{
  rm -rf -- "$1" 2>/dev/null && return 0
  chmod -R u+w -- "$1" 2>/dev/null || true
  why=$(rm -rf -- "$1" 2>&1) && return 0
  printf 'wptdeploy.kept=%s %s\n' "${{1#.removing-}}" "$(printf '%s\n' "$why" | tail -n 1 | tr -d '\r')"
  return 1
}}
cd -- "$releases"
# What an earlier prune could not finish (cut short, or refused).
for d in .removing-*; do
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  bytes=$(size "$d")
  if remove "$d"; then echo "wptdeploy.removed_leftover=${{d#.removing-}} $bytes"; fi
done
n=0
for d in $(ls -1t); do
  is_hex 40 "$d" || continue
  [ -d "$d" ] && [ ! -L "$d" ] || continue
  n=$((n + 1))
  [ "$n" -le "$keep" ] && continue
  case "$d" in {}) continue ;; esac
  bytes=$(size "$d")
  # Out of its name first, in one rename: a prune cut short leaves no
  # half-removed directory that looks like a release.
  mv -T -- "$d" ".removing-$d"
  remove ".removing-$d" || continue
  if [ -n "$backups" ] && [ -d "$backups" ]; then
    for f in "$backups"/*-"$d"-*.dump; do
      [ -f "$f" ] || continue
      bytes=$((bytes + $(size "$f"))); rm -f -- "$f"
    done
  fi
  echo "wptdeploy.removed=$d $bytes"
done
if [ -n "$venvs" ] && [ -d "$venvs" ]; then
  cd -- "$venvs"
  for e in *; do
    [ -d "$e" ] && [ ! -L "$e" ] || continue
    case "$e" in adopted-*) ;; *) is_venv_name "$e" || continue ;; esac
    exec 9>".$e.lock"
    flock -n 9 || continue
    # The releases whose `.venv` still links to it (`-ef`: the same
    # directory, however the link spells it); the list rewritten only
    # when one has gone.
    users= listed=
    if [ -f "$e.users" ]; then
      while IFS= read -r u; do
        listed="$listed$u
"
        [ -L "$u/.venv" ] && [ "$u/.venv" -ef "$e" ] && users="$users$u
"
      done < "$e.users"
    fi
    if [ -n "$users" ]; then
      [ "$users" = "$listed" ] || {{ printf %s "$users" > "$e.users.new" && mv -f -- "$e.users.new" "$e.users"; }}
    else
      bytes=$(size "$e")
      if why=$(rm -rf -- "$e" "$e.users" 2>&1); then
        echo "wptdeploy.removed_venv=$e $bytes"
      else
        printf 'wptdeploy.kept_venv=%s %s\n' "$e" "$(printf '%s\n' "$why" | tail -n 1)"
      fi
    fi
    exec 9>&-
  done
fi
"#,
                protected.join(" | ")
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_counts_what_went_and_the_disk_it_freed() {
        let removed = Removed::read(
            "wptdeploy.removed=aaaa 1500000\nwptdeploy.removed=bbbb 500000\nwptdeploy.removed_venv=0123456789abcdef 39300000\nother=1\n",
        );
        assert_eq!(
            removed,
            Removed {
                releases: 2,
                venvs: 1,
                bytes: 41_300_000,
                kept: vec![]
            }
        );
        assert_eq!(
            removed.note().unwrap(),
            "removed 2 old release(s) and 1 unused virtualenv(s), freed 41 MB"
        );
        assert_eq!(Removed::read("").note(), None);
        assert_eq!(human_bytes(812_000), "812 KB");
        assert_eq!(human_bytes(2_140_000_000), "2.1 GB");
    }
}
