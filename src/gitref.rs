//! Which refs may be deployed: git's `check-ref-format` rules, plus a
//! refusal of characters that only ever appear in refs to attack a shell
//! (checked before any connection); and whether the repository has the ref,
//! asked from here with `git ls-remote` before a host is touched.

use std::time::Duration;

/// Characters git allows in ref names but wptdeploy refuses.
const SHELL_CHARS: &str = "$`;&|<>()'\"!#{}";

/// Checks `name` (a branch, tag or SHA); the error says what is wrong.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || *c == ' ') {
        return Err(format!("it contains {}", describe(c)));
    }
    if let Some(c) = name.chars().find(|c| "~^:?*[\\".contains(*c)) {
        return Err(format!("git does not allow `{c}` in ref names"));
    }
    if let Some(c) = name.chars().find(|c| SHELL_CHARS.contains(*c)) {
        return Err(format!("wptdeploy does not accept `{c}` in ref names"));
    }
    if name.starts_with('-') {
        return Err("it starts with `-`".into());
    }
    if name == "@" || name.contains("@{") || name.contains("..") || name.contains("//") {
        return Err("git does not allow `@`, `@{`, `..` or `//` there".into());
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return Err("it starts or ends with `/`, or ends with `.`".into());
    }
    if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return Err("a part starts with `.` or ends with `.lock`".into());
    }
    Ok(())
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\n' => "a newline".into(),
        c => format!("the control character {c:?}"),
    }
}

/// What `git ls-remote` here says of a ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The repository has it (a branch, a tag or `HEAD`), with the commit
    /// it names now when the listing says; or it looks like a commit SHA
    /// (only a host's fetch can tell).
    Found(Option<String>),
    /// The repository has no such branch or tag: the names closest to it.
    Missing {
        /// Branches and tags close to it, closest first.
        close: Vec<String>,
    },
    /// The repository could not be asked from here (no network, no
    /// credentials, a path only the hosts have): the hosts will tell.
    Unknown,
}

/// Asks `repo` (as the hosts would clone it) whether it has `reference`,
/// giving up after `timeout`; never prompts for credentials.
pub async fn lookup(repo: &str, reference: &str, timeout: Duration) -> Lookup {
    if looks_like_sha(reference) {
        return Lookup::Found(None);
    }
    let asked = tokio::process::Command::new("git")
        .args(["ls-remote", "--heads", "--tags", "--", repo])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, asked).await {
        Ok(Ok(output)) if output.status.success() => {
            find(&String::from_utf8_lossy(&output.stdout), reference)
        }
        _ => Lookup::Unknown,
    }
}

/// `reference` among `git ls-remote --heads --tags` lines.
fn find(listing: &str, reference: &str) -> Lookup {
    let refs: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter_map(|(sha, name)| {
            name.strip_prefix("refs/heads/")
                .or_else(|| name.strip_prefix("refs/tags/"))
                .map(|name| (sha, name))
        })
        .collect();
    if reference == "HEAD" {
        return Lookup::Found(None);
    }
    // An annotated tag's `^{}` line names the commit it points at.
    let peeled = format!("{reference}^{{}}");
    let commit = refs
        .iter()
        .find(|(_, name)| *name == peeled)
        .or_else(|| refs.iter().find(|(_, name)| *name == reference));
    if let Some((sha, _)) = commit {
        return Lookup::Found(Some((*sha).to_owned()));
    }
    let names: Vec<&str> = refs
        .iter()
        .map(|(_, name)| name.trim_end_matches("^{}"))
        .collect();
    let mut close: Vec<(f64, &str)> = names
        .iter()
        .filter(|n| crate::suggest::closest(reference, [**n]).is_some())
        .map(|n| (strsim::jaro_winkler(reference, n), *n))
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    close.dedup_by(|a, b| a.1 == b.1);
    Lookup::Missing {
        close: close
            .into_iter()
            .take(3)
            .map(|(_, n)| n.to_owned())
            .collect(),
    }
}

/// 4 to 40 hex digits: a commit, perhaps abbreviated.
fn looks_like_sha(reference: &str) -> bool {
    (4..=40).contains(&reference.len()) && reference.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::{Lookup, find, looks_like_sha, validate};

    #[test]
    fn ordinary_refs_pass() {
        for ok in [
            "master",
            "my-branch",
            "feature/add_comment-url",
            "v1.2.3",
            "3f2a9c1d",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn hostile_and_malformed_refs_are_refused() {
        for bad in [
            "x; rm -rf /",
            "x;touch /tmp/p",
            "$(id)",
            "`id`",
            "a\nb",
            "it's",
            "\"q\"",
            "-x",
            "a..b",
            "a.lock",
            ".hidden",
            "a//b",
            "",
            "a b",
            "x|y",
            "a@{1}",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_reason_is_specific() {
        assert_eq!(validate("x; rm -rf /"), Err("it contains a space".into()));
        assert_eq!(
            validate("$(id)"),
            Err("wptdeploy does not accept `$` in ref names".into())
        );
        assert_eq!(validate("a\nb"), Err("it contains a newline".into()));
    }

    #[test]
    fn a_listing_finds_branches_and_tags_and_names_the_close_ones() {
        let listing = "aaa\trefs/heads/master\nbbb\trefs/heads/feature/comment-url\nccc\trefs/heads/feature/comments\nddd\trefs/tags/v1.0\neee\trefs/tags/v1.0^{}\n";
        assert_eq!(find(listing, "master"), Lookup::Found(Some("aaa".into())));
        assert_eq!(find(listing, "v1.0"), Lookup::Found(Some("eee".into())));
        assert_eq!(find(listing, "HEAD"), Lookup::Found(None));
        assert_eq!(
            find(listing, "feature/comment-ur"),
            Lookup::Missing {
                close: vec!["feature/comment-url".into(), "feature/comments".into()]
            }
        );
        assert_eq!(
            find(listing, "zzzzzzzzzz"),
            Lookup::Missing { close: vec![] }
        );
        assert!(looks_like_sha("3f2a9c1"));
        assert!(!looks_like_sha("master"));
    }
}
