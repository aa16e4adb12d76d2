//! Hosts, groups and their variables, as read from inventory files.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

/// Variables by name.
pub type Vars = BTreeMap<String, Value>;

/// Where a variable was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// For messages: `ansible/group_vars/all/vars.yml:213`, `-e`, ...
    pub place: String,
    /// It came out of an ansible-vault, so it is a secret whatever its name.
    pub vaulted: bool,
}

impl Origin {
    /// Set at `place`, in plain text.
    pub fn at(place: impl Into<String>) -> Self {
        Origin {
            place: place.into(),
            vaulted: false,
        }
    }
}

/// Variables, each with where it was set.
#[derive(Debug, Clone, Default)]
pub struct Sourced {
    /// The values, as written (templates not yet rendered).
    pub values: Vars,
    /// Where each was set.
    pub origins: BTreeMap<String, Origin>,
}

impl Sourced {
    /// `vars`, all set at `origin`.
    pub fn all_from(vars: Vars, origin: &Origin) -> Self {
        let origins = vars.keys().map(|k| (k.clone(), origin.clone())).collect();
        Sourced {
            values: vars,
            origins,
        }
    }

    /// The variables of a YAML file: each one's origin is the file and the
    /// line where its key is first written.
    pub fn from_yaml_file(vars: Vars, file: &std::path::Path, text: &str, vaulted: bool) -> Self {
        let origins = vars
            .keys()
            .map(|name| {
                let line = key_line(text, name);
                let place = match line {
                    Some(line) if !vaulted => format!("{}:{line}", file.display()),
                    _ => file.display().to_string(),
                };
                (name.clone(), Origin { place, vaulted })
            })
            .collect();
        Sourced {
            values: vars,
            origins,
        }
    }

    /// Sets one variable.
    pub fn insert(&mut self, name: impl Into<String>, value: Value, origin: Origin) {
        let name = name.into();
        self.origins.insert(name.clone(), origin);
        self.values.insert(name, value);
    }

    /// Adds `other` over these (its values win).
    pub fn extend(&mut self, other: Sourced) {
        self.values.extend(other.values);
        self.origins.extend(other.origins);
    }
}

/// The 1-based line of the first `name:` key in YAML `text` (a guess good
/// enough for messages: the key as written, at any indentation).
fn key_line(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix(['"', '\'']).unwrap_or(line);
            line.strip_prefix(name)
                .map(|rest| rest.trim_start_matches(['"', '\'']))
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|index| index + 1)
}

/// One inventory group.
#[derive(Debug, Default, Clone)]
pub struct Group {
    /// Hosts listed directly in the group.
    pub hosts: BTreeSet<String>,
    /// Groups whose hosts belong to this group too.
    pub children: BTreeSet<String>,
    /// `[group:vars]` or `vars:` of the group.
    pub vars: Sourced,
}

/// Every group and host found in the inventory files.
#[derive(Debug, Default, Clone)]
pub struct Groups {
    /// Groups by name (`all` and `ungrouped` always exist once a file is read).
    pub groups: BTreeMap<String, Group>,
    /// Variables given on host lines, by host.
    pub host_vars: BTreeMap<String, Sourced>,
}

impl Groups {
    /// The group called `name`, created empty if new.
    pub fn entry(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_owned()).or_default()
    }

    /// Adds `host` to `group`, merging its host-line variables.
    pub fn add_host(&mut self, group: &str, host: &str, vars: Sourced) {
        self.entry(group).hosts.insert(host.to_owned());
        self.host_vars
            .entry(host.to_owned())
            .or_default()
            .extend(vars);
    }

    /// Every host of `group`, through its children; `all` is every host.
    pub fn hosts_of(&self, group: &str) -> BTreeSet<String> {
        if group == "all" {
            return self.host_vars.keys().cloned().collect();
        }
        let mut hosts = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut pending = vec![group.to_owned()];
        while let Some(name) = pending.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(g) = self.groups.get(&name) {
                hosts.extend(g.hosts.iter().cloned());
                pending.extend(g.children.iter().cloned());
            }
        }
        hosts
    }

    /// The groups `host` belongs to, lowest precedence first: `all`, then by
    /// depth (parents before children), then by name, as Ansible orders them.
    pub fn groups_of(&self, host: &str) -> Vec<String> {
        let mut found: Vec<(usize, String)> = self
            .groups
            .keys()
            .filter(|name| name.as_str() != "all" && self.hosts_of(name).contains(host))
            .map(|name| (self.depth(name, 0), name.clone()))
            .collect();
        found.sort();
        std::iter::once("all".to_owned())
            .chain(found.into_iter().map(|(_, name)| name))
            .collect()
    }

    fn depth(&self, group: &str, guard: usize) -> usize {
        if guard > 64 {
            return guard;
        }
        self.groups
            .iter()
            .filter(|(name, g)| name.as_str() != "all" && g.children.contains(group))
            .map(|(name, _)| self.depth(name, guard + 1) + 1)
            .max()
            .unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_ordered_by_depth_then_name() {
        let mut groups = Groups::default();
        groups.add_host("web", "h1", Sourced::default());
        groups.add_host("db", "h1", Sourced::default());
        groups.entry("staging").children.insert("web".into());
        assert_eq!(groups.groups_of("h1"), ["all", "db", "staging", "web"]);
        assert_eq!(groups.hosts_of("staging").len(), 1);
        assert_eq!(groups.hosts_of("all").len(), 1);
    }
}
