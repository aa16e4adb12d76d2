//! `virtualenv:` give a release its own virtualenv, shared by every
//! release with the same dependency set and never changed once built.
//!
//! ```yaml
//! - name: build the release's virtualenv
//!   virtualenv:
//!     path: "{{ release.build_path }}"      # gets `.venv`, a link to its environment
//!     release: "{{ release.path }}"         # where it will live, recorded as a user
//!     store: "{{ venvs_path }}"             # one environment per dependency set
//!     link: "{{ venv_path }}"               # the stable path, a link to `live/.venv`
//!     live: "{{ site_path }}"
//!     requirements: "{{ requirements_file }}"
//!     installer: "{{ python_installer }}"   # auto | uv | pip
//!     tools: "{{ tools_path }}"             # where uv is installed when missing
//!     cache: "{{ uv_cache_path }}"
//!     force: "{{ force }}"                  # build a new environment even if one exists
//!     sha: "{{ release.sha }}"
//!     promotion: "{{ promotion }}"          # the sets another environment tested
//!   become: "{{ app_user }}"
//!   register: venv
//! ```
//!
//! The environment is `store/HASH`, HASH being a digest of its identity:
//! the requirements file (and the files it includes with `-r`/`-c`), the
//! project's metadata (`pyproject.toml`, `setup.py`, `setup.cfg`), the
//! Python (its version and real path), the installer, `site_packages`, and
//! the set it was promoted with. When the release has no requirements
//! file, the release itself is installed, and its commit is part of the
//! digest. An environment is built in place behind a `.wptdeploy-complete`
//! marker, under a `flock`, and never modified after: a failed build
//! leaves the live release's environment as it was, and a partial one is
//! rebuilt from scratch next time (or pruned). `force` builds a new one
//! beside it (`store/HASH-TIME`), which later releases then share.
//!
//! Every environment records the set it holds in `.wptdeploy-packages`
//! (`name==version` lines as `pip freeze` writes them, read from the
//! packages' metadata without starting Python); its set id is the first
//! 12 hex digits of that file's SHA-256. With system site-packages the
//! environment is built with pip, as uv would install its own versions
//! over the system's.
//!
//! `promotion` (see [`Promotion`]) holds the sets of the environment a
//! deploy promotes from, by commit: when it has this release's commit,
//! the environment is built from that set with `--no-deps` (no
//! resolution) and checked to hold exactly it; otherwise it is resolved
//! here and the outcome says why (or, with `required`, the step refuses).
//!
//! `link` (`base_path/venv`, which wptdash's uwsgi config names) becomes a
//! symlink to `live/.venv`, so it follows the live release; a real
//! virtualenv found there (Ansible's, or one an earlier wptdeploy shared
//! between releases) is moved into the store once and kept for the live
//! release. A release that already has a complete environment keeps it
//! (so a rollback gets exactly the packages it ran with). Every release
//! using an environment is recorded in
//! `store/HASH.users`, so that `prune:` removes only what no release uses.
//!
//! Registers `{path, hash, built, installer, store, packages, source}`,
//! `packages` being the set id and `source` where the set came from.

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_literal, choice_error};
use super::outcome::{Outcome, StepFailure, failure, markers, wrapper_failed};
use super::shell_fns::IS_HEX;
use crate::template::TemplateError;
use crate::transport::{Output, quote};

/// The `virtualenv:` kind.
pub struct VirtualenvKind;

/// The ways an environment can be built.
const INSTALLERS: [&str; 3] = ["auto", "uv", "pip"];

/// `virtualenv:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualenvArgs {
    /// The release directory being built: gets `.venv`, a link to its environment.
    pub path: Tmpl,
    /// Where the release will live once published (its user in the store).
    pub release: Tmpl,
    /// The directory of environments, one per dependency set.
    pub store: Tmpl,
    /// The stable path of the live release's environment (`base_path/venv`).
    pub link: Tmpl,
    /// The live symlink (`site_path`).
    pub live: Tmpl,
    /// The requirements file, relative to `path`.
    pub requirements: Tmpl,
    /// The Python that creates the environment (default `python3`).
    #[serde(default)]
    pub python: Option<Tmpl>,
    /// Give the environment the system's site packages (`true`/`false`).
    #[serde(default)]
    pub site_packages: Option<Tmpl>,
    /// `auto` (uv when it is there or can be installed, else pip), `uv` or `pip`.
    #[serde(default)]
    pub installer: Option<Tmpl>,
    /// Where uv is installed (`TOOLS/bin/uv`) when it is not on `PATH`.
    #[serde(default)]
    pub tools: Option<Tmpl>,
    /// uv's cache (on the same filesystem as `store`, so it hard-links).
    #[serde(default)]
    pub cache: Option<Tmpl>,
    /// Build a new environment even when one with this identity exists.
    #[serde(default)]
    pub force: Option<Tmpl>,
    /// The release's commit, to look up in `promotion`.
    #[serde(default)]
    pub sha: Option<Tmpl>,
    /// The sets another environment tested (one `{{ expression }}`).
    #[serde(default)]
    pub promotion: Option<Tmpl>,
}

