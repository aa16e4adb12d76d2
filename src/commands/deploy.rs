//! `wptdeploy ENV [--commit REF]`: deploy.yml (or `--playbook`) on ENV.

use super::Context;
use super::session::{Asking, Session};
use super::vars::{self, DeployVars};
use crate::cli::DeployArgs;
use crate::error::CommandError;
use crate::error::Error;
use crate::inventory::InventoryError;

/// Deploys.
pub async fn run(args: DeployArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let env = args.env.clone().unwrap_or_default();
    if let Some(commit) = &args.commit {
        crate::plan::check_ref(commit)?;
    }
    let mut extra = cx.extra_vars();
    vars::set(
        &mut extra,
        &DeployVars {
            commit: args.commit.clone(),
            force: args.force,
            migrate: args.migrate,
            check_pending_migrations: args.no_migrate.then_some(false),
            migration_allow: (!args.allow.is_empty()).then(|| args.allow.join(",")),
            compat_check: args.compat_check,
        },
    );
    if !args.list_steps
        && let Some(promotion) =
            super::promotion::promotion(&env, &extra, args.require_promoted, cx).await?
    {
        super::promotion::set(&mut extra, promotion);
    }
    let session = Session {
        name: "deploy",
        failed: "deploy to",
        deploys: true,
        checks_ref: true,
        env: env.clone(),
        playbook: args.playbook,
        extra,
        check: args.check,
        lock_wait: args.lock_wait,
        forks: args.forks,
        serial: args.serial,
        changes: true,
        asking: if args.step {
            Asking::EachStep
        } else {
            Asking::Never
        },
        start_at: args.start_at,
        list_steps: args.list_steps,
        ..Session::default()
    };
    let result = session.execute(cx).await;
    if let Err(Error::Inventory(InventoryError::UnknownEnvironment { known, .. })) = &result
        && crate::suggest::closest(&env, known.iter().map(String::as_str)).is_none()
        && let Some(command) = misspelt_command(&env)
    {
        return Err(CommandError::CommandTypo {
            typed: env,
            command,
            known: known.clone(),
        }
        .into());
    }
    result.map(drop)
}

/// The command `env` is close to, when it is no environment.
fn misspelt_command(env: &str) -> Option<String> {
    let names: Vec<String> = super::clap_command().get_subcommands().map(|c| c.get_name().to_owned()).collect();
    crate::suggest::closest(env, names.iter().map(String::as_str)).map(str::to_owned)
}
