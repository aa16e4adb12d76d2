//! `releases:` what a host has (read-only): its release directories, newest
//! first (the switch touches a release, so this is the order they were
//! live), each with the environment it links to, the schema revision its
//! migration files expect (read in Rust) and, with `sizes`, its size; the
//! live release; who holds the deploy lock; the free disk.
//!
//! ```yaml
//! - name: read the releases
//!   releases:
//!     path: "{{ base_path }}"
//!     link: "{{ site_path }}"
//!     lock: "{{ lock_path }}"
//!     versions: "{{ migrations_dir }}/versions"
//!     sizes: true
//! ```
//!
//! Its data (for `wptdeploy releases` and `status`) is `{"state": {live,
//! free_kb, lock: {who, command, commit, age_s} | null, releases: [{sha,
//! time, size_kb, venv, packages, schema, files}], config}}`, `files`
//! being each release's migration files as `[name, text]` (headers only;
//! the live release's whole with `sources`, for `rollback`), `packages`
//! the id of the set of packages its environment recorded (with
//! `packages`, the set itself as `package_set`), and `config`, with
//! `config`, the live release's config file as `{section.key: value}`,
//! every value a secret's name or shape marks replaced by its digest.

use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::Outcome;
use super::shell_fns::IS_HEX;
use crate::migrations::graph::{Graph, files_from_listing, is_listing_line, listing_script};
use crate::template::TemplateError;
use crate::transport::quote;

/// The `releases:` kind.
pub struct ReleasesKind;

/// `releases:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasesArgs {
    /// The directory of releases (`base_path`).
    pub path: Tmpl,
    /// The live symlink.
    pub link: Tmpl,
    /// The deploy lock.
    #[serde(default)]
    pub lock: Option<Tmpl>,
    /// The migration files' directory, relative to a release.
    #[serde(default)]
    pub versions: Option<Tmpl>,
    /// Measure each release's size (`du`).
    #[serde(default)]
    pub sizes: Option<Tmpl>,
    /// Read the live release's migration files whole (for `rollback`).
    #[serde(default)]
    pub sources: Option<Tmpl>,
    /// Read each release's set of packages whole.
    #[serde(default)]
    pub packages: Option<Tmpl>,
    /// The config file, relative to a release, whose keys the live release has.
    #[serde(default)]
    pub config: Option<Tmpl>,
}

impl StepKind for ReleasesKind {
    const KEY: &'static str = "releases";
    const SUMMARY: &'static str = "read the releases (newest first, with their environment, schema and size), the live one, the lock and the free disk";
    type Args = ReleasesArgs;

