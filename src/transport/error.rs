//! What can go wrong between this machine and a host, with what to do about it.

use std::path::PathBuf;
use std::time::Duration;

use super::command::quote_words;

/// A failure to reach, trust, log into or talk to a host.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The host's name does not resolve to an address.
    #[error("cannot resolve the host name {host}: {reason}")]
    Unresolved {
        /// The name, as the inventory gives it.
        host: String,
        /// The resolver's reason.
        reason: String,
    },
    /// TCP connection failed.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        /// Host name or address.
        host: String,
        /// SSH port.
        port: u16,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Nothing answered in time.
    #[error("cannot connect to {host}:{port}: no answer within {}s", timeout.as_secs())]
    ConnectTimeout {
        /// Host name or address.
        host: String,
        /// SSH port.
        port: u16,
        /// How long we waited.
        timeout: Duration,
    },
    /// The host's key is not in known_hosts.
    #[error("host key of {host}:{port} is not known ({fingerprint}); refusing to connect")]
    UnknownHostKey {
        /// Host name or address.
        host: String,
        /// SSH port.
        port: u16,
        /// SHA256 fingerprint of the offered key.
        fingerprint: String,
        /// The known_hosts file that was searched.
        known_hosts: PathBuf,
    },
    /// The host's key differs from the recorded one.
    #[error(
        "host key of {host}:{port} has CHANGED ({fingerprint} does not match line {line} of {}); refusing to connect",
        known_hosts.display()
    )]
    HostKeyChanged {
        /// Host name or address.
        host: String,
        /// SSH port.
        port: u16,
        /// SHA256 fingerprint of the offered key.
        fingerprint: String,
        /// The known_hosts file holding the old key.
        known_hosts: PathBuf,
        /// Line of the old key.
        line: usize,
    },
    /// The host offered a key that known_hosts marks `@revoked`.
    #[error(
        "host key of {host}:{port} is REVOKED ({fingerprint} is marked @revoked on line {line} of {}); refusing to connect",
        known_hosts.display()
    )]
    HostKeyRevoked {
        /// Host name or address.
        host: String,
        /// SSH port.
        port: u16,
        /// SHA256 fingerprint of the offered key.
        fingerprint: String,
        /// The known_hosts file.
        known_hosts: PathBuf,
        /// The `@revoked` line.
        line: usize,
    },
    /// No key was accepted.
    #[error("{user}@{host} refused every key offered ({tried})")]
    AuthFailed {
        /// Login user.
        user: String,
        /// Host name or address.
        host: String,
        /// Which keys were offered, for the message.
        tried: String,
    },
    /// A key file could not be used.
    #[error("cannot use SSH key {}: {reason}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The SSH layer failed.
    #[error("SSH error talking to {host}: {source}")]
    Ssh {
        /// Host name or address.
        host: String,
        /// The protocol error.
        source: russh::Error,
    },
    /// `~/.ssh/config` says something only the system ssh can follow.
    #[error("~/.ssh/config for {host} uses what only the openssh transport follows: {settings}")]
    NeedsOpenssh {
        /// The host.
        host: String,
        /// `file:line: Key` of each such setting.
        settings: String,
    },
    /// The system `ssh` (openssh transport) failed in a way it did not explain further.
    #[error("ssh to {host} failed: {message}")]
    System {
        /// Host name or address.
        host: String,
        /// What ssh said.
        message: String,
    },
    /// The connection broke while sending to the host.
    #[error("lost the connection to {host}: {message}")]
    Lost {
        /// Host name or address.
        host: String,
        /// What broke.
        message: String,
    },
    /// The remote shell went away mid-command, and the connection with it.
    #[error("the connection to {host} was lost while a command was running")]
    ShellClosed {
        /// Host name or address.
        host: String,
        /// How the shell ended, when the host said.
        end: Option<String>,
    },
    /// The remote shell running a command was ended on the host (killed,
    /// out of memory), though the connection is alive.
    #[error("the shell running the step on {host} ended unexpectedly ({}); the connection is fine", end.as_deref().unwrap_or("killed on the host"))]
    ShellKilled {
        /// Host name or address.
        host: String,
        /// How it ended, when the host said.
        end: Option<String>,
    },
    /// The host stopped answering.
    #[error("{host} stopped responding (nothing for {}s)", waited.as_secs())]
    Unresponsive {
        /// Host name or address.
        host: String,
        /// How long we waited.
        waited: Duration,
    },
}

