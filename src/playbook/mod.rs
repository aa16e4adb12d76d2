//! Playbooks: YAML files of typed steps, with default variables.
//!
//! ```yaml
//! vars:                 # defaults, overridden by the inventory and `-e`
//!   app_user: www-data
//! steps:
//!   - name: restart
//!     restart: "{{ restart_command | safe }}"
//!     become: root
//! ```
//!
//! The project's `playbooks/` ship inside the binary; a `playbooks/`
//! directory in the current project, or `--playbooks DIR`, overrides them
//! file by file.

use std::path::Path;

use serde::Deserialize;

use crate::inventory::{Sourced, Vars};
use crate::rollout::{Rollout, Serial};
pub use crate::sources::{PlaybookDirs, SourceError};
use crate::steps::lock::Lock;
pub use crate::steps::{Item, Step, StepEnv, Tmpl};
use crate::template::Templates;

/// A playbook could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    /// Malformed or invalid content, located.
    #[error("{origin}:{line}: {message}")]
    Invalid {
        /// The file.
        origin: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No such playbook or template file, or it could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A loaded, validated playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// Where it came from, for messages.
    pub origin: String,
    /// Default variables (lowest precedence), with where each was set.
    pub vars: Sourced,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Its `serial:` and `max_fail_percentage:` (those of imported playbooks are ignored).
    pub rollout: Rollout,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    #[serde(default)]
    vars: Vars,
    #[serde(default)]
    serial: Option<Serial>,
    #[serde(default)]
    max_fail_percentage: Option<Percentage>,
    steps: Vec<serde_yaml::Value>,
}

/// A whole percentage, 0 to 100.
#[derive(Deserialize)]
#[serde(try_from = "u64")]
struct Percentage(u8);

impl TryFrom<u64> for Percentage {
    type Error = String;

    fn try_from(value: u64) -> Result<Self, String> {
        u8::try_from(value)
            .ok()
            .filter(|p| *p <= 100)
            .map(Percentage)
            .ok_or_else(|| format!("max_fail_percentage {value} is not between 0 and 100"))
    }
}

/// How deep `- import:` may nest.
const MAX_IMPORT_DEPTH: usize = 4;

impl Playbook {
    /// Loads `name` (e.g. `deploy.yml`) and checks every step and template.
    /// Its variables are the shared defaults of `vars.yml`, then those of the
    /// playbooks it imports, then its own.
    pub fn load(
        dirs: &PlaybookDirs,
        name: &str,
        templates: &Templates,
    ) -> Result<Self, PlaybookError> {
        let (vars_origin, vars_text) = dirs.read("vars.yml")?;
        let defaults: Vars = serde_yaml::from_str::<Option<Vars>>(&vars_text)
            .map_err(|e| PlaybookError::Invalid {
                origin: vars_origin.clone(),
                line: e.location().map_or(0, |l| l.line()),
                message: crate::inventory::without_location(&e.to_string(), e.location()),
            })?
            .unwrap_or_default();
        let mut vars =
            Sourced::from_yaml_file(defaults, Path::new(&vars_origin), &vars_text, false);
        let mut rollout = Rollout::default();
        let (origin, steps) = load_steps(dirs, name, templates, &mut vars, &mut rollout, 0)?;
        if steps.iter().filter(|s| s.is::<Lock>()).count() > 1 {
            return Err(PlaybookError::Invalid {
                origin,
                line: 0,
                message: "more than one `lock` step (imported playbooks included)".into(),
            });
        }
        Ok(Playbook {
            origin,
            vars,
            steps,
            rollout,
        })
    }

    /// The lock step, if the playbook takes one.
    pub fn lock_step(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.is::<Lock>())
    }
}

/// The steps of `name`, with its `- import:` items replaced by the
/// imported playbooks' steps; adds its variables to `vars` and, for the
/// playbook run itself (depth 0), sets `rollout`.
fn load_steps(
    dirs: &PlaybookDirs,
    name: &str,
    templates: &Templates,
    vars: &mut Sourced,
    rollout: &mut Rollout,
    depth: usize,
) -> Result<(String, Vec<Step>), PlaybookError> {
    let (origin, text) = dirs.read(name)?;
    let invalid = |line: usize, message: String| PlaybookError::Invalid {
        origin: origin.clone(),
        line,
        message,
    };
    let raw: RawPlaybook = serde_yaml::from_str(&text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        invalid(
            line,
            crate::inventory::without_location(&e.to_string(), e.location()),
        )
    })?;
    if depth == 0 {
        rollout.serial = raw.serial.map(|s| s.0).unwrap_or_default();
        rollout.max_fail_percentage = raw.max_fail_percentage.map(|p| p.0);
    }
    let lines = step_lines(&text);
    let mut steps = Vec::new();
    let own_vars = Sourced::from_yaml_file(raw.vars, Path::new(&origin), &text, false);
    for (index, value) in raw.steps.into_iter().enumerate() {
        let at = lines.get(index).copied().unwrap_or(0);
        let item: Item = serde_yaml::from_value(value).map_err(|e| {
            let message = e.to_string();
            invalid(key_line(&text, at, &message), message)
        })?;
        let mut step = match item {
            Item::Import(other) => {
                if depth >= MAX_IMPORT_DEPTH {
                    return Err(invalid(
                        at,
                        format!("`import: {other}` nests too deep (a loop?)"),
                    ));
                }
                let (_, imported) = load_steps(dirs, &other, templates, vars, rollout, depth + 1)?;
                steps.extend(imported);
                continue;
            }
            Item::Step(step) => *step,
        };
        step.line = at;
        step.origin.clone_from(&origin);
        std::sync::Arc::get_mut(&mut step.action)
            .expect("a step just parsed is not shared")
            .load(dirs)
            .map_err(|e| invalid(at, format!("step `{}`: {e}", step.name.0)))?;
        for text in step.templates() {
            templates
                .check_syntax(text)
                .map_err(|e| invalid(at, format!("step `{}`: {}", step.name.0, e.message)))?;
        }
        if let Some(when) = &step.when {
            templates
                .check_expression(when)
                .map_err(|e| invalid(at, format!("step `{}`: when: {}", step.name.0, e.message)))?;
        }
        steps.push(step);
    }
    vars.extend(own_vars);
    Ok((origin, steps))
}

