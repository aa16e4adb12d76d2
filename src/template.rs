//! Jinja2-style templates (minijinja), as Ansible users already write them.
//!
//! In remote commands (`run:`, `restart:`, health checks) every `{{ value }}`
//! is shell-quoted automatically, so a variable can never inject shell
//! syntax; `{{ value | safe }}` opts out for a playbook author who means it.

use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use crate::inventory::Vars;
use crate::transport::quote;

/// A template failed to render.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What went wrong, naming the variable where one is missing.
    pub message: String,
}

/// Template names ending in this are shell commands and auto-quote values.
const SHELL: &str = "command.sh";

/// The template environment shared by inventories and playbooks.
pub struct Templates {
    env: Environment<'static>,
    /// For `when:` conditions, which may test names (and their fields) that a
    /// skipped step never registered: those are undefined, hence false.
    lenient: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// An environment with strict undefined variables and Ansible's
    /// `bool` filter, plus a `quote` filter and a `sha` test.
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
        env.add_filter("bool", |value: Value| truthy(&value));
        // Text that must pass variable resolution untouched travels base64-encoded.
        env.add_filter(
            "b64decode",
            |value: String| -> Result<String, minijinja::Error> {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|e| {
                        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                    })?;
                String::from_utf8(bytes).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                })
            },
        );
        env.add_filter("quote", |value: Value| {
            Value::from_safe_string(quote(&value.to_string()))
        });
        env.add_test("sha", |value: Value| {
            value
                .as_str()
                .is_some_and(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        let mut lenient = env.clone();
        lenient.set_undefined_behavior(UndefinedBehavior::Chainable);
        Templates { env, lenient }
    }

    /// Checks `source` for syntax errors without rendering it.
    pub fn check_syntax(&self, source: &str) -> Result<(), TemplateError> {
        self.env
            .template_from_named_str("check", source)
            .map(|_| ())
            .map_err(|e| TemplateError {
                message: describe(&e),
            })
    }

    /// Checks the syntax of a `when:` expression.
    pub fn check_expression(&self, expr: &str) -> Result<(), TemplateError> {
        self.env
            .compile_expression(expr)
            .map(|_| ())
            .map_err(|e| TemplateError {
                message: describe(&e),
            })
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
            .map_err(|e| TemplateError {
                message: describe(&e),
            })?;
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
            let missing: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| ctx.get_attr(v).map_or(true, |x| x.is_undefined()))
                .collect();
            if !missing.is_empty() {
                let names = missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return TemplateError {
                    message: format!("undefined variable {names} in `{}`", source.trim()),
                };
            }
        }
        TemplateError {
            message: format!("{} in `{}`", describe(error), source.trim()),
        }
    }

    /// Resolves variables that refer to each other
    /// (`site_path: "{{ base_path }}/site"`) until none changes.
    pub fn resolve(&self, raw: &Vars) -> Result<BTreeMap<String, Value>, TemplateError> {
        let mut current: Vars = raw.clone();
        for _ in 0..16 {
            let ctx = Value::from_serialize(&current);
            let mut next = Vars::new();
            for (name, value) in &current {
                let rendered = self.render_value(value, &ctx).map_err(|e| TemplateError {
                    message: format!("variable `{name}`: {}", e.message),
                })?;
                next.insert(name.clone(), rendered);
            }
            if next == current {
                return Ok(current
                    .into_iter()
                    .map(|(k, v)| (k, Value::from_serialize(&v)))
                    .collect());
            }
            current = next;
        }
        let looping: Vec<String> = current
            .iter()
            .filter(|(_, v)| serde_yaml::to_string(v).is_ok_and(|s| s.contains("{{")))
            .map(|(k, _)| format!("`{k}`"))
            .collect();
        Err(TemplateError {
            message: format!(
                "variables refer to each other in a loop: {}",
                looping.join(", ")
            ),
        })
    }

    fn render_value(
        &self,
        value: &serde_yaml::Value,
        ctx: &Value,
    ) -> Result<serde_yaml::Value, TemplateError> {
        use serde_yaml::Value as Y;
        Ok(match value {
            Y::String(s) => Y::String(self.render(s, ctx)?),
            Y::Sequence(items) => Y::Sequence(
                items
                    .iter()
                    .map(|i| self.render_value(i, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Y::Mapping(map) => {
                let mut out = serde_yaml::Mapping::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.render_value(v, ctx)?);
                }
                Y::Mapping(out)
            }
            other => other.clone(),
        })
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

    fn ctx(pairs: &[(&str, &str)]) -> Value {
        let map: BTreeMap<&str, &str> = pairs.iter().copied().collect();
        Value::from_serialize(&map)
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
    fn variables_resolve_through_each_other() {
        let t = Templates::new();
        let raw: Vars = serde_yaml::from_str(
            "project_name: wpt\nbase_path: /var/www/{{ project_name }}\nsite_path: '{{ base_path }}/site'\nkeep: 3\n",
        )
        .unwrap();
        let vars = t.resolve(&raw).unwrap();
        assert_eq!(vars["site_path"].as_str(), Some("/var/www/wpt/site"));
        assert_eq!(vars["keep"], Value::from(3));
    }

    #[test]
    fn loops_and_missing_names_are_errors() {
        let t = Templates::new();
        let looped: Vars = serde_yaml::from_str("a: '{{ b }}x'\nb: '{{ a }}y'\n").unwrap();
        assert!(t.resolve(&looped).unwrap_err().message.contains("loop"));
        let missing: Vars = serde_yaml::from_str("a: '{{ nope }}'\n").unwrap();
        assert_eq!(
            t.resolve(&missing).unwrap_err().message,
            "variable `a`: undefined variable `nope` in `{{ nope }}`"
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