    fn templates(a: &ReleasesArgs) -> Vec<&str> {
        [&a.path, &a.link]
            .into_iter()
            .chain(&a.lock)
            .chain(&a.versions)
            .chain(&a.sizes)
            .chain(&a.sources)
            .chain(&a.packages)
            .chain(&a.config)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &ReleasesArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let script = format!(
            "base={} link={} lock={} versions={} sizes={} sources={} packages={} config={}\n",
            quote(&render.text(&a.path)?),
            quote(&render.text(&a.link)?),
            quote(&render.optional(a.lock.as_ref())?),
            quote(
                &render
                    .given(a.versions.as_ref())?
                    .unwrap_or_else(|| "migrations/versions".into())
            ),
            if render.flag(a.sizes.as_ref())? {
                "1"
            } else {
                "''"
            },
            if render.flag(a.sources.as_ref())? {
                "1"
            } else {
                "''"
            },
            if render.flag(a.packages.as_ref())? {
                "1"
            } else {
                "''"
            },
            quote(&render.optional(a.config.as_ref())?),
        ) + IS_HEX
            + &format!(
                r#"cd -- "$base" 2>/dev/null || {{ echo @nobase; exit 0; }}
live=$(readlink -- "$link" 2>/dev/null || true); live=${{live%/}}; live=${{live##*/}}; echo "@live $live"
if [ -n "$lock" ] && [ -d "$lock" ]; then
  grep -E '^(who|command|commit|pid|machine|boot|pstart)=' -- "$lock/info" 2>/dev/null | sed 's/^/@lock /'
  echo "@lock age=$(( $(date +%s) - $(stat -c %Y -- "$lock") ))"
fi
echo "@free $(df -Pk -- . | awk 'NR == 2 {{ print $4 }}')"
for d in $(ls -1t); do
  is_hex 40 "$d" || continue
  [ -d "$d" ] || continue
  size=-; [ -n "$sizes" ] && size=$(du -sk -- "$d" | cut -f 1)
  v=$(readlink -- "$d/.venv" 2>/dev/null || true)
  pset=$d/.venv/.wptdeploy-packages p=
  [ -f "$pset" ] && p=$(sha256sum < "$pset" | cut -c 1-12)
  echo "@release $d $(stat -c %Y -- "$d") $size ${{v##*/}} $p"
  [ -n "$packages" ] && [ -n "$p" ] && sed 's/^/@pkg /' -- "$pset"
  dir="$d/$versions"
  [ -d "$dir" ] || continue
  if [ -n "$sources" ] && [ "$d" = "$live" ]; then
    for f in "$dir"/*.py; do [ -f "$f" ] && {{ printf '@file %s\n' "${{f##*/}}"; sed 's/^/@| /' -- "$f"; }}; done
  else
{}  fi
done
[ -n "$config" ] && [ -n "$live" ] && [ -f "$live/$config" ] && sed 's/^/@cfg /' -- "$live/$config"
exit 0
"#,
                listing_script("dir")
            );
        Ok(Prepared::new(render.command(script), |ran| {
            ran.succeeded()?;
            Ok(Outcome {
                data: Some(json!({ "state": read(&ran.output.stdout) })),
                ..Outcome::default()
            })
        })
        .data_on_stdout()
        .looking_only())
    }
}

/// The host's state from the script's `@` lines.
fn read(stdout: &str) -> Json {
    if stdout.lines().any(|l| l == "@nobase") {
        return json!({ "live": null, "free_kb": null, "lock": null, "releases": [] });
    }
    let mut live = Json::Null;
    let mut free = Json::Null;
    let mut lock = serde_json::Map::new();
    let mut releases: Vec<(Json, Vec<&str>)> = Vec::new();
    let mut config: Vec<&str> = Vec::new();
    let mut read_config = false;
    for line in stdout.lines() {
        if let Some(text) = line.strip_prefix("@cfg ") {
            config.push(text);
            read_config = true;
            continue;
        }
        if let Some(requirement) = line.strip_prefix("@pkg ") {
            if let Some((release, _)) = releases.last_mut() {
                match release["package_set"].as_array_mut() {
                    Some(set) => set.push(requirement.into()),
                    None => release["package_set"] = json!([requirement]),
                }
            }
            continue;
        }
        if let Some(sha) = line.strip_prefix("@live ") {
            live = if sha.is_empty() {
                Json::Null
            } else {
                sha.into()
            };
        } else if let Some(kb) = line.strip_prefix("@free ") {
            free = kb.trim().parse::<u64>().map_or(Json::Null, Into::into);
        } else if let Some((key, value)) =
            line.strip_prefix("@lock ").and_then(|l| l.split_once('='))
        {
            let value = match key {
                "age" => value.parse::<u64>().map_or(Json::Null, Into::into),
                _ => value.into(),
            };
            lock.insert(
                if key == "age" {
                    "age_s".into()
                } else {
                    key.to_owned()
                },
                value,
            );
        } else if let Some(rest) = line.strip_prefix("@release ") {
            let mut words = rest.split(' ');
            let sha = words.next().unwrap_or_default();
            let time = words.next().and_then(|t| t.parse::<u64>().ok());
            let size = words.next().and_then(|s| s.parse::<u64>().ok());
            let venv = words.next().filter(|v| !v.is_empty());
            let packages = words.next().filter(|v| !v.is_empty());
            releases.push((
                json!({ "sha": sha, "time": time, "size_kb": size, "venv": venv, "packages": packages }),
                Vec::new(),
            ));
        } else if let Some((_, listing)) = releases.last_mut()
            && is_listing_line(line)
        {
            listing.push(line);
        }
    }
    let releases: Vec<Json> = releases
        .into_iter()
        .map(|(mut release, listing)| {
            let files = files_from_listing(listing);
            let heads =
                Graph::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str()))).heads();
            // The headers (whole files for the live one, with `sources`)
            // are kept for `rollback`.
            if !files.is_empty() {
                release["files"] = json!(files);
            }
            release["schema"] = if heads.is_empty() {
                Json::Null
            } else {
                heads.join(",").into()
            };
            release
        })
        .collect();
    json!({
        "live": live,
        "free_kb": free,
        "lock": if lock.is_empty() { Json::Null } else { Json::Object(lock) },
        "releases": releases,
        "config": if read_config { json!(config_keys(&config)) } else { Json::Null },
    })
}

