//! The contract between the commands and the built-in playbooks: the
//! variables each command sets, as typed structs. A command sets them over
//! `-e`; a playbook reading a variable that neither a command, the
//! inventory nor `vars.yml` provides stops the run before any connection
//! (`plan::build` renders every step that may run first).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::inventory::{Origin, Sourced};

/// Sets every field of `vars` (those not skipped) in `extra`, from the command line.
pub fn set(extra: &mut Sourced, vars: &impl Serialize) {
    let serde_yaml::Value::Mapping(map) =
        serde_yaml::to_value(vars).expect("the variables structs serialize")
    else {
        unreachable!("the variables structs are maps")
    };
    for (key, value) in map {
        if let serde_yaml::Value::String(key) = key {
            extra.insert(key, value, Origin::at("the command line"));
        }
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !b
}

/// `deploy.yml` (and the playbooks that import it).
#[derive(Debug, Default, Serialize)]
pub struct DeployVars {
    /// `--commit`: the ref to deploy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `--force`: rebuild an existing release.
    #[serde(skip_serializing_if = "is_false")]
    pub force: bool,
    /// `--migrate`: upgrade the database before the switch.
    #[serde(skip_serializing_if = "is_false")]
    pub migrate: bool,
    /// `--no-migrate` sets it false: deploy without the pending check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_pending_migrations: Option<bool>,
    /// `--allow RULE`: lint findings allowed, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_allow: Option<String>,
    /// `--compat-check`: the old release's health check after the upgrade.
    #[serde(skip_serializing_if = "is_false")]
    pub compat_check: bool,
}

/// `verify.yml`.
#[derive(Debug, Serialize)]
pub struct VerifyVars {
    /// The tables, comma-separated.
    pub verify_tables: String,
    /// What they must hold, comma-separated.
    pub verify_expect: String,
}

/// `migration-new.yml` and the checklist: generate a migration and pull it.
#[derive(Debug, Serialize)]
pub struct GenerateVars {
    /// The branch whose models changed.
    pub commit: String,
    /// Always true: the generated migration is applied.
    pub migrate: bool,
    /// `-m`: the migration's message.
    pub migration_message: String,
    /// `--rev-id` (empty: alembic picks one).
    pub migration_rev_id: String,
    /// The local directory the file is pulled into (absolute).
    pub migration_into: String,
    /// `--roundtrip`: downgrade and upgrade again.
    pub roundtrip: bool,
    /// `--allow-destructive`: a generated migration that drops data or
    /// that production's lint would stop on is applied without asking.
    pub allow_destructive: bool,
    /// Always true: the release live before is checked against the
    /// migrated database.
    pub compat_check: bool,
}

/// `checklist.yml`: what generating needs, and what its local steps run.
#[derive(Debug, Serialize)]
pub struct ChecklistVars {
    /// Generating the migration.
    #[serde(flatten)]
    pub generate: Option<GenerateVars>,
    /// This program with the options that find the same inventory, keys
    /// and passwords: how a local step runs wptdeploy again.
    pub wptdeploy_command: String,
    /// `$VISUAL` or `$EDITOR`, unless `-e editor=...` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub editor: Option<String>,
}

/// Text that is data, never rendered as a template (Ansible's `!unsafe`).
#[derive(Debug, Serialize)]
pub enum Raw {
    /// Serialized as the tagged value `!unsafe TEXT`.
    #[serde(rename = "unsafe")]
    Unsafe(String),
}

/// `exec.yml`: the command to run in the live release.
#[derive(Debug, Serialize)]
pub struct ExecVars {
    /// The command's words, each shell-quoted; braces in them are data.
    pub exec_command: Raw,
}

/// `migration-lint.yml`: the rules allowed, and the server version to
/// lint for.
#[derive(Debug, Serialize)]
pub struct LintVars {
    /// `--allow`, comma-separated.
    pub migration_allow: String,
    /// `--server-version`: lint for this PostgreSQL version instead of the
    /// host's (empty: the host's).
    pub lint_server_version: String,
    /// Migration files given here, each `NAME:PARENT:REVISION:BASE64`
    /// (`sql_lint:`'s `files`).
    pub lint_files: Vec<String>,
}

/// `migration-test.yml`: a locally edited migration file.
#[derive(Debug, Serialize)]
pub struct TestVars {
    /// What the file is (`revision`, `parent`, `tables`, `expect`, ...).
    pub pulled: BTreeMap<String, String>,
    /// Its text, base64-encoded.
    pub migration_text_b64: String,
    /// `--roundtrip`.
    pub roundtrip: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_was_given_is_set_and_it_wins_over_extra_vars() {
        let mut extra = Sourced::default();
        extra.insert("force", true.into(), Origin::at("-e"));
        set(
            &mut extra,
            &DeployVars {
                commit: Some("main".into()),
                migrate: true,
                ..DeployVars::default()
            },
        );
        assert_eq!(extra.values["commit"], serde_yaml::Value::from("main"));
        assert_eq!(extra.values["migrate"], serde_yaml::Value::from(true));
        assert_eq!(extra.values["force"], serde_yaml::Value::from(true));
        assert!(!extra.values.contains_key("check_pending_migrations"));
    }
}

/// `history.yml` and `releases.yml`: what to read.
#[derive(Debug, Default, Serialize)]
pub struct StateVars {
    /// How many of the newest history records (0: all).
    pub history_last: usize,
    /// Measure each release's size.
    pub releases_sizes: bool,
    /// Read the database's revision.
    pub releases_database: bool,
    /// Read the live release's migration files whole.
    pub releases_sources: bool,
    /// Read each release's set of packages whole.
    pub releases_packages: bool,
    /// Read the live release's config file (`config_path`).
    pub releases_config: bool,
}

/// `deploy.yml` with `rollback.yml`'s steps: the release to go back to, and
/// what to do to the database first.
#[derive(Debug, Default, Serialize)]
pub struct RollbackVars {
    /// The release (full SHA).
    pub commit: String,
    /// The revision to downgrade to (empty: no downgrade).
    pub rollback_downgrade_to: String,
    /// The database's revision before (for the downgrade's messages).
    pub rollback_db_revision: String,
    /// The backup file to restore (empty: none).
    pub rollback_restore: String,
    /// The tables the undone migrations touched (comma-separated).
    pub rollback_check_tables: String,
    /// Their columns once undone, as `columns:` `expect` takes them.
    pub rollback_check_expect: String,
}

/// `logs.yml`: how much to show.
#[derive(Debug, Serialize)]
pub struct LogsVars {
    /// Lines from the end.
    pub logs_lines: usize,
    /// Follow until interrupted.
    pub logs_follow: bool,
}
