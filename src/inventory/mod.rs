//! Inventories: existing Ansible inventories (INI or YAML, with
//! `group_vars/` and `host_vars/`) work unchanged.
//!
//! `wptdeploy ENV` finds ENV as an inventory file of that name, or as a
//! group in the inventory files; `prod` means `production`.

mod derived;
mod error;
mod extra;
mod ini;
mod limit;
mod model;
mod vars_file;
mod yaml;

use std::path::{Path, PathBuf};

use fs_err as fs;

pub use derived::from_tree as implied_by_tree;
pub use error::{InventoryError, without_location};
pub use extra::extra_vars;

use crate::vault::Vault;
use model::Groups;
pub use model::{Origin, Sourced, Vars};

/// The hosts of one environment, with their variables merged.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The environment's canonical name (`production` for `prod`).
    pub env: String,
    /// The inventory file or directory read.
    pub source: PathBuf,
    /// The environment's hosts, in name order.
    pub hosts: Vec<InventoryHost>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// The Ansible tree the inventory belongs to (the directory holding
    /// `inventory/`, `group_vars/`, `roles/`), where templates are looked for.
    pub ansible_dir: Option<PathBuf>,
    /// What that tree's deploy playbook and roles imply (its restart, its
    /// config file), below every variable the inventory sets.
    pub derived: Sourced,
}

/// One host and its inventory variables, Ansible's precedence applied.
#[derive(Debug, Clone)]
pub struct InventoryHost {
    /// The inventory name of the host.
    pub name: String,
    /// The groups it belongs to, directly or through children, without
    /// `all` and `ungrouped` (Ansible's `group_names`).
    pub groups: Vec<String>,
    /// Variables from the inventory, group_vars and host_vars, with where each was set.
    pub vars: Sourced,
}

/// Where inventories are looked for when `--inventory` is not given.
pub const DEFAULT_LOCATIONS: [&str; 2] = ["inventory", "ansible/inventory"];

/// Other names users type for an environment.
fn aliases(env: &str) -> Vec<String> {
    let mut names = vec![env.to_owned()];
    match env {
        "prod" => names.push("production".into()),
        "stage" => names.push("staging".into()),
        _ => {}
    }
    names
}

/// Loads the hosts of `env` from `location` (a file or directory), or from
/// the default locations, opening vault-encrypted variables with `vault`.
pub fn load(
    env: &str,
    location: Option<&Path>,
    vault: &Vault,
) -> Result<Inventory, InventoryError> {
    let base = match location {
        Some(path) => path.to_owned(),
        None => DEFAULT_LOCATIONS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| InventoryError::NotFound {
                looked: DEFAULT_LOCATIONS.map(|l| format!("./{l}")).join(", "),
            })?,
    };
    if !base.exists() {
        return Err(InventoryError::NotFound {
            looked: base.display().to_string(),
        });
    }
    let names = aliases(env);
    let (groups, selected, canonical, inventory_dir) = if base.is_file() {
        let groups = read_files(std::slice::from_ref(&base))?;
        let stem = base
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let dir = base.parent().unwrap_or(Path::new(".")).to_owned();
        if names.iter().any(|n| n == stem) {
            let hosts = groups.hosts_of("all");
            (groups, hosts, stem.to_owned(), dir)
        } else {
            let (name, hosts) = select_group(&groups, &names, &base)?;
            (groups, hosts, name, dir)
        }
    } else if let Some((name, file)) = env_file(&base, &names) {
        let groups = read_files(&[file])?;
        let hosts = groups.hosts_of("all");
        (groups, hosts, name, base.clone())
    } else {
        let groups = read_files(&inventory_files(&base)?)?;
        let (name, hosts) = select_group(&groups, &names, &base)?;
        (groups, hosts, name, base.clone())
    };
    if selected.is_empty() {
        return Err(InventoryError::NoHosts {
            env: env.to_owned(),
        });
    }
    let warnings = Vec::new();
    let var_dirs = vars_dirs(&inventory_dir);
    let mut hosts = Vec::new();
    for name in selected {
        let vars = host_vars(&groups, &name, &var_dirs, vault)?;
        let member_of = groups
            .groups_of(&name)
            .into_iter()
            .filter(|g| !matches!(g.as_str(), "all" | "ungrouped"))
            .collect();
        hosts.push(InventoryHost {
            name,
            groups: member_of,
            vars,
        });
    }
    let tree = parent_or_dot(&inventory_dir);
    Ok(Inventory {
        env: canonical,
        source: base,
        hosts,
        warnings,
        derived: derived::from_tree(&tree),
        ansible_dir: Some(tree),
    })
}

impl Inventory {
    /// Keeps the hosts that `--limit PATTERN` selects (see [`limit`]).
    pub fn limit(mut self, pattern: &str) -> Result<Self, InventoryError> {
        let (hosts, warnings) = limit::apply(self.hosts, pattern, &self.env)?;
        self.hosts = hosts;
        self.warnings.extend(warnings);
        Ok(self)
    }
}

