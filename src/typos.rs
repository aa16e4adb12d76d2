//! Misspelt variables. A variable set in the inventory (or with `-e`) that
//! nothing reads is silently ignored, and a misspelt safety variable
//! (`healthcheck_comand:`) means a deploy without a health check. So a set
//! variable that nothing reads but that is one or two letters from a name
//! something does read is a warning naming that name; and an `ansible_*`
//! connection variable that Ansible does not know (`ansible_prt`) is an
//! error, as the port it meant to set would silently be 22.

use std::collections::BTreeSet;

use crate::inventory::{Inventory, Sourced};
use crate::playbook::Playbook;
use crate::template::Templates;

/// The connection and privilege variables Ansible knows that an inventory
/// sets (its magic variables, set by Ansible itself, are not among them).
const ANSIBLE_VARIABLES: [&str; 37] = [
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_password",
    "ansible_connection",
    "ansible_ssh_host",
    "ansible_ssh_port",
    "ansible_ssh_user",
    "ansible_ssh_pass",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_sftp_extra_args",
    "ansible_scp_extra_args",
    "ansible_ssh_args",
    "ansible_ssh_pipelining",
    "ansible_pipelining",
    "ansible_ssh_executable",
    "ansible_ssh_timeout",
    "ansible_ssh_retries",
    "ansible_timeout",
    "ansible_host_key_checking",
    "ansible_ssh_host_key_checking",
    "ansible_become",
    "ansible_become_user",
    "ansible_become_method",
    "ansible_become_pass",
    "ansible_become_password",
    "ansible_become_exe",
    "ansible_become_flags",
    "ansible_sudo_pass",
    "ansible_python_interpreter",
    "ansible_shell_type",
    "ansible_shell_executable",
    "ansible_remote_tmp",
    "ansible_ssh_transfer_method",
];

/// Variables wptdeploy itself reads from a host's variables.
const OWN_VARIABLES: [&str; 3] = [
    "commit",
    "wptdeploy_transport",
    "ansible_vault_password_file",
];

/// An `ansible_*` variable Ansible does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownConnectionVariable {
    /// The name as set.
    pub name: String,
    /// Where it was set.
    pub place: String,
    /// The known one it is a typo of, if one.
    pub close: Option<String>,
}

/// The warnings for `inventory` and `extra` under `playbook`, or the first
/// `ansible_*` variable Ansible does not know.
pub fn check(
    inventory: &Inventory,
    extra: &Sourced,
    playbook: &Playbook,
    templates: &Templates,
) -> Result<Vec<String>, UnknownConnectionVariable> {
    let read = read_names(inventory, extra, playbook, templates);
    let mut warned = BTreeSet::new();
    let mut warnings = Vec::new();
    let set = inventory
        .hosts
        .iter()
        .map(|h| &h.vars)
        .chain(std::iter::once(extra));
    for vars in set {
        for (name, origin) in &vars.origins {
            // What a command sets for its playbook is not the user's.
            if origin.place == "the command line" {
                continue;
            }
            if name.starts_with("ansible_") && !ANSIBLE_VARIABLES.contains(&name.as_str()) {
                return Err(UnknownConnectionVariable {
                    name: name.clone(),
                    place: origin.place.clone(),
                    close: typo_of(name, ANSIBLE_VARIABLES.iter().copied()).map(str::to_owned),
                });
            }
            if read.contains(name) || !warned.insert(name.clone()) {
                continue;
            }
            if let Some(meant) = typo_of(name, read.iter().map(String::as_str)) {
                warnings.push(format!(
                    "{}: `{name}` is set but nothing reads it (did you mean `{meant}`?)",
                    origin.place
                ));
            }
        }
    }
    Ok(warnings)
}

/// Every name something reads: the playbook's defaults, the names its
/// steps' templates and conditions use, the names the variables' own values
/// use, Ansible's connection variables and wptdeploy's own.
fn read_names(
    inventory: &Inventory,
    extra: &Sourced,
    playbook: &Playbook,
    templates: &Templates,
) -> BTreeSet<String> {
    let mut read: BTreeSet<String> = playbook.vars.values.keys().cloned().collect();
    read.extend(ANSIBLE_VARIABLES.iter().map(|n| (*n).to_owned()));
    read.extend(OWN_VARIABLES.iter().map(|n| (*n).to_owned()));
    for step in &playbook.steps {
        for source in step.templates() {
            read.extend(templates.names(source));
        }
        if let Some(when) = &step.when {
            read.extend(templates.expression_names(when));
        }
        read.extend(step.vars.keys().cloned());
        read.extend(step.register.iter().cloned());
    }
    let values = inventory
        .hosts
        .iter()
        .map(|h| &h.vars)
        .chain([extra, &playbook.vars])
        .flat_map(|vars| vars.values.values());
    for value in values {
        if let Ok(text) = serde_yaml::to_string(value) {
            read.extend(templates.names(&text));
        }
    }
    read
}

/// The name among `known` that `typed` is a typo of: one edit away (two
/// for names of nine letters or more), never itself.
fn typo_of<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = match typed.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    };
    known
        .into_iter()
        .filter(|k| *k != typed)
        .map(|k| (strsim::damerau_levenshtein(typed, k), k))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_one_or_two_letters_away_and_short_names_are_left_alone() {
        let known = ["healthcheck_command", "ansible_port", "db_name", "app_user"];
        assert_eq!(
            typo_of("healthcheck_comand", known),
            Some("healthcheck_command")
        );
        assert_eq!(typo_of("ansible_prt", known), Some("ansible_port"));
        assert_eq!(typo_of("db_user", known), None, "two edits from db_name");
        assert_eq!(typo_of("app_name", known), None);
        assert_eq!(typo_of("db_name", known), None, "itself");
        assert_eq!(typo_of("abc", ["abd"]), None);
    }
}
