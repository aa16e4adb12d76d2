//! `pip:` install a release's dependencies into a virtualenv, creating it
//! if missing: its requirements file, or, when it has none but has
//! `setup.py` or `pyproject.toml`, the release itself (what wptdash's
//! Ansible role did). A stamp skips an install that would change nothing.
//!
//! ```yaml
//! - name: install dependencies
//!   pip:
//!     venv: "{{ venv_path }}"
//!     requirements: "{{ release.build_path }}/requirements.txt"
//!     project: "{{ release.build_path }}"
//!   become: "{{ app_user }}"
//!   timeout: 10m
//! ```

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::{Outcome, StepFailure, failure, markers, wrapper_failed};
use crate::template::TemplateError;
use crate::transport::{Output, quote};

/// The `pip:` kind.
pub struct PipKind;

/// `pip:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipArgs {
    /// The virtualenv directory.
    pub venv: Tmpl,
    /// The requirements file.
    pub requirements: Tmpl,
    /// The release directory, installed when there is no requirements file.
    #[serde(default)]
    pub project: Option<Tmpl>,
    /// The Python that creates the virtualenv (default `python3`).
    #[serde(default)]
    pub python: Option<Tmpl>,
    /// Create the virtualenv with the system's site packages (`true`/`false`).
    #[serde(default)]
    pub site_packages: Option<Tmpl>,
}

impl StepKind for PipKind {
    const KEY: &'static str = "pip";
    const SUMMARY: &'static str =
        "install requirements (or the project) into a virtualenv, skipped when unchanged";
    type Args = PipArgs;

    fn templates(a: &PipArgs) -> Vec<&str> {
        [&a.venv, &a.requirements]
            .into_iter()
            .chain(&a.project)
            .chain(&a.python)
            .chain(&a.site_packages)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &PipArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let pip = Pip {
            venv: render.text(&a.venv)?,
            requirements: render.text(&a.requirements)?,
            project: render.given(a.project.as_ref())?,
            python: render
                .given(a.python.as_ref())?
                .unwrap_or_else(|| "python3".into()),
            site_packages: render.flag(a.site_packages.as_ref())?,
        };
        Ok(Prepared::new(render.command(pip.script()), |ran| {
            if wrapper_failed(ran.command, ran.output) {
                return Err(failure(ran.command, ran.output));
            }
            outcome(ran.output)
        }))
    }
}

/// What to install, and where.
struct Pip {
    pub venv: String,
    pub requirements: String,
    /// The release directory, installed itself when there is no requirements file.
    pub project: Option<String>,
    pub python: String,
    /// Create the virtualenv with `--system-site-packages`.
    pub site_packages: bool,
}