impl StepKind for VirtualenvKind {
    const KEY: &'static str = "virtualenv";
    const SUMMARY: &'static str = "give a release its own virtualenv (shared by releases with the same dependencies), built before the switch";
    type Args = VirtualenvArgs;

    fn check(a: &VirtualenvArgs) -> Result<(), String> {
        check_literal(a.installer.as_ref(), |v| installer(v).map(|_| ()))
    }

    fn templates(a: &VirtualenvArgs) -> Vec<&str> {
        [
            &a.path,
            &a.release,
            &a.store,
            &a.link,
            &a.live,
            &a.requirements,
        ]
        .into_iter()
        .chain(&a.python)
        .chain(&a.site_packages)
        .chain(&a.installer)
        .chain(&a.tools)
        .chain(&a.cache)
        .chain(&a.force)
        .chain(&a.sha)
        .chain(&a.promotion)
        .map(|t| t.0.as_str())
        .collect()
    }

    fn prepare(a: &VirtualenvArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let installer = installer(&render.given(a.installer.as_ref())?.unwrap_or_default())
            .map_err(TemplateError::new)?;
        let store = render.text(&a.store)?;
        let sha = render.optional(a.sha.as_ref())?;
        let promotion = match &a.promotion {
            Some(t) => Promotion::from_value(&render.value(t)?),
            None => Promotion::default(),
        };
        let (promoted, unpromoted) = if promotion.from.is_empty() {
            (None, None)
        } else {
            match promotion.set_of(&sha) {
                Ok(set) => (Some(set), None),
                Err(why) => (None, Some(why)),
            }
        };
        let build = Build {
            path: render.text(&a.path)?,
            release: render.text(&a.release)?,
            store: store.clone(),
            link: render.text(&a.link)?,
            live: render.text(&a.live)?,
            requirements: render.text(&a.requirements)?,
            python: render
                .given(a.python.as_ref())?
                .unwrap_or_else(|| "python3".into()),
            site_packages: render.flag(a.site_packages.as_ref())?,
            installer: installer.to_owned(),
            tools: render.given(a.tools.as_ref())?.unwrap_or_default(),
            cache: render.given(a.cache.as_ref())?.unwrap_or_default(),
            force: render.flag(a.force.as_ref())?,
            locked: promoted.map(|s| s.packages.clone()).unwrap_or_default(),
            refuse: match &unpromoted {
                Some(why) if promotion.required => promotion.refusal(why),
                _ => String::new(),
            },
        };
        let source = Source {
            promoted: promoted.map(|s| (promotion.from.clone(), s.host.clone())),
            unpromoted,
        };
        Ok(Prepared::new(render.command(build.script()), move |ran| {
            if wrapper_failed(ran.command, ran.output) {
                return Err(failure(ran.command, ran.output));
            }
            outcome(ran.output, &store, &source)
        }))
    }
}

/// `auto` (also when empty), `uv` or `pip`.
fn installer(given: &str) -> Result<&'static str, String> {
    let given = given.trim();
    if given.is_empty() {
        return Ok("auto");
    }
    INSTALLERS
        .into_iter()
        .find(|i| *i == given)
        .ok_or_else(|| choice_error("virtualenv: installer", &INSTALLERS, given))
}

/// The sets the environment a deploy promotes from has tested, by commit
/// (the `promotion` variable the deploy sets: `{from, error, required,
/// sets: {SHA: {host, id, packages}}}`).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Promotion {
    /// The environment promoted from (empty: none).
    #[serde(default)]
    pub from: String,
    /// Why its sets could not be read (empty: they were).
    #[serde(default)]
    pub error: String,
    /// Refuse to resolve when it has no set for the commit.
    #[serde(default)]
    pub required: bool,
    /// Its releases' sets, by full commit.
    #[serde(default)]
    pub sets: BTreeMap<String, PromotedSet>,
}

/// One release's set, as the environment promoted from recorded it.
#[derive(Debug, Clone, Deserialize)]
pub struct PromotedSet {
    /// The host it was read from.
    pub host: String,
    /// The set, as `.wptdeploy-packages` holds it.
    pub packages: String,
}

impl Promotion {
    /// Reads the variable (anything else: no promotion).
    fn from_value(value: &Value) -> Promotion {
        serde_json::to_value(value)
            .ok()
            .and_then(|json| serde_json::from_value(json).ok())
            .unwrap_or_default()
    }

