//! Commands whose output is the point, streamed per host (`[host]   | line`):
//!
//! - `wptdeploy exec ENV -- CMD ARGS...`: a command on each host (in
//!   parallel, `--limit` to pick), as the app user, in the live release with
//!   its virtualenv active (exec.yml); a non-zero exit fails that host;
//! - `wptdeploy logs ENV [-f] [-n N]`: the app's logs (logs.yml).

use super::Context;
use super::session::{Command, Session};
use super::vars::{self, ExecVars, LogsVars, Raw};
use crate::cli::{ExecArgs, LogsArgs};
use crate::error::Error;
use crate::transport::quote;

/// Runs the command.
pub async fn run(args: ExecArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let words: Vec<String> = args.command.iter().map(|w| quote(w)).collect();
    let mut extra = cx.extra_vars();
    vars::set(
        &mut extra,
        &ExecVars {
            exec_command: Raw::Unsafe(words.join(" ")),
        },
    );
    let mut session = Session::new(Command::Exec, &args.env, "exec.yml", extra);
    session.shows_output = true;
    session.execute(cx).await.map(drop)
}

/// Shows the logs.
pub async fn logs(args: LogsArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let mut extra = cx.extra_vars();
    vars::set(
        &mut extra,
        &LogsVars {
            logs_lines: args.lines,
            logs_follow: args.follow,
        },
    );
    let mut session = Session::new(Command::Logs, &args.env, "logs.yml", extra);
    session.shows_output = true;
    session.execute(cx).await.map(drop)
}
