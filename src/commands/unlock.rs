//! `wptdeploy unlock ENV`: show who holds the deploy lock on each host and
//! remove it, as a plan the engine runs (forks, redaction, `--output json`
//! and the reporter apply as to any run): the deploy playbook's `lock:`
//! step becomes `action: inspect` then, when held, `action: remove`,
//! confirmed host by host on a terminal, or by `--yes`.

use std::sync::Arc;

use super::Context;
use super::error::CommandError;
use super::session::{Asking, Command, Session};
use crate::cli::UnlockArgs;
use crate::error::Error;
use crate::playbook::{Playbook, Step, Tmpl};
use crate::steps::kind::Typed;
use crate::steps::lock::{Lock, LockArgs};

/// What the inspect step registers.
const FOUND: &str = "deploy_lock";

/// Shows and removes the lock.
pub async fn run(args: UnlockArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let extra = cx.extra_vars();
    let mut session = Session::new(Command::Unlock, &args.env, "deploy.yml", extra);
    session.reshape = Some(unlock_steps);
    session.asking = Asking::Confirm;
    // With nobody to confirm, only look; then say how to remove what was found.
    let confirmed = cx.settings.yes || cx.settings.attended;
    session.check = !confirmed;
    let summaries = session.execute(cx).await?;
    if summaries.iter().any(|s| s.planned > 0) && !confirmed {
        return Err(CommandError::UnlockUnconfirmed.into());
    }
    Ok(())
}

/// The deploy playbook's lock step, as the two steps of an unlock.
fn unlock_steps(playbook: &Playbook) -> Result<Vec<Step>, Error> {
    let lock = playbook
        .lock_step()
        .and_then(|step| {
            let args = step.action.as_any().downcast_ref::<Typed<Lock>>()?;
            Some((step, &args.args))
        })
        .ok_or_else(|| CommandError::NoLockStep(playbook.origin.clone()))?;
    let (step, args) = lock;
    let with = |name: &str, action: &str, when: Option<String>, register: Option<&str>| Step {
        name: Tmpl(name.into()),
        when,
        register: register.map(str::to_owned),
        action: Arc::new(Typed::<Lock> {
            args: LockArgs {
                path: args.path.clone(),
                action: Some(Tmpl(action.into())),
            },
        }),
        ..step.clone()
    };
    Ok(vec![
        with("read the deploy lock", "inspect", None, Some(FOUND)),
        with(
            "remove the deploy lock",
            "remove",
            Some(format!("{FOUND}.held")),
            None,
        ),
    ])
}
