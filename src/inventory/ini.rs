//! Ansible's INI inventory format.
//!
//! ```ini
//! pulls-staging.web-platform-tests.org site_fqdn=pulls-staging.web-platform-tests.org
//! [web]
//! web1 ansible_host=10.0.0.5 ansible_port=2222
//! [web:vars]
//! app_user=www-data
//! [staging:children]
//! web
//! ```
//!
//! As in Ansible, values on a host line are typed like YAML scalars
//! (`ansible_port=2222` is a number) and values in `[group:vars]` are strings.

use std::path::Path;

use serde_yaml::Value;

use super::error::InventoryError;
use super::model::{Groups, Origin, Sourced};

enum Section {
    Hosts(String),
    Vars(String),
    Children(String),
}

/// Parses INI inventory text into `groups`.
pub fn parse(text: &str, path: &Path, groups: &mut Groups) -> Result<(), InventoryError> {
    let mut section = Section::Hosts("ungrouped".into());
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let err = |message: String| InventoryError::Syntax {
            path: path.to_owned(),
            line: line_no,
            message,
        };
        let origin = Origin::at(format!("{}:{line_no}", path.display()));
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let header = header
                .strip_suffix(']')
                .ok_or_else(|| err(format!("section header `{line}` has no closing `]`")))?;
            section = match header.split_once(':') {
                None => Section::Hosts(header.to_owned()),
                Some((name, "vars")) => Section::Vars(name.to_owned()),
                Some((name, "children")) => Section::Children(name.to_owned()),
                Some((_, other)) => {
                    return Err(err(format!(
                        "unknown section type `:{other}` (expected `:vars` or `:children`)"
                    )));
                }
            };
            let name = match &section {
                Section::Hosts(n) | Section::Vars(n) | Section::Children(n) => n,
            };
            check_group_name(name).map_err(err)?;
            groups.entry(name);
            continue;
        }
        match &section {
            Section::Hosts(group) => {
                let words = split_words(line).map_err(err)?;
                let (host, port) = parse_host(&words[0]).map_err(err)?;
                let mut vars = Sourced::default();
                if let Some(port) = port {
                    vars.insert("ansible_port", Value::from(port), origin.clone());
                }
                for word in &words[1..] {
                    let (key, value) = word.split_once('=').ok_or_else(|| {
                        err(format!(
                            "expected `key=value` after the host name, found `{word}`"
                        ))
                    })?;
                    vars.insert(key, typed_scalar(value), origin.clone());
                }
                groups.add_host(group, &host, vars);
            }
            Section::Vars(group) => {
                let (key, value) = line.split_once('=').ok_or_else(|| {
                    err(format!(
                        "expected `key=value` in [{group}:vars], found `{line}`"
                    ))
                })?;
                let value = unquote(value.trim());
                groups
                    .entry(group)
                    .vars
                    .insert(key.trim(), Value::String(value), origin);
            }
            Section::Children(group) => {
                check_group_name(line).map_err(err)?;
                groups.entry(line);
                groups.entry(group).children.insert(line.to_owned());
            }
        }
    }
    Ok(())
}

fn check_group_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid group name"))
    }
}

/// `host`, `host:port`; ranges like `web[01:10]` are refused rather than misread.
fn parse_host(word: &str) -> Result<(String, Option<u16>), String> {
    if word.contains('[') {
        return Err(format!(
            "host ranges like `{word}` are not supported; list the hosts one per line"
        ));
    }
    match word.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let port = port
                .parse()
                .map_err(|_| format!("`{port}` in `{word}` is not a port number"))?;
            Ok((host.to_owned(), Some(port)))
        }
        _ => Ok((word.to_owned(), None)),
    }
}

/// Splits a host line on whitespace, keeping quoted values together.
pub(super) fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '#') if current.is_empty() => break,
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                current.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (_, c) => current.push(c),
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if !current.is_empty() {
        words.push(current);
    }
    Ok(words)
}

pub(super) fn unquote(value: &str) -> String {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return value[1..value.len() - 1].to_owned();
        }
    }
    value.to_owned()
}

/// A host-line value, typed as Ansible types it (a Python literal):
/// `True`, `False`, `None` and numbers; quoted text is text without its
/// quotes; anything else is text as written, `false`, `yes` and `off`
/// included (`healthcheck_command=false` is the command `false`).
fn typed_scalar(value: &str) -> Value {
    if value.starts_with('"') || value.starts_with('\'') {
        return Value::String(unquote(value));
    }
    let numeric = value
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit());
    match value {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "None" => Value::Null,
        _ if numeric => value
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| value.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(value.to_owned())),
        _ => Value::String(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Groups {
        let mut groups = Groups::default();
        parse(text, Path::new("inv"), &mut groups).unwrap();
        groups
    }

    #[test]
    fn wptdash_staging_inventory_reads_as_ansible_does() {
        let groups = load(
            "pulls-staging.web-platform-tests.org site_fqdn=pulls-staging.web-platform-tests.org\n\
             [all:vars]\nansible_python_interpreter=python3\n",
        );
        let host = &groups.host_vars["pulls-staging.web-platform-tests.org"].values;
        assert_eq!(
            host["site_fqdn"],
            Value::from("pulls-staging.web-platform-tests.org")
        );
        assert!(
            groups.groups["ungrouped"]
                .hosts
                .contains("pulls-staging.web-platform-tests.org")
        );
        assert_eq!(
            groups.groups["all"].vars.values["ansible_python_interpreter"],
            Value::from("python3")
        );
    }

    #[test]
    fn host_line_values_are_typed_and_group_vars_are_strings() {
        let groups = load(
            "[web]\nweb1:2200 force=False note=\"two words\" check=false quoted=\"false\" n=3 f=1.5 v=1.2.3 none=None\n[web:vars]\nforce=false\n[prod:children]\nweb\n",
        );
        let web1 = &groups.host_vars["web1"].values;
        assert_eq!(web1["ansible_port"], Value::from(2200));
        assert_eq!(web1["force"], Value::Bool(false));
        assert_eq!(web1["note"], Value::from("two words"));
        // As Ansible reads them: Python literals, the rest text.
        assert_eq!(web1["check"], Value::from("false"));
        assert_eq!(web1["quoted"], Value::from("false"));
        assert_eq!(web1["n"], Value::from(3));
        assert_eq!(web1["f"], Value::from(1.5));
        assert_eq!(web1["v"], Value::from("1.2.3"));
        assert_eq!(web1["none"], Value::Null);
        assert_eq!(
            groups.groups["web"].vars.values["force"],
            Value::from("false")
        );
        assert!(groups.groups["prod"].children.contains("web"));
        assert_eq!(groups.groups["web"].vars.origins["force"].place, "inv:4");
    }

    #[test]
    fn errors_point_at_the_line() {
        let mut groups = Groups::default();
        let err = parse("[web]\nweb1 port\n", Path::new("inv/x"), &mut groups).unwrap_err();
        assert_eq!(
            err.to_string(),
            "inv/x:2: expected `key=value` after the host name, found `port`"
        );
        let err = parse("\n\n[web\n", Path::new("f"), &mut groups).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f:3: section header `[web` has no closing `]`"
        );
        let err = parse("web[1:3]\n", Path::new("f"), &mut groups).unwrap_err();
        assert!(err.to_string().contains("host ranges"));
    }
}
