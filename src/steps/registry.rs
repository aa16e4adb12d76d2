//! Every step kind, one line each: what playbooks may use, how each is
//! parsed, and the table in the docs.

use std::sync::Arc;

use super::kind::{Place, StepAction, StepKind, parse};
use super::{
    app, backup, checkout, columns, confirm, directory, ensure, fetch, healthcheck, history, local,
    lock, logs, migrations, own, prune, publish, releases, reload, restart, restore, run, say,
    shared, shell, sql_lint, switch, template, upload, virtualenv,
};

/// A registered kind.
pub struct Entry {
    /// Its key in a playbook.
    pub key: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Where its command runs.
    pub place: Place,
    /// Whether `background:` applies.
    pub background: bool,
    /// Whether `changes:` applies.
    pub changes_key: bool,
    /// Parses and checks its arguments.
    pub parse: fn(serde_yaml::Value) -> Result<Arc<dyn StepAction>, String>,
}

const fn entry<K: StepKind>() -> Entry {
    Entry {
        key: K::KEY,
        summary: K::SUMMARY,
        place: K::PLACE,
        background: K::BACKGROUND,
        changes_key: K::CHANGES_KEY,
        parse: parse::<K>,
    }
}

/// The kinds, in the order the docs list them.
pub const KINDS: &[Entry] = &[
    entry::<run::Run>(),
    entry::<lock::Lock>(),
    entry::<checkout::CheckoutKind>(),
    entry::<virtualenv::VirtualenvKind>(),
    entry::<shared::SharedKind>(),
    entry::<template::TemplateKind>(),
    entry::<publish::PublishKind>(),
    entry::<switch::SwitchKind>(),
    entry::<prune::PruneKind>(),
    entry::<own::OwnKind>(),
    entry::<restart::Restart>(),
    entry::<reload::Reload>(),
    entry::<app::AppKind>(),
    entry::<healthcheck::HealthcheckKind>(),
    entry::<migrations::MigrationsKind>(),
    entry::<sql_lint::SqlLintKind>(),
    entry::<columns::ColumnsKind>(),
    entry::<fetch::FetchKind>(),
    entry::<backup::BackupKind>(),
    entry::<restore::RestoreKind>(),
    entry::<upload::UploadKind>(),
    entry::<local::Local>(),
    entry::<say::Say>(),
    entry::<confirm::ConfirmKind>(),
    entry::<directory::DirectoryKind>(),
    entry::<ensure::EnsureKind>(),
    entry::<history::HistoryKind>(),
    entry::<releases::ReleasesKind>(),
    entry::<logs::LogsKind>(),
    entry::<shell::ShellKind>(),
];

/// The kind with key `key`.
pub fn find(key: &str) -> Option<&'static Entry> {
    KINDS.iter().find(|k| k.key == key)
}

/// The keys, in order.
pub fn keys() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.key)
}

/// The Markdown table of kinds that docs/playbooks.md holds.
pub fn docs_table() -> String {
    let mut out = String::from("| kind | what it does |\n|---|---|\n");
    for kind in KINDS {
        out.push_str(&format!("| `{}:` | {} |\n", kind.key, kind.summary));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<&str> = keys().collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), KINDS.len());
    }

    #[test]
    fn the_docs_list_every_kind() {
        let docs = include_str!("../../docs/playbooks.md");
        assert!(
            docs.contains(&docs_table()),
            "docs/playbooks.md must hold the table of kinds; it is:\n{}",
            docs_table()
        );
    }
}
