//! The command line's second stage, as ripgrep has it: clap's raw values
//! ([`crate::cli::CommonArgs`]) become validated [`Settings`] before any
//! command runs. Extra variables are parsed and vault files opened here;
//! a password that must be asked for is known to be askable. Nothing after
//! this reads the raw options.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use crate::cli::{CommonArgs, OutputFormat};
use crate::error::CommandError;
use crate::error::Error;
use crate::inventory::Sourced;
use crate::plan::ConnectSettings;
use crate::report::Verbosity;
use crate::report::style::Palette;
use crate::transport::quote;
use crate::vault::{PasswordSources, Vault};

/// What every command runs with, checked.
pub struct Settings {
    /// How much to show.
    pub verbosity: Verbosity,
    /// Whether what wptdeploy writes on stderr is painted (`--color`).
    pub palette: Palette,
    /// `--output json`: events as JSON lines on stdout.
    pub json: bool,
    /// Spinners may be drawn (no `--no-progress`, stderr a terminal).
    pub spinners: bool,
    /// `--yes`.
    pub yes: bool,
    /// Both stdin and stderr are terminals: questions can be asked.
    pub attended: bool,
    /// `--inventory`.
    pub inventory: Option<PathBuf>,
    /// `--limit`.
    pub limit: Option<String>,
    /// `--playbooks`.
    pub playbooks: Option<PathBuf>,
    /// How to reach hosts.
    pub connect: ConnectSettings,
    /// `-e`, parsed (and decrypted), lowest to highest.
    pub extra: Sourced,
    /// The vault passwords.
    pub vault: Vault,
    /// Where the sudo password for `become` comes from.
    pub become_password: BecomePassword,
    /// This program with the options that find the same inventory, keys
    /// and passwords: how a local step runs wptdeploy again.
    pub rerun: String,
}

/// Where the sudo password comes from.
pub enum BecomePassword {
    /// Nowhere: sudo must not ask.
    None,
    /// `--become-password-file`, read.
    Given(String),
    /// `-K`: asked on the terminal once the plan is known.
    Ask,
}

impl Settings {
    /// Checks `common` and reads what it points at (vault passwords, `-e`
    /// files, the become password file).
    pub fn from_args(common: &CommonArgs, palette: Palette) -> Result<Settings, Error> {
        let attended = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let verbosity = if common.quiet {
            Verbosity::Quiet
        } else if common.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        let become_password = match (&common.become_password_file, common.ask_become_pass) {
            (Some(file), _) => {
                let text = fs_err::read_to_string(file)?;
                BecomePassword::Given(text.trim_end_matches(['\n', '\r']).to_owned())
            }
            (None, true) if !attended => return Err(CommandError::NoTerminalForPassword.into()),
            (None, true) => BecomePassword::Ask,
            (None, false) => BecomePassword::None,
        };
        let vault = open_vault(common, attended)?;
        let extra = crate::inventory::extra_vars(&common.extra_vars, &vault)?;
        Ok(Settings {
            palette,
            verbosity,
            json: common.output == OutputFormat::Json,
            spinners: !common.no_progress && std::io::stderr().is_terminal(),
            yes: common.yes,
            attended,
            inventory: common.inventory.clone(),
            limit: common.limit.clone(),
            playbooks: common.playbooks.clone(),
            connect: ConnectSettings {
                user: common.user.clone(),
                known_hosts: common.known_hosts.clone(),
                accept_new_host_keys: common.accept_new_host_keys,
                connect_timeout: common.connect_timeout,
                transport: common.transport,
            },
            extra,
            vault,
            become_password,
            rerun: rerun(common)?,
        })
    }
}

/// The vault passwords the options give (asked for on the terminal if so told).
fn open_vault(common: &CommonArgs, attended: bool) -> Result<Vault, Error> {
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
        if !attended {
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

/// This program, with the options that say where the inventory, playbooks,
/// keys and passwords are.
fn rerun(common: &CommonArgs) -> Result<String, Error> {
    let exe = std::env::current_exe()?;
    let mut words = vec![quote(&exe.display().to_string())];
    let mut option = |flag: &str, value: Option<&Path>| {
        if let Some(value) = value {
            words.push(flag.to_owned());
            words.push(quote(&value.display().to_string()));
        }
    };
    option("--inventory", common.inventory.as_deref());
    option("--playbooks", common.playbooks.as_deref());
    option("--known-hosts", common.known_hosts.as_deref());
    option(
        "--become-password-file",
        common.become_password_file.as_deref(),
    );
    for file in &common.vault_password_file {
        option("--vault-password-file", Some(file));
    }
    let mut flag = |flag: &str, value: Option<&str>| {
        words.push(flag.to_owned());
        words.extend(value.map(quote));
    };
    if let Some(user) = &common.user {
        flag("--user", Some(user));
    }
    if common.ask_become_pass {
        flag("-K", None);
    }
    for id in &common.vault_id {
        flag("--vault-id", Some(id));
    }
    if common.ask_vault_pass {
        flag("--ask-vault-pass", None);
    }
    Ok(words.join(" "))
}
