//! One connection per host, over either transport, with its long-lived
//! shell: the engine sees the same thing whichever carries it.

use super::command::{RemoteCommand, SudoAuth};
use super::error::TransportError;
use super::native::Native;
use super::options::{ConnectOptions, TransportKind};
use super::shell::{Output, RemoteShell, Stream};
use super::system::System;

enum Backend {
    Native(Native),
    System(System),
}

impl Backend {
    /// Starts `/bin/sh` on the host and waits until it answers.
    async fn start_shell(&self, host: &str) -> Result<RemoteShell, TransportError> {
        let pipe = match self {
            Backend::Native(native) => native.shell_pipe().await,
            Backend::System(system) => system.shell_pipe().await,
        }?;
        RemoteShell::start(pipe, host).await
    }
}

/// How long a fresh shell may take to start when telling a killed shell
/// from a lost connection.
const SHELL_PROBE: std::time::Duration = std::time::Duration::from_secs(5);

/// An authenticated connection to one host, with its command shell.
pub struct Connection {
    backend: Backend,
    shell: RemoteShell,
    host: String,
}

impl Connection {
    /// Connects, verifies the host key, logs in and starts the shell.
    pub async fn open(options: &ConnectOptions) -> Result<Connection, TransportError> {
        let host = options.address.clone();
        let backend = match options.transport {
            TransportKind::Russh => Backend::Native(Native::open(options).await?),
            TransportKind::Openssh => Backend::System(System::open(options).await?),
        };
        let shell = backend.start_shell(&host).await?;
        Ok(Connection {
            backend,
            shell,
            host,
        })
    }

    /// The user the connection logged in as (the host's `id -un`).
    pub fn login_user(&self) -> &str {
        self.shell.user()
    }

    /// Sends commands that change nothing to the host's shell in one
    /// write, ahead of their turn: the next [`Connection::run`]s of the same
    /// commands, in the same order, read their results without another
    /// round trip. A failure to send is left for those runs to meet.
    pub async fn send_ahead(&mut self, commands: &[&RemoteCommand], auth: SudoAuth<'_>) {
        if self.shell.is_broken() {
            return;
        }
        // A lost shell is found, and said, by the next run.
        let _ = self.shell.send_ahead(commands, auth, &self.host).await;
    }

    /// Runs a command in the host's long-lived shell (started again if a
    /// previous command left it broken).
    pub async fn run(
        &mut self,
        command: &RemoteCommand,
        auth: SudoAuth<'_>,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, TransportError> {
        if self.shell.is_broken() {
            let fresh = self.backend.start_shell(&self.host).await?;
            std::mem::replace(&mut self.shell, fresh).close().await;
        }
        match self.shell.run(command, auth, &self.host, on_line).await {
            Err(TransportError::ShellClosed { host, end }) => {
                Err(self.why_the_shell_closed(host, end).await)
            }
            // Writing to a shell that died between two commands.
            Err(lost @ TransportError::Lost { .. }) => {
                match self.why_the_shell_closed(self.host.clone(), None).await {
                    killed @ TransportError::ShellKilled { .. } => Err(killed),
                    _ => Err(lost),
                }
            }
            other => other,
        }
    }

    /// After the shell died mid-command: a fresh shell that starts at once
    /// means the connection is alive and the shell was ended on the host;
    /// it then serves the next commands (a rollback).
    async fn why_the_shell_closed(&mut self, host: String, end: Option<String>) -> TransportError {
        let probe = tokio::time::timeout(SHELL_PROBE, self.backend.start_shell(&self.host)).await;
        match probe {
            Ok(Ok(fresh)) => {
                std::mem::replace(&mut self.shell, fresh).close().await;
                TransportError::ShellKilled { host, end }
            }
            _ => TransportError::ShellClosed { host, end },
        }
    }

    /// Runs `script` on a pty, this terminal attached, until it ends; its
    /// exit status. The command shell is not involved.
    pub async fn interactive(&self, script: &str) -> Result<i32, TransportError> {
        match &self.backend {
            Backend::Native(native) => native.interactive(script).await,
            Backend::System(system) => system.interactive(script).await,
        }
    }

    /// Closes the shell and the connection.
    pub async fn close(self) {
        self.shell.close().await;
        match self.backend {
            Backend::Native(native) => native.close().await,
            Backend::System(system) => system.close().await,
        }
    }
}
