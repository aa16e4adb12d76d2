//! What a step kind is: the [`StepKind`] trait every kind implements in its
//! own file, and what it hands the engine, a [`Prepared`] step whose
//! [`Effect`] tells the engine what to do around the command.
//!
//! A kind parses its arguments (serde), checks what it can before any host
//! is known ([`StepKind::check`]), renders itself for one host
//! ([`StepKind::prepare`]) and reads its command's output back into an
//! [`Outcome`]. The engine never asks which kind a step is: it runs the
//! command and obeys the effect.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use minijinja::Value;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

pub use super::effect::{Effect, FileWrite, LocalFile, Symlink};
use super::outcome::{Outcome, StepFailure, failure, markers};
use crate::sources::PlaybookDirs;
use crate::template::{TemplateError, Templates};
use crate::transport::{Output, RemoteCommand};

/// A template: any YAML scalar, kept as text until the step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpl(pub String);

impl<'de> Deserialize<'de> for Tmpl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(s) => Ok(Tmpl(s)),
            serde_yaml::Value::Number(n) => Ok(Tmpl(n.to_string())),
            serde_yaml::Value::Bool(b) => Ok(Tmpl(b.to_string())),
            _ => Err(D::Error::custom("expected a string, number or boolean")),
        }
    }
}

impl Tmpl {
    /// The text, when it holds no template syntax: what it will be on
    /// every host, so that it can be checked when the playbook loads.
    pub fn literal(&self) -> Option<&str> {
        (!self.0.contains("{{") && !self.0.contains("{%")).then_some(self.0.as_str())
    }
}

/// Where a kind's command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// On the host, over its connection.
    Host,
    /// On this machine (`become` does not apply).
    ThisMachine,
}

/// One step kind: its arguments, its checks, and how it becomes a command.
/// Adding a kind is a file implementing this and a line in the registry.
pub trait StepKind: Send + Sync + 'static {
    /// The key that names it in a playbook (`pip:`).
    const KEY: &'static str;
    /// What it does, in one line (the docs table, `no kind` errors).
    const SUMMARY: &'static str;
    /// Where its command runs.
    const PLACE: Place = Place::Host;
    /// Whether `background:` may start it detached.
    const BACKGROUND: bool = false;
    /// Whether `changes: false` may say it only looks.
    const CHANGES_KEY: bool = false;
    /// Its arguments, as written under its key.
    type Args: DeserializeOwned + fmt::Debug + Clone + Send + Sync + 'static;

    /// Checks what is knowable before any host: literal values, arguments
    /// that go together.
    fn check(_args: &Self::Args) -> Result<(), String> {
        Ok(())
    }

    /// Reads what the kind needs from the playbook's directories (a
    /// template file) when the playbook is loaded.
    fn load(_args: &mut Self::Args, _dirs: &PlaybookDirs) -> Result<(), String> {
        Ok(())
    }

    /// Every template in the arguments, for the syntax check at load.
    fn templates(args: &Self::Args) -> Vec<&str>;

    /// Renders the step for one host.
    fn prepare(args: &Self::Args, render: &Render<'_>) -> Result<Prepared, TemplateError>;
}

/// A step kind with its arguments, its type forgotten: what a playbook
/// step holds.
pub trait StepAction: fmt::Debug + Send + Sync {
    /// The kind's key.
    fn key(&self) -> &'static str;
    /// See [`StepKind::templates`].
    fn templates(&self) -> Vec<&str>;
    /// See [`StepKind::load`].
    fn load(&mut self, dirs: &PlaybookDirs) -> Result<(), String>;
    /// See [`StepKind::prepare`].
    fn prepare(&self, render: &Render<'_>) -> Result<Prepared, TemplateError>;
    /// For a command that needs one kind's arguments back (`unlock`).
    fn as_any(&self) -> &dyn Any;
}

/// The arguments of kind `K`.
pub struct Typed<K: StepKind> {
    /// As parsed and checked.
    pub args: K::Args,
}

impl<K: StepKind> fmt::Debug for Typed<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", K::KEY, self.args)
    }
}

impl<K: StepKind> StepAction for Typed<K> {
    fn key(&self) -> &'static str {
        K::KEY
    }

    fn templates(&self) -> Vec<&str> {
        K::templates(&self.args)
    }

    fn load(&mut self, dirs: &PlaybookDirs) -> Result<(), String> {
        K::load(&mut self.args, dirs)
    }

    fn prepare(&self, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        K::prepare(&self.args, render)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Parses and checks kind `K`'s arguments (messages start with the kind's key).
