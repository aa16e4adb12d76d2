//! `own:` make what the app user must write under `base_path` its own: on
//! a server Ansible deployed, `base_path` was created by root and a build
//! left behind (`temp`) may be root's. `check` (read-only) says what is not
//! the user's; `fix` (as root) creates `base_path` if missing and hands over
//! what is not, idempotently. Only `base_path` itself, the listed paths
//! inside it and its release directories (40-hex names) are ever touched;
//! symlinks never. `fix` refuses when `base_path` is a link or anything
//! above it can be changed by someone other than root (the app user could
//! swap `base_path` for a link to a root directory between the look and
//! the `chown`), and when `fs.protected_hardlinks` is off.
//!
//! ```yaml
//! - name: check base_path is the app user's
//!   own: {path: "{{ base_path }}", user: "{{ app_user }}", inside: ["{{ temp_path }}"], action: check}
//!   register: ownership
//! - name: hand base_path over to the app user
//!   own: {path: "{{ base_path }}", user: "{{ app_user }}", inside: ["{{ temp_path }}"], action: fix}
//!   become: root
//!   when: ownership.needed
//! ```

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_literal, choice_error};
use super::outcome::Outcome;
use super::root_safe::UNTRUSTED;
use super::shell_fns::IS_HEX;
use crate::template::TemplateError;
use crate::transport::{Output, quote};

/// The `own:` kind.
pub struct OwnKind;

/// `own:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnArgs {
    /// The directory (`base_path`).
    pub path: Tmpl,
    /// The user who must own it.
    pub user: Tmpl,
    /// Paths inside it that must be the user's too, if they exist.
    #[serde(default)]
    pub inside: Vec<Tmpl>,
    /// `check` or `fix`.
    pub action: Tmpl,
}

const ACTIONS: [&str; 2] = ["check", "fix"];

fn fixing(action: &str) -> Result<bool, String> {
    match action {
        "check" => Ok(false),
        "fix" => Ok(true),
        other => Err(choice_error("own: action", &ACTIONS, other)),
    }
}

impl StepKind for OwnKind {
    const KEY: &'static str = "own";
    const SUMMARY: &'static str =
        "check (`action: check`) or make (`fix`, as root) `base_path` the app user's";
    type Args = OwnArgs;

    fn check(a: &OwnArgs) -> Result<(), String> {
        check_literal(Some(&a.action), |v| fixing(v).map(|_| ()))
    }

    fn templates(a: &OwnArgs) -> Vec<&str> {
        [&a.path, &a.user, &a.action]
            .into_iter()
            .chain(&a.inside)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &OwnArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let own = Own {
            path: render.text(&a.path)?,
            user: render.text(&a.user)?,
            inside: a
                .inside
                .iter()
                .map(|t| render.text(t))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect(),
        };
        let fixing = fixing(&render.text(&a.action)?).map_err(TemplateError::new)?;
        let script = if fixing {
            own.fix_script()
        } else {
            own.check_script()
        };
        let user = own.user;
        let prepared = Prepared::new(render.command(script), move |ran| {
            ran.succeeded()?;
            Ok(outcome(ran.output, &user, fixing))
        });
        Ok(if fixing {
            prepared
        } else {
            prepared.looking_only()
        })
    }
}

/// What to look at, and for whom.
struct Own {
    /// `base_path`.
    pub path: String,
    /// The user who must own it.
    pub user: String,
    /// Paths inside `path` that must be the user's too, if they exist.
    pub inside: Vec<String>,
}

/// Sets `"$@"` to what to look inside: the listed paths that are
/// directories in `$base`, and every release (a 40-hex name) there. Only
/// once `$base` is known not to be a link (as root: after the refusals).
const LOOK_INSIDE: &str = r#"for p do
  shift
  case "$p" in "$base"/*) if [ -d "$p" ] && [ ! -L "$p" ]; then set -- "$@" "$p"; fi ;; esac
done
for p in "$base"/*; do
  if is_hex 40 "${p##*/}" && [ -d "$p" ] && [ ! -L "$p" ]; then set -- "$@" "$p"; fi
done
"#;

impl Own {
    fn header(&self) -> String {
        let inside: Vec<String> = self.inside.iter().map(|p| quote(p)).collect();
        format!(
            "base={} user={}\nset -- {}\n",
            quote(&self.path),
            quote(&self.user),
            inside.join(" ")
        ) + IS_HEX
            + r#"# Prints $prefix and each of "$@" (see LOOK_INSIDE) that holds anything not $user's, and
# with with_base=yes $base too when it is not $user's: one find for all
# (base itself is not gone through). A path find cannot read through
# counts as not $user's: then each is looked at on its own, to say which.
not_theirs() {
  base_format=
  if [ "$with_base" = yes ]; then base_format="$prefix%p\n"; fi
  if find "$base" "$@" \( -samefile "$base" -prune ! -user "$user" -printf "$base_format" \) \
    -o \( ! -user "$user" -prune -printf "$prefix%H\n" \) 2>/dev/null; then return 0; fi
  if [ "$with_base" = yes ] && [ "$(stat -c %U -- "$base")" != "$user" ]; then printf '%s%s\n' "$prefix" "$base"; fi
  for p do
    [ -z "$(find "$p" ! -user "$user" -print -quit 2>&1)" ] || printf '%s%s\n' "$prefix" "$p"
  done
}
"#
    }

