//! `wptdeploy checklist ENV --commit BRANCH`: checklist.yml, every step
//! asked, the migration generated, edited here, tested and committed.

use super::Context;
use super::migration::generate_vars;
use super::session::{Asking, Command, Session};
use super::vars::{self, ChecklistVars};
use crate::cli::{ChecklistArgs, CommonArgs};
use crate::error::Error;
use crate::transport::quote;

/// Walks the checklist.
pub async fn run(args: ChecklistArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let commit = args.commit.clone().unwrap_or_default();
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| message_from_branch(&commit));
    let mut extra = cx.extra_vars()?;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|e| !e.trim().is_empty())
        .filter(|_| !extra.values.contains_key("editor"));
    let checklist = ChecklistVars {
        generate: if args.list_steps {
            None
        } else {
            Some(generate_vars(&commit, &message, &args.generate)?)
        },
        wptdeploy_command: this_command(cx.common)?,
        editor,
    };
    vars::set(&mut extra, &checklist);
    let mut session = Session::new(Command::Checklist, &args.env, "checklist.yml", extra);
    session.lock_command = Some(format!(
        "wptdeploy checklist {} --commit {commit}",
        args.env
    ));
    session.asking = Asking::Checklist;
    session.changes = true;
    session.one_host = true;
    session.start_at = args.start_at;
    session.list_steps = args.list_steps;
    session.execute(cx).await.map(drop)
}

/// `feature/comment-url` → `comment url`: a migration message when none is given.
fn message_from_branch(branch: &str) -> String {
    branch
        .rsplit('/')
        .next()
        .unwrap_or(branch)
        .replace(['-', '_'], " ")
}

/// This program, with the options that say where the inventory, playbooks,
/// keys and passwords are: how a local step runs wptdeploy again.
fn this_command(common: &CommonArgs) -> Result<String, Error> {
    let exe = std::env::current_exe()?;
    let mut words = vec![quote(&exe.display().to_string())];
    let mut option = |flag: &str, value: Option<&std::path::Path>| {
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