impl TransportError {
    /// Lines telling the user what to do.
    pub fn hints(&self) -> Vec<String> {
        match self {
            TransportError::Unresolved { host, .. } => vec![format!(
                "check the name in the inventory (the host's `ansible_host`, else its name), and that this machine resolves it: `{}`",
                quote_words(&["getent", "hosts", "--", host])
            )],
            TransportError::Connect { host, port, .. }
            | TransportError::ConnectTimeout { host, port, .. } => vec![format!(
                "check that sshd runs on {host} and listens on port {port} (`ansible_port`), and that `{}` works",
                ssh_words(&["-p", &port.to_string()], host, &[])
            )],
            TransportError::UnknownHostKey {
                host,
                port,
                known_hosts,
                ..
            } => vec![
                format!(
                    "compare the fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on {host}"
                ),
                format!(
                    "if it matches, re-run with `--accept-new-host-keys` to record it in {} (port {port})",
                    known_hosts.display()
                ),
            ],
            TransportError::HostKeyChanged {
                host,
                port,
                known_hosts,
                ..
            } => vec![
                "someone may be intercepting the connection, or the host was reinstalled".into(),
                format!(
                    "only if you know why it changed: `{}`, then connect again",
                    quote_words(&[
                        "ssh-keygen",
                        "-R",
                        &format!("[{host}]:{port}"),
                        "-f",
                        &known_hosts.display().to_string()
                    ])
                ),
            ],
            TransportError::HostKeyRevoked { host, .. } => vec![
                format!("the key {host} offers was revoked: the host may be compromised, or still runs with a key that was replaced; give it a new host key, and never remove the @revoked line to get in"),
            ],
            TransportError::AuthFailed { user, host, .. } => vec![
                format!("check that your public key is in ~{user}/.ssh/authorized_keys on {host}"),
                "set `ansible_ssh_private_key_file` in the inventory, or load the key into ssh-agent".into(),
                "pass `--user NAME` (or `ansible_user`) if the login name differs".into(),
            ],
            TransportError::KeyFile { .. } => vec![
                "encrypted keys must be loaded into ssh-agent (`ssh-add KEY`)".into(),
            ],
            TransportError::ShellKilled { host, .. } => vec![format!(
                "something on {host} ended it: look for the OOM killer (`journalctl -k | grep -i oom`) or a person's `kill`"
            )],
            TransportError::Ssh { .. }
            | TransportError::ShellClosed { .. }
            | TransportError::Lost { .. } => {
                vec!["run again with `-v` to see the remote output".into()]
            }
            TransportError::NeedsOpenssh { .. } => vec![
                "run with `--transport openssh`, or set `ansible_connection: openssh` for the host in the inventory".into(),
            ],
            TransportError::System { host, .. } => vec![format!(
                "try `{}` in your shell: the openssh transport uses the same ssh and config",
                ssh_words(&[], host, &["true"])
            )],
            TransportError::Unresponsive { .. } => vec![
                "the host or the network may be down; the command may still be running there".into(),
            ],
        }
    }
}

/// An `ssh` command line to paste into a shell: every word quoted, and a
/// destination that looks like an option put after `--`, so that ssh can
/// only take it as a host name.
fn ssh_words(options: &[&str], host: &str, command: &[&str]) -> String {
    let mut words = vec!["ssh"];
    words.extend_from_slice(options);
    if host.starts_with('-') {
        words.push("--");
    }
    words.push(host);
    words.extend_from_slice(command);
    quote_words(&words)
}
