//! `wptdeploy diff A B`: what differs between the live releases of two
//! environments, or (`diff ENV SHA1 SHA2`) between two releases of one:
//! the commits between them (from the local repository), the packages
//! their environments recorded (added, removed, changed), the revision
//! each database is at and the migrations one release has and the other
//! lacks, and the config keys that differ (a secret's value never shown,
//! only that it differs). Each environment is read with `releases.yml`,
//! one connection per host.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value as Json, json};

use super::Context;
use super::reading::{read, reading};
use super::state::{HostState, Release, one_release, short};
use super::vars::StateVars;
use crate::cli::DiffArgs;
use crate::error::{CommandError, Error};
use crate::migrations::graph::Graph;

/// One side of the comparison: a release, where it was read, and what its
/// host says of the database and the config.
struct Side<'a> {
    /// `staging`, or `staging 3f2a9c0d1e2b`.
    label: String,
    /// The host it was read from.
    host: &'a str,
    /// The release.
    release: &'a Release,
    /// The database's revisions (envs form only).
    database: Option<&'a Result<Vec<String>, String>>,
    /// The live release's config keys (envs form only).
    config: Option<&'a BTreeMap<String, String>>,
}

/// `wptdeploy diff`.
pub async fn run(args: DiffArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let wanted = StateVars {
        history_last: 50,
        releases_packages: true,
        releases_database: args.sha.is_none(),
        releases_config: args.sha.is_none(),
        ..StateVars::default()
    };
    let first = read(reading("diff", args.env.clone(), "releases.yml"), &wanted, cx).await?;
    let second;
    let (left, right) = if let Some(sha) = &args.sha {
        (
            release_side(&first, &args.env, &args.other)?,
            release_side(&first, &args.env, sha)?,
        )
    } else {
        second = read(reading("diff", args.other.clone(), "releases.yml"), &wanted, cx).await?;
        (live_side(&first, &args.env)?, live_side(&second, &args.other)?)
    };
    let commits = commits(&left.release.sha, &right.release.sha);
    let packages = packages(&left.release.package_set, &right.release.package_set);
    let migrations = migrations(left.release, right.release);
    let config = match (left.config, right.config) {
        (Some(l), Some(r)) => Some(config(l, r)),
        _ => None,
    };
    if cx.settings.json {
        crate::printer::json(&json!({ "event": "table", "data": {
            "left": side_json(&left), "right": side_json(&right),
            "commits": commits.as_ref().map_or(Json::Null, |c| json!(c)),
            "commits_error": commits.as_ref().err(),
            "packages": packages, "migrations": migrations, "config": config,
        }}));
        return Ok(());
    }
    let mut lines = vec![side_line(&left), side_line(&right), String::new()];
    match &commits {
        Ok(c) if c.is_empty() => lines.push("commits: the same".into()),
        Ok(c) => {
            lines.push(format!("commits ({}):", c.len()));
            lines.extend(c.iter().map(|l| format!("  {l}")));
        }
        Err(why) => lines.push(format!("commits: {why}")),
    }
    lines.extend(package_lines(&packages, left.release, right.release));
    lines.extend(migration_lines(&migrations, &left, &right));
    match &config {
        None => lines.push("config: not compared (only a live release's config is read)".into()),
        Some(keys) if keys.is_empty() => lines.push("config: the same keys and values".into()),
        Some(keys) => {
            lines.push(format!("config ({} keys differ):", keys.len()));
            lines.extend(keys.iter().map(|k| {
                format!(
                    "  {}: {}",
                    k["key"].as_str().unwrap_or_default(),
                    k["said"].as_str().unwrap_or_default()
                )
            }));
        }
    }
    crate::printer::data(lines);
    Ok(())
}

/// The live release of `env`'s first host that has one (hosts that
/// disagree are `status`'s to flag).
fn live_side<'a>(hosts: &'a [HostState], env: &str) -> Result<Side<'a>, Error> {
    hosts
        .iter()
        .find_map(|h| {
            h.live_release().map(|release| Side {
                label: env.to_owned(),
                host: &h.host,
                release,
                database: h.database.as_ref(),
                config: h.config.as_ref(),
            })
        })
        .ok_or_else(|| {
            CommandError::Release {
                message: format!("{env} has no live release"),
                hints: vec![format!("`wptdeploy {env}` deploys one")],
            }
            .into()
        })
}

