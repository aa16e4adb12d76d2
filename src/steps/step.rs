//! The step vocabulary of a playbook: the keys every step may have, and
//! exactly one kind key, whose arguments the kind's own file defines
//! (`src/steps/<kind>.rs`, listed in `src/steps/registry.rs`).
//!
//! ```yaml
//! - name: collect static files
//!   run: "{{ venv_path }}/bin/python manage.py collectstatic --noinput"
//!   cwd: "{{ release.build_path }}"
//!   vars: {venv_path: "{{ venv.path }}"}
//!   become: "{{ app_user }}"
//!   when: release.new
//!   timeout: 10m
//! ```
//!
//! Every value is a template, rendered when the step runs (so it can use
//! what earlier steps registered).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::kind::{Place, StepAction, Tmpl};
use super::registry;

/// A playbook item: a step, or `- import: other.yml` (replaced by that
/// playbook's steps when the playbook is loaded, so the engine never sees it).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawStep")]
pub enum Item {
    /// A step.
    Step(Box<Step>),
    /// An imported playbook's file name.
    Import(String),
}

/// One validated step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Shown while it runs (a template).
    pub name: Tmpl,
    /// Run only when this expression is true.
    pub when: Option<String>,
    /// Run as this user (sudo), unless it is the login user.
    pub become_user: Option<Tmpl>,
    /// Working directory.
    pub cwd: Option<Tmpl>,
    /// Environment variables.
    pub env: StepEnv,
    /// Variables for this step only (Ansible's task `vars:`), over the
    /// host's: a variable that uses one of them sees its value here.
    pub vars: BTreeMap<String, Tmpl>,
    /// Killed after this long.
    pub timeout: Option<Duration>,
    /// Store the result under this name for later steps.
    pub register: Option<String>,
    /// `background: true` (or a log file): start a `run:` or `restart:`
    /// detached and go on; its output is appended to the log file
    /// ([`crate::steps::DEFAULT_BACKGROUND_LOG`] for `true`).
    pub background: Option<Tmpl>,
    /// `false` for a `run:` that only looks (it then also runs in `--check`).
    pub changes: bool,
    /// What it does: a kind and its arguments.
    pub action: Arc<dyn StepAction>,
    /// Line of the step in its playbook (0 when unknown).
    pub line: usize,
    /// The playbook file it comes from (playbooks can import others).
    pub origin: String,
}

/// A step's `env:`: a mapping of names to templates, or (as Ansible's
/// `environment:` may be) one `{{ expression }}` that gives a mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StepEnv {
    /// `env: {NAME: value}`.
    Map(BTreeMap<String, Tmpl>),
    /// `env: "{{ app_env }}"`.
    Expression(Tmpl),
}

impl Default for StepEnv {
    fn default() -> Self {
        StepEnv::Map(BTreeMap::new())
    }
}

/// The step as written, before its kind is checked.
#[derive(Deserialize)]
pub(super) struct RawStep {
    #[serde(default)]
    name: Option<Tmpl>,
    #[serde(default)]
    import: Option<String>,
    #[serde(default)]
    when: Option<Tmpl>,
    #[serde(default, rename = "become")]
    become_user: Option<Tmpl>,
    #[serde(default)]
    cwd: Option<Tmpl>,
    #[serde(default)]
    env: StepEnv,
    #[serde(default)]
    vars: BTreeMap<String, Tmpl>,
    #[serde(default)]
    timeout: Option<Tmpl>,
    #[serde(default)]
    register: Option<String>,
    #[serde(default)]
    background: Option<Tmpl>,
    #[serde(default)]
    changes: Option<bool>,
    /// The kind key and any unknown key.
    #[serde(flatten)]
    rest: serde_yaml::Mapping,
}

/// The keys every step may have besides its kind.
const STEP_KEYS: [&str; 11] = [
    "name",
    "import",
    "when",
    "become",
    "cwd",
    "env",
    "vars",
    "timeout",
    "register",
    "background",
    "changes",
];

