//! The deploy lock as the engine handles it: where it is, who holds it,
//! and the commands that take, confirm, release, read and remove it
//! (the `lock:` kind, `src/steps/lock.rs`, says how taking it works).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::steps::outcome::{StepFailure, failure, markers};
use crate::transport::{Output, RemoteCommand, quote};

/// How old (by the host's clock) an unconfirmed lock must be before the
/// next deploy takes it over: far more than a round trip, so an owner that
/// is only slow loses nothing but its own run (its confirmation fails).
pub const UNCONFIRMED_GRACE_SECS: u64 = 5;

/// Where the lock lives on a host and as whom it is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockSpec {
    /// The lock directory.
    pub path: String,
    /// The user that creates and removes it.
    pub become_user: Option<String>,
    /// Held past the run's end (`wptdeploy lock ENV -m WHY`), not released.
    pub kept: bool,
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
    /// This process, so that a lock it leaves can be proved stale.
    pub process: super::process::ProcessId,
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
    /// Whether the lock is mid-way: taken and not yet confirmed, or being
    /// taken over as abandoned. Either settles within seconds.
    pub fn settling(&self) -> bool {
        matches!(
            self.fields.get("state").map(String::as_str),
            Some("pending" | "abandoned")
        )
    }

    /// `alice@laptop since 3m 12s ago (commit my-branch, `wptdeploy staging ...`)`;
    /// a lock with no note (its taker died while writing it) says so.
    pub fn describe(&self) -> String {
        let get = |k: &str| self.fields.get(k).map_or("?", String::as_str);
        let age = self.age.map_or_else(
            || "at an unknown time".to_owned(),
            |a| format!("{} ago", humantime::format_duration(a)),
        );
        if !self.fields.contains_key("who") {
            return format!(
                "a deploy that left no note in it (taken {age}; one that died while taking it?)"
            );
        }
        let unconfirmed = if self.settling() {
            ", not confirmed yet"
        } else {
            ""
        };
        let stale = self
            .stale()
            .map(|why| format!("; stale: {why}"))
            .unwrap_or_default();
        format!(
            "{} since {age} (commit {}, `{}`{unconfirmed}){stale}",
            get("who"),
            get("commit"),
            get("command")
        )
    }

    /// Why the lock is stale, when its holder is provably gone (it ran on
    /// this machine, and no longer runs). A stale lock is only named:
    /// `wptdeploy unlock` removes it.
    pub fn stale(&self) -> Option<String> {
        super::process::ProcessId::gone(&self.fields)
    }

    fn parse(text: &str, prefix: &str) -> Holder {
        let fields: BTreeMap<String, String> = text
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter(|l| !l.starts_with("wptdeploy."))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let number = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok());
        let age = number("now")
            .zip(number("started").or_else(|| number("made")))
            .map(|(now, started)| now.saturating_sub(started))
            .or_else(|| number("age"))
            .map(Duration::from_secs);
        Holder { fields, age }
    }
}

/// Prints a held lock's note, when it was made, the host's clock, and
/// whether it is confirmed (a lock from before confirmations has neither
/// file and counts as confirmed).
const HELD: &str = r#"echo wptdeploy.lock=held; cat -- "$lock/info" 2>/dev/null || true; echo "made=$(stat -c %Y -- "$lock" 2>/dev/null)"; echo "now=$(date +%s)"; if [ -e "$lock/abandoned" ]; then echo state=abandoned; else for p in "$lock"/pending.*; do [ -e "$p" ] && echo state=pending; break; done; fi"#;

impl LockSpec {
    fn command(&self, script: &str) -> RemoteCommand {
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
        .chain(owner.process.note_lines().iter())
        .map(|line| quote(&line.replace('\n', " ")))
        .collect::<Vec<_>>()
        .join(" ");
        let pending = quote(&format!("pending.{}", owner.token));
        // Held means the directory exists; anything else that stops mkdir,
        // or the note's write, is the real cause, and leaves no lock behind.
        // A lock left unconfirmed too long is claimed (one rename of its
        // pending file), reported, removed, and taken afresh.
        self.command(&format!(
            r#"tries=0
while :; do
  if why=$(mkdir -- "$lock" 2>&1); then
    if why=$({{ printf '%s\n' {note} > "$lock/info.part" && : > "$lock/"{pending}; }} 2>&1) && mv -f -- "$lock/info.part" "$lock/info"; then
      echo wptdeploy.lock=acquired
    else
      rm -rf -- "$lock"
      echo "wptdeploy: cannot write the deploy lock's note in $lock: ${{why##*: }}" >&2; exit 4
    fi
  elif [ -d "$lock" ]; then
    age=$(( $(date +%s) - $(stat -c %Y -- "$lock" 2>/dev/null || date +%s) ))
    if [ "$tries" -lt 5 ] && [ "$age" -gt {UNCONFIRMED_GRACE_SECS} ]; then
      for p in "$lock"/pending.*; do
        if [ -e "$p" ] && mv -- "$p" "$lock/abandoned" 2>/dev/null; then
          sed 's/^/abandoned./' -- "$lock/info" 2>/dev/null; echo "abandoned.age=$age"
          rm -rf -- "$lock"; tries=$((tries + 1)); continue 2
        fi
      done
    fi
    {HELD}
  elif [ ! -e "$lock" ] && [ "$tries" -lt 5 ]; then
    # Released between our mkdir and our look: try again.
    tries=$((tries + 1)); continue
  else
    echo "wptdeploy: cannot create the deploy lock $lock: ${{why##*: }}" >&2; exit 4
  fi
  break
done
"#
        ))
    }

