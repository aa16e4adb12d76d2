//! `checkout:` resolve a ref to a full SHA and clone it, unless that
//! release is already deployed.

use std::collections::BTreeMap;

use minijinja::Value;

use super::Outcome;
use crate::transport::quote;

pub(super) struct Checkout {
    pub repo: String,
    pub reference: String,
    pub releases: String,
    pub clone_path: String,
    pub force: bool,
    /// The live symlink, to say which release a new one replaces.
    pub live: String,
}

impl Checkout {
    fn header(&self) -> String {
        format!(
            "repo={} ref={} releases={} clone={} force={} live={}\n",
            quote(&self.repo),
            quote(&self.reference),
            quote(&self.releases),
            quote(&self.clone_path),
            self.force,
            quote(&self.live),
        ) + LIVE
    }

    /// Clones into `clone_path` and prints `wptdeploy.sha=`/`wptdeploy.new=`.
    /// A full SHA whose release exists is not cloned at all (the rollback path).
    pub fn script(&self) -> String {
        self.header()
            + r#"set -e
is_sha() { printf %s "$1" | grep -Eqx '[0-9a-f]{40}'; }
if is_sha "$ref" && [ -d "$releases/$ref" ] && [ "$force" != true ]; then
  printf 'wptdeploy.sha=%s\nwptdeploy.new=false\n' "$ref"; exit 0
fi
rm -rf -- "$clone"
git clone --quiet --no-checkout -- "$repo" "$clone"
cd -- "$clone"
sha=$(git rev-parse --verify --quiet "refs/remotes/origin/$ref^{commit}" \
   || git rev-parse --verify --quiet "refs/tags/$ref^{commit}" \
   || git rev-parse --verify --quiet "$ref^{commit}") || {
  echo "wptdeploy: \`$ref\` is not a branch, tag or commit of $repo" >&2; exit 3; }
if [ -d "$releases/$sha" ] && [ "$force" != true ]; then
  cd / && rm -rf -- "$clone"
  printf 'wptdeploy.sha=%s\nwptdeploy.new=false\n' "$sha"; exit 0
fi
git checkout --quiet --detach "$sha"
printf 'wptdeploy.sha=%s\nwptdeploy.new=true\n' "$sha"
"#
    }

    /// The read-only version for `--check`: resolves the ref to its full
    /// SHA without touching the releases: a branch, tag or `HEAD` with
    /// `git ls-remote`; a (short) SHA by fetching the commits (not their
    /// files) into a throwaway directory. A ref the repository does not
    /// have, or a repository that cannot be read, fails with git's error.
    pub fn probe_script(&self) -> String {
        self.header()
            + r#"is_sha() { printf %s "$1" | grep -Eqx '[0-9a-f]{40}'; }
if is_sha "$ref" && [ -d "$releases/$ref" ] && [ "$force" != true ]; then
  printf 'wptdeploy.sha=%s\nwptdeploy.new=false\n' "$ref"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf -- "$tmp"' EXIT
if ! refs=$(git ls-remote -- "$repo" "$ref" "refs/heads/$ref" "refs/tags/$ref" "refs/tags/$ref^{}" 2>"$tmp/err"); then
  echo "wptdeploy: cannot read $repo: $(sed -n 's/^fatal: //p' "$tmp/err" | head -n 1)" >&2; exit 3
fi
pick() { printf '%s\n' "$refs" | awk -v want="$1" '$2 == want { print $1; exit }'; }
sha=$(pick "refs/heads/$ref"); [ -n "$sha" ] || sha=$(pick "refs/tags/$ref^{}"); [ -n "$sha" ] || sha=$(pick "refs/tags/$ref")
[ -n "$sha" ] || [ "$ref" != HEAD ] || sha=$(pick HEAD)
if [ -z "$sha" ] && printf %s "$ref" | grep -Eqx '[0-9a-f]{4,40}'; then
  git init -q --bare "$tmp/git"
  if git -C "$tmp/git" fetch -q --filter=tree:0 -- "$repo" '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' 2>"$tmp/err"; then
    sha=$(git -C "$tmp/git" rev-parse --verify -q "$ref^{commit}" || true)
  fi
fi
if [ -z "$sha" ]; then echo "wptdeploy: \`$ref\` is not a branch, tag or commit of $repo" >&2; exit 3; fi
new=true
if [ -d "$releases/$sha" ] && [ "$force" != true ]; then new=false; fi
printf 'wptdeploy.sha=%s\nwptdeploy.new=%s\nwptdeploy.cloned=false\n' "$sha" "$new"
"#
    }
}

/// Prints the live release's directory name, if there is a live link.
const LIVE: &str = r#"if [ -n "$live" ] && [ -L "$live" ]; then printf 'wptdeploy.live=%s\n' "$(basename -- "$(readlink -- "$live")")"; fi
"#;

pub(super) fn outcome(
    marks: &BTreeMap<String, String>,
    releases: &str,
    clone_path: &str,
) -> Outcome {
    let sha = marks.get("sha").cloned().unwrap_or_default();
    let new = marks.get("new").is_some_and(|n| n == "true");
    let live = marks.get("live").cloned().unwrap_or_default();
    let shown = sha.clone();
    let path = format!("{}/{shown}", releases.trim_end_matches('/'));
    // Under --check a new release is not cloned: whatever `clone_path`
    // holds (a failed run's leftovers) is not it.
    let not_cloned = marks.get("cloned").is_some_and(|c| c == "false");
    let build_path = match (new, not_cloned) {
        (true, true) => crate::template::Unknown::value("release.build_path"),
        (true, false) => Value::from(clone_path),
        (false, _) => Value::from(path.clone()),
    };
    let release = BTreeMap::from([
        ("sha", Value::from(shown)),
        ("new", Value::from(new)),
        ("build_path", build_path),
        ("path", Value::from(path)),
        ("live", Value::from(live.clone())),
    ]);
    let replacing = if live.is_empty() {
        String::new()
    } else if live == sha {
        " (live now)".to_owned()
    } else {
        format!(" (live now: {live})")
    };
    Outcome {
        changed: new,
        register: Some(Value::from_serialize(&release)),
        note: Some(if new {
            format!("new release {sha}{replacing}")
        } else {
            format!("release {sha} already built{replacing}")
        }),
        ..Outcome::default()
    }
}