    /// Prints `wptdeploy.create=` or `wptdeploy.own=` for each thing to do.
    pub fn check_script(&self) -> String {
        self.header()
            + r#"if [ ! -d "$base" ]; then printf 'wptdeploy.create=%s\n' "$base"; exit 0; fi
"# + LOOK_INSIDE
            + r#"prefix=wptdeploy.own= with_base=yes not_theirs "$@"
"#
    }

    /// Does it, printing what it did the same way.
    pub fn fix_script(&self) -> String {
        self.header()
            + UNTRUSTED
            + r#"set -e
refuse() { echo "wptdeploy: $1: root does not act on a path $user or anyone but root can change (docs/security.md)" >&2; exit 3; }
[ ! -L "$base" ] || refuse "$base is a symbolic link"
at=$(untrusted "${base%/*}")
[ -z "$at" ] || refuse "$at, above $base, is not root's alone"
[ "$(cat /proc/sys/fs/protected_hardlinks 2>/dev/null)" = 1 ] || refuse "fs.protected_hardlinks is off here, so a hard link $user made could hand it any file"
group=$(id -gn -- "$user")
if [ ! -d "$base" ]; then
  install -d -o "$user" -g "$group" -m 0755 -- "$base"; printf 'wptdeploy.create=%s\n' "$base"; exit 0
fi
if [ "$(stat -c %U -- "$base")" != "$user" ]; then chown -h -- "$user:$group" "$base"; printf 'wptdeploy.own=%s\n' "$base"; fi
"# + LOOK_INSIDE
            + r#"prefix= with_base=no not_theirs "$@" | sort -u | while read -r p; do chown -R -P -h -- "$user:$group" "$p"; printf 'wptdeploy.own=%s\n' "$p"; done
"#
    }
}

/// What `check` found, or what `fix` did: registers `{needed, paths}`.
fn outcome(output: &Output, user: &str, fixing: bool) -> Outcome {
    let marks: Vec<(String, String)> = output
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("wptdeploy."))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| matches!(*k, "create" | "own"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .fold(Vec::new(), |mut marks, mark| {
            if !marks.contains(&mark) {
                marks.push(mark);
            }
            marks
        });
    let paths: Vec<String> = marks.iter().map(|(_, p)| p.clone()).collect();
    let said: Vec<String> = marks
        .iter()
        .map(|(kind, path)| match (kind.as_str(), fixing) {
            ("create", false) => format!("{path} is missing"),
            ("create", true) => format!("created {path}"),
            (_, false) => format!("{path} is not all {user}'s"),
            (_, true) => format!("{path} handed over"),
        })
        .collect();
    let register = BTreeMap::from([
        ("needed", Value::from(!paths.is_empty())),
        ("paths", Value::from(paths)),
    ]);
    Outcome {
        changed: fixing && !said.is_empty(),
        register: Some(Value::from_serialize(&register)),
        note: (!said.is_empty()).then(|| said.join("; ")),
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Output {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        Output {
            exit_code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// As the current user, everything it made is its own; a tree of
    /// someone else's would be listed (root's tests prove the handover).
    #[test]
    fn what_is_already_the_users_needs_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        let me = String::from_utf8(
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_owned();
        let own = Own {
            path: base.display().to_string(),
            user: me.clone(),
            inside: vec![base.join("temp").display().to_string()],
        };
        let missing = outcome(&sh(&own.check_script()), &me, false);
        assert_eq!(
            missing.note.as_deref(),
            Some(format!("{} is missing", base.display()).as_str())
        );
        fs_err::create_dir_all(base.join("0123456789abcdef0123456789abcdef01234567")).unwrap();
        fs_err::create_dir_all(base.join("temp")).unwrap();
        let fine = outcome(&sh(&own.check_script()), &me, false);
        assert_eq!(fine.note, None, "{:?}", fine.register);
        // Someone else's: base, the listed path that exists and each
        // release, once each; not a directory of another name, a link
        // named like a release, nor a listed path that is not there.
        let release = base.join("0123456789abcdef0123456789abcdef01234567");
        fs_err::create_dir_all(base.join("notarelease")).unwrap();
        fs_err::os::unix::fs::symlink(
            base.join("temp"),
            base.join("89abcdef0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        let other = Own {
            user: "nobody".into(),
            inside: vec![
                base.join("temp").display().to_string(),
                base.join("backups").display().to_string(),
                release.display().to_string(),
            ],
            ..own
        };
        let theirs = outcome(&sh(&other.check_script()), "nobody", false);
        let mut paths: Vec<String> = theirs
            .register
            .unwrap()
            .get_attr("paths")
            .unwrap()
            .try_iter()
            .unwrap()
            .map(|p| p.to_string())
            .collect();
        paths.sort();
        let mut expected = [&base, &release, &base.join("temp")].map(|p| p.display().to_string());
        expected.sort();
        assert_eq!(paths, expected);
        let note = theirs.note.unwrap();
        assert!(
            note.contains("0123456789abcdef0123456789abcdef01234567 is not all nobody's"),
            "{note}"
        );
    }
}
