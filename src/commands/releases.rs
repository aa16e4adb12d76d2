//! Seeing what the hosts have, each a read-only run of a built-in playbook
//! ([`super::reading`])
//! whose read steps return data (one connection per host):
//!
//! - `wptdeploy status ENV`: per host, the live and previous release, the
//!   lock holder, the database against the live release's schema (drift
//!   flagged), the free disk; hosts that disagree on the live release flagged;
//! - `wptdeploy releases ENV`: one table of releases (hosts merged when they
//!   agree, differences said), with ref, deployed at and by, schema, status
//!   and size;
//! - `wptdeploy history ENV [-n N] [--host H]`: the hosts' records of the
//!   runs that changed them, newest first (the same run on several hosts is
//!   one row).
//!
//! With `--output json`, the hosts' data is in their `host_finished` events
//! and one last line holds what the table shows.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::Context;
use super::reading::{first_line, read, reading};
use super::session::Session;
use super::state::{HostState, Record, Release, Unfinished, one_release, short};
use super::vars::StateVars;
use crate::cli::{EnvArgs, HistoryArgs, ReleasesArgs};
use crate::error::{CommandError, Error};

/// Prints `rows` (the first is the header) as aligned columns, or, with
/// `--output json`, `value` as one line.
fn show(cx: &Context<'_>, rows: &[Vec<String>], value: &serde_json::Value) {
    if cx.settings.json {
        crate::printer::json(&json!({ "event": "table", "data": value }));
    } else {
        crate::printer::data(crate::printer::columns(rows));
    }
}

/// `wptdeploy status ENV`.
pub async fn status(args: EnvArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let wanted = StateVars {
        history_last: 50,
        releases_sizes: false,
        releases_database: true,
        releases_sources: false,
        ..StateVars::default()
    };
    let hosts = read(reading("status", args.env.clone(), "releases.yml"), &wanted, cx).await?;
    let tested = match super::promotion::source(&args.env, &cx.extra_vars(), false, cx) {
        Some((from, _)) => Some((
            super::promotion::read_sets(&from, false, cx)
                .await
                .map_err(|e| first_line(&cx.redactor.apply(&e.to_string())).to_owned()),
            from,
        )),
        None => None,
    };
    let mut rows = vec![
        ["host", "live", "previous", "packages", "lock", "database", "free"]
            .map(str::to_owned)
            .to_vec(),
    ];
    let mut out = Vec::new();
    let mut untested_on = Vec::new();
    for host in &hosts {
        let live = host.live.as_deref().unwrap_or_default();
        let live_release = host.releases.iter().find(|r| r.sha == live);
        let expects = live_release.and_then(|r| r.schema.clone());
        let database = match &host.database {
            None => "-".to_owned(),
            Some(Err(error)) => format!("cannot read: {}", first_line(error)),
            Some(Ok(revisions)) => {
                let at = if revisions.is_empty() {
                    "empty".to_owned()
                } else {
                    revisions.join(",")
                };
                match &expects {
                    Some(head) if *head == revisions.join(",") => {
                        format!("{at} (as the live release)")
                    }
                    None if revisions.is_empty() => "empty (as the live release)".to_owned(),
                    expected => format!(
                        "DRIFT: at {at}, the live release expects {}",
                        expected.as_deref().unwrap_or("no migrations")
                    ),
                }
            }
        };
        let lock = host.lock.as_ref().map_or_else(
            || "free".to_owned(),
            |l| {
                let stale = l
                    .stale()
                    .map(|why| format!("; STALE: {why}: `wptdeploy unlock` removes it"))
                    .unwrap_or_default();
                format!(
                    "held by {} for {}s ({}){stale}",
                    l.who.as_deref().unwrap_or("?"),
                    l.age_s.unwrap_or(0),
                    l.command.as_deref().unwrap_or("?")
                )
            },
        );
        let previous = host.previous().map(|r| r.sha.clone());
        let packages = live_release.and_then(|r| r.packages.clone());
        let (packages_said, untested) = against_tested(live_release, tested.as_ref());
        if untested {
            untested_on.push(host.host.clone());
        }
        rows.push(vec![
            host.host.clone(),
            described(host, live),
            previous
                .as_deref()
                .map_or_else(|| "-".to_owned(), |p| described(host, p)),
            packages_said.clone(),
            lock.clone(),
            database.clone(),
            host.free_kb
                .map_or_else(|| "-".to_owned(), |kb| crate::steps::human_bytes(kb * 1024)),
        ]);
        out.push(json!({
            "host": host.host, "live": host.live, "previous": previous, "lock": lock,
            "database": database, "drift": database.starts_with("DRIFT"), "free_kb": host.free_kb,
            "packages": packages, "packages_said": packages_said, "untested_packages": untested,
        }));
    }
    show(cx, &rows, &json!({ "status": out }));
    let lives: BTreeMap<&str, Vec<&str>> = hosts.iter().fold(BTreeMap::new(), |mut m, h| {
        m.entry(h.live.as_deref().unwrap_or("none"))
            .or_insert_with(Vec::new)
            .push(h.host.as_str());
        m
    });
    if lives.len() > 1 {
        let said: Vec<String> = lives
            .iter()
            .map(|(sha, on)| format!("{} on {}", short(sha), on.join(", ")))
            .collect();
        crate::printer::note(
            cx.settings,
            &format!(
                "the hosts disagree on the live release: {}",
                said.join("; ")
            ),
        );
    }
    if let (false, Some((_, from))) = (untested_on.is_empty(), &tested) {
        crate::printer::note(
            cx.settings,
            &format!(
                "{}: the live release's packages are not the set {from} tested for the same commit; `wptdeploy diff {from} {}` shows which, and `wptdeploy {} --commit SHA --force` installs the tested set",
                untested_on.join(", "),
                args.env,
                args.env
            ),
        );
    }
    for host in &hosts {
        if let Some(said) = unfinished_run(host, &args.env) {
            crate::printer::note(cx.settings, &said);
        }
    }
    Ok(())
}