fn env_file(dir: &Path, names: &[String]) -> Option<(String, PathBuf)> {
    names.iter().find_map(|name| {
        ["", ".yml", ".yaml", ".ini"]
            .iter()
            .map(|ext| dir.join(format!("{name}{ext}")))
            .find(|p| p.is_file())
            .map(|p| (name.clone(), p))
    })
}

fn inventory_files(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            !name.starts_with('.') && !name.ends_with(".md") && !name.ends_with('~')
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read_files(files: &[PathBuf]) -> Result<Groups, InventoryError> {
    let mut groups = Groups::default();
    groups.entry("all");
    groups.entry("ungrouped");
    for file in files {
        let text = fs::read_to_string(file)?;
        let is_yaml = matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml" | "json")
        );
        if is_yaml {
            yaml::parse(&text, file, &mut groups)?;
        } else {
            ini::parse(&text, file, &mut groups)?;
        }
    }
    Ok(groups)
}

/// The names an inventory offers for completion.
#[derive(Debug, Default)]
pub struct Names {
    /// Its environments: the files of an inventory directory and the groups.
    pub environments: Vec<String>,
    /// Its hosts and groups, what `--limit` takes.
    pub hosts_and_groups: Vec<String>,
}

/// The environments, hosts and groups of the inventory at `location` (or
/// the default locations); empty when there is none or it cannot be read.
/// Only the inventory's own files are read: no variable, no vault.
pub fn names(location: Option<&Path>) -> Names {
    let Some(base) = location.map(Path::to_owned).or_else(|| {
        DEFAULT_LOCATIONS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    }) else {
        return Names::default();
    };
    let files = if base.is_file() {
        vec![base.clone()]
    } else {
        inventory_files(&base).unwrap_or_default()
    };
    let Ok(groups) = read_files(&files) else {
        return Names::default();
    };
    let group_names = groups
        .groups
        .keys()
        .filter(|g| !matches!(g.as_str(), "all" | "ungrouped"))
        .cloned();
    let mut environments: Vec<String> = group_names
        .clone()
        .chain(
            files
                .iter()
                .filter_map(|f| f.file_stem().and_then(|s| s.to_str()).map(str::to_owned)),
        )
        .collect();
    environments.sort();
    environments.dedup();
    let mut hosts_and_groups: Vec<String> = group_names.chain(groups.hosts_of("all")).collect();
    hosts_and_groups.sort();
    hosts_and_groups.dedup();
    Names {
        environments,
        hosts_and_groups,
    }
}

fn select_group(
    groups: &Groups,
    names: &[String],
    inventory: &Path,
) -> Result<(String, std::collections::BTreeSet<String>), InventoryError> {
    for name in names {
        if groups.groups.contains_key(name) {
            return Ok((name.clone(), groups.hosts_of(name)));
        }
    }
    let mut known: Vec<String> = groups
        .groups
        .keys()
        .filter(|g| !matches!(g.as_str(), "all" | "ungrouped"))
        .cloned()
        .collect();
    if inventory.is_dir() {
        known.extend(
            inventory_files(inventory)?
                .iter()
                .filter_map(|f| f.file_stem().and_then(|s| s.to_str()).map(str::to_owned)),
        );
    }
    known.sort();
    known.dedup();
    Err(InventoryError::UnknownEnvironment {
        env: names[0].clone(),
        inventory: inventory.to_owned(),
        known,
    })
}

/// `group_vars/` and `host_vars/` beside the inventory, then (as Ansible
/// reads playbook-adjacent vars, which win) in the inventory's parent.
fn vars_dirs(inventory_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![inventory_dir.to_owned()];
    let parent = parent_or_dot(inventory_dir);
    if parent.join("group_vars").is_dir() || parent.join("host_vars").is_dir() {
        dirs.push(parent);
    }
    dirs
}

