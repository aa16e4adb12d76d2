//! `wptdeploy ENV [--commit REF]`: deploy.yml (or `--playbook`) on ENV.

use super::Context;
use super::error::CommandError;
use super::session::{Asking, Command, Session};
use super::vars::{self, DeployVars};
use crate::cli::DeployArgs;
use crate::error::Error;

/// Deploys.
pub async fn run(args: DeployArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let env = args.env.clone().unwrap_or_default();
    if let Some(commit) = &args.commit {
        crate::plan::check_ref(commit)?;
    }
    if args.forks == 0 {
        return Err(CommandError::NoForks.into());
    }
    let mut extra = cx.extra_vars();
    vars::set(
        &mut extra,
        &DeployVars {
            commit: args.commit.clone(),
            force: args.force,
            migrate: args.migrate,
            check_pending_migrations: args.no_migrate.then_some(false),
        },
    );
    let mut session = Session::new(Command::Deploy, &env, &args.playbook, extra);
    session.check = args.check;
    session.lock_wait = args.lock_wait;
    session.forks = args.forks;
    session.serial = args.serial;
    session.changes = true;
    if args.step {
        session.asking = Asking::EachStep;
    }
    session.start_at = args.start_at;
    session.list_steps = args.list_steps;
    session.execute(cx).await.map(drop)
}
