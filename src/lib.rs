//! wptdeploy: deploy a Python web app to a few servers over SSH.
//!
//! Data flows one way: [`cli`] → [`settings`] → [`commands`] (validated
//! arguments, a session) → [`inventory`] and [`playbook`] → [`plan`] → [`engine`] →
//! [`transport`]; events flow back to a [`engine::events::Reporter`], drawn
//! by [`report`] as [`printer`] chose. See docs/architecture.md.

pub mod cancel;
pub mod cli;
pub mod commands;
pub mod completion;
pub mod engine;
pub mod error;
pub mod gitref;
pub mod glob;
pub mod inventory;
pub mod migrations;
pub mod notify;
pub mod plan;
pub mod playbook;
pub mod printer;
pub mod project;
pub mod redact;
pub mod report;
pub mod rollout;
pub mod serving;
pub mod settings;
pub mod sources;
pub mod steps;
pub mod suggest;
pub mod template;
pub mod transport;
pub mod typos;
pub mod vault;