impl TryFrom<RawStep> for Item {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, String> {
        if let Some(file) = raw.import {
            let alone = raw.name.is_none()
                && raw.when.is_none()
                && raw.become_user.is_none()
                && raw.register.is_none()
                && raw.rest.is_empty();
            if !alone {
                return Err(format!(
                    "`import: {file}` stands alone: no name, when, become, register or kind beside it"
                ));
            }
            return Ok(Item::Import(file));
        }
        let name = raw
            .name
            .as_ref()
            .map(|n| n.0.clone())
            .ok_or("a step needs a `name`")?;
        let at = |message: String| format!("step `{name}`: {message}");
        let rest: Vec<(String, serde_yaml::Value)> = raw
            .rest
            .into_iter()
            .map(|(k, v)| match k {
                serde_yaml::Value::String(k) => Ok((k, v)),
                other => Err(at(format!("`{other:?}` is not a key"))),
            })
            .collect::<Result<_, _>>()?;
        if let Some((unknown, _)) = rest.iter().find(|(k, _)| registry::find(k).is_none()) {
            let known = registry::keys().chain(STEP_KEYS);
            return Err(at(format!(
                "unknown key `{unknown}`{}",
                crate::suggest::did_you_mean(unknown, known)
            )));
        }
        let mut kinds = rest.into_iter();
        let (key, args) = match (kinds.next(), kinds.next()) {
            (Some(kind), None) => kind,
            (None, _) => {
                return Err(format!(
                    "step `{name}` has no kind; add one of: {}",
                    registry::keys().collect::<Vec<_>>().join(", ")
                ));
            }
            (Some((first, _)), Some((second, _))) => {
                let mut found = vec![first, second];
                found.extend(kinds.map(|(k, _)| k));
                return Err(format!(
                    "step `{name}` has more than one kind ({})",
                    found.join(", ")
                ));
            }
        };
        let kind = registry::find(&key).expect("checked above");
        if raw.background.is_some() && !kind.background {
            return Err(at(format!(
                "`background` applies only to {} steps",
                registry::KINDS
                    .iter()
                    .filter(|k| k.background)
                    .map(|k| format!("`{}`", k.key))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )));
        }
        if raw.changes.is_some() && !kind.changes_key {
            return Err(at("`changes` applies only to `run` steps".into()));
        }
        if kind.place == Place::ThisMachine && raw.become_user.is_some() {
            return Err(at(format!(
                "`become` does not apply to a `{key}` step, which runs on this machine"
            )));
        }
        let action = (kind.parse)(args).map_err(at)?;
        if let StepEnv::Map(env) = &raw.env
            && let Some(bad) = env
                .keys()
                .find(|k| !crate::transport::command::is_env_name(k))
        {
            return Err(at(format!(
                "`{bad}` is not a valid environment variable name"
            )));
        }
        if let Some(reg) = &raw.register
            && !(reg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && reg
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_'))
        {
            return Err(at(format!(
                "`{reg}` is not a valid variable name for `register`"
            )));
        }
        let timeout = raw
            .timeout
            .map(|t| parse_duration(&t.0))
            .transpose()
            .map_err(|e| at(format!("timeout: {e}")))?;
        Ok(Item::Step(Box::new(Step {
            name: raw.name.expect("checked above"),
            when: raw.when.map(|w| w.0),
            become_user: raw.become_user,
            cwd: raw.cwd,
            env: raw.env,
            vars: raw.vars,
            timeout,
            register: raw.register,
            background: raw.background.filter(|b| b.0 != "false"),
            changes: raw.changes.unwrap_or(true),
            action,
            line: 0,
            origin: String::new(),
        })))
    }
}

/// `90` (seconds), `30s`, `10m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration ({e})"))
}

impl Step {
    /// Every template in the step, for a syntax check before anything runs.
    pub fn templates(&self) -> Vec<&str> {
        let mut all: Vec<&str> = vec![&self.name.0];
        all.extend(self.become_user.iter().map(|t| t.0.as_str()));
        all.extend(self.cwd.iter().map(|t| t.0.as_str()));
        match &self.env {
            StepEnv::Map(env) => all.extend(env.values().map(|t| t.0.as_str())),
            StepEnv::Expression(t) => all.push(&t.0),
        }
        all.extend(self.vars.values().map(|t| t.0.as_str()));
        all.extend(self.background.iter().map(|t| t.0.as_str()));
        all.extend(self.action.templates());
        all
    }

    /// Whether it is a step of kind `K`.
    pub fn is<K: crate::steps::StepKind>(&self) -> bool {
        self.action.key() == K::KEY
    }
}
