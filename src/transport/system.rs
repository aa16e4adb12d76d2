//! The openssh transport: the system `ssh` as a ControlMaster, driven by
//! the `openssh` crate, so `~/.ssh/config`, ProxyJump, agents and
//! certificates work exactly as in the user's shell. Every command is
//! multiplexed over that one master.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use openssh::Session;

use super::error::TransportError;
use super::options::{ConnectOptions, KEEPALIVE_MAX, keepalive_interval};
use super::shell::Pipe;

/// A running ControlMaster for one host.
pub(super) struct System {
    session: Arc<Session>,
    host: String,
}

/// How long the master outlives its last client: long enough between
/// steps, short enough that a killed wptdeploy leaves nothing running.
const PERSIST_SECONDS: u32 = 30;

impl System {
    /// Starts `ssh -M` for the host and waits until it has logged in.
    pub(super) async fn open(options: &ConnectOptions) -> Result<System, TransportError> {
        let host = options.address.clone();
        let dir = tempfile::Builder::new()
            .prefix("wptdeploy-ssh-")
            .tempdir()
            .map_err(|e| system_error(&host, &format!("cannot make a control directory: {e}")))?;
        let log = dir.path().join("log");
        let mut ssh = tokio::process::Command::new("ssh");
        ssh.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .arg("-E")
            .arg(&log)
            .arg("-S")
            .arg(dir.path().join("master"))
            .args(["-M", "-f", "-N"])
            .args(["-o", &format!("ControlPersist={PERSIST_SECONDS}")])
            .args(["-o", "BatchMode=yes", "-o", "LogLevel=DEBUG1"])
            // The same keepalives as the native transport: a host silent for
            // about `--connect-timeout` ends the master, and with it the shell.
            .args([
                "-o",
                &format!(
                    "ServerAliveInterval={}",
                    keepalive_interval(options.connect_timeout).as_secs()
                ),
                "-o",
                &format!("ServerAliveCountMax={KEEPALIVE_MAX}"),
            ])
            .args([
                "-o",
                &format!(
                    "ConnectTimeout={}",
                    options.connect_timeout.as_secs().max(1)
                ),
            ])
            .args([
                "-o",
                if options.accept_new_host_keys {
                    "StrictHostKeyChecking=accept-new"
                } else {
                    "StrictHostKeyChecking=yes"
                },
            ]);
        if let Some(known_hosts) = &options.known_hosts {
            ssh.arg("-o")
                .arg(format!("UserKnownHostsFile={}", known_hosts.display()));
        }
        if let Some(port) = options.port {
            ssh.arg("-p").arg(port.to_string());
        }
        if let Some(user) = &options.user {
            ssh.arg("-l").arg(user);
        }
        if let Some(key) = &options.identity_file {
            ssh.arg("-i").arg(key);
        }
        ssh.arg("--").arg(&options.address);
        // `-f`: ssh forks once logged in; its exit says how that went.
        let wait = options.connect_timeout * 2 + Duration::from_secs(5);
        let status = match tokio::time::timeout(wait, ssh.status()).await {
            Err(_) => {
                return Err(TransportError::ConnectTimeout {
                    host,
                    port: options.port.unwrap_or(22),
                    timeout: options.connect_timeout,
                });
            }
            Ok(Err(e)) => {
                return Err(system_error(
                    &host,
                    &format!(
                        "cannot run the system `ssh` ({e}); install openssh-client or use `--transport russh`"
                    ),
                ));
            }
            Ok(Ok(status)) => status,
        };
        if !status.success() {
            let text = fs_err::read_to_string(&log).unwrap_or_default();
            return Err(classify(options, &text));
        }
        Ok(System {
            session: Arc::new(Session::new_process_mux(dir)),
            host,
        })
    }

