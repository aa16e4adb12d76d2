//! Running one command on the host (or this machine) for a step: output
//! streamed as events, a signal abandoning it, or, for clean-up, outliving
//! the signal.

use super::super::events::Event;
use super::HostRun;
use super::stop::Stop;
use crate::transport::{Output, RemoteCommand, Stream, TransportError};

/// Whose a command's standard output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stdout {
    /// The person's: streamed (as `-v` shows), but for wptdeploy's
    /// `wptdeploy.KEY=VALUE` markers.
    Shown,
    /// wptdeploy's to read (a builtin step's protocol): never streamed.
    Data,
}

impl Stdout {
    /// Whose the standard output of a step's command is.
    pub(super) fn of(prepared: &crate::steps::Prepared) -> Self {
        if prepared.stdout_is_data() {
            Stdout::Data
        } else {
            Stdout::Shown
        }
    }

    /// Whether a line of the command's output is the person's to see.
    fn shows(self, stream: Stream, line: &str) -> bool {
        match (stream, self) {
            (Stream::Stderr, _) => true,
            (Stream::Stdout, Stdout::Data) => false,
            (Stream::Stdout, Stdout::Shown) => !line.starts_with("wptdeploy."),
        }
    }
}

impl HostRun {
    /// Runs a command, streaming what of its output is the person's as
    /// events; Ctrl-C abandons it.
    pub(super) async fn exec(
        &mut self,
        command: &RemoteCommand,
        stdout: Stdout,
    ) -> Result<Output, Stop> {
        let reporter = self.shared.reporter.clone();
        let host = self.host().name.clone();
        let shared = self.shared.clone();
        let auth = shared.options.sudo_auth();
        let mut on_line = |stream, line: &str| {
            if !stdout.shows(stream, line) {
                return;
            }
            reporter.report(&Event::StepOutput {
                host: host.clone(),
                stream,
                line: line.to_owned(),
            });
        };
        let mut interrupt = self.interrupt.clone();
        tokio::select! {
            result = self.conn.run(command, auth, &mut on_line) => result.map_err(Stop::Transport),
            _ = interrupt.wait_for(|stop| *stop) => Err(Stop::Interrupted),
        }
    }

    /// Runs a command without streaming its output (what it prints may be
    /// a secret file's content); Ctrl-C abandons it.
    pub(super) async fn exec_quiet(&mut self, command: &RemoteCommand) -> Result<Output, Stop> {
        let shared = self.shared.clone();
        let auth = shared.options.sudo_auth();
        let mut interrupt = self.interrupt.clone();
        let mut silent = |_, _: &str| {};
        tokio::select! {
            result = self.conn.run(command, auth, &mut silent) => result.map_err(Stop::Transport),
            _ = interrupt.wait_for(|stop| *stop) => Err(Stop::Interrupted),
        }
    }

    /// Writes a one-time askpass helper for sudo (mode 0700, in a 0700
    /// directory of the login user's) that prints `password` and removes
    /// itself and the directory; its path. The password travels on the
    /// command's standard input, never in a command line.
    pub(super) async fn stage_askpass(&mut self, password: &str) -> Result<String, Stop> {
        let command = RemoteCommand {
            stdin: Some(format!("{password}\n")),
            ..RemoteCommand::new(ASKPASS.to_owned())
        };
        let output = self.exec_quiet(&command).await?;
        let helper = output.stdout.trim().to_owned();
        if output.exit_code != 0 || !helper.ends_with("/askpass") {
            return Err(Stop::Step {
                step: "hand the sudo password to the shell".into(),
                failure: crate::steps::StepFailure {
                    message: format!(
                        "could not write the one-time sudo helper on the host: {}",
                        output.stderr.trim()
                    ),
                    hints: Vec::new(),
                },
            });
        }
        Ok(helper)
    }

    /// Runs `script` on a pty on the host, the terminal handed over to it
    /// until it ends (`shell:`); its exit status.
    pub(super) async fn exec_interactive(&mut self, script: &str) -> Result<i32, Stop> {
        let handed_over = |running| Event::TerminalHandedOver {
            host: self.host().name.clone(),
            running,
        };
        self.shared.reporter.report(&handed_over(true));
        let status = self.conn.interactive(script).await;
        self.shared.reporter.report(&handed_over(false));
        status.map_err(Stop::Transport)
    }

    /// Runs a `local:` command on this machine, the terminal handed over to
    /// it meanwhile; Ctrl-C abandons it.
    pub(super) async fn exec_local(&mut self, command: &RemoteCommand) -> Result<Output, Stop> {
        let handed_over = |running| Event::TerminalHandedOver {
            host: self.host().name.clone(),
            running,
        };
        self.shared.reporter.report(&handed_over(true));
        let mut interrupt = self.interrupt.clone();
        let output = tokio::select! {
            output = crate::transport::local::run(command) => Ok(output),
            _ = interrupt.wait_for(|stop| *stop) => Err(Stop::Interrupted),
        };
        self.shared.reporter.report(&handed_over(false));
        output
    }

    /// Runs a command that a signal waits for: a clean-up that must outlive
    /// Ctrl-C, or a quick change (the switch, the lock) whose result must be
    /// known before the clean-up runs.
    pub(super) async fn exec_cleanup(
        &mut self,
        command: &RemoteCommand,
    ) -> Result<Output, TransportError> {
        let shared = self.shared.clone();
        self.conn
            .run(command, shared.options.sudo_auth(), &mut |_, _| {})
            .await
    }
}

/// Makes the askpass helper: the password (stdin) in `pw`, a script that
/// prints it once and removes both; prints the script's path.
const ASKPASS: &str = r#"umask 077
dir=$(mktemp -d) || exit 1
cat > "$dir/pw"
printf '#!/bin/sh\ncat -- "%s/pw"\nrm -rf -- "%s"\n' "$dir" "$dir" > "$dir/askpass"
chmod 0700 "$dir/askpass"
echo "$dir/askpass"
"#;
