//! Everything decided before any connection: the hosts, how to reach
//! them, their variables fully resolved, and the steps. Bad input stops here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use minijinja::Value;

use crate::gitref;
use crate::inventory::{Inventory, Origin, Sourced};
use crate::playbook::Playbook;
use crate::redact::Redactor;
use crate::template::{Scope, Templates, Unknown, is_secret_name};
use crate::transport::{ConnectOptions, TransportKind};

/// One host, ready to run.
#[derive(Debug, Clone)]
pub struct HostPlan {
    /// Inventory name.
    pub name: String,
    /// How to reach it.
    pub connect: ConnectOptions,
    /// Its variables as written, each rendered when a step uses it.
    pub vars: Arc<Sourced>,
    /// The commit it deploys (its `commit` variable).
    pub commit: String,
}

impl HostPlan {
    /// The context its templates render in: `over` (what steps registered,
    /// `now`) over its variables.
    pub fn scope(&self, templates: &Templates, over: BTreeMap<String, Value>) -> Value {
        Scope::context(templates, self.vars.clone(), over)
    }

    /// What is known of it without connecting: what `playbook`'s steps
    /// register is unknown (and `now` too, unless given).
    pub fn offline(
        &self,
        templates: &Templates,
        playbook: &Playbook,
        now: Option<&str>,
    ) -> Offline {
        let registered: BTreeSet<String> = playbook
            .steps
            .iter()
            .filter_map(|s| s.register.clone())
            .chain(["now".to_owned()])
            .collect();
        let with = |value: &dyn Fn(&str) -> Value| {
            let mut over: BTreeMap<String, Value> = registered
                .iter()
                .map(|name| (name.clone(), value(name)))
                .collect();
            if let Some(now) = now {
                over.insert("now".into(), Value::from(now));
            }
            self.scope(templates, over)
        };
        Offline {
            ctx: with(&|name| Unknown::value(name)),
            absent: with(&|_| Value::from(())),
            registered,
        }
    }
}

/// A host's templates as far as they can be rendered before connecting.
pub struct Offline {
    /// The context: what steps register stands as `<name>`.
    pub ctx: Value,
    /// The same with what steps register as none (false).
    absent: Value,
    /// The names steps register.
    pub registered: BTreeSet<String>,
}

