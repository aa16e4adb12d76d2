//! The integration suite: the real binary against real sshd, git and Python.

// The suite builds fixtures with std::fs (a failure there is the test's, and
// its panic names the line); the tool's own rules (fs-err, pedantic) are for
// the tool.
#![allow(clippy::disallowed_methods, clippy::pedantic)]

mod support;

mod ansible_tree;
mod become_user;
mod checklist;
mod cutover;
mod deploy;
mod escalation;
mod faults;
mod fleet;
mod history;
mod init;
mod input;
mod interactive;
mod lint;
mod lock;
mod locked;
mod migrate;
mod notify;
mod offline;
mod output;
mod releases;
mod rollback;
mod safety;
mod serving;
mod setup;
mod shared;
mod snapshots;
mod transports;
mod vault;