    /// The set tested for `sha`, when there is one this host may install:
    /// `Err` says why not (none, unreadable, or a line that is not an
    /// exact pin).
    fn set_of(&self, sha: &str) -> Result<&PromotedSet, String> {
        let short = &sha[..sha.len().min(12)];
        if !self.error.is_empty() {
            return Err(format!(
                "{}'s sets could not be read ({})",
                self.from, self.error
            ));
        }
        let set = self
            .sets
            .get(sha)
            .filter(|s| !s.packages.trim().is_empty())
            .ok_or_else(|| format!("{} has no release of {short}", self.from))?;
        match set.packages.lines().find(|line| !promotable(line)) {
            Some(line) => Err(format!(
                "{}'s set for {short} holds `{}`, and only exact pins (`name==version`) are installed from another environment's record",
                self.from,
                line.chars().take(80).collect::<String>()
            )),
            None => Ok(set),
        }
    }

    /// The step's refusal, when a tested set is required, of `why` there is none.
    fn refusal(&self, why: &str) -> String {
        format!(
            "{why}, and this deploy installs only a set {} tested (`require_promoted`): deploy the commit to {} first",
            self.from, self.from
        )
    }
}

/// Whether a line of another environment's set may be installed here: a
/// comment (what was installed from a local directory) or an exact pin
/// `name==version`. Anything else (an option, a URL, a path) could make
/// this host fetch or run what the other host's app user chose.
fn promotable(line: &str) -> bool {
    if line.starts_with("# ") && !line.contains('\r') {
        return true;
    }
    let Some((name, version)) = line.split_once("==") else {
        return false;
    };
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let version_ok = !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '_' | '-'));
    name_ok && version_ok
}

/// Where a build's set comes from, for its outcome.
struct Source {
    /// Promoted: the environment and host it was read from.
    promoted: Option<(String, String)>,
    /// Not promoted although a promotion was asked for: why.
    unpromoted: Option<String>,
}

/// What to build, and where.
struct Build {
    path: String,
    release: String,
    store: String,
    link: String,
    live: String,
    requirements: String,
    python: String,
    site_packages: bool,
    installer: String,
    tools: String,
    cache: String,
    force: bool,
    locked: String,
    refuse: String,
}

impl Build {
    fn script(&self) -> String {
        format!(
            "release={} user={} store={} link={} live={} req={} python={} site={} installer={} tools={} cache={} force={} locked={} refuse={}\n",
            quote(&self.path),
            quote(&self.release),
            quote(&self.store),
            quote(&self.link),
            quote(&self.live),
            quote(&self.requirements),
            quote(&self.python),
            if self.site_packages {
                "--system-site-packages"
            } else {
                "''"
            },
            quote(&self.installer),
            quote(&self.tools),
            quote(&self.cache),
            if self.force { "1" } else { "''" },
            quote(self.locked.trim_end()),
            quote(&self.refuse),
        ) + IS_HEX
            + SCRIPT
    }
}

