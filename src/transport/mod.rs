//! Talking to hosts: one SSH connection each (in-process russh, or the
//! system ssh through the `openssh` crate), one long-lived shell on it,
//! and the quoting of everything sent there.

use std::path::{Path, PathBuf};

pub mod command;
pub mod connection;
pub mod error;
mod known_hosts;
pub mod local;
mod marked;
mod native;
mod options;
mod quick_ack;
pub mod shell;
mod ssh_config;
mod system;
mod terminal;

pub use command::{RemoteCommand, SudoAuth, quote};
pub use connection::Connection;
pub use error::TransportError;
pub use options::{ConnectOptions, TransportKind};
pub use shell::{Output, Stream};

/// `$HOME` (`/` if unset): where `~/.ssh` is looked for.
pub fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// `path` with a leading `~/` meaning `home`.
pub fn expand_home_in(home: &Path, path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

/// The local user name: the default login, and who holds the lock.
pub fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into())
}

/// A random token: marker lines, here-document delimiters, lock ownership.
pub fn random_token() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..24)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}
