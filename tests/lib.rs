//! The integration suite: the real binary against real sshd, git and Python.

mod support;

mod deploy;
mod lock;
mod safety;
