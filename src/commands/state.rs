//! What the read steps of `releases.yml` and `history.yml` found on each
//! host (the `data` of the hosts' summaries), as types the commands show.

use serde::Deserialize;
use serde_json::Value as Json;

use crate::engine::events::HostSummary;

/// One host's releases, lock, disk, history and database.
#[derive(Debug, Clone, Default)]
pub struct HostState {
    /// Inventory name.
    pub host: String,
    /// The live release's SHA.
    pub live: Option<String>,
    /// Free disk under `base_path`, KiB.
    pub free_kb: Option<u64>,
    /// Who holds the deploy lock.
    pub lock: Option<LockNote>,
    /// Release directories, newest first (the order they were live).
    pub releases: Vec<Release>,
    /// Its history, oldest first.
    pub history: Vec<Record>,
    /// The database's revisions, or why they could not be read.
    pub database: Option<Result<Vec<String>, String>>,
    /// The live release's config file (`section.key` to value, secret
    /// values as digests), when it was read.
    pub config: Option<std::collections::BTreeMap<String, String>>,
}

/// A release directory.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Release {
    /// Full SHA.
    pub sha: String,
    /// When it was last switched to (or built), Unix seconds.
    pub time: Option<u64>,
    /// Size in KiB, when measured.
    pub size_kb: Option<u64>,
    /// The environment its `.venv` links to.
    pub venv: Option<String>,
    /// The id of the set of packages that environment recorded.
    pub packages: Option<String>,
    /// That set, one requirement a line (when asked for).
    #[serde(default)]
    pub package_set: Vec<String>,
    /// The head revision of its migration files (`,`-joined if several).
    pub schema: Option<String>,
    /// Its migration files, whole (the live release, when asked for).
    #[serde(default)]
    pub files: Vec<(String, String)>,
}

/// The deploy lock's note.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LockNote {
    /// `user@machine`.
    pub who: Option<String>,
    /// The command holding it.
    pub command: Option<String>,
    /// Seconds held.
    pub age_s: Option<u64>,
    /// The holder's process, machine, boot and start (ProcessId's fields).
    pub pid: Option<String>,
    /// The machine that holds it.
    pub machine: Option<String>,
    /// That machine's boot id.
    pub boot: Option<String>,
    /// When the holder started.
    pub pstart: Option<String>,
}

impl LockNote {
    /// Why the lock is stale, when its holder is provably gone.
    pub fn stale(&self) -> Option<String> {
        let fields = [
            ("pid", &self.pid),
            ("machine", &self.machine),
            ("boot", &self.boot),
            ("pstart", &self.pstart),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
        .collect();
        crate::steps::effect::process::ProcessId::gone(&fields)
    }
}

/// One run's record (`history:`); fields a run did not reach are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Record {
    /// When it started (RFC 3339).
    pub time: String,
    /// The host it ran on.
    pub host: String,
    /// `user@machine`.
    pub by: String,
    /// Local git identity.
    pub git: Option<String>,
    /// The whole command line.
    pub command: String,
    /// `deployed`, `rolled_back`, `failed`, ...
    pub result: String,
    /// The failure.
    pub error: Option<String>,
    /// Duration.
    pub ms: u64,
    /// The ref asked for.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The release deployed.
    pub sha: Option<String>,
    /// The release live before.
    pub from: Option<String>,
    /// The database's revision before and after.
    pub db_before: Option<String>,
    /// After.
    pub db_after: Option<String>,
    /// The schema the release expects.
    pub schema: Option<String>,
    /// The backup taken before migrating.
    pub backup: Option<String>,
    /// The id of the release's set of packages.
    pub packages: Option<String>,
    /// Where that set came from (`promoted from staging (web1)`, `resolved`, ...).
    pub packages_from: Option<String>,
    /// The record of a run that has not ended: under way, or killed.
    pub unfinished: bool,
    /// The process that ran it (ProcessId's fields), for an unfinished run.
    pub process: Option<std::collections::BTreeMap<String, String>>,
}

/// Where a run whose record is unfinished stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfinished {
    /// Its process still runs, on this machine.
    Running,
    /// Its process is provably gone, or a later run found it so.
    NeverFinished,
    /// It ran on another machine: running, or killed.
    Unknown,
}

impl Record {
    /// Where the run stands when it did not end (`None` when it ended).
    pub fn unfinished(&self) -> Option<Unfinished> {
        if self.result == crate::steps::effect::history::NEVER_FINISHED && !self.unfinished {
            return Some(Unfinished::NeverFinished);
        }
        if !self.unfinished {
            return None;
        }
        let fields = self.process.clone().unwrap_or_default();
        if crate::steps::effect::process::ProcessId::gone(&fields).is_some() {
            return Some(Unfinished::NeverFinished);
        }
        let here = crate::steps::effect::process::ProcessId::this();
        Some(if fields.get("machine") == Some(&here.machine) {
            Unfinished::Running
        } else {
            Unfinished::Unknown
        })
    }