    /// Starts `/bin/sh` on the host through the master.
    pub(super) async fn shell_pipe(&self) -> Result<Pipe, TransportError> {
        let child = Session::to_raw_command(self.session.clone(), "exec /bin/sh")
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped())
            .spawn()
            .await
            .map_err(|e| self.lost(&e))?;
        Pipe::process(child).ok_or_else(|| system_error(&self.host, "ssh gave no pipes"))
    }

    /// Runs `script` on a pty through the master (`ssh -tt`), this
    /// terminal handed to it.
    pub(super) async fn interactive(&self, script: &str) -> Result<i32, TransportError> {
        let status = tokio::process::Command::new("ssh")
            .arg("-S")
            .arg(self.session.control_socket())
            .args([
                "-tt",
                "-o",
                "ControlMaster=no",
                "-o",
                "LogLevel=ERROR",
                "--",
            ])
            .arg(&self.host)
            .arg(script)
            .status()
            .await
            .map_err(|e| system_error(&self.host, &format!("cannot run the system `ssh`: {e}")))?;
        Ok(status.code().unwrap_or(-1))
    }

    /// Stops the master and removes its control directory.
    pub(super) async fn close(self) {
        if let Ok(session) = Arc::try_unwrap(self.session) {
            let _ = session.close().await;
        }
    }

    fn lost(&self, error: &openssh::Error) -> TransportError {
        TransportError::Lost {
            host: self.host.clone(),
            message: error.to_string(),
        }
    }
}

fn system_error(host: &str, message: &str) -> TransportError {
    TransportError::System {
        host: host.to_owned(),
        message: message.to_owned(),
    }
}

/// Turns the master's log into the error the native transport would give.
fn classify(options: &ConnectOptions, log: &str) -> TransportError {
    let host = options.address.clone();
    let port = options.port.unwrap_or(22);
    let said: Vec<&str> = log
        .lines()
        .filter(|l| !l.starts_with("debug") && !l.trim().is_empty())
        .collect();
    let after = |prefix: &str| {
        log.lines()
            .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.trim().to_owned()))
    };
    let known_hosts = || {
        options
            .known_hosts
            .clone()
            .unwrap_or_else(|| PathBuf::from("~/.ssh/known_hosts"))
    };
    if log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        let fingerprint = log
            .lines()
            .skip_while(|l| !l.contains("sent by the remote host is"))
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned();
        let offending = log
            .lines()
            .filter(|l| l.starts_with("Offending "))
            .find_map(|l| l.split_once(" key in ").map(|(_, at)| at.trim().to_owned()))
            .unwrap_or_default();
        let (file, line) = offending.rsplit_once(':').unwrap_or((&offending, "0"));
        return TransportError::HostKeyChanged {
            host,
            port,
            fingerprint,
            known_hosts: PathBuf::from(file),
            line: line.parse().unwrap_or(0),
        };
    }
    if log.contains("host key is known for") || log.contains("Host key verification failed") {
        let fingerprint = after("Server host key: ")
            .and_then(|k| k.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_else(|| "ssh did not show its fingerprint".into());
        return TransportError::UnknownHostKey {
            host,
            port,
            fingerprint,
            known_hosts: known_hosts(),
        };
    }
    if log.contains("Permission denied (") {
        let mut tried = options
            .identity_file
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>();
        tried.push("the keys ssh found itself (its config, the agent, ~/.ssh/id_*)".into());
        return TransportError::AuthFailed {
            user: options.user.clone().unwrap_or_else(|| "your login".into()),
            host,
            tried: tried.join(", "),
        };
    }
    if let Some(reason) = log
        .lines()
        .find_map(|l| l.split_once("Could not resolve hostname "))
        .and_then(|(_, rest)| rest.split_once(": "))
        .map(|(_, reason)| reason.trim().to_owned())
    {
        return TransportError::Unresolved { host, reason };
    }
    if log.contains("Connection refused") {
        return TransportError::Connect {
            host,
            port,
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
    }
    if log.contains("timed out") {
        return TransportError::ConnectTimeout {
            host,
            port,
            timeout: options.connect_timeout,
        };
    }
    system_error(
        &host,
        said.last()
            .map_or("ssh failed without saying why", |l| l.trim()),
    )
}
