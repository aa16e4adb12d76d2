//! Talking to hosts: one SSH connection each (in-process russh, or the
//! system ssh through the `openssh` crate), one long-lived shell on it,
//! and the quoting of everything sent there.

pub mod command;
pub mod connection;
pub mod error;
mod native;
pub mod shell;
mod ssh_config;
mod system;

pub use command::{RemoteCommand, SudoAuth, quote};
pub use connection::{ConnectOptions, Connection, TransportKind};
pub use error::TransportError;
pub use shell::{Output, Stream};

/// A random token: marker lines, here-document delimiters, lock ownership.
pub fn random_token() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..24)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}
