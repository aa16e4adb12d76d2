//! Ansible's YAML inventory format.
//!
//! ```yaml
//! all:
//!   children:
//!     staging:
//!       hosts:
//!         pulls-staging.example.org:
//!           ansible_port: 2222
//!       vars:
//!         env: production
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::InventoryError;
use super::model::{Groups, Sourced, Vars};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct YamlGroup {
    #[serde(default)]
    hosts: Option<BTreeMap<String, Option<Vars>>>,
    #[serde(default)]
    vars: Option<Vars>,
    #[serde(default)]
    children: Option<BTreeMap<String, Option<YamlGroup>>>,
}

/// Parses YAML inventory text into `groups`.
pub fn parse(text: &str, path: &Path, groups: &mut Groups) -> Result<(), InventoryError> {
    let top: Option<BTreeMap<String, Option<YamlGroup>>> =
        serde_yaml::from_str(text).map_err(|e| InventoryError::from_yaml(path, &e))?;
    let file = File { path, text };
    for (name, group) in top.unwrap_or_default() {
        add_group(groups, &name, group.unwrap_or_default(), &file);
    }
    Ok(())
}

struct File<'a> {
    path: &'a Path,
    text: &'a str,
}

impl File<'_> {
    fn sourced(&self, vars: Option<Vars>) -> Sourced {
        Sourced::from_yaml_file(vars.unwrap_or_default(), self.path, self.text, false)
    }
}

fn add_group(groups: &mut Groups, name: &str, group: YamlGroup, file: &File<'_>) {
    groups.entry(name).vars.extend(file.sourced(group.vars));
    for (host, vars) in group.hosts.unwrap_or_default() {
        groups.add_host(name, &host, file.sourced(vars));
    }
    for (child, child_group) in group.children.unwrap_or_default() {
        groups.entry(name).children.insert(child.clone());
        add_group(groups, &child, child_group.unwrap_or_default(), file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_children_hosts_and_vars() {
        let mut groups = Groups::default();
        parse(
            "all:\n  vars:\n    a: 1\n  children:\n    staging:\n      hosts:\n        h1:\n          ansible_port: 2222\n        h2:\n",
            Path::new("inv.yml"),
            &mut groups,
        )
        .unwrap();
        assert_eq!(groups.hosts_of("staging").len(), 2);
        assert_eq!(
            groups.host_vars["h1"].values["ansible_port"],
            serde_yaml::Value::from(2222)
        );
        assert_eq!(
            groups.groups["all"].vars.values["a"],
            serde_yaml::Value::from(1)
        );
    }

    #[test]
    fn unknown_keys_point_at_file_and_line() {
        let mut groups = Groups::default();
        let err = parse(
            "all:\n  children:\n    staging:\n      host:\n",
            Path::new("inv.yml"),
            &mut groups,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("inv.yml:4:"), "{err}");
        assert!(err.contains("unknown field `host`"), "{err}");
    }
}
