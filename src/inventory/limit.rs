//! `--limit PATTERN`: Ansible's host patterns, applied to an environment's
//! hosts.
//!
//! A pattern is a list separated by `,` (or `:`) of items: a host name, a
//! group name or a glob over either (`web*`, `db?`); `&item` keeps only the
//! hosts that also match it; `!item` removes the hosts that match it;
//! `@file` reads more items from a file, one per line (Ansible's retry
//! files). Items are applied as Ansible does: every plain item is added,
//! then every `&` item intersects, then every `!` item subtracts.

use std::path::Path;

use super::InventoryHost;
use super::error::InventoryError;
use crate::glob::glob;

/// The hosts of `hosts` that `pattern` selects, in their order, and a
/// warning for every item that matched no host.
pub fn apply(
    hosts: Vec<InventoryHost>,
    pattern: &str,
    env: &str,
) -> Result<(Vec<InventoryHost>, Vec<String>), InventoryError> {
    let items = items(pattern)?;
    let invalid = |message: String| InventoryError::Limit {
        pattern: pattern.to_owned(),
        message,
    };
    let mut warnings = Vec::new();
    let mut add = Vec::new();
    let mut keep = Vec::new();
    let mut remove = Vec::new();
    for item in &items {
        let (list, word) = match item.as_bytes().first() {
            Some(b'!') => (&mut remove, &item[1..]),
            Some(b'&') => (&mut keep, &item[1..]),
            _ => (&mut add, item.as_str()),
        };
        if word.is_empty() {
            return Err(invalid(format!("`{item}` names nothing")));
        }
        if word.starts_with('~') {
            return Err(invalid(format!(
                "`{item}` is a regular expression, which wptdeploy does not take; use a glob such as `web*`"
            )));
        }
        if !hosts.iter().any(|h| selects(word, h)) {
            warnings.push(format!(
                "--limit: `{word}` matches no host or group of {env}"
            ));
        }
        list.push(word);
    }
    if add.is_empty() {
        add.push("all");
    }
    let before: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let selected: Vec<InventoryHost> = hosts
        .into_iter()
        .filter(|h| add.iter().any(|w| selects(w, h)))
        .filter(|h| keep.iter().all(|w| selects(w, h)))
        .filter(|h| !remove.iter().any(|w| selects(w, h)))
        .collect();
    if selected.is_empty() {
        return Err(InventoryError::LimitMatchesNothing {
            pattern: pattern.to_owned(),
            env: env.to_owned(),
            hosts: before,
        });
    }
    Ok((selected, warnings))
}

/// The pattern's items, `@file` items replaced by the file's lines.
fn items(pattern: &str) -> Result<Vec<String>, InventoryError> {
    let mut items = Vec::new();
    for item in pattern.split([',', ':']).map(str::trim) {
        if item.is_empty() {
            continue;
        }
        match item.strip_prefix('@') {
            Some(file) => {
                let text = fs_err::read_to_string(Path::new(file))?;
                items.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_owned),
                );
            }
            None => items.push(item.to_owned()),
        }
    }
    if items.is_empty() {
        return Err(InventoryError::Limit {
            pattern: pattern.to_owned(),
            message: "it names no host or group".into(),
        });
    }
    Ok(items)
}

/// Whether `word` (a name or glob) matches the host or one of its groups.
fn selects(word: &str, host: &InventoryHost) -> bool {
    word == "all"
        || word == "*"
        || glob(word, &host.name)
        || host.groups.iter().any(|g| glob(word, g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, groups: &[&str]) -> InventoryHost {
        InventoryHost {
            name: name.into(),
            groups: groups.iter().map(ToString::to_string).collect(),
            vars: super::super::Sourced::default(),
        }
    }

    fn names(pattern: &str) -> Result<Vec<String>, InventoryError> {
        let hosts = vec![
            host("web1", &["web", "staging"]),
            host("web2", &["web", "staging", "canary"]),
            host("db1", &["db", "staging"]),
        ];
        apply(hosts, pattern, "staging").map(|(h, _)| h.into_iter().map(|h| h.name).collect())
    }

    #[test]
    fn hosts_groups_globs_intersections_and_exclusions() {
        assert_eq!(names("web1").unwrap(), ["web1"]);
        assert_eq!(names("web").unwrap(), ["web1", "web2"]);
        assert_eq!(names("db1,web2").unwrap(), ["web2", "db1"]);
        assert_eq!(names("w*1").unwrap(), ["web1"]);
        assert_eq!(names("all:!db1").unwrap(), ["web1", "web2"]);
        assert_eq!(names("!canary").unwrap(), ["web1", "db1"]);
        assert_eq!(names("staging,&web,!web2").unwrap(), ["web1"]);
        assert_eq!(names("*1").unwrap(), ["web1", "db1"]);
    }

    #[test]
    fn nothing_matched_is_an_error_naming_the_hosts() {
        let err = names("cache*").unwrap_err().to_string();
        assert!(err.contains("`cache*` selects no host of staging"), "{err}");
        assert!(names("~web.*").unwrap_err().to_string().contains("glob"));
        assert!(names(",").is_err());
    }

    #[test]
    fn an_item_matching_nothing_is_a_warning() {
        let hosts = vec![host("web1", &["web"])];
        let (kept, warnings) = apply(hosts, "web1,wbe2", "staging").unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            warnings,
            ["--limit: `wbe2` matches no host or group of staging"]
        );
    }

    #[test]
    fn retry_files_list_hosts() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        fs_err::write(tmp.path(), "web2\n# a comment\ndb1\n").unwrap();
        let pattern = format!("@{}", tmp.path().display());
        assert_eq!(names(&pattern).unwrap(), ["web2", "db1"]);
    }
}
