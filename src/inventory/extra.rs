//! `-e`/`--extra-vars`, as `ansible-playbook` reads them: `key=value` pairs
//! are strings (`-e force=false` is the string `false`, which `| bool`
//! reads as false); `{...}` is YAML or JSON, typed; `@file` reads a YAML or
//! JSON file (vault-encrypted or not), typed.

use std::path::Path;

use serde_yaml::Value;

use super::error::InventoryError;
use super::ini::{split_words, unquote};
use super::model::{Origin, Sourced, Vars};
use super::vars_file;
use crate::vault::Vault;

/// The variables of every `-e` argument, later ones winning.
pub fn extra_vars(args: &[String], vault: &Vault) -> Result<Sourced, InventoryError> {
    let mut vars = Sourced::default();
    for arg in args {
        // Only the start of the argument is shown: its values may be secrets.
        let shown = match arg.split_once('=') {
            Some((key, _)) if !arg.trim_start().starts_with(['{', '@']) => format!("{key}=..."),
            _ => arg.chars().take(24).collect(),
        };
        let bad = |message: String| InventoryError::ExtraVars {
            arg: shown.clone(),
            message,
        };
        let trimmed = arg.trim_start();
        if let Some(file) = trimmed.strip_prefix('@') {
            let path = Path::new(file);
            if !path.is_file() {
                return Err(bad(format!("there is no file {file}")));
            }
            vars.extend(vars_file::read_file(path, vault)?);
        } else if trimmed.starts_with('{') {
            let parsed: Vars = serde_yaml::from_str(trimmed)
                .map_err(|e| bad(format!("not a YAML or JSON mapping: {e}")))?;
            vars.extend(Sourced::all_from(parsed, &Origin::at("-e")));
        } else {
            for word in split_words(trimmed).map_err(bad)? {
                let (key, value) = word.split_once('=').ok_or_else(|| {
                    bad("a word in it is not `key=value` (to give a value with spaces, quote it: `key=\"a b\"`)".into())
                })?;
                if !is_variable_name(key) {
                    return Err(bad(format!("`{key}` is not a variable name")));
                }
                vars.insert(key, Value::String(unquote(value)), Origin::at("-e"));
            }
        }
    }
    Ok(vars)
}

fn is_variable_name(name: &str) -> bool {
    crate::transport::command::is_env_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Vars, InventoryError> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        extra_vars(&args, &Vault::default()).map(|s| s.values)
    }

    #[test]
    fn key_value_pairs_are_strings_and_json_is_typed() {
        let vars = parse(&[
            "force=false",
            "restart_command=true n=3",
            "msg='two words'",
            r#"{"typed": false, "n": 3}"#,
        ])
        .unwrap();
        assert_eq!(vars["force"], Value::from("false"));
        assert_eq!(vars["restart_command"], Value::from("true"));
        assert_eq!(vars["n"], Value::from(3));
        assert_eq!(vars["msg"], Value::from("two words"));
        assert_eq!(vars["typed"], Value::Bool(false));
    }

    #[test]
    fn files_are_typed_and_bad_arguments_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("vars.json");
        fs_err::write(&file, r#"{"keep": 2, "on": true}"#).unwrap();
        let vars = parse(&[&format!("@{}", file.display())]).unwrap();
        assert_eq!(vars["keep"], Value::from(2));
        assert_eq!(vars["on"], Value::Bool(true));
        let err = parse(&["novalue"]).unwrap_err().to_string();
        assert!(
            err.starts_with("`-e novalue`: a word in it is not `key=value`"),
            "{err}"
        );
        let err = parse(&["cmd=echo s3cret-value"]).unwrap_err().to_string();
        assert!(
            err.starts_with("`-e cmd=...`:") && !err.contains("s3cret"),
            "{err}"
        );
        assert!(
            parse(&["@/nonexistent.yml"])
                .unwrap_err()
                .to_string()
                .contains("no file")
        );
        assert!(parse(&["a-b=1"]).is_err());
    }
}