impl Pip {
    pub fn script(&self) -> String {
        format!(
            "venv={} req={} project={} python={} site={}\n",
            quote(&self.venv),
            quote(&self.requirements),
            quote(self.project.as_deref().unwrap_or("")),
            quote(&self.python),
            if self.site_packages {
                "--system-site-packages"
            } else {
                "''"
            },
        ) + r#"set -e
if [ -f "$req" ]; then what=requirements
elif [ -n "$project" ] && { [ -f "$project/setup.py" ] || [ -f "$project/pyproject.toml" ]; }; then what=project
else
  echo "wptdeploy: there is no requirements file $req${project:+, and no setup.py or pyproject.toml in $project}" >&2; exit 3
fi
if [ ! -x "$venv/bin/python" ]; then
  if [ -e "$venv/bin/python" ] || [ -L "$venv/bin/python" ]; then
    p="$venv/bin/python"; n=0
    while [ "$n" -lt 8 ] && t=$(readlink -- "$p" 2>/dev/null); do
      case "$t" in /*) p=$t ;; *) p="${p%/*}/$t" ;; esac; n=$((n + 1))
    done
    echo "wptdeploy: the virtualenv $venv is there, but $(id -un) cannot run its python ($p): recreate it with a Python every user can run, or fix its permissions" >&2; exit 3
  fi
  "$python" -m venv $site -- "$venv"
fi
stamp="$venv/.wptdeploy-requirements"
if [ "$what" = requirements ]; then want=$(sha256sum < "$req" | cut -d ' ' -f 1)
else want="project $(git -c safe.directory='*' -C "$project" rev-parse HEAD 2>/dev/null || date +%s%N)"; fi
if [ "$(cat -- "$stamp" 2>/dev/null)" = "$want" ]; then echo wptdeploy.changed=false; exit 0; fi
pip() { "$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off "$@"; }
if [ "$what" = requirements ]; then pip -r "$req"; else pip "$project"; fi
printf '%s\n' "$want" > "$stamp"
echo wptdeploy.changed=true
"#
    }
}

/// An install that worked changed the virtualenv (unless the stamp said
/// there was nothing to do); one that failed says which package, in one line.
fn outcome(output: &Output) -> Result<Outcome, StepFailure> {
    if output.exit_code == 0 {
        let changed = markers(&output.stdout)
            .get("changed")
            .is_none_or(|c| c == "true");
        return Ok(Outcome {
            changed,
            ..Outcome::default()
        });
    }
    let text = format!("{}\n{}", output.stdout, output.stderr);
    if let Some(missing) = text.lines().find_map(|l| l.strip_prefix("wptdeploy: ")) {
        return Err(StepFailure {
            message: format!("failed: {missing}"),
            hints: if missing.starts_with("there is no requirements file") {
                vec![
                    "set `requirements_file`, or give the project a setup.py or pyproject.toml"
                        .into(),
                ]
            } else {
                Vec::new()
            },
        });
    }
    Err(StepFailure {
        message: format!("pip failed: {}", pip_error(&text)),
        hints: vec!["`-v` shows pip's whole output".into()],
    })
}

/// The one line that says what pip could not do.
fn pip_error(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let after = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|rest| rest.trim().trim_end_matches('.').to_owned())
    };
    let package = |spec: &str| -> String {
        spec.trim_matches(['\'', '"'])
            .split([' ', '(', ';', '=', '<', '>', '!', '~', '[', ','])
            .next()
            .unwrap_or(spec)
            .to_owned()
    };
    if let Some(spec) = after("ERROR: Could not find a version that satisfies the requirement ") {
        let versions = spec
            .split_once("(from versions: ")
            .map(|(_, v)| format!(" (it has: {}", v.trim_end_matches(')').trim()))
            .map(|v| {
                if v.ends_with("none") {
                    " (none is published)".to_owned()
                } else {
                    format!("{v})")
                }
            })
            .unwrap_or_default();
        return format!(
            "no version of `{}` matches `{}`{versions}",
            package(&spec),
            spec.split(" (").next().unwrap_or(&spec)
        );
    }
    if let Some(spec) = after("ERROR: No matching distribution found for ") {
        return format!("no distribution of `{}` matches `{spec}`", package(&spec));
    }
    for prefix in [
        "ERROR: Failed building wheel for ",
        "Failed to build ",
        "× Building wheel for ",
        "× Getting requirements to build wheel did not run successfully",
    ] {
        if let Some(rest) = after(prefix) {
            let name = package(&rest);
            return if name.is_empty() {
                "a package could not be built from source".into()
            } else {
                format!(
                    "`{name}` could not be built (a compiler, or a system library's headers, may be missing)"
                )
            };
        }
    }
    if let Some(rest) = after("ERROR: Cannot install ") {
        return format!("conflicting requirements: cannot install {rest}");
    }
    if let Some(rest) = after("ERROR: Could not install packages due to an OSError: ") {
        return format!("could not install: {rest}");
    }
    if let Some(rest) = after("ERROR: Invalid requirement: ") {
        return format!("invalid requirement {rest}");
    }
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("ERROR:") || l.starts_with("error:"))
        .or_else(|| lines.iter().rev().find(|l| !l.is_empty()))
        .map_or_else(|| "no output".to_owned(), |l| (*l).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(stderr: &str) -> String {
        let output = Output {
            exit_code: 1,
            stdout: "Collecting flask\n".into(),
            stderr: stderr.into(),
        };
        outcome(&output).unwrap_err().message
    }

    #[test]
    fn a_pip_failure_names_the_package_in_one_line() {
        assert_eq!(
            failed(
                "ERROR: Could not find a version that satisfies the requirement flask==99.0 (from versions: 2.0.0, 3.1.0)\nERROR: No matching distribution found for flask==99.0\n"
            ),
            "pip failed: no version of `flask` matches `flask==99.0` (it has: 2.0.0, 3.1.0)"
        );
        assert_eq!(
            failed(
                "ERROR: Could not find a version that satisfies the requirement nosuchpkg-xyz (from versions: none)\n"
            ),
            "pip failed: no version of `nosuchpkg-xyz` matches `nosuchpkg-xyz` (none is published)"
        );
        assert_eq!(
            failed(
                "  error: subprocess-exited-with-error\n  × Building wheel for psycopg2 (pyproject.toml) did not run successfully.\n"
            ),
            "pip failed: `psycopg2` could not be built (a compiler, or a system library's headers, may be missing)"
        );
        assert_eq!(
            failed(
                "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n"
            ),
            "pip failed: could not install: [Errno 28] No space left on device"
        );
    }

    /// A virtualenv whose python the user cannot run (a pyenv Python under
    /// root's home, say) is named with where its link leads, not rebuilt.
    #[test]
    fn an_unusable_virtualenv_is_named_with_its_python() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("venv");
        fs_err::create_dir_all(venv.join("bin")).unwrap();
        std::os::unix::fs::symlink("python3", venv.join("bin/python")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/pyenv/bin/python3", venv.join("bin/python3"))
            .unwrap();
        fs_err::write(tmp.path().join("requirements.txt"), "").unwrap();
        let pip = Pip {
            venv: venv.display().to_string(),
            requirements: tmp.path().join("requirements.txt").display().to_string(),
            project: None,
            python: "python3".into(),
            site_packages: false,
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(pip.script())
            .output()
            .unwrap();
        let output = Output {
            exit_code: out.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let failure = outcome(&output).unwrap_err();
        assert!(
            failure
                .message
                .contains("cannot run its python (/nonexistent/pyenv/bin/python3)"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn nothing_to_install_says_what_was_looked_for() {
        let output = Output {
            exit_code: 3,
            stdout: String::new(),
            stderr: "wptdeploy: there is no requirements file /r/requirements.txt, and no setup.py or pyproject.toml in /r\n".into(),
        };
        let failure = outcome(&output).unwrap_err();
        assert!(
            failure
                .message
                .starts_with("failed: there is no requirements file"),
            "{}",
            failure.message
        );
    }
}
