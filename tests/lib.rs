//! The integration suite: the real binary against real sshd, git and Python.

mod support;

mod ansible_tree;
mod become_user;
mod checklist;
mod deploy;
mod error_messages;
mod faults;
mod fleet;
mod input;
mod interactive;
mod lock;
mod migrate;
mod output;
mod safety;
mod transports;