/// The directory holding `dir` (`.` for a relative name with no parent).
fn parent_or_dot(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn host_vars(
    groups: &Groups,
    host: &str,
    var_dirs: &[PathBuf],
    vault: &Vault,
) -> Result<Sourced, InventoryError> {
    let host_groups = groups.groups_of(host);
    let mut vars = Sourced::default();
    for group in &host_groups {
        if let Some(g) = groups.groups.get(group) {
            vars.extend(g.vars.clone());
        }
    }
    // `all` from every vars directory first, then the other groups.
    let (all, others) = host_groups.split_at(1);
    for chunk in [all, others] {
        for dir in var_dirs {
            for group in chunk {
                vars.extend(vars_file::read_entry(
                    &dir.join("group_vars"),
                    group,
                    vault,
                )?);
            }
        }
    }
    if let Some(line_vars) = groups.host_vars.get(host) {
        vars.extend(line_vars.clone());
    }
    for dir in var_dirs {
        vars.extend(vars_file::read_entry(&dir.join("host_vars"), host, vault)?);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// `ansible-vault encrypt` (ansible-core 2.19, password `s3cret`) of
    /// `vault_db_password: 90817263` and a two-line `vault_key`.
    const VAULT: &str = "$ANSIBLE_VAULT;1.1;AES256
65326462306436323932666535613037306534303730653733653536323235626638613464333835
3163313132306237383466643030346533376262613564640a613635386630326164623562356531
31306431376532383733303565346331393037363836326635306365346332343732393865333065
6138623464366333640a333938363963383333616632613735303763336638373063343930656137
65376563643037653166356439376663643437356431653335636639653230303461616263326530
66356563613565626130303461633433386363323464306337373762383064363137343734353535
64313237666261393535343434343161326239313063656338383966386537653438353839376665
35383432313961646539666462623962363938316337323932326531636366316466626261316262
3763
";

    /// wptdash's layout: `ansible/inventory/staging`, vars in `ansible/group_vars/all/`.
    #[test]
    fn wptdash_layout_with_playbook_adjacent_group_vars() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ansible");
        write(
            &root.join("inventory/staging"),
            "pulls-staging.example.org site_fqdn=pulls-staging.example.org\n[all:vars]\nansible_python_interpreter=python3\n",
        );
        write(&root.join("inventory/production"), "pulls.example.org\n");
        write(
            &root.join("group_vars/all/vars.yml"),
            "project_name: wpt-pullresults\ncommit: master\n",
        );
        write(&root.join("group_vars/all/vault"), VAULT);
        write(
            &root.join("group_vars/all/vault.sample"),
            "# vault_db_password: X\n",
        );
        let inventory = root.join("inventory");
        let err = load("staging", Some(&inventory), &Vault::default()).unwrap_err();
        assert!(err.to_string().ends_with("group_vars/all/vault is encrypted with ansible-vault, and no vault password was given"), "{err}");
        let vault = Vault::new(vec![crate::vault::VaultPassword {
            label: None,
            password: "s3cret".into(),
            source: "test".into(),
        }]);
        let inv = load("staging", Some(&inventory), &vault).unwrap();
        assert_eq!(inv.hosts.len(), 1);
        let vars = &inv.hosts[0].vars;
        assert_eq!(vars.values["project_name"], Value::from("wpt-pullresults"));
        assert_eq!(
            vars.values["site_fqdn"],
            Value::from("pulls-staging.example.org")
        );
        assert_eq!(vars.values["vault_db_password"], Value::from(90_817_263));
        assert!(vars.origins["vault_key"].vaulted);
        assert!(!vars.origins["project_name"].vaulted);
        assert_eq!(inv.ansible_dir.as_deref(), Some(root.as_path()));
        let prod = load("prod", Some(&inventory), &vault).unwrap();
        assert_eq!(prod.env, "production");
        assert_eq!(prod.hosts[0].name, "pulls.example.org");
    }

    #[test]
    fn precedence_host_over_child_group_over_parent_over_all() {
        let tmp = tempfile::tempdir().unwrap();
        let inv = tmp.path().join("inventory");
        write(
            &inv.join("hosts.ini"),
            "[web]\nh1 x=host\nh2\n[staging:children]\nweb\n[staging:vars]\nx=staging\ny=staging\n[all:vars]\nx=all\ny=all\nz=all\n",
        );
        write(&inv.join("group_vars/web.yml"), "y: web\n");
        write(&inv.join("host_vars/h2.yml"), "x: h2file\n");
        let loaded = load("staging", Some(&inv), &Vault::default()).unwrap();
        let h1 = &loaded.hosts[0].vars.values;
        let h2 = &loaded.hosts[1].vars.values;
        assert_eq!(h1["x"], Value::from("host"));
        assert_eq!(h1["y"], Value::from("web"));
        assert_eq!(h1["z"], Value::from("all"));
        assert_eq!(h2["x"], Value::from("h2file"));
    }

    #[test]
    fn unknown_environment_lists_the_known_ones() {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("staging"), "h1\n");
        write(&tmp.path().join("production"), "h2\n");
        let err = load("qa", Some(tmp.path()), &Vault::default()).unwrap_err();
        assert!(err.to_string().contains("environment `qa`"));
        assert_eq!(err.hints(), ["known environments: production, staging"]);
        let typo = load("stagign", Some(tmp.path()), &Vault::default()).unwrap_err();
        assert_eq!(
            typo.hints(),
            [
                "did you mean `staging`?",
                "known environments: production, staging"
            ]
        );
    }

    #[test]
    fn malformed_group_vars_point_at_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("staging"), "h1\n");
        write(
            &tmp.path().join("group_vars/all.yml"),
            "a: 1\nb: [unclosed\n",
        );
        let err = load("staging", Some(tmp.path()), &Vault::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("group_vars/all.yml:"), "{err}");
    }
}