pub(super) fn parse<K: StepKind>(value: serde_yaml::Value) -> Result<Arc<dyn StepAction>, String> {
    let args: K::Args = serde_yaml::from_value(value).map_err(|e| format!("{}: {e}", K::KEY))?;
    K::check(&args)?;
    Ok(Arc::new(Typed::<K> { args }))
}

/// What a kind renders its templates with: the host's variables and what
/// earlier steps registered, and the step's own `become`, `cwd`, `env`,
/// `timeout` and `background`.
pub struct Render<'a> {
    pub(super) templates: &'a Templates,
    pub(super) ctx: &'a Value,
    pub(super) base: RemoteCommand,
    pub(super) secrets: &'a [String],
    pub(super) login_user: &'a str,
}

impl Render<'_> {
    /// A template as text.
    pub fn text(&self, t: &Tmpl) -> Result<String, TemplateError> {
        self.templates.render(&t.0, self.ctx)
    }

    /// A list: one `{{ expression }}` giving a sequence keeps its items as
    /// they are; other text is split at commas and newlines. Empty items
    /// are left out; no template, no items.
    pub fn list(&self, t: Option<&Tmpl>) -> Result<Vec<String>, TemplateError> {
        let Some(t) = t else { return Ok(Vec::new()) };
        if let Some(expression) = crate::template::single_expression(&t.0) {
            let value = self.templates.evaluate(expression, &t.0, self.ctx)?;
            if value.kind() == minijinja::value::ValueKind::Seq {
                let items = value
                    .try_iter()
                    .map_err(|e| TemplateError::new(e.to_string()))?;
                return Ok(items
                    .map(|v| v.to_string())
                    .filter(|v| !v.trim().is_empty())
                    .collect());
            }
        }
        Ok(self
            .text(t)?
            .split([',', '\n'])
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Any template text, e.g. a template file's (errors name `origin`).
    pub fn body(&self, text: &str, origin: &str) -> Result<String, TemplateError> {
        self.templates
            .render(text, self.ctx)
            .map_err(|e| TemplateError {
                message: format!("{origin}: {}", e.message),
                ..e
            })
    }

    /// An optional template as text (empty when absent).
    pub fn optional(&self, t: Option<&Tmpl>) -> Result<String, TemplateError> {
        t.map(|t| self.text(t))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// An optional template, `None` when absent or empty.
    pub fn given(&self, t: Option<&Tmpl>) -> Result<Option<String>, TemplateError> {
        Ok(Some(self.optional(t)?).filter(|v| !v.is_empty()))
    }

    /// An optional choice: one of `choices`, `choices[0]` when absent or empty.
    pub fn choice<'c>(
        &self,
        t: Option<&Tmpl>,
        what: &str,
        choices: &[&'c str],
    ) -> Result<&'c str, TemplateError> {
        match self.given(t)? {
            None => Ok(choices[0]),
            Some(given) => choices
                .iter()
                .find(|c| **c == given)
                .copied()
                .ok_or_else(|| TemplateError::new(choice_error(what, choices, &given))),
        }
    }

    /// A shell command template: every value in it is quoted.
    pub fn shell(&self, t: &Tmpl) -> Result<String, TemplateError> {
        self.templates.render_shell(&t.0, self.ctx)
    }

    /// A template's value: what one `{{ expression }}` gives (a map stays
    /// a map), else its text.
    pub fn value(&self, t: &Tmpl) -> Result<Value, TemplateError> {
        match crate::template::single_expression(&t.0) {
            Some(expression) => self.templates.evaluate(expression, &t.0, self.ctx),
            None => self.text(t).map(Value::from),
        }
    }

    /// An optional yes/no template (absent: no).
    pub fn flag(&self, t: Option<&Tmpl>) -> Result<bool, TemplateError> {
        Ok(crate::template::truthy(&Value::from(self.optional(t)?)))
    }

    /// An optional number template (absent: `default`).
    pub fn number<T: std::str::FromStr>(
        &self,
        t: Option<&Tmpl>,
        default: T,
        what: &str,
    ) -> Result<T, TemplateError> {
        match t {
            None => Ok(default),
            Some(t) => {
                let v = self.text(t)?;
                v.trim()
                    .parse()
                    .map_err(|_| TemplateError::new(number_error(what, &v)))
            }
        }
    }

    /// `script`, run as the step says (user, directory, environment, timeout).
    pub fn command(&self, script: String) -> RemoteCommand {
        RemoteCommand {
            script,
            ..self.base.clone()
        }
    }

    /// `script` as `user` (the login user when empty), in no particular
    /// directory, with no environment of the step's: a side command, such
    /// as a [`Diagnosis`].
    pub fn command_as(&self, script: String, user: &str, timeout: Duration) -> RemoteCommand {
        RemoteCommand {
            script,
            become_user: Some(user.to_owned()).filter(|u| !u.is_empty() && u != self.login_user),
            timeout: Some(timeout),
            ..RemoteCommand::default()
        }
    }

    /// The user the step runs as, when it is not the login user.
    pub fn become_user(&self) -> Option<&str> {
        self.base.become_user.as_deref()
    }

    /// Values never to show or leave readable.
    pub fn secrets(&self) -> &[String] {
        self.secrets
    }
}

/// `what must be a number, not `text``: one wording for load and run time.
pub fn number_error(what: &str, text: &str) -> String {
    format!("{what} must be a number, not `{text}`")
}

/// Checks a literal `t` against `check` when the playbook loads (a
/// template is checked when it is rendered).
pub fn check_literal(
    t: Option<&Tmpl>,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    t.and_then(Tmpl::literal).map_or(Ok(()), check)
}

/// Checks a literal choice: empty (the default) or one of `choices`.
pub fn check_choice(t: Option<&Tmpl>, what: &str, choices: &[&str]) -> Result<(), String> {
    check_literal(t, |given| {
        if given.is_empty() || choices.contains(&given) {
            Ok(())
        } else {
            Err(choice_error(what, choices, given))
        }
    })
}

/// Checks a literal number.
pub fn check_number<T: std::str::FromStr>(t: Option<&Tmpl>, what: &str) -> Result<(), String> {
    check_literal(t, |v| {
        v.trim()
            .parse::<T>()
            .map(|_| ())
            .map_err(|_| number_error(what, v))
    })
}

/// `what must be `a`, `b` or `c`, not `x``, with the closest choice suggested.
pub fn choice_error(what: &str, choices: &[&str], given: &str) -> String {
    let listed = crate::suggest::one_of(choices);
    let suggestion = crate::suggest::did_you_mean(given, choices.iter().copied());
    format!("{what} must be {listed}, not `{given}`{suggestion}")
}

/// What a step's command output means, read by its kind.
pub type Reader = dyn Fn(&Ran<'_>) -> Result<Outcome, StepFailure> + Send + Sync;

/// A step's command as it ran.
pub struct Ran<'a> {
    /// What it printed and how it exited.
    pub output: &'a Output,
    /// The command, as run.
    pub command: &'a RemoteCommand,
    /// The bytes the engine copied for the step ([`Effect::SendsLocalFile`],
    /// [`Effect::Downloads`]).
    pub copied: Option<&'a [u8]>,
}

impl Ran<'_> {
    /// Its `wptdeploy.KEY=VALUE` lines, or the failure a non-zero exit is.
    pub fn succeeded(&self) -> Result<std::collections::BTreeMap<String, String>, StepFailure> {
        if self.output.exit_code != 0 {
            return Err(failure(self.command, self.output));
        }
        Ok(markers(&self.output.stdout))
    }

    /// Succeeded, and changed the host unless it printed `wptdeploy.changed=false`.
    pub fn changed(&self) -> Result<Outcome, StepFailure> {
        let marks = self.succeeded()?;
        Ok(Outcome {
            changed: marks.get("changed").is_none_or(|c| c == "true"),
            ..Outcome::default()
        })
    }
}