/// The build, in POSIX sh with coreutils and util-linux's `flock`.
const SCRIPT: &str = r##"set -e
say() { echo "wptdeploy: $*" >&2; exit 3; }
case "$req" in /*) ;; *) req="$release/$req" ;; esac
[ -d "$store" ] || mkdir -p -- "$store"
here=$PWD; cd -P -- "$store"; store=$PWD; cd -- "$here"
want="$live/.venv"
# The set an environment holds, as pip freeze writes it (pip, setuptools,
# wheel and distribute left out), read from its metadata without Python:
# `name==version`, `name @ URL` for a VCS or archive install, and a
# comment for one from a local directory (the release itself).
freeze() {
  for m in "$1"/lib/python*/site-packages/*.dist-info/METADATA "$1"/lib/python*/site-packages/*.egg-info/PKG-INFO; do
    [ -f "$m" ] && printf '%s\n' "$m"
  done | while IFS= read -r m; do
    set -- $(awk '/^Name:/ { n = $2 } /^Version:/ { v = $2 } /^$/ { exit } END { n = tolower(n); gsub(/[-_.]+/, "-", n); print n, v }' "$m")
    case "$1" in ''|pip|setuptools|wheel|distribute) continue ;; esac
    url="${m%/*}/direct_url.json"
    if [ -f "$url" ]; then
      u=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$url" | head -n 1)
      if grep -q '"dir_info"' "$url"; then echo "# $1==$2 from a local directory"; continue; fi
      c=$(sed -n 's/.*"commit_id": *"\([^"]*\)".*/\1/p' "$url" | head -n 1)
      v=$(sed -n 's/.*"vcs": *"\([^"]*\)".*/\1/p' "$url" | head -n 1)
      if [ -n "$c" ]; then echo "$1 @ $v+$u@$c"; else echo "$1 @ $u"; fi
    else
      echo "$1==$2"
    fi
  done | LC_ALL=C sort
}
# Writes the set of environment $1 beside it, once (environments built
# before sets were kept get theirs when next used).
lock() {
  [ -f "$1/.wptdeploy-packages" ] && return 0
  freeze "$1" > "$1/.wptdeploy-packages.$$" && mv -f -- "$1/.wptdeploy-packages.$$" "$1/.wptdeploy-packages"
}
# Says which environment, and which set, a release now has.
chose() {
  case "$1" in "$store"/*) lock "$1" || true ;; esac
  echo "wptdeploy.hash=${1##*/}"; echo "wptdeploy.path=$1"
  if [ -f "$1/.wptdeploy-packages" ]; then packages_id "$1"; echo "wptdeploy.packages=$id"; fi
  if [ -f "$1.users" ]; then
    while IFS= read -r listed || [ -n "$listed" ]; do [ "$listed" != "$user" ] || return 0; done < "$1.users"
  fi
  printf '%s\n' "$user" >> "$1.users"
}
# Sets $id to the set's short id (its SHA-256's first 12 digits), kept
# beside it once worked out: a redeploy reads it instead of hashing the
# set again.
packages_id() {
  id=
  if [ -f "$1/.wptdeploy-packages.id" ]; then read -r id < "$1/.wptdeploy-packages.id" || true; fi
  if ! is_hex 12 "$id"; then
    id=$(sha256sum < "$1/.wptdeploy-packages" | cut -c 1-12)
    { printf '%s\n' "$id" > "$1/.wptdeploy-packages.id.$$" && mv -f -- "$1/.wptdeploy-packages.id.$$" "$1/.wptdeploy-packages.id"; } 2>/dev/null || true
  fi
}
# The stable link follows the live release; what was there is kept for it.
adopt() {
  if [ -d "$live/" ] && [ ! -e "$live/.venv" ] && [ ! -L "$live/.venv" ]; then
    ln -s -- "$1" "$live/.venv"
    printf '%s\n' "$(readlink -f -- "$live")" >> "$1.users"
  fi
}
relink() { ln -sfn -- "$want" "$link.wptdeploy-$$" && mv -Tf -- "$link.wptdeploy-$$" "$link"; }
if [ -L "$link" ]; then
  was=$(readlink -- "$link")
  if [ "$was" != "$want" ]; then
    [ -d "$link/" ] && adopt "$(readlink -f -- "$link")"
    relink; echo "wptdeploy.adopted=$was"
  fi
elif [ -d "$link" ]; then
  adopted="$store/adopted-$(date -u +%Y%m%dT%H%M%SZ)"
  adopt "$adopted"
  mv -T -- "$link" "$adopted"
  printf 'adopted %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$adopted/.wptdeploy-complete"
  relink; echo "wptdeploy.adopted=$adopted"