    /// Confirms the lock [`LockSpec::acquire`] just took with `token`;
    /// prints nothing if it was taken over meanwhile (see [`confirmed`]).
    pub fn confirm(&self, token: &str) -> RemoteCommand {
        RemoteCommand {
            in_place: true,
            ..self.command(&format!(
                "if mv -- \"$lock/\"{} \"$lock/confirmed\" 2>/dev/null; then echo wptdeploy.lock=confirmed; fi\n",
                quote(&format!("pending.{token}"))
            ))
        }
    }

    /// Removes the lock if it is still the one with `token`.
    pub fn release(&self, token: &str) -> RemoteCommand {
        RemoteCommand {
            in_place: true,
            ..self.command(&format!(
                "mine=; if [ -f \"$lock/info\" ]; then while IFS= read -r l; do [ \"$l\" != {} ] || mine=1; done < \"$lock/info\"; fi\n\
                 if [ -n \"$mine\" ]; then rm -rf -- \"$lock\"; echo wptdeploy.changed=true; fi\n",
                quote(&format!("token={token}"))
            ))
        }
    }

    /// Prints the holder's note, if the lock is held.
    pub fn inspect(&self) -> RemoteCommand {
        self.command(&format!("if [ -d \"$lock\" ]; then {HELD}; fi\n"))
    }

    /// Removes the lock whoever holds it (`wptdeploy unlock`), printing
    /// its note first.
    pub fn remove(&self) -> RemoteCommand {
        self.command(&format!(
            "if [ -d \"$lock\" ]; then {HELD}; rm -rf -- \"$lock\"; fi\n"
        ))
    }

    /// Why taking the lock failed when nobody holds it: the cause the
    /// script reported (permission denied, no space left), or sudo's.
    pub fn failure(&self, acquire: &RemoteCommand, output: &Output) -> StepFailure {
        lock_failure(self, acquire, output)
    }
}

fn lock_failure(spec: &LockSpec, acquire: &RemoteCommand, output: &Output) -> StepFailure {
    let Some(cause) = output
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("wptdeploy: "))
    else {
        return failure(acquire, output);
    };
    let who = spec
        .become_user
        .as_deref()
        .map_or_else(|| "the login user".to_owned(), |u| format!("`{u}`"));
    let parent = spec.path.rsplit_once('/').map_or(".", |(dir, _)| dir);
    let hint = if cause.contains("Permission denied") {
        format!(
            "{parent} must be writable by {who}: the default deploy makes it so as root in its first steps; check `base_path`, `lock_path` and `app_user`"
        )
    } else if cause.contains("No space left") || cause.contains("Disk quota") {
        format!("free some space on the host's filesystem holding {parent}, then deploy again")
    } else if cause.contains("No such file") {
        format!("{parent} does not exist: check `base_path` and `lock_path`")
    } else {
        "nothing was locked; fix that and deploy again".to_owned()
    };
    StepFailure {
        message: cause.to_owned(),
        hints: vec![hint, "no lock was left behind".into()],
    }
}

/// Reads the output of [`LockSpec::acquire`] or [`LockSpec::inspect`]:
/// `None` when we hold (or nobody holds) the lock, else the holder.
pub fn holder(output: &Output) -> Option<Holder> {
    (markers(&output.stdout).get("lock").map(String::as_str) == Some("held"))
        .then(|| Holder::parse(&output.stdout, ""))
}

/// Reads the output of [`LockSpec::acquire`] that took the lock: the
/// unconfirmed lock it took over on the way, if it did.
pub fn abandoned(output: &Output) -> Option<Holder> {
    let holder = Holder::parse(&output.stdout, "abandoned.");
    (!holder.fields.is_empty()).then_some(holder)
}

