//! The names a template sees, rendered lazily as Ansible does: a host
//! variable is templated only when something uses it, so provisioning
//! variables that refer to facts (`{{ ansible_distribution_release }}`)
//! never matter to a deploy that does not use them.
//!
//! What steps registered (and `now`) come first, then the host's variables.
//! A variable that is one expression (`"{{ vault_db_password }}"`) keeps
//! its value's type, as in Ansible; one that cannot be rendered is
//! undefined, and [`Scope::why_undefined`] tells the chain of why.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

use super::Templates;
use crate::inventory::Sourced;

/// Why a variable is undefined: the one at the root, and the variables
/// that use it on the way to the one asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undefined {
    /// The variable that is missing, or that cannot be rendered.
    pub root: String,
    /// `None`: not defined anywhere; else where it is set and what is wrong.
    pub reason: Option<(Option<String>, String)>,
    /// The variables that use it, nearest first.
    pub through: Vec<Link>,
}

/// A variable on the way to an undefined one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its name.
    pub name: String,
    /// Its value as written.
    pub raw: String,
    /// Where it is set.
    pub place: String,
}

impl std::fmt::Display for Undefined {
    /// "undefined variable `project_name`, which `base_path` uses
    /// (`/var/www/{{ project_name }}`, vars.yml:3)"
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            None => write!(f, "undefined variable `{}`", self.root)?,
            Some((place, why)) => {
                let place = place
                    .as_ref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default();
                write!(f, "variable `{}`{place}: {why}", self.root)?;
            }
        }
        for link in &self.through {
            write!(
                f,
                ", which `{}` uses (`{}`, {})",
                link.name, link.raw, link.place
            )?;
        }
        Ok(())
    }
}

/// Why a variable could not be rendered.
#[derive(Debug, Clone)]
struct Failure {
    /// What went wrong.
    message: String,
    /// The names it used that are undefined (the next link of the chain).
    missing: Vec<String>,
}

/// A host's variables with what steps registered over them, as a template context.
#[derive(Debug)]
pub struct Scope {
    templates: Templates,
    vars: Arc<Sourced>,
    over: BTreeMap<String, Value>,
    resolved: Mutex<BTreeMap<String, Result<Value, Failure>>>,
    resolving: Mutex<Vec<String>>,
}

impl Scope {
    /// The context of a template: `over` (registered values, `now`) over `vars`.
    pub fn context(
        templates: &Templates,
        vars: Arc<Sourced>,
        over: BTreeMap<String, Value>,
    ) -> Value {
        Value::from_object(Scope {
            templates: templates.clone(),
            vars,
            over,
            resolved: Mutex::new(BTreeMap::new()),
            resolving: Mutex::new(Vec::new()),
        })
    }

    /// `ctx` with `extra` over it (a step's own `vars:`): every variable
    /// that uses one of them is rendered again with its new value.
    pub fn overlay(ctx: &Value, extra: BTreeMap<String, Value>) -> Value {
        if let Some(scope) = ctx.downcast_object_ref::<Scope>() {
            let mut over = scope.over.clone();
            over.extend(extra);
            return Scope::context(&scope.templates, scope.vars.clone(), over);
        }
        let mut map: BTreeMap<String, Value> = ctx
            .try_iter()
            .into_iter()
            .flatten()
            .filter_map(|k| {
                let key = k.as_str()?.to_owned();
                Some((key, ctx.get_item(&k).ok()?))
            })
            .collect();
        map.extend(extra);
        Value::from(map)
    }

    /// `name` rendered, or why it cannot be.
    pub fn lookup(ctx: &Value, name: &str) -> Result<Value, Undefined> {
        match ctx.get_attr(name) {
            Ok(value) if !value.is_undefined() => Ok(value),
            _ => Err(match ctx.downcast_object_ref::<Scope>() {
                Some(scope) => scope.why_undefined(name),
                None => Undefined {
                    root: name.to_owned(),
                    reason: None,
                    through: Vec::new(),
                },
            }),
        }
    }

