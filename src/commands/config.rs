//! `wptdeploy config ENV`: the config file (`config_path`) a deploy writes
//! into each host's release, rendered from its template with that host's
//! variables, every secret masked; nothing on the hosts changes. It is
//! made from the deploy playbook's own step that writes the file, so it
//! shows what a deploy would write, from the same template (the project's,
//! the Ansible role's, or the built-in one).

use super::Context;
use super::session::Session;
use crate::cli::EnvArgs;
use crate::error::Error;
use crate::playbook::{Item, Playbook, Step};
use crate::steps::kind::Typed;
use crate::steps::template::TemplateKind;

/// Shows each host's config file.
pub async fn run(args: EnvArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let session = Session {
        name: "config",
        title: "the config file of {env}",
        env: args.env,
        extra: cx.extra_vars(),
        reshape: Some(shown),
        ..Session::default()
    };
    let summaries = session.execute(cx).await?;
    let without: Vec<&str> = summaries
        .iter()
        .filter(|s| s.ok + s.changed == 0)
        .map(|s| s.host.as_str())
        .collect();
    if !without.is_empty() {
        crate::printer::note(
            cx.settings,
            &format!(
                "no config file on {}: `config_path` is not set there, so a deploy writes none",
                without.join(", ")
            ),
        );
    }
    Ok(())
}

/// The deploy playbook's step that writes `config_path`, as a `say:` of
/// its template: rendered for each host and shown, not written.
fn shown(playbook: &Playbook) -> Result<Vec<Step>, Error> {
    let (step, body) = playbook
        .steps
        .iter()
        .find_map(|step| {
            let args = &step.action.as_any().downcast_ref::<Typed<TemplateKind>>()?.args;
            args.dest.as_ref().is_some_and(|d| d.0.contains("config_path")).then_some((step, &args.body))
        })
        .ok_or_else(|| Error::Usage {
            message: format!(
                "{} has no `template:` step that writes `config_path`, so there is no config file to show",
                playbook.origin
            ),
            hints: vec!["a deploy writes a config file when `config_path` and its template are set (docs/variables.md)".into()],
        })?;
    // Written as a playbook would write it, and parsed as one is.
    let mut say = serde_yaml::Mapping::new();
    say.insert(
        "name".into(),
        format!("render {{{{ config_path }}}} from {}", body.origin).into(),
    );
    say.insert("say".into(), body.text.clone().into());
    if let Some(when) = &step.when {
        say.insert("when".into(), when.clone().into());
    }
    match serde_yaml::from_value(serde_yaml::Value::Mapping(say)) {
        Ok(Item::Step(said)) => Ok(vec![Step {
            origin: step.origin.clone(),
            line: step.line,
            ..*said
        }]),
        Ok(Item::Import(_)) => unreachable!("a `say:` step is no import"),
        Err(e) => Err(Error::Usage {
            message: format!("{}:{}: {e}", step.origin, step.line),
            hints: Vec::new(),
        }),
    }
}