/// The release of `env` that `sha` (a prefix) names.
fn release_side<'a>(hosts: &'a [HostState], env: &str, sha: &str) -> Result<Side<'a>, Error> {
    let (host, release) = one_release(hosts, env, sha)?[0];
    Ok(Side {
        label: format!("{env} {}", short(&release.sha)),
        host,
        release,
        database: None,
        config: None,
    })
}

/// `staging (web1): 3f2a9c0d1e2b, packages 0a1b2c3d4e5f, database at 2222`.
fn side_line(side: &Side<'_>) -> String {
    let database = match side.database {
        None => String::new(),
        Some(Err(error)) => format!(", database unreadable ({})", super::reading::first_line(error)),
        Some(Ok(revisions)) if revisions.is_empty() => ", database empty".into(),
        Some(Ok(revisions)) => format!(", database at {}", revisions.join(",")),
    };
    format!(
        "{} ({}): {}, packages {}, schema {}{database}",
        side.label,
        side.host,
        short(&side.release.sha),
        side.release.packages.as_deref().unwrap_or("not recorded"),
        side.release.schema.as_deref().unwrap_or("none"),
    )
}

fn side_json(side: &Side<'_>) -> Json {
    json!({
        "label": side.label, "host": side.host, "sha": side.release.sha,
        "packages": side.release.packages, "schema": side.release.schema,
        "database": side.database.map(|d| match d {
            Ok(revisions) => json!({ "revision": revisions }),
            Err(error) => json!({ "error": error }),
        }),
    })
}

