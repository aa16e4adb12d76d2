//! What a run records of itself and leaves to the person: who ran it and
//! from where (the lock's note, the history record), the command line
//! (masked later), who is told of it (`notify_webhook`), and what to do if
//! its cleanup is abandoned.

use std::collections::BTreeMap;

use crate::engine::Audit;
use crate::plan::Plan;
use crate::template::Templates;
use crate::transport::quote;

/// Who is told of this change (`notify_webhook`, `notify_command`, as
/// the first host's variables say), if anyone.
pub(super) fn notifier(
    plan: &Plan,
    templates: &Templates,
    resolved: &BTreeMap<String, String>,
    audit: &Audit,
) -> Option<crate::notify::Notifier> {
    let scope = plan.hosts.first()?.scope(templates, BTreeMap::new());
    let value = |expression: &str| templates.render(expression, &scope).unwrap_or_default();
    let run = crate::notify::Run {
        env: &plan.env,
        command: &audit.command,
        commit: &plan.commit,
        sha: resolved.get(&plan.commit).map(String::as_str),
        hosts: plan.hosts.iter().map(|h| h.name.as_str()).collect(),
        by: &audit.by,
        git: &audit.git,
    };
    crate::notify::Notifier::new(
        value("{{ notify_webhook }}"),
        value("{{ notify_command }}"),
        &run,
    )
}

/// This run's command line, each word quoted as a shell would need.
pub(super) fn command_line() -> String {
    quoted(std::env::args())
}

/// `args` (a program and its words) as `wptdeploy` and each word quoted.
fn quoted(args: impl Iterator<Item = String>) -> String {
    let words: Vec<String> = args
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                "wptdeploy".to_owned()
            } else {
                crate::transport::quote(&w)
            }
        })
        .collect();
    words.join(" ")
}

/// `Name <email>` from the local git configuration, or empty (one `git`
/// run for both keys).
pub(super) fn git_identity() -> String {
    let listed = std::process::Command::new("git")
        .args(["config", "--get-regexp", r"^user\.(name|email)$"])
        .stderr(std::process::Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let get = |key: &str| {
        listed
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter(|(k, _)| *k == key)
            .map(|(_, value)| value.trim().to_owned())
            .next_back()
            .unwrap_or_default()
    };
    match (get("user.name"), get("user.email")) {
        (name, email) if name.is_empty() && email.is_empty() => String::new(),
        (name, email) if email.is_empty() => name,
        (name, email) => format!("{name} <{email}>").trim().to_owned(),
    }
}

/// `user@machine`: who holds a lock this run takes.
pub(super) fn this_machine() -> String {
    let host = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "localhost".into(), |h| h.trim().to_owned());
    format!("{}@{host}", crate::transport::local_user())
}

/// What a run abandoned in the middle of its cleanup may have left, host by
/// host, and how to fix it.
pub(super) fn abandoned_message(plan: &Plan, templates: &Templates) -> String {
    let mut lines = vec!["abandoned before the cleanup ended; what may be left:".to_owned()];
    for host in &plan.hosts {
        let scope = host.scope(templates, std::collections::BTreeMap::new());
        let get = |name: &str| {
            crate::template::Scope::lookup(&scope, name)
                .map_or_else(|_| format!("<{name}>"), |v| v.to_string())
        };
        lines.push(format!(
            "  {}: the deploy lock {} (`wptdeploy unlock {}` removes it); `readlink {}` shows the release live now",
            host.name,
            get("lock_path"),
            quote(&plan.env),
            quote(&get("site_path"))
        ));
    }
    lines.push(format!(
        "  `wptdeploy {} --commit SHA` with the previous release's SHA switches back",
        quote(&plan.env)
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_quoted_word_by_word_under_the_tools_name() {
        let args = [
            "/usr/local/bin/wptdeploy",
            "staging",
            "-e",
            "msg=it's a test",
            "x; rm -rf /",
        ];
        assert_eq!(
            quoted(args.iter().map(|a| (*a).to_owned())),
            "wptdeploy staging -e 'msg=it'\\''s a test' 'x; rm -rf /'"
        );
    }

    #[test]
    fn who_ran_it_is_user_at_machine() {
        let who = this_machine();
        let (user, machine) = who.split_once('@').expect(&who);
        assert!(!user.is_empty() && !machine.is_empty(), "{who}");
    }
}
