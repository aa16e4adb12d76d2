//! Everything decided before any connection: the hosts, how to reach
//! them, their variables fully resolved, and the steps. Bad input stops here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use minijinja::Value;

use crate::error::Error;
use crate::gitref;
use crate::inventory::{Inventory, Vars};
use crate::playbook::Playbook;
use crate::template::{Templates, is_secret_name};
use crate::transport::{ConnectOptions, TransportKind};

/// One host, ready to run.
#[derive(Debug, Clone)]
pub struct HostPlan {
    /// Inventory name.
    pub name: String,
    /// How to reach it.
    pub connect: ConnectOptions,
    /// Its variables, resolved.
    pub vars: BTreeMap<String, Value>,
}

impl HostPlan {
    /// The commit this host deploys (its `commit` variable).
    pub fn commit(&self) -> String {
        self.vars
            .get("commit")
            .map(|v| v.to_string())
            .unwrap_or_default()
    }
}

/// The hosts of an environment and the playbook to run on them.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Environment name.
    pub env: String,
    /// The commit asked for (from `--commit`, `-e` or the inventory).
    pub commit: String,
    /// Hosts, in inventory order.
    pub hosts: Vec<HostPlan>,
    /// The steps.
    pub playbook: Playbook,
    /// Values never to print.
    pub secrets: Vec<String>,
}

/// Connection settings that come from the command line.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// `--user`, over `ansible_user`.
    pub user: Option<String>,
    /// `--known-hosts` [default: the transport's: `~/.ssh/known_hosts`, or ssh's config].
    pub known_hosts: Option<PathBuf>,
    /// `--accept-new-host-keys`.
    pub accept_new_host_keys: bool,
    /// `--connect-timeout`.
    pub connect_timeout: Duration,
    /// `--transport`: for hosts whose inventory does not choose.
    pub transport: TransportKind,
}

/// Parses `-e` arguments: `key=value` (the value typed like YAML, so
/// `force=false` is false) or `@file.yml`.
pub fn parse_extra_vars(args: &[String]) -> Result<Vars, Error> {
    let mut vars = Vars::new();
    for arg in args {
        if let Some(file) = arg.strip_prefix('@') {
            let text = fs_err::read_to_string(file)?;
            let parsed: Option<Vars> = serde_yaml::from_str(&text).map_err(|e| Error::Usage {
                message: format!("{file}:{}: {e}", e.location().map_or(0, |l| l.line())),
                hints: vec![],
            })?;
            vars.extend(parsed.unwrap_or_default());
            continue;
        }
        let (key, value) = arg.split_once('=').ok_or_else(|| Error::Usage {
            message: format!("`-e {arg}` is not `key=value` or `@file`"),
            hints: vec![],
        })?;
        let value = match serde_yaml::from_str::<serde_yaml::Value>(value) {
            Ok(
                v @ (serde_yaml::Value::Bool(_)
                | serde_yaml::Value::Number(_)
                | serde_yaml::Value::Null),
            ) => v,
            _ => serde_yaml::Value::String(value.to_owned()),
        };
        vars.insert(key.to_owned(), value);
    }
    Ok(vars)
}

/// Refuses a ref that git would not accept, or that carries shell syntax.
pub fn check_ref(reference: &str) -> Result<(), Error> {
    gitref::validate(reference).map_err(|problem| Error::Usage {
        message: format!("`{reference}` is not a valid git ref: {problem}"),
        hints: vec!["pass a branch, tag or commit SHA with `--commit`".into()],
    })
}