/// Reads the output of [`LockSpec::confirm`]: whether the lock is ours.
pub fn confirmed(output: &Output) -> bool {
    markers(&output.stdout).get("lock").map(String::as_str) == Some("confirmed")
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

    #[test]
    fn a_lock_without_a_note_says_so_with_its_age() {
        let output = Output {
            exit_code: 0,
            stdout: "wptdeploy.lock=held\nmade=100\nnow=160\n".into(),
            stderr: String::new(),
        };
        assert_eq!(
            holder(&output).unwrap().describe(),
            "a deploy that left no note in it (taken 1m ago; one that died while taking it?)"
        );
    }

    /// The acquire script in a real shell: a permission error is the cause,
    /// not a holder, and a note that cannot be written leaves no lock.
    #[test]
    fn acquiring_reports_the_real_cause_and_leaves_nothing_half_made() {
        let tmp = tempfile::tempdir().unwrap();
        let owner = LockOwner {
            token: "t".into(),
            who: "me@here".into(),
            commit: "main".into(),
            command: "wptdeploy staging".into(),
            process: super::super::process::ProcessId::this(),
        };
        let run = |path: &std::path::Path| {
            let spec = LockSpec {
                path: path.display().to_string(),
                become_user: None,
                kept: false,
            };
            std::process::Command::new("sh")
                .arg("-c")
                .arg(spec.acquire(&owner).script)
                .output()
                .unwrap()
        };
        let missing_parent = run(&tmp.path().join("no/such/dir/lock"));
        assert_eq!(missing_parent.status.code(), Some(4));
        let said = String::from_utf8_lossy(&missing_parent.stderr);
        assert!(
            said.contains("cannot create the deploy lock")
                && said.contains("No such file or directory"),
            "{said}"
        );
        let lock = tmp.path().join("lock");
        let first = run(&lock);
        assert!(String::from_utf8_lossy(&first.stdout).contains("wptdeploy.lock=acquired"));
        assert!(
            fs_err::read_to_string(lock.join("info"))
                .unwrap()
                .contains("who=me@here")
        );
        let second = run(&lock);
        assert!(String::from_utf8_lossy(&second.stdout).contains("wptdeploy.lock=held"));
    }

    /// Confirmation in a real shell: a fresh lock is pending until its owner
    /// confirms it; one never confirmed is taken over once old, and its
    /// owner's late confirmation then fails; an old-style lock (neither
    /// file) is only ever held.
    #[test]
    fn an_unconfirmed_lock_is_taken_over_once_old_and_its_owner_cannot_confirm_it() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = tmp.path().join("lock");
        let spec = LockSpec {
            path: lock.display().to_string(),
            become_user: None,
            kept: false,
        };
        let owner = |token: &str, commit: &str| LockOwner {
            token: token.into(),
            who: "me@here".into(),
            commit: commit.into(),
            command: "wptdeploy staging".into(),
            process: super::super::process::ProcessId::this(),
        };
        let sh = |command: RemoteCommand| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(command.script)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            Output {
                exit_code: 0,
                stdout: String::from_utf8(out.stdout).unwrap(),
                stderr: String::new(),
            }
        };
        let age = |minutes: u32| {
            let status = std::process::Command::new("touch")
                .args(["-d", &format!("-{minutes} minutes")])
                .arg(&lock)
                .status()
                .unwrap();
            assert!(status.success());
        };

        assert_eq!(holder(&sh(spec.acquire(&owner("first", "a")))), None);
        let pending = holder(&sh(spec.acquire(&owner("second", "b")))).unwrap();
        assert!(pending.settling(), "{pending:?}");
        assert!(pending.describe().contains("not confirmed yet"));
        assert!(confirmed(&sh(spec.confirm("first"))));
        let held = holder(&sh(spec.acquire(&owner("second", "b")))).unwrap();
        assert!(!held.settling(), "{held:?}");
        age(10);
        assert!(holder(&sh(spec.acquire(&owner("second", "b")))).is_some());

        fs_err::remove_dir_all(&lock).unwrap();
        assert_eq!(holder(&sh(spec.acquire(&owner("late", "c")))), None);
        age(1);
        let taken = sh(spec.acquire(&owner("next", "d")));
        assert_eq!(holder(&taken), None, "{taken:?}");
        let old = abandoned(&taken).expect("the abandoned lock reported");
        assert_eq!(old.fields.get("commit").map(String::as_str), Some("c"));
        assert!(old.age.is_some_and(|a| a.as_secs() >= 60), "{old:?}");
        assert!(!confirmed(&sh(spec.confirm("late"))));
        assert!(confirmed(&sh(spec.confirm("next"))));
        assert!(
            fs_err::read_to_string(lock.join("info"))
                .unwrap()
                .contains("commit=d")
        );

        fs_err::remove_dir_all(&lock).unwrap();
        fs_err::create_dir(&lock).unwrap();
        fs_err::write(lock.join("info"), "token=x\nwho=old@tool\ncommit=e\n").unwrap();
        age(10);
        let legacy = holder(&sh(spec.acquire(&owner("new", "f")))).unwrap();
        assert!(!legacy.settling());
        assert_eq!(legacy.fields.get("commit").map(String::as_str), Some("e"));
    }
}
