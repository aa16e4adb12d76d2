//! Variable files as Ansible reads them: `group_vars/NAME` and
//! `host_vars/NAME` as a file (`NAME`, `NAME.yml`, `NAME.yaml`,
//! `NAME.json`) or a directory of such files; whole files encrypted with
//! ansible-vault, and inline `!vault |` values.

use std::path::{Path, PathBuf};

use fs_err as fs;
use serde_yaml::Value;

use super::error::InventoryError;
use super::model::{Sourced, Vars};
use crate::vault::{Vault, VaultError};

/// The extensions Ansible reads in vars directories ("" is none at all).
const EXTENSIONS: [&str; 4] = ["", "yml", "yaml", "json"];

/// The variables of `dir/name`, as Ansible finds them: every file of the
/// directory `dir/name/` (recursively, in name order), then the files
/// `dir/name`, `name.yml`, `name.yaml` and `name.json` (so a vault in
/// `group_vars/all/` and an `all.yml` beside it both count, the file's
/// values over the directory's).
pub fn read_entry(dir: &Path, name: &str, vault: &Vault) -> Result<Sourced, InventoryError> {
    let as_dir = dir.join(name);
    let mut files: Vec<PathBuf> = Vec::new();
    if as_dir.is_dir() {
        collect_files(&as_dir, &mut files)?;
        files.sort();
    }
    files.extend(
        EXTENSIONS
            .iter()
            .map(|ext| match *ext {
                "" => dir.join(name),
                ext => dir.join(format!("{name}.{ext}")),
            })
            .filter(|p| p.is_file()),
    );
    let mut vars = Sourced::default();
    for file in files {
        vars.extend(read_file(&file, vault)?);
    }
    Ok(vars)
}

/// One YAML or JSON file of variables, decrypted if it is a vault, with
/// its inline `!vault` values opened (or, without a password, left locked:
/// using one is then an error that names it).
pub fn read_file(file: &Path, vault: &Vault) -> Result<Sourced, InventoryError> {
    let text = fs::read_to_string(file)?;
    let origin = file.display().to_string();
    let (text, vaulted) = if crate::vault::is_vault(&text) {
        (vault.decrypt(&text, &origin)?, true)
    } else {
        (text, false)
    };
    let parsed: Option<Vars> =
        serde_yaml::from_str(&text).map_err(|e| InventoryError::from_yaml(file, &e))?;
    let mut vars = Sourced::from_yaml_file(parsed.unwrap_or_default(), file, &text, vaulted);
    for (name, value) in &mut vars.values {
        let place = vars
            .origins
            .get(name)
            .map_or(origin.clone(), |o| o.place.clone());
        if open_inline(value, vault, &format!("{place} (`{name}`)"))?
            && let Some(origin) = vars.origins.get_mut(name)
        {
            origin.vaulted = true;
        }
    }
    Ok(vars)
}

/// Replaces the `!vault` values inside `value` by their plaintext; true if
/// there were any. Without a password they stay as they are.
fn open_inline(value: &mut Value, vault: &Vault, origin: &str) -> Result<bool, VaultError> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "vault" => {
            let Value::String(text) = &tagged.value else {
                return Err(VaultError::Malformed {
                    origin: origin.to_owned(),
                    why: "a `!vault` value must be the text ansible-vault encrypt_string printed"
                        .into(),
                });
            };
            match vault.decrypt(text, origin) {
                Ok(plain) => *value = Value::String(plain),
                Err(VaultError::NoPassword { .. }) => {}
                Err(other) => return Err(other),
            }
            Ok(true)
        }
        Value::Sequence(items) => {
            let mut any = false;
            for item in items {
                any |= open_inline(item, vault, origin)?;
            }
            Ok(any)
        }
        Value::Mapping(map) => {
            let mut any = false;
            for (_, item) in map.iter_mut() {
                any |= open_inline(item, vault, origin)?;
            }
            Ok(any)
        }
        _ => Ok(false),
    }
}

/// Files Ansible reads from a vars directory: not hidden, not backups, and
/// with no extension or a YAML/JSON one (so `vault.sample` is skipped).
fn collect_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, found)?;
            continue;
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if EXTENSIONS.contains(&extension) {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_yields_the_files_ansible_reads_and_skips_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let all = tmp.path().join("all");
        fs::create_dir_all(&all).unwrap();
        fs::write(all.join("vars.yml"), "a: 1\nb: two\n").unwrap();
        fs::write(all.join("more"), "c: 3\n").unwrap();
        fs::write(all.join("vault.sample"), "not: [yaml\n").unwrap();
        fs::write(all.join("README.md"), "# notes: {\n").unwrap();
        fs::write(all.join("vars.yml~"), "a: backup\n").unwrap();
        let vars = read_entry(tmp.path(), "all", &Vault::default()).unwrap();
        assert_eq!(vars.values.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(
            vars.origins["b"].place.ends_with("all/vars.yml:2"),
            "{:?}",
            vars.origins["b"]
        );
    }

    #[test]
    fn a_directory_and_a_file_of_the_same_name_both_count_the_file_last() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("all")).unwrap();
        fs::write(
            tmp.path().join("all/vault"),
            "db_password: from-dir\nonly_dir: 1\n",
        )
        .unwrap();
        fs::write(
            tmp.path().join("all.yml"),
            "db_password: from-file\nonly_file: 2\n",
        )
        .unwrap();
        let vars = read_entry(tmp.path(), "all", &Vault::default()).unwrap();
        assert_eq!(
            vars.values.keys().collect::<Vec<_>>(),
            ["db_password", "only_dir", "only_file"]
        );
        assert_eq!(vars.values["db_password"], Value::from("from-file"));
    }

    #[test]
    fn an_inline_vault_without_a_password_stays_locked_until_used() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join("web.yml"),
            "plain: x\ntoken: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3630\n",
        )
        .unwrap();
        let vars = read_entry(tmp.path(), "web", &Vault::default()).unwrap();
        assert!(matches!(vars.values["token"], Value::Tagged(_)));
        assert!(vars.origins["token"].vaulted);
        assert!(!vars.origins["plain"].vaulted);
    }
}
