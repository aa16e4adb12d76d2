//! One file per command: each turns its validated arguments into a
//! [`session::Session`] (a plan) that the one engine runs. This file
//! dispatches and holds what every command shares: the vault, the sudo
//! password, the redactor that masks secrets in the final error.

mod checklist;
mod deploy;
pub mod error;
mod migration;
mod session;
mod unlock;
pub mod vars;
mod verify;

use std::io::IsTerminal as _;

use crate::cli::{Cli, Command, CommonArgs, MigrationCommand};
use crate::error::Error;
use crate::report::Redactor;
use crate::vault::{PasswordSources, Vault};
use error::CommandError;

/// What every command works with.
pub struct Context<'a> {
    /// The options every command takes.
    pub common: &'a CommonArgs,
    /// The vault passwords.
    pub vault: &'a Vault,
    /// Masks the secrets known so far (all of them once a plan is loaded).
    pub redactor: Redactor,
}

/// Runs the command and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let common = &cli.common;
    let mut redactor = Redactor::default();
    let result = runtime.block_on(async {
        let vault = open_vault(common)?;
        let mut cx = Context {
            common,
            vault: &vault,
            redactor: Redactor::default(),
        };
        let result = match cli.command {
            Some(Command::Unlock(args)) => unlock::run(args, &mut cx).await,
            Some(Command::Verify(args)) => verify::run(args, &mut cx).await,
            Some(Command::Checklist(args)) => checklist::run(args, &mut cx).await,
            Some(Command::Migration { command }) => match command {
                MigrationCommand::New(args) => migration::new(args, &mut cx).await,
                MigrationCommand::Test(args) => migration::test(args, &mut cx).await,
                MigrationCommand::Status(args) => migration::status(args, &mut cx).await,
            },
            None => deploy::run(cli.deploy, &mut cx).await,
        };
        redactor = cx.redactor;
        result
    });
    match result {
        Ok(()) => 0,
        Err(error) => {
            crate::printer::error(&error, &redactor);
            error.exit_code()
        }
    }
}

/// The vault passwords the options give (asked for on the terminal if so told).
fn open_vault(common: &CommonArgs) -> Result<Vault, Error> {
    let sources = PasswordSources {
        files: common.vault_password_file.clone(),
        ids: common.vault_id.clone(),
        ask: common.ask_vault_pass,
    }
    .or_ansible_defaults();
    if sources.is_empty() {
        return Ok(Vault::default());
    }
    let prompt = |label: Option<&str>| -> Result<String, String> {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err("asking for the vault password needs a terminal, and there is none: use `--vault-password-file FILE`".into());
        }
        let question = match label {
            Some(label) => format!("Vault password ({label})"),
            None => "Vault password".into(),
        };
        dialoguer::Password::new()
            .with_prompt(question)
            .interact()
            .map_err(|e| format!("could not read the vault password: {e}"))
    };
    let passwords = sources
        .read(&prompt)
        .map_err(|e| CommandError::VaultPassword(e.message))?;
    Ok(Vault::new(passwords))
}

impl Context<'_> {
    /// `-e` over nothing: the variables a command starts from.
    fn extra_vars(&self) -> Result<crate::inventory::Sourced, Error> {
        Ok(crate::inventory::extra_vars(
            &self.common.extra_vars,
            self.vault,
        )?)
    }

    /// The sudo password for `become`: from `--become-password-file`, or
    /// asked once on the terminal (`-K`).
    fn become_password(&self) -> Result<Option<String>, Error> {
        let common = self.common;
        if let Some(file) = &common.become_password_file {
            let text = fs_err::read_to_string(file)?;
            return Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()));
        }
        if !common.ask_become_pass {
            return Ok(None);
        }
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err(CommandError::NoTerminalForPassword.into());
        }
        dialoguer::Password::new()
            .with_prompt("sudo password for become")
            .interact()
            .map(Some)
            .map_err(|e| {
                CommandError::Unreadable {
                    what: "password",
                    error: e.to_string(),
                }
                .into()
            })
    }
}
