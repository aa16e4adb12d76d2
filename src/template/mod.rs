//! Jinja2-style templates (minijinja), as Ansible users already write them.
//!
//! In remote commands (`run:`, `restart:`, health checks) every `{{ value }}`
//! is shell-quoted automatically, so a variable can never inject shell
//! syntax; `{{ value | safe }}` opts out for a playbook author who means it.

mod filters;
mod scope;
mod unknown;

use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub use scope::{Link, Scope, Undefined, single_expression};
pub use unknown::Unknown;

use crate::transport::quote;

/// A template failed to render.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What went wrong, naming the variable where one is missing and why.
    pub message: String,
    /// The names it used that are undefined.
    pub undefined: Vec<String>,
    /// It uses a filter, test or function that does not exist: wrong
    /// whatever the host says.
    pub unknown_name: bool,
}

impl TemplateError {
    /// An error that is not about undefined names.
    pub fn new(message: impl Into<String>) -> Self {
        TemplateError {
            message: message.into(),
            undefined: Vec::new(),
            unknown_name: false,
        }
    }

    fn from_minijinja(error: &minijinja::Error, source: &str) -> Self {
        use minijinja::ErrorKind::{UnknownFilter, UnknownFunction, UnknownTest};
        TemplateError {
            unknown_name: matches!(error.kind(), UnknownFilter | UnknownTest | UnknownFunction),
            ..TemplateError::new(format!("{}{}", describe(error), quoted_source(source)))
        }
    }
}

/// Template names ending in this are shell commands and auto-quote values.
const SHELL: &str = "command.sh";

