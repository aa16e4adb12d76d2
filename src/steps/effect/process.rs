//! This wptdeploy process as a deploy lock's note names it, and whether
//! the process a note names is provably gone: the same machine (its host
//! name and boot), and no process with that id started at that moment.

use std::collections::BTreeMap;

/// Which process holds a lock: enough to prove, on the machine that ran
/// it, that it is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessId {
    /// Its process id.
    pub pid: u32,
    /// The machine's host name.
    pub machine: String,
    /// The machine's boot id (`/proc/sys/kernel/random/boot_id`).
    pub boot: String,
    /// When the process started, in clock ticks after boot (`/proc/PID/stat`).
    pub start: String,
}

impl ProcessId {
    /// This process.
    pub fn this() -> ProcessId {
        let pid = std::process::id();
        ProcessId {
            pid,
            machine: read_trimmed("/proc/sys/kernel/hostname"),
            boot: read_trimmed("/proc/sys/kernel/random/boot_id"),
            start: start_of(pid).unwrap_or_default(),
        }
    }

    /// The `key=value` lines a lock note holds.
    pub fn note_lines(&self) -> [String; 4] {
        [
            format!("pid={}", self.pid),
            format!("machine={}", self.machine),
            format!("boot={}", self.boot),
            format!("pstart={}", self.start),
        ]
    }

    /// Why the holder a lock note's `fields` name is provably gone, if it
    /// is: this machine restarted since, or no process with its id and
    /// start time runs here. `None` when it may still run (another
    /// machine, or a note without these fields).
    pub fn gone(fields: &BTreeMap<String, String>) -> Option<String> {
        let here = ProcessId::this();
        let machine = fields.get("machine")?;
        let pid: u32 = fields.get("pid")?.parse().ok()?;
        if machine != &here.machine || here.machine.is_empty() {
            return None;
        }
        if fields.get("boot").is_some_and(|b| *b != here.boot) {
            return Some(format!(
                "its holder ran on this machine ({machine}), which restarted since"
            ));
        }
        let alive = start_of(pid).is_some_and(|s| fields.get("pstart") == Some(&s));
        (!alive).then(|| format!("its holder, wptdeploy (pid {pid} on this machine), is gone"))
    }
}

fn read_trimmed(path: &str) -> String {
    fs_err::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Field 22 of `/proc/PID/stat` (after the command name, which may hold
/// spaces and parentheses): when the process started.
fn start_of(pid: u32) -> Option<String> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(id: &ProcessId) -> BTreeMap<String, String> {
        id.note_lines()
            .iter()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn a_live_holder_is_not_gone_and_a_dead_one_is() {
        let me = ProcessId::this();
        assert!(!me.start.is_empty(), "{me:?}");
        assert_eq!(ProcessId::gone(&fields(&me)), None);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_of(pid);
        child.wait().unwrap();
        let dead = ProcessId {
            pid,
            start: start.unwrap_or_else(|| "1".into()),
            ..me.clone()
        };
        assert!(
            ProcessId::gone(&fields(&dead)).is_some_and(|why| why.contains("is gone")),
            "{dead:?}"
        );
        let elsewhere = ProcessId {
            machine: "another-machine".into(),
            ..dead
        };
        assert_eq!(ProcessId::gone(&fields(&elsewhere)), None);
        let rebooted = ProcessId {
            boot: "another-boot".into(),
            ..me
        };
        assert!(ProcessId::gone(&fields(&rebooted)).is_some_and(|why| why.contains("restarted")),);
    }
}
