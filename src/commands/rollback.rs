//! `wptdeploy rollback ENV [--to SHA|REF|-N] [--downgrade | --restore BACKUP]`:
//! puts an earlier release back, knowing what the database needs.
//!
//! 1. Reads every host in one run (`releases.yml`: releases, history, the
//!    database's revision, the live release's migration files).
//! 2. Picks the release (the previous good one, skipping those that failed
//!    their checks; or `--to`), the same on every host.
//! 3. Says which database case it is ([`DbCase`]): the same revision
//!    (code only), ahead by additive changes only (the old code runs),
//!    ahead by changes the old code cannot run against (refused unless
//!    `--downgrade` or `--restore`), or behind (refused).
//! 4. Runs the deploy playbook with `commit` that release (relinked, not
//!    rebuilt), with `rollback.yml`'s steps before the switch when the
//!    database goes back too.

use super::Context;
use super::reading::{first_line, read};
use super::session::Session;
use super::state::{HostState, Record, short};
use super::vars::{self, RollbackVars, StateVars};
use crate::cli::RollbackArgs;
use crate::error::CommandError;
use crate::error::Error;
use crate::migrations::rollback::{DbCase, classify};
use crate::playbook::{Playbook, PlaybookDirs, Step};
use crate::steps::SwitchKind;
use crate::template::Templates;
use crate::transport::quote;