/// Builds the plan: merges variables by precedence (playbook defaults <
/// inventory < extra vars), resolves them, validates the commit, and works
/// out each host's connection.
pub fn build(
    inventory: &Inventory,
    playbook: Playbook,
    extra: &Vars,
    settings: &ConnectSettings,
    templates: &Templates,
) -> Result<Plan, Error> {
    let mut hosts = Vec::new();
    let mut secrets = Vec::new();
    let mut commit = String::new();
    for host in &inventory.hosts {
        let mut raw = playbook.vars.clone();
        raw.extend(host.vars.clone());
        raw.extend(extra.clone());
        raw.insert("inventory_hostname".into(), host.name.clone().into());
        raw.insert("env_name".into(), inventory.env.clone().into());
        raw.insert(
            "group_names".into(),
            serde_yaml::to_value(&host.groups).expect("a list of names"),
        );
        let vars = templates.resolve(&raw).map_err(|e| Error::Usage {
            message: format!("host {}: {}", host.name, e.message),
            hints: vec![format!(
                "define it in {}/group_vars/all.yml, in the host's line, or with `-e name=value`",
                inventory.source.display()
            )],
        })?;
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| vars.get(*n).filter(|v| !v.is_none() && !v.is_undefined()))
                .map(|v| v.to_string())
        };
        let host_commit = get(&["commit"]).unwrap_or_else(|| "master".into());
        check_ref(&host_commit)?;
        commit = host_commit;
        for (name, value) in &vars {
            if is_secret_name(name)
                && let Some(s) = value.as_str()
            {
                secrets.push(s.to_owned());
            }
        }
        let port = get(&["ansible_port", "ansible_ssh_port"])
            .map(|text| {
                text.parse().map_err(|_| Error::Usage {
                    message: format!(
                        "host {}: ansible_port `{text}` is not a port number",
                        host.name
                    ),
                    hints: vec![],
                })
            })
            .transpose()?;
        let transport = match get(&["wptdeploy_transport", "ansible_connection"]) {
            None => settings.transport,
            Some(name) => transport_named(&name)
                .map_err(|message| Error::Usage {
                    message: format!("host {}: {message}", host.name),
                    hints: vec![
                    "wptdeploy connects over SSH: `russh` (built in) or `openssh` (the system ssh)"
                        .into(),
                ],
                })?
                .unwrap_or(settings.transport),
        };
        let connect = ConnectOptions {
            transport,
            address: get(&["ansible_host", "ansible_ssh_host"])
                .unwrap_or_else(|| host.name.clone()),
            port,
            user: settings
                .user
                .clone()
                .or_else(|| get(&["ansible_user", "ansible_ssh_user"])),
            identity_file: get(&["ansible_ssh_private_key_file", "ansible_private_key_file"])
                .map(|p| crate::transport::expand_home_in(&crate::transport::home(), &p)),
            known_hosts: settings.known_hosts.clone(),
            accept_new_host_keys: settings.accept_new_host_keys,
            connect_timeout: settings.connect_timeout,
        };
        hosts.push(HostPlan {
            name: host.name.clone(),
            connect,
            vars,
        });
    }
    Ok(Plan {
        env: inventory.env.clone(),
        commit,
        hosts,
        playbook,
        secrets,
    })
}

/// The transport an inventory's `ansible_connection` (or `wptdeploy_transport`)
/// names; Ansible's `ssh`, `smart` and `paramiko` mean "over SSH", so the
/// command line's choice.
fn transport_named(name: &str) -> Result<Option<TransportKind>, String> {
    match name {
        "ssh" | "smart" | "paramiko" => Ok(None),
        other => other.parse().map(Some).map_err(|_| {
            format!("connection `{other}` is not one wptdeploy has (`russh` or `openssh`)")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_vars_are_typed_like_yaml() {
        let vars =
            parse_extra_vars(&["force=false".into(), "n=3".into(), "msg=a b".into()]).unwrap();
        assert_eq!(vars["force"], serde_yaml::Value::Bool(false));
        assert_eq!(vars["n"], serde_yaml::Value::from(3));
        assert_eq!(vars["msg"], serde_yaml::Value::from("a b"));
        assert!(parse_extra_vars(&["novalue".into()]).is_err());
    }
}