/// A read-only command the engine runs after a step fails in the way it
/// names, whose output says why (who holds the lock it waited for).
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// Run when the failure's message contains this.
    pub when: String,
    /// The command; what it prints on standard output is added to the failure.
    pub command: RemoteCommand,
    /// What its output is, as the line above it.
    pub title: String,
    /// Added first among the failure's hints when the command found something.
    pub hint: String,
}

/// A step rendered for one host: the exact command, what the engine does
/// around it, and how its output is read.
#[derive(Clone)]
pub struct Prepared {
    /// The step's rendered name.
    pub name: String,
    /// The command that does the step.
    pub command: RemoteCommand,
    /// A read-only command run instead under `--check`, when the step has one.
    pub probe: Option<RemoteCommand>,
    /// The step only looks: under `--check` it runs like any other time.
    pub read_only: bool,
    /// Its probe may fail until the steps before it have run (a check as
    /// a user a step before it makes): `--check` then shows it, not fails.
    pub probe_waits: bool,
    /// What the engine does around the command.
    pub effect: Effect,
    /// What the engine runs after some failures, to say why.
    pub diagnosis: Option<Diagnosis>,
    /// What the person is shown instead of the command, if not the command.
    shown: Option<String>,
    /// Its standard output is wptdeploy's to read, not the person's.
    stdout_is_data: bool,
    reader: Arc<Reader>,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("name", &self.name)
            .field("command", &self.command)
            .field("probe", &self.probe)
            .field("read_only", &self.read_only)
            .field("effect", &self.effect)
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// `command`, whose output `read` reads; it only runs ([`Effect::Runs`]).
    pub fn new(
        command: RemoteCommand,
        read: impl Fn(&Ran<'_>) -> Result<Outcome, StepFailure> + Send + Sync + 'static,
    ) -> Self {
        Prepared {
            name: String::new(),
            command,
            probe: None,
            read_only: false,
            probe_waits: false,
            effect: Effect::Runs,
            diagnosis: None,
            shown: None,
            stdout_is_data: false,
            reader: Arc::new(read),
        }
    }

    /// With a command that says why it failed, after some failures.
    #[must_use]
    pub fn with_diagnosis(mut self, diagnosis: Option<Diagnosis>) -> Self {
        self.diagnosis = diagnosis;
        self
    }

    /// With what the engine does around it.
    #[must_use]
    pub fn with_effect(mut self, effect: Effect) -> Self {
        self.effect = effect;
        self
    }

    /// With a read-only command that `--check` runs instead.
    #[must_use]
    pub fn with_probe(mut self, probe: RemoteCommand) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Its probe may fail until the steps before it have run.
    #[must_use]
    pub fn probe_may_wait(mut self) -> Self {
        self.probe_waits = true;
        self
    }

    /// Whether it may be sent to the host ahead of its turn, with other
    /// steps: its command only looks (it is its own probe), and is one
    /// plain command on the host.
    pub fn sendable_ahead(&self) -> bool {
        self.probe.as_ref() == Some(&self.command)
            && matches!(self.effect, Effect::Runs)
            && self.command.background_log.is_none()
            && self.command.stdin.is_none()
    }

    /// Only looks: its own command is its probe, `--check` runs it, and
    /// it never counts as a change.
    #[must_use]
    pub fn looking_only(mut self) -> Self {
        self.probe = Some(self.command.clone());
        self.read_only = true;
        let read = self.reader.clone();
        self.reader = Arc::new(move |ran: &Ran<'_>| {
            read(ran).map(|outcome| Outcome {
                changed: false,
                ..outcome
            })
        });
        self
    }

    /// Its standard output is a protocol for wptdeploy to read (files,
    /// revisions, rows): never streamed to the person, even with `-v`.
    #[must_use]
    pub fn data_on_stdout(mut self) -> Self {
        self.stdout_is_data = true;
        self
    }

    /// Whether its standard output is wptdeploy's to read, not the person's.
    pub fn stdout_is_data(&self) -> bool {
        self.stdout_is_data
    }

    /// Showing `text` to the person rather than the command.
    #[must_use]
    pub fn showing(mut self, text: String) -> Self {
        self.shown = Some(text);
        self
    }

    /// What the person is shown as the step's command.
    pub fn shown(&self) -> String {
        self.shown
            .clone()
            .unwrap_or_else(|| self.command.plan_text())
    }

    /// Reads what the step did from the output of its command.
    pub fn outcome(&self, output: &Output) -> Result<Outcome, StepFailure> {
        self.read(&Ran {
            output,
            command: &self.command,
            copied: None,
        })
    }

    /// Reads what the step did from how its command ran.
    pub fn read(&self, ran: &Ran<'_>) -> Result<Outcome, StepFailure> {
        (self.reader)(ran)
    }
}