/// An INI-like config file's `section.key`s and their values, each value
/// that a secret's name or shape marks replaced by `sha256:` and the first
/// 12 hex digits of its digest (so that a change still shows).
fn config_keys(lines: &[&str]) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    let mut section = String::new();
    let mut keys = std::collections::BTreeMap::new();
    for line in lines.iter().map(|l| l.trim()) {
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{}.", name.trim());
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let secret = crate::template::is_secret_name(key)
            || !crate::redact::url_credentials(value).is_empty();
        let shown = if secret && !value.is_empty() {
            let digest = sha2::Sha256::digest(value.as_bytes());
            format!("sha256:{}", &hex::encode(digest)[..12])
        } else {
            value.to_owned()
        };
        keys.insert(format!("{section}{key}"), shown);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_reads_releases_schema_lock_and_disk() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let stdout = format!(
            "@live {a}\n@lock who=ana@laptop\n@lock command=wptdeploy lock staging -m 'db work'\n@lock age=42\n@free 1048576\n\
             @release {a} 1764670000 2048 0123456789abcdef\n@file 1_first.py\n@| revision = '1111'\n@| down_revision = None\n@file 2_second.py\n@| revision = '2222'\n@| down_revision = '1111'\n\
             @release {b} 1764660000 - fedcba9876543210 0a1b2c3d4e5f\n@pkg flask==3.1.0\n@pkg itsdangerous==2.2.0\n\
             @cfg [app]\n@cfg env = staging\n@cfg [postgresql]\n@cfg password = hunter2\n@cfg url = postgresql://u:s3cret@db/x\n"
        );
        let state = read(&stdout);
        assert_eq!(state["live"], a.as_str());
        assert_eq!(state["free_kb"], 1_048_576);
        assert_eq!(state["lock"]["who"], "ana@laptop");
        assert_eq!(state["lock"]["age_s"], 42);
        assert_eq!(state["releases"][0]["schema"], "2222");
        assert_eq!(state["releases"][0]["venv"], "0123456789abcdef");
        assert_eq!(state["releases"][0]["size_kb"], 2048);
        assert_eq!(state["releases"][1]["sha"], b.as_str());
        assert_eq!(state["releases"][1]["schema"], Json::Null);
        assert_eq!(state["releases"][1]["size_kb"], Json::Null);
        assert_eq!(state["releases"][0]["packages"], Json::Null);
        assert_eq!(state["releases"][1]["packages"], "0a1b2c3d4e5f");
        assert_eq!(
            state["releases"][1]["package_set"],
            json!(["flask==3.1.0", "itsdangerous==2.2.0"])
        );
        assert_eq!(state["config"]["app.env"], "staging");
        let password = state["config"]["postgresql.password"].as_str().unwrap();
        assert!(password.starts_with("sha256:") && !password.contains("hunter2"));
        let url = state["config"]["postgresql.url"].as_str().unwrap();
        assert!(
            url.starts_with("sha256:") && !url.contains("s3cret"),
            "{url}"
        );
        assert_eq!(read("@nobase\n")["releases"], json!([]));
    }
}