/// The live release's set of packages, against the set the environment
/// it was promoted from tested for the same commit (`tested`: that
/// environment's hosts, or why they could not be read, and its name);
/// and whether they differ.
fn against_tested(
    live: Option<&Release>,
    tested: Option<&(Result<Vec<HostState>, String>, String)>,
) -> (String, bool) {
    let Some(release) = live else {
        return ("-".into(), false);
    };
    let Some(set) = release.packages.as_deref() else {
        return ("not recorded".into(), false);
    };
    let Some((hosts, from)) = tested else {
        return (set.to_owned(), false);
    };
    let hosts = match hosts {
        Ok(hosts) => hosts,
        Err(why) => return (format!("{set} ({from} unreadable: {why})"), false),
    };
    let theirs: BTreeSet<&str> = hosts
        .iter()
        .flat_map(|h| h.releases.iter())
        .filter(|r| r.sha == release.sha)
        .filter_map(|r| r.packages.as_deref())
        .collect();
    if theirs.is_empty() {
        (format!("{set} (not tested on {from})"), false)
    } else if theirs.contains(set) {
        (format!("{set} (as {from} tested)"), false)
    } else {
        let theirs: Vec<&str> = theirs.into_iter().collect();
        (
            format!("UNTESTED: {set}, {from} tested {} for this commit", theirs.join(",")),
            true,
        )
    }
}

/// What a host's newest record says when its run did not end: a run
/// killed leaves the live release unchecked.
fn unfinished_run(host: &HostState, env: &str) -> Option<String> {
    let record = host.history.last()?;
    let started = format!(
        "{}: the run started at {} by {} (`{}`)",
        host.host,
        when(&record.time),
        record.by,
        record.command
    );
    Some(match record.unfinished()? {
        Unfinished::Running => format!("{started} is still running"),
        Unfinished::Unknown => format!(
            "{started} has not finished: it runs on another machine, or was killed there"
        ),
        Unfinished::NeverFinished => format!(
            "{started} never finished (killed, or its machine or connection lost): what it did is unknown and the live release was not checked; `wptdeploy {}` deploys and checks it again",
            crate::transport::quote(env)
        ),
    })
}

/// `3f2a9c0d1e2b (main)`: a release with the ref it was deployed as.
fn described(host: &HostState, sha: &str) -> String {
    if sha.is_empty() {
        return "-".into();
    }
    match host.ref_of(sha) {
        Some(reference) if !sha.starts_with(&reference) => format!("{} ({reference})", short(sha)),
        _ => short(sha).to_owned(),
    }
}