    /// Why `name` is undefined, following the variables that use undefined
    /// ones down to the one at the root.
    fn why_undefined(&self, name: &str) -> Undefined {
        let mut through = Vec::new();
        let mut current = name.to_owned();
        let resolved = self.resolved.lock().expect("not poisoned");
        loop {
            let place = self.vars.origins.get(&current).map(|o| o.place.clone());
            let (Some(raw), Some(Err(failure))) =
                (self.vars.values.get(&current), resolved.get(&current))
            else {
                let reason = self
                    .vars
                    .values
                    .contains_key(&current)
                    .then(|| "is undefined".to_owned());
                through.reverse();
                return Undefined {
                    root: current,
                    reason: reason.map(|r| (place, r)),
                    through,
                };
            };
            match failure.missing.first() {
                Some(next)
                    if through.len() < 16
                        && !through.iter().any(|l: &Link| &l.name == next)
                        && *next != current =>
                {
                    through.push(Link {
                        name: current.clone(),
                        raw: shown(raw),
                        place: place.unwrap_or_default(),
                    });
                    current.clone_from(next);
                }
                _ => {
                    through.reverse();
                    return Undefined {
                        root: current,
                        reason: Some((place, failure.message.clone())),
                        through,
                    };
                }
            }
        }
    }

    /// Renders the raw value of `name`, once per scope.
    fn resolve(self: &Arc<Self>, name: &str) -> Option<Value> {
        if let Some(done) = self.resolved.lock().expect("not poisoned").get(name) {
            return done.clone().ok();
        }
        let raw = self.vars.values.get(name)?;
        let looping = {
            let mut resolving = self.resolving.lock().expect("not poisoned");
            let looping = resolving.iter().position(|n| n == name).map(|at| {
                let mut path = resolving[at..].to_vec();
                path.push(name.to_owned());
                path.join(" -> ")
            });
            if looping.is_none() {
                resolving.push(name.to_owned());
            }
            looping
        };
        if let Some(path) = looping {
            return self.settle(
                name,
                Err(Failure {
                    message: format!("variables refer to each other in a loop: {path}"),
                    missing: Vec::new(),
                }),
            );
        }
        let ctx = Value::from_dyn_object(self.clone());
        let result = match raw {
            serde_yaml::Value::String(text) if is_command(name) => self.render_command(text, &ctx),
            _ => self.render_raw(raw, &ctx),
        };
        self.resolving
            .lock()
            .expect("not poisoned")
            .retain(|n| n != name);
        self.settle(name, result)
    }

    /// Records what `name` rendered to; the first failure found stays (a
    /// loop is named where it was seen, not where it came back round).
    fn settle(&self, name: &str, result: Result<Value, Failure>) -> Option<Value> {
        let value = result.clone().ok();
        let mut resolved = self.resolved.lock().expect("not poisoned");
        if !matches!(resolved.get(name), Some(Err(_))) {
            resolved.insert(name.to_owned(), result);
        }
        value
    }

    fn render_raw(&self, raw: &serde_yaml::Value, ctx: &Value) -> Result<Value, Failure> {
        use serde_yaml::Value as Y;
        match raw {
            Y::String(text) => self.render_text(text, ctx),
            Y::Sequence(items) => items
                .iter()
                .map(|item| self.render_raw(item, ctx))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::from),
            Y::Mapping(map) => {
                let mut out = BTreeMap::new();
                for (key, item) in map {
                    let key = match key {
                        Y::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
                    };
                    out.insert(key, self.render_raw(item, ctx)?);
                }
                Ok(Value::from(out))
            }
            Y::Tagged(tagged) if tagged.tag == "vault" => Err(Failure {
                message: "is encrypted with ansible-vault, and no vault password was given (`--ask-vault-pass`, `--vault-password-file FILE` or `--vault-id LABEL@SOURCE`)".into(),
                missing: Vec::new(),
            }),
            // Ansible's `!unsafe`: data, never rendered.
            Y::Tagged(tagged) if tagged.tag == "unsafe" => Ok(Value::from_serialize(&tagged.value)),
            Y::Tagged(tagged) => self.render_raw(&tagged.value, ctx),
            other => Ok(Value::from_serialize(other)),
        }
    }

    /// A `*_command` variable is shell text: the values in it are quoted
    /// as one word each (`| safe` inserts one as it is), and the text it
    /// renders to goes into another command unquoted.
    fn render_command(&self, text: &str, ctx: &Value) -> Result<Value, Failure> {
        if single_expression(text).is_some() {
            return self.render_text(text, ctx);
        }
        self.templates
            .render_shell(text, ctx)
            .map(Value::from_safe_string)
            .map_err(|e| Failure {
                message: e.message,
                missing: e.undefined,
            })
    }

    fn render_text(&self, text: &str, ctx: &Value) -> Result<Value, Failure> {
        let failed = |e: super::TemplateError| Failure {
            message: e.message,
            missing: e.undefined,
        };
        if let Some(expression) = single_expression(text) {
            return self
                .templates
                .evaluate(expression, text, ctx)
                .map_err(failed);
        }
        self.templates
            .render(text, ctx)
            .map(Value::from)
            .map_err(failed)
    }
}