    /// The result as a person reads it: `deployed`, `rolled back`, `never
    /// finished`, `running now`, `running, or killed`.
    pub fn shown_result(&self) -> String {
        match self.unfinished() {
            Some(Unfinished::NeverFinished) => "never finished".into(),
            Some(Unfinished::Running) => "running now".into(),
            Some(Unfinished::Unknown) => "running, or killed".into(),
            None => self.result.replace('_', " "),
        }
    }

    /// Whether the run put its release live and kept it.
    pub fn deployed(&self) -> bool {
        self.result == "deployed"
    }

    /// Whether its release went live and failed its checks (switched back).
    pub fn went_bad(&self) -> bool {
        self.result == "rolled_back"
    }
}

impl HostState {
    /// Reads each summary's data.
    pub fn from_summaries(summaries: &[HostSummary]) -> Vec<HostState> {
        summaries.iter().map(HostState::from_summary).collect()
    }

    fn from_summary(summary: &HostSummary) -> HostState {
        let mut state = HostState {
            host: summary.host.clone(),
            ..HostState::default()
        };
        for data in &summary.data {
            if let Some(found) = data.get("state") {
                state.live = found["live"].as_str().map(str::to_owned);
                state.free_kb = found["free_kb"].as_u64();
                state.lock = serde_json::from_value(found["lock"].clone()).ok();
                state.releases =
                    serde_json::from_value(found["releases"].clone()).unwrap_or_default();
                state.config = serde_json::from_value(found["config"].clone()).ok();
            }
            if let Some(Json::Array(records)) = data.get("history") {
                state.history = records
                    .iter()
                    .filter_map(|r| serde_json::from_value(r.clone()).ok())
                    .collect();
            }
            if let Some(db) = data.get("database") {
                state.database = Some(match db.get("error").and_then(Json::as_str) {
                    Some(error) => Err(error.to_owned()),
                    None => Ok(serde_json::from_value(db["revision"].clone()).unwrap_or_default()),
                });
            }
        }
        state
    }

    /// The release live before the live one: what the run that put the
    /// live one live replaced (from the history); else the newest other
    /// release that did not fail its checks.
    pub fn previous(&self) -> Option<&Release> {
        let live = self.live.as_deref()?;
        let find = |sha: &str| self.releases.iter().find(|r| r.sha == sha);
        self.history
            .iter()
            .rev()
            .filter(|r| r.deployed() && r.sha.as_deref() == Some(live))
            .find_map(|r| r.from.as_deref().filter(|f| *f != live).and_then(find))
            .or_else(|| {
                self.releases
                    .iter()
                    .find(|r| r.sha != live && !self.is_bad(&r.sha))
            })
    }

    /// The latest record of a run that deployed `sha` (or went bad with it).
    pub fn last_record_of(&self, sha: &str) -> Option<&Record> {
        self.history
            .iter()
            .rev()
            .find(|r| r.sha.as_deref() == Some(sha) && (r.deployed() || r.went_bad()))
    }

    /// The ref `sha` was deployed as: the latest run's that named it by a
    /// ref other than the SHA (a rollback names the SHA), else the SHA as
    /// the latest run named it.
    pub fn ref_of(&self, sha: &str) -> Option<String> {
        let runs = || {
            self.history
                .iter()
                .rev()
                .filter(|r| r.sha.as_deref() == Some(sha) && (r.deployed() || r.went_bad()))
                .filter_map(|r| r.reference.clone())
        };
        runs()
            .find(|reference| !sha.starts_with(reference.as_str()))
            .or_else(|| runs().next())
    }

    /// The live release, with what the host knows of it.
    pub fn live_release(&self) -> Option<&Release> {
        let live = self.live.as_deref()?;
        self.releases.iter().find(|r| r.sha == live)
    }

    /// Whether the last time `sha` went live, it failed its checks.
    pub fn is_bad(&self, sha: &str) -> bool {
        self.last_record_of(sha).is_some_and(Record::went_bad)
    }
}

/// Every host's copy of the one release that `sha` (a prefix of its SHA)
/// names, with the host; an error when no release, or several, match.
pub fn one_release<'a>(
    hosts: &'a [HostState],
    env: &str,
    sha: &str,
) -> Result<Vec<(&'a str, &'a Release)>, crate::error::CommandError> {
    let found: Vec<(&str, &Release)> = hosts
        .iter()
        .flat_map(|h| {
            h.releases
                .iter()
                .filter(|r| r.sha.starts_with(sha))
                .map(move |r| (h.host.as_str(), r))
        })
        .collect();
    let shas: std::collections::BTreeSet<&str> = found.iter().map(|(_, r)| short(&r.sha)).collect();
    match shas.len() {
        1 => Ok(found),
        0 => Err(crate::error::CommandError::Release {
            message: format!("{env} has no release `{sha}`"),
            hints: vec![format!("`wptdeploy releases {env}` lists them")],
        }),
        _ => Err(crate::error::CommandError::Release {
            message: format!(
                "`{sha}` names several releases of {env}: {}",
                shas.into_iter().collect::<Vec<_>>().join(", ")
            ),
            hints: vec!["give more of the SHA".into()],
        }),
    }
}

/// `1a2b3c4d5e6f` (12 characters) of a SHA.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
