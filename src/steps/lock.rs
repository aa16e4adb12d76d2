//! The deploy lock: a directory created atomically with `mkdir`, holding a
//! note of who took it, when, for which commit, and a token that only the
//! owner's release matches.

use std::collections::BTreeMap;
use std::time::Duration;

use super::markers;
use crate::transport::{Output, RemoteCommand, quote};

/// Where the lock lives on a host and as whom it is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockSpec {
    /// The lock directory.
    pub path: String,
    /// The user that creates and removes it.
    pub become_user: Option<String>,
}

/// What a deploy writes into the lock it takes.
#[derive(Debug, Clone)]
pub struct LockOwner {
    /// Random; proves a lock is ours when releasing it.
    pub token: String,
    /// `user@machine` of the person deploying.
    pub who: String,
    /// The commit being deployed.
    pub commit: String,
    /// The command, as typed (secrets removed).
    pub command: String,
}

/// Someone else's lock, as read from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The `key=value` lines of the lock note.
    pub fields: BTreeMap<String, String>,
    /// How long it has been held, by the host's clock.
    pub age: Option<Duration>,
}

impl Holder {
    /// `alice@laptop, 3m 12s ago, commit my-branch: wptdeploy staging ...`
    pub fn describe(&self) -> String {
        let get = |k: &str| self.fields.get(k).map_or("?", String::as_str);
        let age = self.age.map_or_else(
            || "at an unknown time".to_owned(),
            |a| format!("{} ago", humantime::format_duration(a)),
        );
        format!(
            "{} since {age} (commit {}, `{}`)",
            get("who"),
            get("commit"),
            get("command")
        )
    }

    fn parse(text: &str) -> Option<Holder> {
        let fields: BTreeMap<String, String> = text
            .lines()
            .filter(|l| !l.starts_with("wptdeploy."))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let number = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok());
        let age = number("now")
            .zip(number("started"))
            .map(|(now, started)| Duration::from_secs(now.saturating_sub(started)));
        fields.contains_key("who").then_some(Holder { fields, age })
    }
}

impl LockSpec {
    fn command(&self, script: String) -> RemoteCommand {
        RemoteCommand {
            script: format!("lock={}\n{script}", quote(&self.path)),
            become_user: self.become_user.clone(),
            ..RemoteCommand::default()
        }
    }

    /// Takes the lock, or prints the holder's note.
    pub fn acquire(&self, owner: &LockOwner) -> RemoteCommand {
        let note = [
            format!("token={}", owner.token),
            format!("who={}", owner.who),
            format!("commit={}", owner.commit),
            format!("command={}", owner.command),
        ]
        .iter()
        .map(|line| quote(&line.replace('\n', " ")))
        .collect::<Vec<_>>()
        .join(" ");
        self.command(format!(
            r#"if mkdir -- "$lock" 2>/dev/null; then
  printf '%s\n' {note} "started=$(date +%s)" > "$lock/info"
  echo wptdeploy.lock=acquired
else
  echo wptdeploy.lock=held; cat -- "$lock/info" 2>/dev/null || true; echo "now=$(date +%s)"
fi
"#
        ))
    }

    /// Removes the lock if it is still the one with `token`.
    pub fn release(&self, token: &str) -> RemoteCommand {
        self.command(format!(
            "if grep -qxF {} \"$lock/info\" 2>/dev/null; then rm -rf -- \"$lock\"; echo wptdeploy.changed=true; fi\n",
            quote(&format!("token={token}"))
        ))
    }

    /// Prints the holder's note, if the lock is held.
    pub fn inspect(&self) -> RemoteCommand {
        self.command(
            "if [ -d \"$lock\" ]; then echo wptdeploy.lock=held; cat -- \"$lock/info\" 2>/dev/null || true; echo \"now=$(date +%s)\"; fi\n".into(),
        )
    }

    /// Removes the lock whoever holds it (`wptdeploy unlock`).
    pub fn remove(&self) -> RemoteCommand {
        self.command("rm -rf -- \"$lock\"\n".into())
    }
}

/// Reads the output of [`LockSpec::acquire`] or [`LockSpec::inspect`]:
/// `None` when we hold (or nobody holds) the lock, else the holder.
pub fn holder(output: &Output) -> Option<Holder> {
    (markers(&output.stdout).get("lock").map(String::as_str) == Some("held")).then(|| {
        Holder::parse(&output.stdout).unwrap_or(Holder {
            fields: BTreeMap::new(),
            age: None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_described_with_its_age() {
        let output = Output {
            exit_code: 0,
            stdout: "wptdeploy.lock=held\ntoken=abc\nwho=alice@laptop\ncommit=main\ncommand=wptdeploy staging\nstarted=100\nnow=292\n".into(),
            stderr: String::new(),
        };
        let holder = holder(&output).unwrap();
        assert_eq!(
            holder.describe(),
            "alice@laptop since 3m 12s ago (commit main, `wptdeploy staging`)"
        );
        let free = Output {
            stdout: "wptdeploy.lock=acquired\n".into(),
            ..output
        };
        assert_eq!(super::holder(&free), None);
    }
}