/// The line a step's error is about: that of the unknown key it names, if
/// one follows the step's first line `at`, else `at`.
fn key_line(text: &str, at: usize, message: &str) -> usize {
    let Some(key) = message
        .split_once("unknown key `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(key, _)| format!("{key}:"))
    else {
        return at;
    };
    text.lines()
        .enumerate()
        .skip(at.saturating_sub(1))
        .find(|(_, line)| line.trim_start().trim_start_matches("- ").starts_with(&key))
        .map_or(at, |(index, _)| index + 1)
}

/// The line of each item of the top-level `steps:` list.
fn step_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_steps = false;
    let mut indent: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let depth = line.len() - trimmed.len();
        if depth == 0 && !trimmed.is_empty() && !trimmed.starts_with('#') {
            in_steps = trimmed.starts_with("steps:");
            continue;
        }
        if in_steps && trimmed.starts_with("- ") && indent.is_none_or(|i| i == depth) {
            indent = Some(depth);
            lines.push(index + 1);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Playbook, PlaybookError> {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::write(tmp.path().join("p.yml"), text).unwrap();
        Playbook::load(
            &PlaybookDirs::new(Some(tmp.path())),
            "p.yml",
            &Templates::new(),
        )
    }

    #[test]
    fn the_built_in_deploy_playbook_is_valid() {
        let dirs = PlaybookDirs::built_in();
        let playbook = Playbook::load(&dirs, "deploy.yml", &Templates::new()).unwrap();
        assert!(playbook.lock_step().is_some());
        assert!(playbook.steps.iter().all(|s| s.line > 0));
        for name in crate::sources::built_in_names()
            .iter()
            .filter(|n| n.ends_with(".yml") && *n != "vars.yml")
        {
            let other = Playbook::load(&dirs, name, &Templates::new()).unwrap();
            assert!(!other.steps.is_empty(), "{name}");
        }
        let new = Playbook::load(&dirs, "migration-new.yml", &Templates::new()).unwrap();
        let origins: Vec<&str> = new
            .steps
            .iter()
            .map(|s| s.origin.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(origins.first(), Some(&"deploy.yml"));
        assert!(origins.contains(&"migration-generate.yml"));
        assert_eq!(origins.last(), Some(&"migration-apply.yml"));
        let checklist = Playbook::load(&dirs, "checklist.yml", &Templates::new()).unwrap();
        let local = checklist
            .steps
            .iter()
            .filter(|s| s.action.key() == "local")
            .count();
        assert_eq!(local, 3, "editor, git commit, production deploy");
    }

    #[test]
    fn unknown_keys_point_at_the_line() {
        let err = load_text("steps:\n  - name: a\n    run: ls\n  - name: b\n    runn: ls\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(":5: step `b`: unknown key `runn` (did you mean `run`?)"),
            "{err}"
        );
    }

    #[test]
    fn a_step_needs_exactly_one_kind() {
        let err = load_text("steps:\n  - name: a\n    become: root\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("step `a` has no kind; add one of: run, lock"),
            "{err}"
        );
        let err = load_text("steps:\n  - name: a\n    run: ls\n    restart: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than one kind (run, restart)"), "{err}");
    }

    #[test]
    fn template_syntax_errors_name_the_step_and_line() {
        let err =
            load_text("steps:\n  - name: ok\n    run: ls\n  - name: bad\n    run: echo {{ x\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains(":4: step `bad`:"), "{err}");
    }

    #[test]
    fn templates_come_from_the_ansible_role_before_the_built_in_one() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("ansible");
        fs_err::create_dir_all(tree.join("roles/deploy/templates")).unwrap();
        fs_err::create_dir_all(tree.join("roles/app/templates")).unwrap();
        fs_err::write(tree.join("roles/deploy/templates/config.txt.j2"), "role\n").unwrap();
        fs_err::write(tree.join("roles/app/templates/other.j2"), "app\n").unwrap();
        // No playbooks directories (cargo runs tests beside the project's own).
        let none = PlaybookDirs::built_in();
        let dirs = none.clone().with_ansible_tree(Some(&tree));
        let (origin, text) = dirs.read_template("templates/config.txt.j2").unwrap();
        assert_eq!(text, "role\n");
        assert!(
            origin.ends_with("roles/deploy/templates/config.txt.j2"),
            "{origin}"
        );
        assert_eq!(dirs.read_template("templates/other.j2").unwrap().1, "app\n");
        let built_in = none.read_template("templates/config.txt.j2").unwrap();
        assert_eq!(built_in.0, "built-in:playbooks/templates/config.txt.j2");
    }

    #[test]
    fn a_local_file_overrides_the_built_in_one() {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(tmp.path().join("templates")).unwrap();
        fs_err::write(tmp.path().join("templates/config.txt.j2"), "mine\n").unwrap();
        let dirs = PlaybookDirs::new(Some(tmp.path()));
        assert_eq!(dirs.read("templates/config.txt.j2").unwrap().1, "mine\n");
        let (origin, _) = dirs.read("deploy.yml").unwrap();
        assert!(
            !origin.starts_with(&tmp.path().display().to_string()),
            "{origin}"
        );
    }
}
