//! wptdeploy: deploy a Python web app to a few servers over SSH.
//!
//! Data flows one way: [`cli`] → [`inventory`] and [`playbook`] → [`plan`]
//! → [`engine`] → [`transport`]; events flow back to a [`report::Reporter`].

pub mod cancel;
pub mod cli;
pub mod engine;
pub mod error;
pub mod gitref;
pub mod glob;
pub mod inventory;
pub mod migrations;
pub mod plan;
pub mod playbook;
pub mod report;
pub mod rollout;
pub mod run;
pub mod steps;
pub mod template;
pub mod transport;
pub mod vault;