elif [ -e "$link" ]; then say "$link is neither a virtualenv nor a link to one: move it away"
else relink
fi
[ -d "$release" ] || say "the release $release is not there"
if [ -e "$release/.venv" ] && [ ! -L "$release/.venv" ]; then say "the release has its own .venv; wptdeploy links $release/.venv to the release's environment: remove it from the repository"; fi
# A release keeps the environment it has (a rollback gets its exact
# packages), unless it is forced to get a new one.
had=$(readlink -- "$release/.venv" 2>/dev/null || true)
outside() { case "$1" in "$store"/*) return 1 ;; *) [ -x "$1/bin/python" ] ;; esac; }
if [ -z "$force" ] && [ -n "$had" ] && { [ -f "$had/.wptdeploy-complete" ] || outside "$had"; }; then
  chose "$had"; echo wptdeploy.built=false; echo wptdeploy.source=kept
  exit 0
fi
# Production that must install what was tested resolves nothing itself.
[ -n "$refuse" ] && [ -z "$locked" ] && say "$refuse"
# What the environment depends on.
if [ -f "$req" ]; then what=requirements
elif [ -f "$release/setup.py" ] || [ -f "$release/pyproject.toml" ]; then what=project
else say "there is no requirements file $req, and no setup.py or pyproject.toml in $release"
fi
command -v -- "$python" >/dev/null 2>&1 || say "there is no $python that $(id -un) can run on this host: set \`python\`"
# Which installer builds it: uv does not count the system's site-packages
# as installed (it would put its own versions over them), so with them pip
# does, as it did for Ansible's pip task.
uv=
if [ "$installer" = pip ]; then use=pip
elif [ -n "$site" ]; then use=pip; echo "wptdeploy.site_pip=1"
elif [ -n "$tools" ] && [ -x "$tools/bin/uv" ]; then uv="$tools/bin/uv"; use=uv
elif command -v uv >/dev/null 2>&1; then uv=$(command -v uv); use=uv
elif [ -n "$tools" ]; then use=uv
elif [ "$installer" = uv ]; then say "uv is not on PATH: install it, or set \`tools_path\` so that wptdeploy installs it there"
else use=pip
fi
set_id=
[ -n "$locked" ] && set_id=$(printf '%s\n' "$locked" | sha256sum | cut -c 1-12)
# An environment's identity: what it installs, the Python, the installer,
# the site-packages setting, and the set it was promoted with.
identity() {
  {
    echo wptdeploy-venv-2 "$site" "$use" "$set_id"
    "$python" --version 2>&1; readlink -f -- "$(command -v -- "$python")"
    for f in pyproject.toml setup.py setup.cfg; do [ -f "$release/$f" ] && { echo "== $f"; cat -- "$release/$f"; }; done
    if [ "$what" = requirements ]; then
      echo "== requirements"; cat -- "$req"
      dir=${req%/*}
      sed -n 's/^[[:space:]]*\(-r\|-c\|--requirement\|--constraint\)[[:space:]=]*\([^[:space:]]*\).*/\2/p' -- "$req" |
        while read -r f; do case "$f" in /*) ;; *) f="$dir/$f" ;; esac; [ -f "$f" ] && { echo "== $f"; cat -- "$f"; }; done
    else
      echo "== project"; git -c safe.directory='*' -C "$release" rev-parse HEAD 2>/dev/null || date +%s%N
    fi
  } | sha256sum | cut -c 1-16
}
# The newest complete build of an identity (`HASH`, or `HASH-TIME` when forced).
newest() {
  found=
  for e in "$store/$1" "$store/$1"-*; do [ -f "$e/.wptdeploy-complete" ] && found=$e; done
  printf %s "$found"
}
hash=$(identity)
exec 9>"$store/.$hash.lock"
flock 9
env=$(newest "$hash")
if [ -n "$env" ] && [ -z "$force" ]; then
  chose "$env"; echo wptdeploy.built=false; echo wptdeploy.source=reused
  ln -sfn -- "$env" "$release/.venv"
  exit 0
fi
if [ "$use" = uv ] && [ -z "$uv" ]; then
  log=$(mktemp)
  # One installer at a time in a tools_path that several base paths share
  # (one machine, several environments): another's half-made venv has no
  # pip yet, and its uv being written is busy.
  # (`command exec`: a lock file it cannot make does not end the script.)
  if mkdir -p -- "$tools" 2>/dev/null && command exec 8>"$tools/.wptdeploy-install.lock" 2>/dev/null; then flock 8; fi
  if [ -x "$tools/bin/uv" ]; then
    uv="$tools/bin/uv"; rm -f "$log"; exec 8>&-
  elif { [ -x "$tools/bin/python" ] || "$python" -m venv -- "$tools"; } >"$log" 2>&1 &&
     "$tools/bin/python" -m pip install --disable-pip-version-check -q uv >>"$log" 2>&1 && [ -x "$tools/bin/uv" ]; then
    uv="$tools/bin/uv"; echo "wptdeploy.installed_uv=$uv"; rm -f "$log"; exec 8>&-
  else
    exec 8>&-
    why=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1); rm -f "$log"
    [ "$installer" = uv ] && say "uv is not on PATH, and installing it into $tools failed: $why"
    echo "wptdeploy.no_uv=$why"
    use=pip; hash=$(identity)
    exec 9>"$store/.$hash.lock"; flock 9
    env=$(newest "$hash")
    if [ -n "$env" ] && [ -z "$force" ]; then
      chose "$env"; echo wptdeploy.built=false; echo wptdeploy.source=reused
      ln -sfn -- "$env" "$release/.venv"
      exit 0
    fi
  fi
fi
env="$store/$hash"
[ -n "$force" ] && [ -e "$env" ] && env="$store/$hash-$(date -u +%Y%m%dT%H%M%SZ)"
rm -rf -- "$env"
cd -- "$release"
if [ "$use" = uv ]; then
  # The host's own trust store, as pip and curl use (a proxy's CA included).
  export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1 UV_SYSTEM_CERTS=1 UV_NATIVE_TLS=1
  [ -n "$cache" ] && export UV_CACHE_DIR="$cache"
  "$uv" venv --quiet --python "$python" $site "$env"
  install() { "$uv" pip install --python "$env/bin/python" "$@"; }
else
  "$python" -m venv $site -- "$env"
  install() { "$env/bin/python" -m pip install --disable-pip-version-check --progress-bar off "$@"; }
fi
if [ -n "$locked" ]; then
  # The set a tested release recorded, installed as it is: no resolution.
  sync=$(mktemp)
  { [ "$what" = requirements ] && grep -E '^[[:space:]]*(-i|--index-url|--extra-index-url|-f|--find-links|--no-index|--trusted-host)([[:space:]=]|$)' -- "$req" || true
    printf '%s\n' "$locked" | grep -v '^#' || true; } > "$sync"
  install --no-deps -r "$sync"
  rm -f -- "$sync"
  if [ "$what" = project ]; then install --no-deps "$release"
  else
    grep -E '^[[:space:]]*(-e[[:space:]]|--editable|\.|/|file:)' -- "$req" > "$env/.wptdeploy-local" || true
    [ -s "$env/.wptdeploy-local" ] && install --no-deps -r "$env/.wptdeploy-local"
    rm -f -- "$env/.wptdeploy-local"
  fi
  rm -f -- "$env/.wptdeploy-packages.id"
  freeze "$env" > "$env/.wptdeploy-packages"
  if [ "$(cat -- "$env/.wptdeploy-packages")" != "$locked" ]; then
    diff -- "$env/.wptdeploy-packages" - <<LOCKED | sed -n 's/^\([<>]\) /wptdeploy.differs=\1 /p' | head -n 20 || true
$locked
LOCKED
    say "the environment built from the tested set does not hold exactly that set"
  fi
  echo wptdeploy.source=promoted
elif [ "$what" = requirements ]; then install -r "$req"; echo wptdeploy.source=resolved
else install "$release"; echo wptdeploy.source=resolved
fi
lock "$env"
printf '%s %s\n' "$use" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$env/.wptdeploy-complete"
chose "$env"
echo wptdeploy.built=true
echo "wptdeploy.installer=$use"
ln -sfn -- "$env" "$release/.venv"
"##;

/// A build that worked registers the environment and where its set came
/// from; one that failed says which package, in one line.
fn outcome(output: &Output, store: &str, source: &Source) -> Result<Outcome, StepFailure> {
    if output.exit_code == 0 {
        let marks = markers(&output.stdout);
        let get = |k: &str| marks.get(k).cloned().unwrap_or_default();
        let built = get("built") == "true";
        let hash = get("hash");
        let set = match marks.get("packages") {
            Some(id) => format!("set {id}"),
            None => "no recorded set".into(),
        };
        let mut notes = Vec::new();
        let mut warnings = Vec::new();
        if let Some(adopted) = marks.get("adopted") {
            notes.push(format!("kept the virtualenv that was there as {adopted}"));
        }
        let installer = get("installer");
        let (said, from) = match (get("source").as_str(), &source.promoted) {
            ("promoted", Some((env, host))) => (
                format!(
                    "installed the {set} that {env} tested (read from {host}), without resolving; built {hash} with {installer}"
                ),
                format!("promoted from {env} ({host})"),
            ),
            ("resolved", _) => {
                let why = match &source.unpromoted {
                    Some(why) => {
                        warnings.push(format!("resolved the packages here: {why}"));
                        format!(" here ({why})")
                    }
                    None => String::new(),
                };
                (
                    format!("resolved{why}: built {hash} with {installer}, {set}"),
                    "resolved".to_owned(),
                )
            }
            ("kept", _) => (
                format!("kept the release's {hash}, {set}"),
                "kept".to_owned(),
            ),
            _ => {
                let why = match &source.unpromoted {
                    Some(why) => {
                        warnings.push(format!("not promoted: {why}"));
                        format!(" (not promoted: {why})")
                    }
                    None => String::new(),
                };
                (format!("reused {hash}, {set}{why}"), "reused".to_owned())
            }
        };
        notes.push(said);
        if built && marks.contains_key("site_pip") {
            warnings.push(
                "with system site-packages the virtualenv is built with pip: uv does not count the system's packages as installed and would put its own versions over them".into(),
            );
        }
        if let Some(why) = marks.get("no_uv") {
            warnings.push(format!(
                "uv could not be installed ({why}): the virtualenv was built with pip (set `python_installer: pip` to stop trying)"
            ));
        }
        let register = BTreeMap::from([
            ("path", get("path")),
            ("hash", hash),
            ("built", built.to_string()),
            ("installer", installer),
            ("store", store.to_owned()),
            ("packages", get("packages")),
            ("source", from),
        ]);
        return Ok(Outcome {
            changed: built || marks.contains_key("adopted"),
            note: Some(notes.join("; ")),
            register: Some(Value::from_serialize(&register)),
            warnings,
            ..Outcome::default()
        });
    }
    let text = format!("{}\n{}", output.stdout, output.stderr);
    if let Some(said) = text.lines().find_map(|l| l.strip_prefix("wptdeploy: ")) {
        let differs: Vec<&str> = output
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("wptdeploy.differs="))
            .collect();
        if !differs.is_empty() {
            return Err(StepFailure {
                message: format!(
                    "failed: {said} (< built, > tested): {}",
                    differs.join(", ")
                ),
                hints: vec![
                    "the live release is untouched; the index may no longer offer a version the tested set holds".into(),
                ],
            });
        }
        return Err(StepFailure {
            message: format!("failed: {said}"),
            hints: if said.starts_with("there is no requirements file") {
                vec![
                    "set `requirements_file`, or give the project a setup.py or pyproject.toml"
                        .into(),
                ]
            } else {
                Vec::new()
            },
        });
    }
    Err(StepFailure {
        message: format!(
            "building the virtualenv failed: {}; the live release's environment is untouched",
            pip_error(&text)
        ),
        hints: vec!["`-v` shows the installer's whole output".into()],
    })
}

/// The one line that says what pip could not do.
fn pip_error(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let after = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|rest| rest.trim().trim_end_matches('.').to_owned())
    };
    let package = |spec: &str| -> String {
        spec.trim_matches(['\'', '"'])
            .split([' ', '(', ';', '=', '<', '>', '!', '~', '[', ','])
            .next()
            .unwrap_or(spec)
            .to_owned()
    };
    if let Some(spec) = after("ERROR: Could not find a version that satisfies the requirement ") {
        let versions = spec
            .split_once("(from versions: ")
            .map(|(_, v)| format!(" (it has: {}", v.trim_end_matches(')').trim()))
            .map(|v| {
                if v.ends_with("none") {
                    " (none is published)".to_owned()
                } else {
                    format!("{v})")
                }
            })
            .unwrap_or_default();
        return format!(
            "no version of `{}` matches `{}`{versions}",
            package(&spec),
            spec.split(" (").next().unwrap_or(&spec)
        );
    }
    if let Some(cause) = after("cause: Because ") {
        // uv: "there is no version of flask==99.0 and you require flask==99.0, we can conclude ..."
        let cause = cause.split(", we can conclude").next().unwrap_or(&cause);
        return format!("no solution: {cause}");
    }
    if let Some(spec) = after("ERROR: No matching distribution found for ") {
        return format!("no distribution of `{}` matches `{spec}`", package(&spec));
    }
    for prefix in [
        "ERROR: Failed building wheel for ",
        "Failed to build ",
        "× Building wheel for ",
        "× Getting requirements to build wheel did not run successfully",
    ] {
        if let Some(rest) = after(prefix) {
            let name = package(&rest);
            return if name.is_empty() {
                "a package could not be built from source".into()
            } else {
                format!(
                    "`{name}` could not be built (a compiler, or a system library's headers, may be missing)"
                )
            };
        }
    }
    if let Some(rest) = after("ERROR: Cannot install ") {
        return format!("conflicting requirements: cannot install {rest}");
    }
    if let Some(rest) = after("ERROR: Could not install packages due to an OSError: ") {
        return format!("could not install: {rest}");
    }
    if let Some(rest) = after("ERROR: Invalid requirement: ") {
        return format!("invalid requirement {rest}");
    }
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("ERROR:") || l.starts_with("error:"))
        .or_else(|| lines.iter().rev().find(|l| !l.is_empty()))
        .map_or_else(|| "no output".to_owned(), |l| (*l).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installer_failure_names_the_package_in_one_line() {
        assert_eq!(
            pip_error(
                "ERROR: Could not find a version that satisfies the requirement flask==99.0 (from versions: 2.0.0, 3.1.0)\nERROR: No matching distribution found for flask==99.0\n"
            ),
            "no version of `flask` matches `flask==99.0` (it has: 2.0.0, 3.1.0)"
        );
        assert_eq!(
            pip_error(
                "ERROR: Could not find a version that satisfies the requirement nosuchpkg-xyz (from versions: none)\n"
            ),
            "no version of `nosuchpkg-xyz` matches `nosuchpkg-xyz` (none is published)"
        );
        assert_eq!(
            pip_error(
                "  error: subprocess-exited-with-error\n  × Building wheel for psycopg2 (pyproject.toml) did not run successfully.\n"
            ),
            "`psycopg2` could not be built (a compiler, or a system library's headers, may be missing)"
        );
        assert_eq!(
            pip_error(
                "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n"
            ),
            "could not install: [Errno 28] No space left on device"
        );
        assert_eq!(
            pip_error(
                "Using Python 3.11.2 environment at: e3\nerror: No solution found when resolving dependencies\n  cause: Because there is no version of flask==99.0 and you require flask==99.0, we can conclude that your requirements are unsatisfiable.\n"
            ),
            "no solution: there is no version of flask==99.0 and you require flask==99.0"
        );
    }

    #[test]
    fn only_exact_pins_and_comments_are_promoted() {
        for line in [
            "flask==3.1.0",
            "zope.interface==7.2",
            "torch==2.5.1+cpu",
            "# wptdash==0.1 from a local directory",
        ] {
            assert!(promotable(line), "{line}");
        }
        for line in [
            "--index-url https://evil.example/simple",
            "-e git+https://evil.example/x",
            "evil @ https://evil.example/evil.whl",
            "./evil",
            "flask>=3",
            "flask==3.1.0; python_version>'3'",
            "flask==3.1.0 --hash=sha256:00",
            "",
        ] {
            assert!(!promotable(line), "{line}");
        }
        let promotion = Promotion {
            from: "staging".into(),
            error: String::new(),
            required: false,
            sets: BTreeMap::from([(
                "a".repeat(40),
                PromotedSet {
                    host: "web1".into(),
                    packages: "flask==3.1.0\n--extra-index-url https://evil.example/simple".into(),
                },
            )]),
        };
        let refused = promotion.set_of(&"a".repeat(40)).unwrap_err();
        assert!(
            refused.starts_with("staging's set for aaaaaaaaaaaa holds `--extra-index-url https://evil.example/simple`"),
            "{refused}"
        );
        assert_eq!(
            promotion.set_of(&"b".repeat(40)).unwrap_err(),
            "staging has no release of bbbbbbbbbbbb"
        );
    }

    /// Runs the build script here, with pip, as a host would.
    fn build(base: &std::path::Path, release: &str) -> Result<Outcome, StepFailure> {
        let build = Build {
            path: base.join(release).display().to_string(),
            release: base.join(release).display().to_string(),
            store: base.join("venvs").display().to_string(),
            link: base.join("venv").display().to_string(),
            live: base.join("site").display().to_string(),
            requirements: "requirements.txt".into(),
            python: "/usr/bin/python3".into(),
            site_packages: false,
            installer: "pip".into(),
            tools: String::new(),
            cache: String::new(),
            force: false,
            locked: String::new(),
            refuse: String::new(),
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(build.script())
            .output()
            .unwrap();
        let output = Output {
            exit_code: out.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let source = Source {
            promoted: None,
            unpromoted: None,
        };
        outcome(&output, &build.store, &source)
    }

    fn registered(outcome: &Outcome, key: &str) -> String {
        outcome
            .register
            .as_ref()
            .unwrap()
            .get_attr(key)
            .unwrap()
            .to_string()
    }

    /// A shared virtualenv found at `base/venv` is kept for the live
    /// release; two releases with the same requirements share one
    /// environment; another requirement gets another one.
    #[test]
    fn a_real_virtualenv_is_adopted_and_equal_requirements_share_one_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        for release in ["a", "b", "c"] {
            fs_err::create_dir_all(base.join(release)).unwrap();
            fs_err::write(base.join(release).join("requirements.txt"), "").unwrap();
        }
        fs_err::write(base.join("c/requirements.txt"), "# another set\n").unwrap();
        fs_err::create_dir_all(base.join("venv/bin")).unwrap();
        fs_err::write(base.join("venv/marker"), "Ansible's").unwrap();
        std::os::unix::fs::symlink(base.join("a"), base.join("site")).unwrap();

        let first = build(base, "b").unwrap();
        assert!(first.changed);
        assert!(
            first
                .note
                .as_deref()
                .unwrap()
                .starts_with("kept the virtualenv that was there as "),
            "{:?}",
            first.note
        );
        // The stable path is a link through the live release to what was there.
        assert_eq!(
            fs_err::read_link(base.join("venv")).unwrap(),
            base.join("site/.venv")
        );
        assert_eq!(
            fs_err::read_to_string(base.join("venv/marker")).unwrap(),
            "Ansible's"
        );
        let env_b = registered(&first, "path");
        assert_eq!(
            fs_err::read_link(base.join("b/.venv"))
                .unwrap()
                .display()
                .to_string(),
            env_b
        );
        assert_eq!(registered(&first, "built"), "true");

        let second = build(base, "b").unwrap();
        assert!(!second.changed, "{:?}", second.note);
        assert_eq!(registered(&second, "path"), env_b);

        let other = build(base, "c").unwrap();
        assert_ne!(registered(&other, "path"), env_b);
        let users = fs_err::read_to_string(format!("{env_b}.users")).unwrap();
        assert_eq!(users.trim(), base.join("b").display().to_string());
    }
}
