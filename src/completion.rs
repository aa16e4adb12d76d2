//! What the shells complete, asked of wptdeploy as the person types
//! (clap_complete's dynamic completion: the shell's script calls
//! `COMPLETE=SHELL wptdeploy -- WORDS`): environment names from the
//! inventory, `--commit` from this checkout's branches and tags,
//! `--limit` from the inventory's host and group names, `--table` from
//! the tables the checkout's models map. The inventory is
//! the one a command would use here (`WPTDEPLOY_INVENTORY`, else
//! `./inventory`, else `./ansible/inventory`); nothing is decrypted and
//! nothing is contacted. A failure completes nothing.

use std::ffi::OsStr;
use std::path::PathBuf;

use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter, CompletionCandidate};

/// Environment names: `wptdeploy sta<TAB>`.
pub fn environments() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        crate::inventory::names(inventory().as_deref())
            .environments
            .into_iter()
            .map(CompletionCandidate::new)
            .collect()
    })
}

/// Branches and tags of the checkout here (the remote's branches
/// without their `origin/`): `--commit ma<TAB>`.
pub fn refs() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Ok(out) = std::process::Command::new("git")
            .args([
                "for-each-ref",
                "--format=%(refname)",
                "refs/heads",
                "refs/tags",
                "refs/remotes",
            ])
            .stderr(std::process::Stdio::null())
            .output()
        else {
            return Vec::new();
        };
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|r| {
                r.strip_prefix("refs/heads/")
                    .or_else(|| r.strip_prefix("refs/tags/"))
                    .or_else(|| {
                        r.strip_prefix("refs/remotes/")
                            .and_then(|rest| rest.split_once('/').map(|(_, branch)| branch))
                    })
            })
            .filter(|name| *name != "HEAD")
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        names.into_iter().map(CompletionCandidate::new).collect()
    })
}

/// Host and group names, after any already typed (`web1,we<TAB>`).
pub fn hosts() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let current = current.to_string_lossy();
        let (typed, last) = match current.rfind([',', ':']) {
            Some(at) => current.split_at(at + 1),
            None => ("", current.as_ref()),
        };
        crate::inventory::names(inventory().as_deref())
            .hosts_and_groups
            .into_iter()
            .filter(|name| name.starts_with(last))
            .map(|name| CompletionCandidate::new(format!("{typed}{name}")))
            .collect()
    })
}

/// The tables the models of the checkout here map: `--table pu<TAB>`.
pub fn tables() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let files = crate::project::python_files(std::path::Path::new("."));
        let mut tables: Vec<String> = crate::migrations::models::read(&files)
            .into_iter()
            .map(|model| model.table)
            .collect();
        tables.sort();
        tables.dedup();
        tables.into_iter().map(CompletionCandidate::new).collect()
    })
}

fn inventory() -> Option<PathBuf> {
    std::env::var_os("WPTDEPLOY_INVENTORY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
