//! Promotion: before a deploy, the sets of packages that the environment
//! it promotes from (`promote_from`; `auto`: the inventory's staging when
//! this is another environment) recorded for its releases, read from its
//! hosts over SSH with `releases.yml`, one connection each. The deploy's
//! `virtualenv:` step installs the set of the commit it deploys as it is
//! (no resolution), or says why it resolved one itself; with
//! `require_promoted` it refuses to (docs/releases.md, "Locked
//! environments").

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::Context;
use super::reading::{read, reading};
use super::session::Session;
use super::state::HostState;
use super::vars::StateVars;
use crate::error::Error;
use crate::inventory::{self, Origin, Sourced};

/// The environment a deploy of `env` promotes from, and whether it must
/// (`require` or `require_promoted`); `None` where there is none (staging
/// itself, an inventory without staging, `promote_from: ""`). `extra` is
/// the command line's variables.
pub fn source(
    env: &str,
    extra: &Sourced,
    require: bool,
    cx: &Context<'_>,
) -> Option<(String, bool)> {
    let settings = cx.settings;
    // A broken inventory is the command's own error to report.
    let target = inventory::load(env, settings.inventory.as_deref(), &settings.vault).ok()?;
    let setting = |name: &str| {
        extra.values.get(name).cloned().or_else(|| {
            target
                .hosts
                .first()
                .and_then(|h| h.vars.values.get(name).cloned())
        })
    };
    let required = require
        || setting("require_promoted").is_some_and(|v| crate::template::truthy(&to_jinja(&v)));
    let from = match setting("promote_from") {
        Some(Value::String(name)) if name.trim() != "auto" => name.trim().to_owned(),
        Some(Value::String(_)) | None => {
            let staging =
                inventory::load("staging", settings.inventory.as_deref(), &settings.vault);
            match staging {
                Ok(staging) if staging.env != target.env => staging.env,
                _ => String::new(),
            }
        }
        Some(_) => String::new(),
    };
    // Where there is nothing to promote from (staging itself), the
    // environment resolves its own sets, `require_promoted` or not.
    (!from.is_empty() && from != target.env).then_some((from, required))
}

/// Reads `from`'s releases (with their sets whole when `whole`), on every host.
pub async fn read_sets(
    from: &str,
    whole: bool,
    cx: &mut Context<'_>,
) -> Result<Vec<HostState>, Error> {
    let wanted = StateVars {
        releases_packages: whole,
        ..StateVars::default()
    };
    let session = Session {
        title: "reading the sets of packages {env} tested",
        limit: Some("all".into()),
        ..reading("promotion", from.to_owned(), "releases.yml")
    };
    read(session, &wanted, cx).await
}

/// The `promotion` variable for a deploy of `env` (`None`: nothing is promoted).
pub async fn promotion(
    env: &str,
    extra: &Sourced,
    require: bool,
    cx: &mut Context<'_>,
) -> Result<Option<Value>, Error> {
    let Some((from, required)) = source(env, extra, require, cx) else {
        return Ok(None);
    };
    Ok(Some(match read_sets(&from, true, cx).await {
        Ok(hosts) => value(&from, "", required, sets(&hosts)),
        Err(error) => value(
            &from,
            &cx.redactor.apply(first_line(&error.to_string())),
            required,
            BTreeMap::new(),
        ),
    }))
}

/// Every release's set, by commit, from the first host that has it.
fn sets(hosts: &[HostState]) -> BTreeMap<String, (String, String)> {
    let mut sets = BTreeMap::new();
    for host in hosts {
        for release in &host.releases {
            if release.package_set.is_empty() {
                continue;
            }
            sets.entry(release.sha.clone())
                .or_insert_with(|| (host.host.clone(), release.package_set.join("\n")));
        }
    }
    sets
}

/// The variable: `{from, error, required, sets: {SHA: {host, packages}}}`.
fn value(
    from: &str,
    error: &str,
    required: bool,
    sets: BTreeMap<String, (String, String)>,
) -> Value {
    let sets: serde_yaml::Mapping = sets
        .into_iter()
        .map(|(sha, (host, packages))| {
            let set: serde_yaml::Mapping = [("host", host), ("packages", packages)]
                .into_iter()
                .map(|(k, v)| (Value::from(k), Value::from(v)))
                .collect();
            (Value::from(sha), Value::Mapping(set))
        })
        .collect();
    let map: serde_yaml::Mapping = [
        ("from", Value::from(from)),
        ("error", Value::from(error)),
        ("required", Value::from(required)),
        ("sets", Value::Mapping(sets)),
    ]
    .into_iter()
    .map(|(k, v)| (Value::from(k), v))
    .collect();
    Value::Mapping(map)
}

/// Sets the `promotion` variable in `extra`.
pub fn set(extra: &mut Sourced, promotion: Value) {
    extra.insert(
        "promotion",
        promotion,
        Origin::at("wptdeploy (read before the deploy)"),
    );
}

fn to_jinja(value: &Value) -> minijinja::Value {
    minijinja::Value::from_serialize(value)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
