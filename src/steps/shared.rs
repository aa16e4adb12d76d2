//! `shared:` link the paths that outlive a release (uploads, logs, an
//! `instance/` folder, a `.env`) into it, before the switch.
//!
//! ```yaml
//! - name: link the shared paths into the release
//!   shared:
//!     release: "{{ release.build_path }}"
//!     dir: "{{ shared_path }}"                # base_path/shared
//!     paths: "{{ shared_paths }}"             # directories, relative to a release
//!     files: "{{ shared_files }}"             # files, relative to a release
//!   become: "{{ app_user }}"
//! ```
//!
//! Each path lives once, as `dir/PATH`, and `release/PATH` becomes a link
//! to it (Capistrano's `linked_dirs` and `linked_files`). A shared
//! directory that does not exist yet is made (seeded with the release's
//! own copy when the commit has one: moved, and said). A release's own
//! copy of a path that is shared already is never silently lost: it is
//! moved to `release/.wptdeploy-shared-copies/PATH`, and the step says
//! so. A shared file that does not exist, with no copy in the release to
//! seed it, fails the step before the switch (the app would start without
//! it), naming the file to create. A release that has its links already
//! (a redeploy, a rollback) is left as it is.

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::Outcome;
use crate::template::TemplateError;
use crate::transport::quote;

/// The `shared:` kind.
pub struct SharedKind;

/// `shared:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedArgs {
    /// The release being built.
    pub release: Tmpl,
    /// Where the shared paths live (`base_path/shared`).
    pub dir: Tmpl,
    /// Directories, relative to a release (a list, or comma-separated).
    #[serde(default)]
    pub paths: Option<Tmpl>,
    /// Files, relative to a release (a list, or comma-separated).
    #[serde(default)]
    pub files: Option<Tmpl>,
}

impl StepKind for SharedKind {
    const KEY: &'static str = "shared";
    const SUMMARY: &'static str =
        "link the directories and files that outlive a release (base_path/shared) into it";
    type Args = SharedArgs;

    fn templates(a: &SharedArgs) -> Vec<&str> {
        [&a.release, &a.dir]
            .into_iter()
            .chain(&a.paths)
            .chain(&a.files)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &SharedArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let checked = |list: Vec<String>| -> Result<Vec<String>, TemplateError> {
            list.into_iter()
                .map(|p| relative(&p).map_err(TemplateError::new))
                .collect()
        };
        let paths = checked(render.list(a.paths.as_ref())?)?;
        let files = checked(render.list(a.files.as_ref())?)?;
        let words = |list: &[String]| list.iter().map(|p| quote(p)).collect::<Vec<_>>().join(" ");
        let script = format!(
            "release={} dir={}\nlink_all() {{\n  kind=$1; shift\n  for p in \"$@\"; do link_one \"$kind\" \"$p\"; done\n}}\n",
            quote(&render.text(&a.release)?),
            quote(&render.text(&a.dir)?),
        ) + SCRIPT
            + &format!(
                "for p in {files}; do missing \"$p\"; done\nlink_all d {}\nlink_all f {files}\n",
                words(&paths),
                files = words(&files)
            );
        Ok(Prepared::new(render.command(script), |ran| {
            ran.succeeded()?;
            Ok(outcome(&ran.output.stdout))
        }))
    }
}

/// A path inside a release: relative, without `..`, not empty.
fn relative(path: &str) -> Result<String, String> {
    let trimmed = path.trim().trim_end_matches('/');
    if trimmed.is_empty()
        || trimmed.starts_with('/')
        || trimmed
            .split('/')
            .any(|part| matches!(part, "" | "." | ".."))
    {
        return Err(format!(
            "shared: `{path}` is not a path inside a release (relative, without `.` or `..`)"
        ));
    }
    Ok(trimmed.to_owned())
}

/// Links one path, in POSIX sh: `link_one d|f PATH`.
const SCRIPT: &str = r#"set -e
say() { echo "wptdeploy: $*" >&2; exit 3; }
[ -d "$release" ] || say "the release $release is not there"
mkdir -p -- "$dir"
# A shared file nothing can start fails the step before anything moves.
missing() {
  if [ ! -e "$dir/$1" ] && [ ! -L "$dir/$1" ] && { [ ! -f "$release/$1" ] || [ -L "$release/$1" ]; }; then
    say "the shared file $dir/$1 does not exist, and the release has none to start it: create it (as the app's user), then deploy again"
  fi
}
link_one() {
  kind=$1 p=$2 target="$dir/$2" here="$release/$2"
  if [ -L "$here" ] && [ "$(readlink -- "$here")" = "$target" ]; then return 0; fi
  mkdir -p -- "$(dirname -- "$here")"
  if [ -L "$here" ]; then rm -f -- "$here"
  elif [ -e "$here" ]; then
    if [ ! -e "$target" ] && [ ! -L "$target" ]; then
      mkdir -p -- "$(dirname -- "$target")"
      mv -- "$here" "$target"; echo "wptdeploy.seeded=$p"
    else
      aside="$release/.wptdeploy-shared-copies/$p"
      mkdir -p -- "$(dirname -- "$aside")"
      mv -- "$here" "$aside"; echo "wptdeploy.moved=$p"
    fi
  fi
  if [ "$kind" = d ]; then
    if [ -L "$target" ] || { [ -e "$target" ] && [ ! -d "$target" ]; }; then say "$target is shared as a directory, and is not one"; fi
    [ -d "$target" ] || mkdir -p -- "$target"
  else
    if [ -L "$target" ] || [ -d "$target" ]; then say "$target is shared as a file, and is not one"; fi
    [ -f "$target" ] || missing "$p"
  fi
  ln -s -- "$target" "$here"; echo "wptdeploy.linked=$p"
}
"#;

/// What was linked, seeded and moved aside.
fn outcome(stdout: &str) -> Outcome {
    let said =
        |key: &str| -> Vec<&str> { stdout.lines().filter_map(|l| l.strip_prefix(key)).collect() };
    let (linked, seeded, moved) = (
        said("wptdeploy.linked="),
        said("wptdeploy.seeded="),
        said("wptdeploy.moved="),
    );
    let mut notes = Vec::new();
    if !linked.is_empty() {
        notes.push(format!("linked {}", linked.join(", ")));
    }
    if !seeded.is_empty() {
        notes.push(format!(
            "started the shared {} from the release's own",
            seeded.join(", ")
        ));
    }
    let mut warnings = Vec::new();
    if !moved.is_empty() {
        warnings.push(format!(
            "the release's own {} moved to .wptdeploy-shared-copies/ in the release: the shared ones are used",
            moved.join(", ")
        ));
    }
    Outcome {
        changed: !linked.is_empty(),
        note: Some(if notes.is_empty() {
            "linked already".to_owned()
        } else {
            notes.join("; ")
        }),
        warnings,
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_inside_a_release_are_shared() {
        assert_eq!(relative("logs/").unwrap(), "logs");
        assert_eq!(relative("instance/uploads").unwrap(), "instance/uploads");
        for bad in ["/etc", "../x", "a/../b", "", "./x", "a//b"] {
            assert!(relative(bad).is_err(), "{bad}");
        }
    }
}