/// The template environment shared by inventories and playbooks (cheap to clone).
#[derive(Debug, Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    /// For `when:` conditions, which may test names (and their fields) that a
    /// skipped step never registered: those are undefined, hence false.
    lenient: Arc<Environment<'static>>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// An environment with strict undefined variables and Ansible's
    /// filters (see [`filters`]), plus a `sha` test.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".sh") {
                AutoEscape::Custom("shell")
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Custom("shell") && !value.is_safe() {
                out.write_str(&quote(&value.to_string())).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                })
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        filters::register(&mut env);
        env.add_test("sha", |value: Value| {
            value
                .as_str()
                .is_some_and(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        let mut lenient = env.clone();
        lenient.set_undefined_behavior(UndefinedBehavior::Chainable);
        Templates {
            env: Arc::new(env),
            lenient: Arc::new(lenient),
        }
    }

    /// Checks `source` for syntax errors without rendering it.
    pub fn check_syntax(&self, source: &str) -> Result<(), TemplateError> {
        self.env
            .template_from_named_str("check", source)
            .map(|_| ())
            .map_err(|e| TemplateError::new(describe(&e)))
    }

    /// Checks the syntax of a `when:` expression.
    pub fn check_expression(&self, expr: &str) -> Result<(), TemplateError> {
        self.env
            .compile_expression(expr)
            .map(|_| ())
            .map_err(|e| TemplateError::new(describe(&e)))
    }

    /// The top-level names a template uses (none when it does not parse).
    pub fn names(&self, source: &str) -> Vec<String> {
        self.env
            .template_from_str(source)
            .map(|t| t.undeclared_variables(false).into_iter().collect())
            .unwrap_or_default()
    }

    /// The names an expression uses.
    pub fn expression_names(&self, expr: &str) -> Vec<String> {
        self.env
            .compile_expression(expr)
            .map(|e| e.undeclared_variables(false).into_iter().collect())
            .unwrap_or_default()
    }

    /// Evaluates `expression` (the whole of `source`), keeping its value's type.
    pub fn evaluate(
        &self,
        expression: &str,
        source: &str,
        ctx: &Value,
    ) -> Result<Value, TemplateError> {
        let compiled = self
            .env
            .compile_expression(expression)
            .map_err(|e| TemplateError::new(format!("{} in `{}`", describe(&e), source.trim())))?;
        match compiled.eval(ctx) {
            Ok(value) if !value.is_undefined() => Ok(value),
            Ok(_) => {
                let missing = missing_names(compiled.undeclared_variables(false), ctx);
                Err(undefined_error(missing, source, ctx))
            }
            Err(e) => Err(Self::explain_expression(&compiled, source, ctx, &e)),
        }
    }

    /// Renders text (file contents, names, paths): values are inserted as-is.
    pub fn render(&self, source: &str, ctx: &Value) -> Result<String, TemplateError> {
        self.render_named("text", source, ctx)
    }

    /// Renders text where a missing value is better shown empty than an
    /// error: the names of steps that did not run.
    pub fn render_lenient(&self, source: &str, ctx: &Value) -> String {
        self.lenient
            .render_named_str("text", source, ctx)
            .map_or_else(|_| source.to_owned(), |text| text.trim().to_owned())
    }

    /// Renders the name of a step that does not run (skipped, or planned):
    /// a value not known (missing or empty) shows as `<expression>`, as
    /// `--check` shows what a step not run yet would register, never as a
    /// half-sentence (`upgrade the database to`).
    pub fn render_name(&self, source: &str, ctx: &Value) -> String {
        if source.contains("{%") {
            return self.render_lenient(source, ctx);
        }
        let mut out = String::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            let Some(length) = rest[start..].find("}}").map(|end| end + 2) else {
                break;
            };
            let (before, placeholder) = (&rest[..start], &rest[start..start + length]);
            out.push_str(before);
            let value = self.render_lenient(placeholder, ctx);
            if value.is_empty() {
                let inner = &placeholder[2..placeholder.len() - 2];
                let expression = inner.split('|').next().unwrap_or(inner).trim();
                out.push_str(&format!("<{expression}>"));
            } else {
                out.push_str(&value);
            }
            rest = &rest[start + length..];
        }
        out.push_str(rest);
        out.trim().to_owned()
    }

    /// What `source` is worth as data, where a missing value is `None`: a
    /// single `{{ expression }}` keeps its type (a list stays a list); other
    /// text is rendered leniently, `None` when empty.
    pub fn data_lenient(&self, source: &str, ctx: &Value) -> Option<serde_json::Value> {
        if let Some(expression) = single_expression(source) {
            let value = self.evaluate(expression, source, ctx).ok()?;
            if value.is_none() || value.is_undefined() {
                return None;
            }
            return serde_json::to_value(&value).ok();
        }
        let text = self.render_lenient(source, ctx);
        (!text.is_empty()).then_some(serde_json::Value::String(text))
    }

    /// Renders a shell command: every inserted value is shell-quoted.
    pub fn render_shell(&self, source: &str, ctx: &Value) -> Result<String, TemplateError> {
        self.render_named(SHELL, source, ctx)
    }

    fn render_named(&self, name: &str, source: &str, ctx: &Value) -> Result<String, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(source.to_owned());
        }
        self.env
            .render_named_str(name, source, ctx)
            .map_err(|e| self.explain(name, source, ctx, &e))
    }

    /// Evaluates a `when:` condition.
    pub fn condition(&self, expr: &str, ctx: &Value) -> Result<bool, TemplateError> {
        let value = self
            .lenient
            .compile_expression(expr)
            .and_then(|e| e.eval(ctx))
            .map_err(|e| TemplateError::new(describe(&e)))?;
        Ok(truthy(&value))
    }

    fn explain(
        &self,
        name: &str,
        source: &str,
        ctx: &Value,
        error: &minijinja::Error,
    ) -> TemplateError {
        if error.kind() == minijinja::ErrorKind::UndefinedError
            && let Ok(template) = self.env.template_from_named_str(name, source)
        {
            let missing = missing_names(template.undeclared_variables(false), ctx);
            if !missing.is_empty() {
                return undefined_error(missing, source, ctx);
            }
        }
        TemplateError::from_minijinja(error, source)
    }

    fn explain_expression(
        compiled: &minijinja::Expression<'_, '_>,
        source: &str,
        ctx: &Value,
        error: &minijinja::Error,
    ) -> TemplateError {
        if error.kind() == minijinja::ErrorKind::UndefinedError {
            let missing = missing_names(compiled.undeclared_variables(false), ctx);
            if !missing.is_empty() {
                return undefined_error(missing, source, ctx);
            }
        }
        TemplateError::from_minijinja(error, source)
    }
}

/// Of `names`, those `ctx` does not define (or cannot render), in order.
fn missing_names(names: std::collections::HashSet<String>, ctx: &Value) -> Vec<String> {
    let mut missing: Vec<String> = names
        .into_iter()
        .filter(|v| ctx.get_attr(v).map_or(true, |x| x.is_undefined()))
        .collect();
    missing.sort();
    missing
}