impl Offline {
    /// Whether `step` may run: false only when its `when:` is false whatever
    /// the steps before it register (tried with their values there, and not).
    pub fn may_run(&self, step: &crate::playbook::Step, templates: &Templates) -> bool {
        let Some(when) = &step.when else {
            return true;
        };
        templates.condition(when, &self.ctx).unwrap_or(true)
            || templates.condition(when, &self.absent).unwrap_or(true)
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

/// Why a plan cannot be made: a host's variables do not give what it needs.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A ref git would not accept, or that carries shell syntax.
    #[error("`{reference}` is not a valid git ref: {problem}")]
    BadRef {
        /// As given.
        reference: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A variable that cannot be rendered, or a step needing an undefined one.
    #[error("host {host}: {message}")]
    Undefined {
        /// Inventory name.
        host: String,
        /// Which variable, and why.
        message: String,
        /// Where the inventory's variables are defined.
        define: String,
    },
    /// `ansible_port` is not a port number.
    #[error("host {host}: ansible_port `{text}` is not a port number")]
    BadPort {
        /// Inventory name.
        host: String,
        /// As given.
        text: String,
    },
    /// `ansible_connection` names no transport wptdeploy has.
    #[error("host {host}: {message}")]
    BadTransport {
        /// Inventory name.
        host: String,
        /// Which.
        message: String,
    },
    /// A step uses a filter, test or function that does not exist.
    #[error("host {host}: {place}: {message}")]
    UnknownName {
        /// Inventory name.
        host: String,
        /// The step and its file and line.
        place: String,
        /// Which name.
        message: String,
    },
}

impl PlanError {
    /// Lines telling the user what to do.
    pub fn hints(&self) -> Vec<String> {
        match self {
            PlanError::BadRef { .. } => {
                vec!["pass a branch, tag or commit SHA with `--commit`".into()]
            }
            PlanError::Undefined { define, .. } => vec![define.clone()],
            PlanError::BadPort { .. } => Vec::new(),
            PlanError::BadTransport { .. } => vec![
                "wptdeploy connects over SSH: `russh` (built in) or `openssh` (the system ssh)"
                    .into(),
            ],
            PlanError::UnknownName { .. } => vec![
                "the filters, tests and functions wptdeploy has (Ansible's common ones) are listed in docs/variables.md".into(),
            ],
        }
    }

    /// The error with every secret `redactor` knows masked in its texts (a
    /// variable's error may quote a value).
    pub fn masked(self, redactor: &Redactor) -> PlanError {
        let m = |text: String| redactor.apply(&text);
        match self {
            PlanError::BadRef { reference, problem } => PlanError::BadRef {
                reference: m(reference),
                problem: m(problem),
            },
            PlanError::Undefined {
                host,
                message,
                define,
            } => PlanError::Undefined {
                host: m(host),
                message: m(message),
                define: m(define),
            },
            PlanError::BadPort { host, text } => PlanError::BadPort {
                host: m(host),
                text: m(text),
            },
            PlanError::BadTransport { host, message } => PlanError::BadTransport {
                host: m(host),
                message: m(message),
            },
            PlanError::UnknownName {
                host,
                place,
                message,
            } => PlanError::UnknownName {
                host: m(host),
                place: m(place),
                message: m(message),
            },
        }
    }
}

/// Refuses a ref that git would not accept, or that carries shell syntax.
pub fn check_ref(reference: &str) -> Result<(), PlanError> {
    gitref::validate(reference).map_err(|problem| PlanError::BadRef {
        reference: reference.to_owned(),
        problem,
    })
}

/// Builds the plan: merges variables by precedence (playbook defaults <
/// inventory < extra vars), validates the commit, works out each host's
/// connection, and renders every step once with what is known now, so a
/// variable a step uses that cannot be rendered stops the run here.
pub fn build(
    inventory: &Inventory,
    playbook: Playbook,
    extra: &Sourced,
    settings: &ConnectSettings,
    templates: &Templates,
) -> Result<Plan, PlanError> {
    let mut hosts = Vec::new();
    let mut secrets = Vec::new();
    let mut commit = String::new();
    for host in &inventory.hosts {
        let mut raw = playbook.vars.clone();
        raw.extend(inventory.derived.clone());
        raw.extend(host.vars.clone());
        raw.extend(extra.clone());
        let ours = Origin::at("wptdeploy");
        raw.insert("inventory_hostname", host.name.clone().into(), ours.clone());
        raw.insert("env_name", inventory.env.clone().into(), ours.clone());
        raw.insert(
            "group_names",
            serde_yaml::to_value(&host.groups).expect("a list of names"),
            ours,
        );
        let vars = Arc::new(raw);
        let scope = Scope::context(templates, vars.clone(), BTreeMap::new());
        secrets.extend(secret_values(&vars, &scope));
        // An error may quote a value: none of them shows a secret.
        let plan = host_plan(host, vars, &scope, inventory, settings)
            .and_then(|plan| {
                check_steps(&plan, &playbook, templates, inventory)?;
                Ok(plan)
            })
            .map_err(|e| e.masked(&Redactor::new(secrets.clone())))?;
        commit.clone_from(&plan.commit);
        hosts.push(plan);
    }
    Ok(Plan {
        env: inventory.env.clone(),
        commit,
        hosts,
        playbook,
        secrets,
    })
}

/// One host's plan: its commit and how to connect, from its variables.
fn host_plan(
    host: &crate::inventory::InventoryHost,
    vars: Arc<Sourced>,
    scope: &Value,
    inventory: &Inventory,
    settings: &ConnectSettings,
) -> Result<HostPlan, PlanError> {
    let get = |names: &[&str]| -> Result<Option<String>, PlanError> {
        for name in names {
            if !vars.values.contains_key(*name) {
                continue;
            }
            let value = Scope::lookup(scope, name).map_err(|why| PlanError::Undefined {
                host: host.name.clone(),
                message: why.to_string(),
                define: define_hint(inventory),
            })?;
            if !value.is_none() {
                return Ok(Some(value.to_string()));
            }
        }
        Ok(None)
    };
    let host_commit = get(&["commit"])?.unwrap_or_else(|| "master".into());
    check_ref(&host_commit)?;
    let port = get(&["ansible_port", "ansible_ssh_port"])?
        .map(|text| {
            text.parse().map_err(|_| PlanError::BadPort {
                host: host.name.clone(),
                text: text.clone(),
            })
        })
        .transpose()?;
    let transport = match get(&["wptdeploy_transport", "ansible_connection"])? {
        None => settings.transport,
        Some(name) => transport_named(&name)
            .map_err(|message| PlanError::BadTransport {
                host: host.name.clone(),
                message,
            })?
            .unwrap_or(settings.transport),
    };
    let connect = ConnectOptions {
        transport,
        address: get(&["ansible_host", "ansible_ssh_host"])?.unwrap_or_else(|| host.name.clone()),
        port,
        user: match &settings.user {
            Some(user) => Some(user.clone()),
            None => get(&["ansible_user", "ansible_ssh_user"])?,
        },
        identity_file: get(&["ansible_ssh_private_key_file", "ansible_private_key_file"])?
            .map(|p| crate::transport::expand_home_in(&crate::transport::home(), &p)),
        known_hosts: settings.known_hosts.clone(),
        accept_new_host_keys: settings.accept_new_host_keys,
        connect_timeout: settings.connect_timeout,
    };
    let plan = HostPlan {
        name: host.name.clone(),
        connect,
        vars,
        commit: host_commit,
    };
    Ok(plan)
}

fn define_hint(inventory: &Inventory) -> String {
    // group_vars/ is read beside the inventory files and in the tree above
    // them: name the one that exists (else the inventory's own directory).
    let own = if inventory.source.is_dir() {
        inventory.source.clone()
    } else {
        inventory
            .source
            .parent()
            .map_or_else(|| ".".into(), Path::to_path_buf)
    };
    let place = std::iter::once(own.clone())
        .chain(inventory.ansible_dir.clone())
        .find(|dir| dir.join("group_vars").is_dir())
        .unwrap_or(own)
        .display()
        .to_string();
    format!(
        "define it in {place}/group_vars/ or host_vars/, on the host's inventory line, or with `-e name=value`"
    )
}

/// The values never to print: every value that came out of a vault (its
/// text, whatever its type, and each of its lines), and those of variables
/// whose names say they are secret.
fn secret_values(vars: &Sourced, scope: &Value) -> Vec<String> {
    let mut found = Vec::new();
    // Credentials inside URLs, whatever the variable is called.
    let mut texts = Vec::new();
    for raw in vars.values.values() {
        yaml_leaves(raw, &mut texts);
    }
    for text in &texts {
        found.extend(crate::redact::url_credentials(text));
    }
    for (name, origin) in &vars.origins {
        if origin.vaulted {
            if let Some(raw) = vars.values.get(name) {
                yaml_leaves(raw, &mut found);
            }
        } else if is_secret_name(name)
            && let Ok(value) = Scope::lookup(scope, name)
        {
            value_leaves(&value, &mut found);
        }
    }
    found
}

fn yaml_leaves(value: &serde_yaml::Value, out: &mut Vec<String>) {
    use serde_yaml::Value as Y;
    match value {
        Y::String(s) => out.push(s.clone()),
        Y::Number(n) => out.push(n.to_string()),
        Y::Sequence(items) => items.iter().for_each(|i| yaml_leaves(i, out)),
        Y::Mapping(map) => map.values().for_each(|i| yaml_leaves(i, out)),
        Y::Bool(_) | Y::Null | Y::Tagged(_) => {}
    }
}

fn value_leaves(value: &Value, out: &mut Vec<String>) {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::String | ValueKind::Number => out.push(value.to_string()),
        ValueKind::Seq | ValueKind::Map => {
            if let Ok(items) = value.try_iter() {
                for item in items {
                    let inner = if value.kind() == ValueKind::Map {
                        value.get_item(&item).unwrap_or_default()
                    } else {
                        item
                    };
                    value_leaves(&inner, out);
                }
            }
        }
        _ => {}
    }
}

/// Renders each step that may run with what is known before connecting
/// (registered values unknown), so that a variable it uses that is
/// undefined stops the run now, naming the step and the chain of
/// variables. Steps whose `when:` is false whatever the host says are left out.
fn check_steps(
    host: &HostPlan,
    playbook: &Playbook,
    templates: &Templates,
    inventory: &Inventory,
) -> Result<(), PlanError> {
    let offline = host.offline(templates, playbook, None);
    let (ctx, registered) = (&offline.ctx, &offline.registered);
    for step in &playbook.steps {
        if !offline.may_run(step, templates) {
            continue;
        }
        if let Err(e) = crate::steps::prepare(step, templates, ctx, "", &[])
            && (e.unknown_name
                || (!e.undefined.is_empty() && e.undefined.iter().all(|n| !registered.contains(n))))
        {
            let place = format!("step `{}` ({}:{})", step.name.0, step.origin, step.line);
            return Err(if e.unknown_name {
                PlanError::UnknownName {
                    host: host.name.clone(),
                    place,
                    message: e.message,
                }
            } else {
                PlanError::Undefined {
                    host: host.name.clone(),
                    message: format!("{}, needed by {place}", e.message),
                    define: define_hint(inventory),
                }
            });
        }
    }
    Ok(())
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