/// `wptdeploy releases ENV [--packages SHA]`.
pub async fn run(args: ReleasesArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let wanted = StateVars {
        history_last: 0,
        releases_sizes: args.packages.is_none(),
        releases_packages: args.packages.is_some(),
        ..StateVars::default()
    };
    let hosts = read(reading("releases", args.env.clone(), "releases.yml"), &wanted, cx).await?;
    if let Some(sha) = &args.packages {
        return package_set(&hosts, sha, &args.env, cx);
    }
    let mut shas: Vec<(u64, String)> = Vec::new();
    for host in &hosts {
        for release in &host.releases {
            let time = release.time.unwrap_or(0);
            match shas.iter_mut().find(|(_, s)| *s == release.sha) {
                Some((t, _)) => *t = (*t).max(time),
                None => shas.push((time, release.sha.clone())),
            }
        }
    }
    shas.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
    let mut rows = vec![
        [
            "release",
            "ref",
            "deployed (UTC)",
            "by",
            "schema",
            "venv",
            "packages",
            "status",
            "size",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let mut out = Vec::new();
    for (_, sha) in &shas {
        let record = hosts.iter().find_map(|h| h.last_record_of(sha));
        let reference = hosts.iter().find_map(|h| h.ref_of(sha));
        let release = hosts
            .iter()
            .find_map(|h| h.releases.iter().find(|r| &r.sha == sha));
        let status = merged_status(&hosts, sha);
        rows.push(vec![
            short(sha).to_owned(),
            reference.clone().unwrap_or_else(|| "-".into()),
            record.map_or_else(|| "-".into(), |r| when(&r.time)),
            record.map_or_else(|| "-".into(), |r| r.by.clone()),
            release
                .and_then(|r| r.schema.clone())
                .unwrap_or_else(|| "-".into()),
            release
                .and_then(|r| r.venv.clone())
                .unwrap_or_else(|| "-".into()),
            release
                .and_then(|r| r.packages.clone())
                .unwrap_or_else(|| "-".into()),
            status.clone(),
            release
                .and_then(|r| r.size_kb)
                .map_or_else(|| "-".into(), |kb| crate::steps::human_bytes(kb * 1024)),
        ]);
        out.push(json!({
            "sha": sha, "ref": reference,
            "deployed_at": record.map(|r| r.time.clone()), "by": record.map(|r| r.by.clone()),
            "schema": release.and_then(|r| r.schema.clone()),
            "venv": release.and_then(|r| r.venv.clone()),
            "packages": release.and_then(|r| r.packages.clone()), "status": status,
            "size_kb": release.and_then(|r| r.size_kb),
        }));
    }
    show(cx, &rows, &json!({ "releases": out }));
    Ok(())
}

/// `releases ENV --packages SHA`: the set of packages the release recorded,
/// one requirement a line (the hosts' sets, when they differ, each said).
fn package_set(hosts: &[HostState], sha: &str, env: &str, cx: &Context<'_>) -> Result<(), Error> {
    let mut sets = one_release(hosts, env, sha)?;
    sets.retain(|(_, r)| r.packages.is_some());
    let Some((_, first)) = sets.first() else {
        return Err(CommandError::Release {
            message: format!("the release `{sha}` of {env} has no recorded set of packages (its environment was built before wptdeploy recorded sets, or was pruned)"),
            hints: vec![format!("deploying it again (`wptdeploy {env} --commit {sha}`) records the set of the environment it has")],
        }
        .into());
    };
    let differing: Vec<String> = sets
        .iter()
        .filter(|(_, r)| r.packages != first.packages)
        .map(|(host, r)| format!("{host} has set {}", r.packages.as_deref().unwrap_or("-")))
        .collect();
    if cx.settings.json {
        crate::printer::json(&json!({ "event": "table", "data": {
            "sha": first.sha, "packages": first.packages, "set": first.package_set,
            "hosts": sets.iter().map(|(h, r)| json!({"host": h, "packages": r.packages})).collect::<Vec<_>>(),
        }}));
    } else {
        crate::printer::data(first.package_set.iter().cloned());
    }
    if !differing.is_empty() {
        crate::printer::note(
            cx.settings,
            &format!(
                "the hosts' sets differ: {} has set {}; {}",
                sets[0].0,
                first.packages.as_deref().unwrap_or("-"),
                differing.join("; ")
            ),
        );
    }
    Ok(())
}

/// `live`, `previous`, `bad` or empty, the same on every host; else what
/// each host says (`live on web1; previous on web2`), and where it is missing.
fn merged_status(hosts: &[HostState], sha: &str) -> String {
    let mut by_status: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut missing = Vec::new();
    for host in hosts {
        if !host.releases.iter().any(|r| r.sha == sha) {
            missing.push(host.host.as_str());
            continue;
        }
        let status = if host.live.as_deref() == Some(sha) {
            "live"
        } else if host.previous().is_some_and(|r| r.sha == sha) {
            "previous"
        } else {
            ""
        };
        let bad = if host.is_bad(sha) { "bad" } else { "" };
        let said = [status, bad]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        by_status.entry(said).or_default().push(host.host.as_str());
    }
    let mut said = if by_status.len() == 1 {
        by_status.into_keys().next().unwrap_or_default()
    } else {
        by_status
            .iter()
            .map(|(status, on)| {
                let status = if status.is_empty() { "kept" } else { status };
                format!("{status} on {}", on.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !missing.is_empty() {
        if !said.is_empty() {
            said.push(' ');
        }
        said.push_str(&format!("(not on {})", missing.join(", ")));
    }
    if said.is_empty() { "-".into() } else { said }
}

/// `2026-12-02 10:40:00` from RFC 3339.
fn when(time: &str) -> String {
    time.trim_end_matches('Z').replacen('T', " ", 1)
}

/// `wptdeploy history ENV [-n N] [--host H]`.
pub async fn history(args: HistoryArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let wanted = StateVars {
        history_last: args.last,
        releases_sizes: false,
        releases_database: false,
        releases_sources: false,
        ..StateVars::default()
    };
    let session = Session {
        limit: args.host,
        ..reading("history", args.env.clone(), "history.yml")
    };
    let hosts = read(session, &wanted, cx).await?;
    let runs = merged_runs(&hosts);
    let shown: Vec<&(Record, Vec<String>)> = if args.last == 0 {
        runs.iter().collect()
    } else {
        runs.iter().take(args.last).collect()
    };
    let mut rows = vec![
        [
            "when (UTC)",
            "hosts",
            "by",
            "result",
            "release",
            "database",
            "took",
            "command",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for (record, on) in &shown {
        let release = match (&record.from, &record.sha) {
            (Some(from), Some(sha)) if !from.is_empty() && from != sha => {
                format!("{} -> {}", short(from), short(sha))
            }
            (_, Some(sha)) => short(sha).to_owned(),
            _ => "-".into(),
        };
        let database = match (&record.db_before, &record.db_after) {
            (Some(before), Some(after)) if before != after => format!("{before} -> {after}"),
            (Some(at), _) | (None, Some(at)) => at.clone(),
            (None, None) => "-".into(),
        };
        rows.push(vec![
            when(&record.time),
            on.join(","),
            record.by.clone(),
            record.shown_result(),
            release,
            database,
            format!("{:.1}s", record.ms as f64 / 1000.0),
            record.command.clone(),
        ]);
    }
    let records: Vec<serde_json::Value> = shown
        .iter()
        .map(|(record, on)| json!({ "record": record_json(record), "hosts": on }))
        .collect();
    show(cx, &rows, &json!({ "history": records }));
    Ok(())
}

/// Every host's records, newest first, the same run on several hosts
/// (same start, command, release and result) merged into one.
fn merged_runs(hosts: &[HostState]) -> Vec<(Record, Vec<String>)> {
    // Compared without host and duration; the longest duration is kept.
    let mut runs: Vec<(Record, u64, Vec<String>)> = Vec::new();
    for host in hosts {
        for record in &host.history {
            let key = Record {
                host: String::new(),
                ms: 0,
                ..record.clone()
            };
            match runs.iter_mut().find(|(r, _, _)| *r == key) {
                Some((_, ms, on)) => {
                    *ms = (*ms).max(record.ms);
                    on.push(host.host.clone());
                }
                None => runs.push((key, record.ms, vec![host.host.clone()])),
            }
        }
    }
    runs.sort_by(|a, b| b.0.time.cmp(&a.0.time));
    runs.into_iter()
        .map(|(record, ms, on)| (Record { ms, ..record }, on))
        .collect()
}

fn record_json(record: &Record) -> serde_json::Value {
    json!({
        "time": record.time, "by": record.by, "git": record.git, "command": record.command,
        "result": record.result, "unfinished": record.unfinished().map(|u| match u {
            crate::commands::state::Unfinished::Running => "running",
            crate::commands::state::Unfinished::NeverFinished => "never_finished",
            crate::commands::state::Unfinished::Unknown => "unknown",
        }), "error": record.error, "ms": record.ms, "ref": record.reference,
        "sha": record.sha, "from": record.from, "db_before": record.db_before,
        "db_after": record.db_after, "schema": record.schema, "backup": record.backup,
        "packages": record.packages, "packages_from": record.packages_from,
    })
}