/// Whether the variable `name` holds a shell command (`*_command`).
fn is_command(name: &str) -> bool {
    name.ends_with("_command")
}

/// The expression of a string that is nothing but `{{ expression }}`.
pub fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%"))
        .then_some(inner.trim())
}

/// A raw value as written, for the chain of an undefined variable.
fn shown(raw: &serde_yaml::Value) -> String {
    match raw {
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if let Some(value) = self.over.get(name) {
            return Some(value.clone());
        }
        self.resolve(name)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names: Vec<Value> = self.over.keys().map(|k| Value::from(k.as_str())).collect();
        names.extend(
            self.vars
                .values
                .keys()
                .filter(|k| !self.over.contains_key(*k))
                .map(|k| Value::from(k.as_str())),
        );
        Enumerator::Values(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Origin, Vars};

    fn scope(yaml: &str) -> Value {
        let vars: Vars = serde_yaml::from_str(yaml).unwrap();
        let sourced = Sourced::all_from(vars, &Origin::at("vars.yml"));
        Scope::context(&Templates::new(), Arc::new(sourced), BTreeMap::new())
    }

    #[test]
    fn unused_variables_are_never_rendered() {
        let ctx = scope(
            "base: /srv/{{ project }}\nproject: wpt\napt_repos:\n  - deb {{ ansible_distribution_release }} main\n",
        );
        assert_eq!(
            Templates::new().render("{{ base }}/site", &ctx).unwrap(),
            "/srv/wpt/site"
        );
    }

    #[test]
    fn one_expression_keeps_its_type() {
        let ctx = scope(
            "n: 3\nm: '{{ n }}'\nflag: '{{ n > 2 }}'\nlist: '{{ [1, 2] }}'\ntext: 'x{{ n }}'\n",
        );
        assert_eq!(Scope::lookup(&ctx, "m").unwrap(), Value::from(3));
        assert_eq!(Scope::lookup(&ctx, "flag").unwrap(), Value::from(true));
        assert_eq!(Scope::lookup(&ctx, "list").unwrap().len(), Some(2));
        assert_eq!(Scope::lookup(&ctx, "text").unwrap(), Value::from("x3"));
    }

    #[test]
    fn an_undefined_chain_is_told_link_by_link() {
        let ctx =
            scope("db_password: '{{ vault_db_password }}'\nurl: 'pg://{{ db_password }}@db'\n");
        let err = Templates::new().render("{{ url }}", &ctx).unwrap_err();
        assert_eq!(err.undefined, ["url"]);
        assert_eq!(
            Scope::lookup(&ctx, "url").unwrap_err().to_string(),
            "undefined variable `vault_db_password`, which `db_password` uses (`{{ vault_db_password }}`, vars.yml), which `url` uses (`pg://{{ db_password }}@db`, vars.yml)"
        );
        let defaulted = Templates::new()
            .render("{{ db_password | default('none') }}", &ctx)
            .unwrap();
        assert_eq!(defaulted, "none");
    }

    #[test]
    fn loops_are_named() {
        let ctx = scope("a: '{{ b }}x'\nb: '{{ a }}y'\n");
        let why = Scope::lookup(&ctx, "a").unwrap_err().to_string();
        assert!(why.contains("loop: a -> b -> a"), "{why}");
    }
}
