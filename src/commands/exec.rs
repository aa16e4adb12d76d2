//! Commands whose output is the point, streamed per host (`[host]   | line`):
//!
//! - `wptdeploy exec ENV -- CMD ARGS...`: a command on each host (in
//!   parallel, `--limit` to pick), as the app user, in the live release with
//!   its virtualenv active (exec.yml); a non-zero exit fails that host;
//! - `wptdeploy logs ENV [-f] [-n N]`: the app's logs (logs.yml);
//! - `wptdeploy shell ENV [--host H]`: an interactive shell on one host, on
//!   a pty, as the app user in the live release with its virtualenv
//!   active (shell.yml), this terminal handed to it.

use super::Context;
use super::session::{OutputMode, Session};
use super::vars::{self, ExecVars, LogsVars, Raw};
use crate::cli::{ExecArgs, LogsArgs, ShellArgs};
use crate::error::CommandError;
use crate::error::Error;
use crate::transport::quote;

impl crate::cli::OutputArgs {
    /// The mode the flags ask for.
    fn mode(&self) -> OutputMode {
        match (self.raw, self.prefix) {
            (true, _) => OutputMode::Raw,
            (_, true) => OutputMode::Prefixed,
            _ => OutputMode::Auto,
        }
    }
}

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
    let session = Session {
        name: "exec",
        failed: "exec on",
        title: "exec on {env}",
        env: args.env,
        playbook: "exec.yml".into(),
        extra,
        shows_output: true,
        output: args.output.mode(),
        ..Session::default()
    };
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
    let session = Session {
        name: "logs",
        title: "{name} of {env}",
        env: args.env,
        playbook: "logs.yml".into(),
        extra,
        shows_output: true,
        ends_at_ctrl_c: args.follow,
        output: args.output.mode(),
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}

/// Opens the shell.
pub async fn shell(args: ShellArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    if !cx.settings.attended {
        return Err(CommandError::NoTerminalForShell.into());
    }
    let extra = cx.extra_vars();
    let session = Session {
        name: "shell",
        failed: "shell on",
        title: "{name} of {env}",
        env: args.env,
        playbook: "shell.yml".into(),
        extra,
        one_host: true,
        quiet_steps: true,
        limit: args.host,
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}
