//! Where and how to connect to a host, and which SSH implementation
//! carries the connection: what both transports read.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Which SSH implementation carries a host's connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TransportKind {
    /// In-process SSH (russh): the fastest; reads the common `~/.ssh/config` keys.
    #[default]
    Russh,
    /// The system `ssh` with a ControlMaster (the `openssh` crate): all of
    /// `~/.ssh/config`, ProxyJump chains, agents and certificates, as in a shell.
    Openssh,
}

impl FromStr for TransportKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "russh" | "native" => Ok(TransportKind::Russh),
            "openssh" => Ok(TransportKind::Openssh),
            other => Err(format!(
                "`{other}` is not a transport (expected `russh` or `openssh`)"
            )),
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Russh => "russh",
            TransportKind::Openssh => "openssh",
        })
    }
}

/// Where and how to connect to one host: what the inventory and command
/// line say. What they leave unset, the transport decides (`~/.ssh/config`,
/// then ssh's defaults).
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Which transport.
    pub transport: TransportKind,
    /// Address, name or `~/.ssh/config` alias to connect to.
    pub address: String,
    /// SSH port (`ansible_port`).
    pub port: Option<u16>,
    /// Login user (`--user`, `ansible_user`).
    pub user: Option<String>,
    /// Private key (`ansible_ssh_private_key_file`), tried first.
    pub identity_file: Option<PathBuf>,
    /// The known_hosts file to check (and, with `accept_new_host_keys`, to
    /// add to) [default: the transport's].
    pub known_hosts: Option<PathBuf>,
    /// Record keys of hosts not yet known (like `StrictHostKeyChecking=accept-new`).
    pub accept_new_host_keys: bool,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
}

impl ConnectOptions {
    /// `user@address:port` as far as known, for messages.
    pub fn target(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{user}{}{port} ({})", self.address, self.transport)
    }
}

/// Unanswered keepalives (both transports) after which a host counts as unreachable.
pub(super) const KEEPALIVE_MAX: usize = 3;

/// How often to check that the host still answers (both transports): a host silent for about
/// `--connect-timeout` is unreachable, even in the middle of a long step.
pub(super) fn keepalive_interval(connect_timeout: Duration) -> Duration {
    (connect_timeout / KEEPALIVE_MAX as u32).max(Duration::from_secs(1))
}