/// The commits from the left release to the right one, and back, as
/// `git log --oneline` gives them in the local repository.
fn commits(left: &str, right: &str) -> Result<Vec<String>, String> {
    if left == right {
        return Ok(Vec::new());
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    for sha in [left, right] {
        if git(&["cat-file", "-e", &format!("{sha}^{{commit}}")]).is_none() {
            return Err(format!(
                "{} is not in the local repository (`git fetch` gets it)",
                short(sha)
            ));
        }
    }
    let mut lines = Vec::new();
    for (from, to, mark) in [(left, right, "+"), (right, left, "-")] {
        let log = git(&["log", "--oneline", "--no-decorate", &format!("{from}..{to}")])
            .unwrap_or_default();
        lines.extend(log.lines().map(|l| format!("{mark} {l}")));
    }
    Ok(lines)
}

/// A set's requirements by package name (`flask==3.1.0` → `flask`).
fn by_name(set: &[String]) -> BTreeMap<String, String> {
    set.iter()
        .map(|line| {
            let spec = line.trim_start_matches("# ").trim_end_matches(" from a local directory");
            let name = spec
                .split(['=', ' ', '@'])
                .next()
                .unwrap_or(spec)
                .to_owned();
            (name, spec.to_owned())
        })
        .collect()
}

/// The packages added, removed and changed from the left set to the right.
fn packages(left: &[String], right: &[String]) -> Json {
    let (l, r) = (by_name(left), by_name(right));
    let added: Vec<&String> = r.iter().filter(|(n, _)| !l.contains_key(*n)).map(|(_, s)| s).collect();
    let removed: Vec<&String> = l.iter().filter(|(n, _)| !r.contains_key(*n)).map(|(_, s)| s).collect();
    let changed: Vec<Json> = l
        .iter()
        .filter_map(|(name, from)| {
            let to = r.get(name)?;
            (to != from).then(|| json!({ "name": name, "from": from, "to": to }))
        })
        .collect();
    json!({
        "recorded": !left.is_empty() && !right.is_empty(),
        "added": added, "removed": removed, "changed": changed,
    })
}

fn package_lines(packages: &Json, left: &Release, right: &Release) -> Vec<String> {
    if packages["recorded"] != true {
        return vec![
            "packages: not compared (a release's environment recorded no set: deploying it again records one)".into(),
        ];
    }
    if left.packages == right.packages {
        return vec![format!(
            "packages: the same set ({})",
            left.packages.as_deref().unwrap_or_default()
        )];
    }
    let list = |key: &str| packages[key].as_array().cloned().unwrap_or_default();
    let (added, removed, changed) = (list("added"), list("removed"), list("changed"));
    let mut lines = vec![format!(
        "packages ({} changed, {} added, {} removed):",
        changed.len(),
        added.len(),
        removed.len()
    )];
    lines.extend(changed.iter().map(|c| {
        format!(
            "  ~ {} -> {}",
            c["from"].as_str().unwrap_or_default(),
            c["to"].as_str().unwrap_or_default()
        )
    }));
    lines.extend(added.iter().map(|a| format!("  + {}", a.as_str().unwrap_or_default())));
    lines.extend(removed.iter().map(|r| format!("  - {}", r.as_str().unwrap_or_default())));
    lines
}

/// The migrations (revision and file) each release has that the other lacks.
fn migrations(left: &Release, right: &Release) -> Json {
    let revisions = |r: &Release| -> BTreeMap<String, String> {
        Graph::from_files(r.files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
            .nodes
            .into_values()
            .map(|node| (node.id, node.file))
            .collect()
    };
    let (l, r) = (revisions(left), revisions(right));
    let only = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| -> Vec<Json> {
        a.iter()
            .filter(|(rev, _)| !b.contains_key(*rev))
            .map(|(rev, file)| json!({ "revision": rev, "file": file }))
            .collect()
    };
    json!({ "right_only": only(&r, &l), "left_only": only(&l, &r) })
}

fn migration_lines(migrations: &Json, left: &Side<'_>, right: &Side<'_>) -> Vec<String> {
    let list = |key: &str| migrations[key].as_array().cloned().unwrap_or_default();
    let (right_only, left_only) = (list("right_only"), list("left_only"));
    if right_only.is_empty() && left_only.is_empty() {
        return vec!["migrations: the same files".into()];
    }
    let mut lines = Vec::new();
    for (items, who, other) in [(&right_only, right, left), (&left_only, left, right)] {
        if items.is_empty() {
            continue;
        }
        lines.push(format!(
            "migrations {}'s release has and {}'s has not ({}):",
            who.label,
            other.label,
            items.len()
        ));
        lines.extend(items.iter().map(|m| {
            format!(
                "  {} ({})",
                m["revision"].as_str().unwrap_or_default(),
                m["file"].as_str().unwrap_or_default()
            )
        }));
    }
    lines
}

/// The config keys whose values differ (a secret's: only that it does).
fn config(left: &BTreeMap<String, String>, right: &BTreeMap<String, String>) -> Vec<Json> {
    let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (l, r) = (left.get(key), right.get(key));
            if l == r {
                return None;
            }
            let secret = [l, r]
                .into_iter()
                .flatten()
                .any(|v| v.starts_with("sha256:"));
            let shown = |v: Option<&String>| v.map_or_else(|| "(absent)".to_owned(), Clone::clone);
            let said = if secret {
                match (l, r) {
                    (Some(_), Some(_)) => "(secret; differs)".to_owned(),
                    (None, _) => "(secret; only on the right)".to_owned(),
                    (_, None) => "(secret; only on the left)".to_owned(),
                }
            } else {
                format!("{} -> {}", shown(l), shown(r))
            };
            Some(json!({
                "key": key, "secret": secret, "said": said,
                "left": if secret { Json::Null } else { json!(l) },
                "right": if secret { Json::Null } else { json!(r) },
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| (*l).to_owned()).collect()
    }

    #[test]
    fn packages_are_added_removed_and_changed_by_name() {
        let diff = packages(
            &set(&["click==8.1.7", "flask==3.0.0", "# wptdash==0.1 from a local directory"]),
            &set(&["blinker==1.9.0", "flask==3.1.0", "# wptdash==0.1 from a local directory"]),
        );
        assert_eq!(diff["added"], json!(["blinker==1.9.0"]));
        assert_eq!(diff["removed"], json!(["click==8.1.7"]));
        assert_eq!(
            diff["changed"],
            json!([{ "name": "flask", "from": "flask==3.0.0", "to": "flask==3.1.0" }])
        );
    }

    #[test]
    fn a_secret_config_value_is_never_shown() {
        let left = BTreeMap::from([
            ("app.env".to_owned(), "staging".to_owned()),
            ("db.password".to_owned(), "sha256:0123456789ab".to_owned()),
        ]);
        let right = BTreeMap::from([
            ("app.env".to_owned(), "production".to_owned()),
            ("db.password".to_owned(), "sha256:ba9876543210".to_owned()),
        ]);
        let keys = config(&left, &right);
        assert_eq!(keys[0]["said"], "staging -> production");
        assert_eq!(keys[1]["said"], "(secret; differs)");
        assert!(!keys[1].to_string().contains("0123456789ab"));
    }
}
