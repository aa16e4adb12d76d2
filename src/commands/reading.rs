//! Reading what the hosts have: a read-only run of a built-in playbook
//! (`releases.yml`) whose read steps return data, one connection per
//! host, its steps shown only with `-v`. `status`, `releases`, `history`,
//! `rollback`, `diff` and a deploy's promotion read this way.

use super::Context;
use super::session::Session;
use super::state::HostState;
use super::vars::{self, StateVars};
use crate::error::Error;

/// Reads every host's state with `session`'s playbook and `state`'s
/// variables, its steps shown only with `-v`.
pub async fn read(
    session: Session,
    state: &StateVars,
    cx: &mut Context<'_>,
) -> Result<Vec<HostState>, Error> {
    let mut extra = cx.extra_vars();
    vars::set(&mut extra, state);
    let session = Session {
        extra,
        quiet_steps: true,
        ..session
    };
    let summaries = session.execute(cx).await?;
    Ok(HostState::from_summaries(&summaries))
}

/// The session that reads `env` for the command `name` with `playbook`.
pub fn reading(name: &'static str, env: String, playbook: &str) -> Session {
    Session {
        name,
        title: "{name} of {env}",
        env,
        playbook: playbook.into(),
        ..Session::default()
    }
}

/// The first line of `text`.
pub fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
