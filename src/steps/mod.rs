//! Step kinds: each in its own file implementing [`kind::StepKind`],
//! listed once in [`registry`]. [`prepare`] renders a playbook step for
//! one host into the exact command and the [`Effect`] the engine obeys.

pub mod app;
mod backup;
mod checkout;
pub mod columns;
mod confirm;
mod directory;
pub mod effect;
mod ensure;
mod fetch;
mod healthcheck;
pub mod history;
pub mod kind;
mod local;
pub mod lock;
mod logs;
pub mod migrations;
pub mod outcome;
mod own;
mod prune;
mod publish;
pub mod registry;
mod releases;
pub mod reload;
mod restart;
mod restore;
mod root_safe;
mod run;
mod say;
mod shared;
mod shell;
mod shell_fns;
mod sql_lint;
mod step;
mod switch;
pub mod template;
mod upload;
mod virtualenv;

use minijinja::Value;

use crate::template::{TemplateError, Templates};
use crate::transport::RemoteCommand;

pub use checkout::CheckoutKind;
pub use effect::lock::{Holder, LockOwner, LockSpec};
pub use effect::{Effect, FileWrite, LocalFile, Symlink};
pub use kind::{Diagnosis, Prepared, Ran, StepKind, Tmpl};
pub use outcome::{Outcome, StepFailure, exit_status};
pub use prune::human_bytes;
pub use step::{Item, Step, StepEnv};
pub use switch::SwitchKind;

/// Where `background: true` sends a step's output, on the host.
pub const DEFAULT_BACKGROUND_LOG: &str = "~/.wptdeploy/background.log";

/// The variables of an `env: "{{ expression }}"`: the mapping it gives.
fn env_from(
    templates: &Templates,
    source: &str,
    ctx: &Value,
) -> Result<Vec<(String, String)>, TemplateError> {
    let not_a_mapping = || {
        TemplateError::new(format!(
            "`env: {source}` must give a mapping of names to values"
        ))
    };
    let expression = crate::template::single_expression(source).ok_or_else(not_a_mapping)?;
    let value = templates.evaluate(expression, source, ctx)?;
    if value.kind() != minijinja::value::ValueKind::Map {
        return Err(not_a_mapping());
    }
    let mut env = Vec::new();
    for key in value.try_iter().map_err(|_| not_a_mapping())? {
        let name = key.to_string();
        if !crate::transport::command::is_env_name(&name) {
            return Err(TemplateError::new(format!(
                "`env: {source}`: `{name}` is not a valid environment variable name"
            )));
        }
        let item = value.get_item(&key).map_err(|_| not_a_mapping())?;
        env.push((name, item.to_string()));
    }
    Ok(env)
}

/// The context `step` renders in: `ctx` with the step's own `vars:` over it.
pub fn step_scope(step: &Step, templates: &Templates, ctx: &Value) -> Result<Value, TemplateError> {
    if step.vars.is_empty() {
        return Ok(ctx.clone());
    }
    let extra = step
        .vars
        .iter()
        .map(|(name, value)| Ok((name.clone(), Value::from(templates.render(&value.0, ctx)?))))
        .collect::<Result<_, TemplateError>>()?;
    Ok(crate::template::Scope::overlay(ctx, extra))
}

/// Renders `step` for one host. `ctx` holds the host's variables and what
/// earlier steps registered; `login_user` decides whether `become` needs
/// sudo; a file written with one of `secrets` in it is kept private.
pub fn prepare(
    step: &Step,
    templates: &Templates,
    ctx: &Value,
    login_user: &str,
    secrets: &[String],
) -> Result<Prepared, TemplateError> {
    let scoped = step_scope(step, templates, ctx)?;
    let ctx = &scoped;
    let text = |t: &Tmpl| templates.render(&t.0, ctx);
    let name = text(&step.name)?.trim().to_owned();
    let become_user = step
        .become_user
        .as_ref()
        .map(text)
        .transpose()?
        .filter(|u| !u.is_empty() && u != login_user);
    let env = match &step.env {
        StepEnv::Map(env) => env
            .iter()
            .map(|(k, v)| Ok((k.clone(), text(v)?)))
            .collect::<Result<Vec<_>, TemplateError>>()?,
        StepEnv::Expression(t) => env_from(templates, &t.0, ctx)?,
    };
    let background_log = match &step.background {
        None => None,
        Some(log) => match text(log)?.as_str() {
            "true" | "yes" => Some(DEFAULT_BACKGROUND_LOG.to_owned()),
            "false" | "no" | "" => None,
            path => Some(path.to_owned()),
        },
    };
    let render = kind::Render {
        templates,
        ctx,
        base: RemoteCommand {
            script: String::new(),
            become_user,
            cwd: step.cwd.as_ref().map(text).transpose()?,
            env,
            timeout: step.timeout,
            stdin: None,
            background_log,
            in_place: false,
        },
        secrets,
        login_user,
    };
    let mut prepared = step.action.prepare(&render)?;
    prepared.name = name;
    if !step.changes {
        prepared = prepared.looking_only();
    }
    Ok(prepared)
}
