//! `checkout:` resolve a ref to a full SHA and clone it, unless that
//! release is already deployed.
//!
//! ```yaml
//! - name: check out the release
//!   checkout:
//!     repo: "{{ git_repo }}"
//!     ref: "{{ commit }}"
//!     releases: "{{ releases_path }}"
//!     clone_path: "{{ clone_path }}"
//!     force: "{{ force }}"
//!     live: "{{ site_path }}"
//!   register: release
//! ```
//!
//! Registers `{sha, new, path, build_path, live}`: `path` is
//! `releases/SHA`; `build_path` is where to build (`clone_path` for a new
//! release). An already-deployed SHA is not cloned again unless `force`.

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl};
use super::outcome::Outcome;
use super::shell_fns::IS_HEX;
use crate::template::TemplateError;
use crate::transport::quote;

/// The `checkout:` kind.
pub struct CheckoutKind;

/// `checkout:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutArgs {
    /// The git repository URL or path.
    pub repo: Tmpl,
    /// Branch, tag or commit.
    #[serde(rename = "ref")]
    pub reference: Tmpl,
    /// The directory holding one directory per release, named by SHA.
    pub releases: Tmpl,
    /// Where a new release is cloned and built before it is published.
    pub clone_path: Tmpl,
    /// Rebuild even if the release exists.
    #[serde(default)]
    pub force: Option<Tmpl>,
    /// The live symlink: the note then says which release is live now.
    #[serde(default)]
    pub live: Option<Tmpl>,
}

impl StepKind for CheckoutKind {
    const KEY: &'static str = "checkout";
    const SUMMARY: &'static str = "clone `repo` at `ref` and resolve it to a full SHA (a release)";
    type Args = CheckoutArgs;

    fn templates(a: &CheckoutArgs) -> Vec<&str> {
        [&a.repo, &a.reference, &a.releases, &a.clone_path]
            .into_iter()
            .chain(&a.force)
            .chain(&a.live)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &CheckoutArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let spec = Checkout {
            repo: render.text(&a.repo)?,
            reference: render.text(&a.reference)?,
            releases: render.text(&a.releases)?,
            clone_path: render.text(&a.clone_path)?,
            force: render.flag(a.force.as_ref())?,
            live: render.optional(a.live.as_ref())?,
        };
        let probe = render.command(spec.probe_script());
        let command = render.command(spec.script());
        let (releases, clone_path) = (spec.releases, spec.clone_path);
        Ok(Prepared::new(command, move |ran| {
            Ok(outcome(&ran.succeeded()?, &releases, &clone_path))
        })
        .with_probe(probe))
    }
}

struct Checkout {
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
            + IS_HEX
    }

    /// Clones into `clone_path` and prints `wptdeploy.sha=`/`wptdeploy.new=`.
    /// A full SHA whose release exists is not cloned at all (the rollback path).
    pub fn script(&self) -> String {
        self.header()
            + r#"set -e
if is_hex 40 "$ref" && [ -d "$releases/$ref" ] && [ "$force" != true ]; then
  printf 'wptdeploy.sha=%s\nwptdeploy.new=false\n' "$ref"; exit 0
fi
# A clone cut off by the network (a reset, a hang-up) is tried twice more.
tries=1
until said=$(rm -rf -- "$clone" && git clone --quiet --no-checkout -- "$repo" "$clone" 2>&1); do
  case "$said" in
    *"reset by peer"*|*"hung up unexpectedly"*|*"early EOF"*|*"timed out"*|*"unexpected disconnect"*) ;;
    *) tries=3 ;;
  esac
  if [ "$tries" -ge 3 ]; then printf '%s\n' "$said" >&2; exit 128; fi
  echo "wptdeploy.retried=$(printf '%s\n' "$said" | tail -n 1)"; sleep "$tries"; tries=$((tries + 1))
done
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
            + r#"if is_hex 40 "$ref" && [ -d "$releases/$ref" ] && [ "$force" != true ]; then
  printf 'wptdeploy.sha=%s\nwptdeploy.new=false\n' "$ref"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf -- "$tmp"' EXIT
if ! refs=$(git ls-remote -- "$repo" "$ref" "refs/heads/$ref" "refs/tags/$ref" "refs/tags/$ref^{}" 2>"$tmp/err"); then
  echo "wptdeploy: cannot read $repo: $(sed -n 's/^fatal: //p' "$tmp/err" | head -n 1)" >&2; exit 3
fi
pick() { printf '%s\n' "$refs" | awk -v want="$1" '$2 == want { print $1; exit }'; }
sha=$(pick "refs/heads/$ref"); [ -n "$sha" ] || sha=$(pick "refs/tags/$ref^{}"); [ -n "$sha" ] || sha=$(pick "refs/tags/$ref")
[ -n "$sha" ] || [ "$ref" != HEAD ] || sha=$(pick HEAD)
if [ -z "$sha" ] && [ "${#ref}" -ge 4 ] && is_hex "${#ref}" "$ref" && [ "${#ref}" -le 40 ]; then
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
const LIVE: &str = r#"if [ -n "$live" ] && [ -L "$live" ]; then
  live_target=$(readlink -- "$live"); live_target=${live_target%/}; printf 'wptdeploy.live=%s\n' "${live_target##*/}"
fi
"#;

fn outcome(marks: &BTreeMap<String, String>, releases: &str, clone_path: &str) -> Outcome {
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
    let retried = marks
        .get("retried")
        .map(|why| format!("; the clone was tried again after `{why}`"))
        .unwrap_or_default();
    Outcome {
        changed: new,
        register: Some(Value::from_serialize(&release)),
        note: Some(if new {
            format!("new release {sha}{replacing}{retried}")
        } else {
            format!("release {sha} already built{replacing}")
        }),
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clone the network cuts off is tried again, and the note says so.
    #[test]
    fn a_clone_reset_by_the_network_is_tried_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let origin = dir.join("origin");
        git(&["init", "-q", "-b", "main", origin.to_str().unwrap()]);
        let o = origin.to_str().unwrap();
        git(&[
            "-C",
            o,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "one",
        ]);
        let sha = git(&["-C", o, "rev-parse", "HEAD"]);
        // A `git` whose first clone is reset by the peer.
        let bin = dir.join("bin");
        fs_err::create_dir_all(&bin).unwrap();
        let fake = bin.join("git");
        fs_err::write(
            &fake,
            format!(
                "#!/bin/sh\nif [ \"$1\" = clone ] && [ ! -e {m} ]; then touch {m}; echo 'fatal: read error: Connection reset by peer' >&2; exit 128; fi\nexec /usr/bin/git \"$@\"\n",
                m = dir.join("reset-once").display()
            ),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("755")
            .arg(&fake)
            .status()
            .unwrap();
        let checkout = Checkout {
            repo: o.to_owned(),
            reference: "main".into(),
            releases: dir.join("releases").display().to_string(),
            clone_path: dir.join("clone").display().to_string(),
            force: false,
            live: String::new(),
        };
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(checkout.script())
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let outcome = outcome(&crate::steps::outcome::markers(&stdout), "/r", "/c");
        let note = outcome.note.unwrap();
        assert!(note.starts_with(&format!("new release {sha}")), "{note}");
        assert!(
            note.ends_with(
                "the clone was tried again after `fatal: read error: Connection reset by peer`"
            ),
            "{note}"
        );
    }
}