/// "undefined variable `x` in `...`", following each missing name that is
/// a variable to the one at the root of its chain.
fn undefined_error(missing: Vec<String>, source: &str, ctx: &Value) -> TemplateError {
    let known: Vec<String> = ctx
        .try_iter()
        .map(|names| {
            names
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let reasons: Vec<String> = missing
        .iter()
        .map(|name| {
            let plain = format!("undefined variable `{name}`");
            match Scope::lookup(ctx, name) {
                // Undefined itself, not through a chain: perhaps misspelt.
                Err(why) if why.to_string() != plain => why.to_string(),
                _ => plain + &crate::suggest::did_you_mean(name, known.iter().map(String::as_str)),
            }
        })
        .collect();
    TemplateError {
        message: format!("{}{}", reasons.join("; "), quoted_source(source)),
        undefined: missing,
        unknown_name: false,
    }
}

/// ` in `SOURCE`` for a short one-line template; nothing for a file's text.
fn quoted_source(source: &str) -> String {
    let source = source.trim();
    if source.contains('\n') || source.len() > 160 {
        String::new()
    } else {
        format!(" in `{source}`")
    }
}

/// Ansible's truthiness for strings: `yes`, `true`, `on`, `1` are true;
/// `false`, `no`, `off`, `0` and the empty string are false.
pub fn truthy(value: &Value) -> bool {
    match value.as_str() {
        Some(s) => !matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "" | "false" | "no" | "off" | "0" | "n" | "none"
        ),
        None => value.is_true(),
    }
}

fn describe(error: &minijinja::Error) -> String {
    let mut text = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    if let Some(line) = error.line()
        && line > 1
    {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

/// Whether a variable's value must never be shown: passwords, tokens,
/// secrets, keys, and everything from an ansible-vault (`vault_*`).
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with("_file") || lower.ends_with("_path") {
        return false;
    }
    lower.starts_with("vault_")
        || [
            "password",
            "passwd",
            "secret",
            "token",
            "api_key",
            "private_key",
        ]
        .iter()
        .any(|word| lower.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ctx(pairs: &[(&str, &str)]) -> Value {
        let map: BTreeMap<&str, &str> = pairs.iter().copied().collect();
        Value::from_serialize(&map)
    }

    #[test]
    fn a_skipped_steps_name_shows_what_is_not_known_by_its_expression() {
        let t = Templates::new();
        let c = ctx(&[("db_name", "wptdash"), ("empty", "")]);
        assert_eq!(
            t.render_name("upgrade {{ db_name }} to {{ pending.head | safe }}", &c),
            "upgrade wptdash to <pending.head>"
        );
        assert_eq!(
            t.render_name("check the columns of {{ empty }}", &c),
            "check the columns of <empty>"
        );
        assert_eq!(
            t.render_name("prune old releases", &c),
            "prune old releases"
        );
    }

    #[test]
    fn shell_templates_quote_every_value() {
        let t = Templates::new();
        let c = ctx(&[("ref", "x; rm -rf /"), ("dir", "/srv/app")]);
        assert_eq!(
            t.render_shell("git checkout {{ ref }} && cd {{ dir }}", &c)
                .unwrap(),
            "git checkout 'x; rm -rf /' && cd /srv/app"
        );
        assert_eq!(
            t.render_shell("echo {{ ref | safe }}", &c).unwrap(),
            "echo x; rm -rf /"
        );
        assert_eq!(t.render("{{ ref }}", &c).unwrap(), "x; rm -rf /");
    }

    #[test]
    fn undefined_variables_are_named() {
        let t = Templates::new();
        let err = t.render("{{ base_path }}/site", &ctx(&[])).unwrap_err();
        assert_eq!(
            err.message,
            "undefined variable `base_path` in `{{ base_path }}/site`"
        );
    }

    #[test]
    fn conditions_use_ansible_truthiness_and_tolerate_unregistered_names() {
        let t = Templates::new();
        let c = ctx(&[
            ("force", "false"),
            ("commit", "0123456789abcdef0123456789abcdef01234567"),
        ]);
        assert!(!t.condition("force | bool", &c).unwrap());
        assert!(t.condition("commit is sha", &c).unwrap());
        assert!(t.condition("not release", &c).unwrap());
        assert!(
            !t.condition("pulled.revision and pulled.tables", &c)
                .unwrap()
        );
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("db_password"));
        assert!(is_secret_name("vault_github_token"));
        assert!(is_secret_name("GITHUB_TOKEN"));
        assert!(!is_secret_name("ansible_ssh_private_key_file"));
        assert!(!is_secret_name("db_user"));
    }
}