/// Rolls back.
pub async fn run(args: RollbackArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let wanted = StateVars {
        history_last: 0,
        releases_sizes: false,
        releases_database: true,
        releases_sources: true,
        ..StateVars::default()
    };
    let reading = Session {
        name: "rollback",
        title: "reading {env} before the rollback",
        env: args.env.clone(),
        playbook: "releases.yml".into(),
        ..Session::default()
    };
    let hosts = read(reading, &wanted, cx).await?;
    let target = target(&hosts, args.to.as_deref())?;
    let env = quote(&args.env);
    let (case, db) = database_case(&hosts, &target)?;
    let to = short(&target);
    let mut plan = RollbackVars {
        commit: target.clone(),
        rollback_db_revision: db.join(","),
        ..RollbackVars::default()
    };
    let said = match (&case, args.downgrade, &args.restore) {
        (_, _, Some(backup)) => {
            plan.rollback_restore = backup_path(backup)?;
            format!(
                "restoring {} into the database before the switch to {to}",
                plan.rollback_restore
            )
        }
        (DbCase::Same, _, None) => {
            format!("the database is at {to}'s revision: the rollback is code only")
        }
        (
            DbCase::AheadDestructive { revisions, .. } | DbCase::AheadAdditive { revisions, .. },
            true,
            None,
        ) => {
            plan.rollback_downgrade_to = head_of(&hosts, &target);
            format!(
                "downgrading the database past {} with the live release's migrations, then switching to {to}",
                revisions.join(", ")
            )
        }
        (DbCase::AheadAdditive { revisions, .. }, false, None) => format!(
            "the database is ahead of {to} by {} migration(s) that only add ({}): {to}'s code runs against it, and they stay",
            revisions.len(),
            revisions.join(", ")
        ),
        (
            DbCase::AheadDestructive {
                revisions, reasons, ..
            },
            false,
            None,
        ) => {
            let mut hints = vec![format!(
                "`wptdeploy rollback {env} --to {to} --downgrade` runs their downgrade() with the live release's migrations first (after a backup on production)"
            )];
            if let Some(backup) = backup_before(&hosts, &target) {
                hints.push(format!(
                    "`wptdeploy rollback {env} --to {to} --restore {backup}` restores the backup taken before they ran (what was written since is lost)"
                ));
            }
            return Err(CommandError::Rollback {
                message: format!(
                    "the database is ahead of {to} by {} migration(s) that its code cannot run against: {}",
                    revisions.len(),
                    reasons.join("; ")
                ),
                hints,
            }
            .into());
        }
        (DbCase::Behind { head }, _, None) => {
            return Err(CommandError::Rollback {
                message: format!(
                    "{to} expects the database at {head}, and it is at {}: it has not had {to}'s migrations",
                    if db.is_empty() { "no revision".to_owned() } else { db.join(",") }
                ),
                hints: vec![format!(
                    "`wptdeploy {env} --commit {to} --migrate` upgrades it first (with a backup on production)"
                )],
            }
            .into());
        }
        (DbCase::Unknown { why }, _, None) => {
            return Err(CommandError::Rollback {
                message: format!("cannot tell whether {to}'s code runs against the database: {why}"),
                hints: vec![format!(
                    "`wptdeploy rollback {env} --to {to} --restore BACKUP` restores a backup first; `wptdeploy {env} --commit {to} --no-migrate` switches without looking"
                )],
            }
            .into());
        }
    };
    // Once the database went back, its columns are checked against what
    // the undone migrations' upgrade() found (read here, from their files).
    if let DbCase::AheadAdditive { undone, .. } | DbCase::AheadDestructive { undone, .. } = &case
        && !(plan.rollback_downgrade_to.is_empty() && plan.rollback_restore.is_empty())
    {
        let description = undone.description("");
        plan.rollback_check_tables
            .clone_from(&description["tables"]);
        plan.rollback_check_expect
            .clone_from(&description["unexpect"]);
    }
    if args.downgrade && plan.rollback_downgrade_to.is_empty() && args.restore.is_none() {
        crate::printer::note(
            cx.settings,
            "nothing to downgrade: `--downgrade` is not needed",
        );
    }
    crate::printer::note(cx.settings, &format!("rollback to {to}: {said}"));
    let mut extra = cx.extra_vars();
    vars::set(&mut extra, &plan);
    // The database steps only when the database goes back too.
    let database_too = !(plan.rollback_downgrade_to.is_empty() && plan.rollback_restore.is_empty());
    let session = Session {
        name: "rollback",
        title: "rolling {env} back to {commit}",
        deploys: true,
        rolls_back: true,
        env: args.env,
        extra,
        check: args.check,
        changes: true,
        reshape: database_too.then_some(with_database_steps as super::session::Reshape),
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}

/// The release to go back to, the same on every host.
fn target(hosts: &[HostState], to: Option<&str>) -> Result<String, Error> {
    let refuse = |message: String, hints: Vec<String>| -> Error {
        CommandError::Rollback { message, hints }.into()
    };
    let mut chosen: Vec<(String, &str)> = Vec::new();
    for host in hosts {
        let candidates = candidates(host);
        let sha = match to {
            None => candidates.first().cloned(),
            Some(n) if n.starts_with('-') => {
                let nth: usize = n[1..].parse().map_err(|_| {
                    refuse(
                        format!(
                            "`--to {n}`: say `-1`, `-2`, ... (the Nth release before the live one)"
                        ),
                        Vec::new(),
                    )
                })?;
                nth.checked_sub(1).and_then(|i| candidates.get(i).cloned())
            }
            Some(given) => named(host, given),
        };
        let Some(sha) = sha else {
            let what = to.map_or_else(
                || "no release to go back to".to_owned(),
                |t| format!("no `{t}`"),
            );
            return Err(refuse(
                format!("{} has {what}: its releases are {}", host.host, listed(host)),
                vec!["`wptdeploy releases ENV` lists them".into()],
            ));
        };
        if host.live.as_deref() == Some(sha.as_str()) {
            return Err(refuse(
                format!("{} is already live on {}", short(&sha), host.host),
                vec!["`wptdeploy releases ENV` lists the others; `--to SHA` picks one".into()],
            ));
        }
        chosen.push((sha, &host.host));
    }
    let first = chosen.first().map(|(s, _)| s.clone()).unwrap_or_default();
    if chosen.iter().any(|(s, _)| *s != first) {
        let said: Vec<String> = chosen
            .iter()
            .map(|(s, h)| format!("{} on {h}", short(s)))
            .collect();
        return Err(refuse(
            format!(
                "the hosts would go back to different releases: {}",
                said.join(", ")
            ),
            vec!["say which with `--to SHA`".into()],
        ));
    }
    Ok(first)
}

/// The releases a host can go back to, most recent first: those that were
/// live (history), then the other release directories, never the live one
/// or one that failed its checks the last time it went live.
fn candidates(host: &HostState) -> Vec<String> {
    let exists = |sha: &str| host.releases.iter().any(|r| r.sha == sha);
    let live = host.live.as_deref().unwrap_or_default();
    let mut found: Vec<String> = Vec::new();
    let from_history = host
        .history
        .iter()
        .rev()
        .filter(|r| r.deployed())
        .filter_map(|r| r.sha.clone());
    let by_time = host.releases.iter().map(|r| r.sha.clone());
    for sha in from_history.chain(by_time) {
        if sha != live && exists(&sha) && !host.is_bad(&sha) && !found.contains(&sha) {
            found.push(sha);
        }
    }
    found
}

/// A release named by (a prefix of) its SHA, or by the ref it was deployed as.
fn named(host: &HostState, given: &str) -> Option<String> {
    let by_sha = (given.len() >= 7 && given.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| host.releases.iter().find(|r| r.sha.starts_with(given)))
        .flatten()
        .map(|r| r.sha.clone());
    by_sha.or_else(|| {
        host.history
            .iter()
            .rev()
            .filter(|r| r.deployed() && r.reference.as_deref() == Some(given))
            .find_map(|r| r.sha.clone())
            .filter(|sha| host.releases.iter().any(|r| &r.sha == sha))
    })
}

fn listed(host: &HostState) -> String {
    let shas: Vec<&str> = host.releases.iter().map(|r| short(&r.sha)).collect();
    if shas.is_empty() {
        "none".into()
    } else {
        shas.join(", ")
    }
}

/// The target's head revision (as its migration files say).
fn head_of(hosts: &[HostState], sha: &str) -> String {
    hosts
        .iter()
        .flat_map(|h| &h.releases)
        .find(|r| r.sha == sha)
        .and_then(|r| r.schema.clone())
        .unwrap_or_default()
}

/// How the database stands against `target`, from the first host that
/// read it (the hosts of an environment share one database), with its revision.
fn database_case(hosts: &[HostState], target: &str) -> Result<(DbCase, Vec<String>), Error> {
    let mut problems = Vec::new();
    for host in hosts {
        match &host.database {
            Some(Ok(db)) => {
                // The live release's files, whole, and the target's headers.
                let live = host.live.as_deref().unwrap_or_default();
                let files_of = |sha: &str| {
                    host.releases
                        .iter()
                        .find(|r| r.sha == sha)
                        .map(|r| r.files.clone())
                        .unwrap_or_default()
                };
                let mut files = files_of(live);
                for (name, text) in files_of(target) {
                    if !files.iter().any(|(n, _)| *n == name) {
                        files.push((name, text));
                    }
                }
                return Ok((classify(&files, &head_of(hosts, target), db), db.clone()));
            }
            Some(Err(why)) => problems.push(format!("{}: {}", host.host, first_line(why))),
            None => {}
        }
    }
    Err(CommandError::Rollback {
        message: format!(
            "cannot read the database's revision, so cannot tell whether {}'s code runs against it ({})",
            short(target),
            problems.join("; ")
        ),
        hints: vec!["check `db_name`, `db_superuser` and `psql_command`".into()],
    }
    .into())
}

/// The backup a deploy took before running the migrations that came after
/// `target` (the oldest such), from the hosts' history.
fn backup_before(hosts: &[HostState], target: &str) -> Option<String> {
    let history: Vec<&Record> = hosts.iter().flat_map(|h| &h.history).collect();
    let went_live = history
        .iter()
        .rposition(|r| r.deployed() && r.sha.as_deref() == Some(target))?;
    history[went_live + 1..]
        .iter()
        .find_map(|r| r.backup.clone().filter(|b| !b.is_empty()))
}

/// A backup named by its file name is in `backup_dir`; a path is taken
/// as it is. Only plain file names and paths are taken.
fn backup_path(given: &str) -> Result<String, Error> {
    let plain = !given.is_empty()
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:+".contains(c));
    if !plain {
        return Err(CommandError::Rollback {
            message: format!("`--restore {given}`: a backup is a file name in `backup_dir` or a path, of letters, digits and `._-/:+`"),
            hints: vec!["`ls` the host's `backup_dir`; `wptdeploy history ENV` names the backup each migration took".into()],
        }
        .into());
    }
    Ok(if given.contains('/') {
        given.to_owned()
    } else {
        format!("{{{{ backup_dir }}}}/{given}")
    })
}

/// The deploy playbook with `rollback.yml`'s steps just before the switch.
fn with_database_steps(playbook: &Playbook) -> Result<Vec<Step>, Error> {
    let extra = Playbook::load(&PlaybookDirs::new(None), "rollback.yml", &Templates::new())?;
    let mut steps = playbook.steps.clone();
    let at = steps
        .iter()
        .position(Step::is::<SwitchKind>)
        .unwrap_or(steps.len());
    steps.splice(at..at, extra.steps);
    Ok(steps)
}
