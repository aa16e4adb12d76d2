//! How a run ends: Ok when every host succeeded, else the one error that
//! names each host that failed, was stopped or never started, and what to
//! do about it.

use super::Session;
use crate::cancel::Cancel;
use crate::engine::events::{HostResult, HostSummary};
use crate::error::Error;

/// Ok if every host succeeded, else the error naming each failure.
pub(super) fn conclude(
    session: &Session,
    summaries: &[HostSummary],
    env_name: &str,
    json: bool,
    cancel: &Cancel,
) -> Result<(), Error> {
    let failed: Vec<_> = summaries.iter().filter(|s| !s.succeeded()).collect();
    if failed.is_empty() && cancel.output_closed() {
        // Done, but what the command was for (its events, the columns)
        // did not all reach the reader: as a pipeline would, say so.
        return Err(Error::Interrupted {
            detail: ": the output was closed (the program reading it exited) after every host had finished".into(),
            exit_code: cancel.exit_code(),
        });
    }
    if failed.is_empty() {
        return Ok(());
    }
    let stopped: Vec<String> = failed
        .iter()
        .filter(|s| s.result == HostResult::Interrupted)
        .map(|s| format!("{}: {}", s.host, s.error.as_deref().unwrap_or("stopped")))
        .collect();
    if !stopped.is_empty()
        && stopped.len() == failed.len()
        && session.ends_at_ctrl_c
        && cancel.stopped_by_ctrl_c()
    {
        return Ok(());
    }
    if !stopped.is_empty() {
        let why = if cancel.output_closed() {
            ": the output was closed (the program reading it exited)"
        } else {
            ""
        };
        return Err(Error::Interrupted {
            detail: format!(
                "{why} ({}); locks were released and any switched release was switched back",
                stopped.join("; ")
            ),
            exit_code: cancel.exit_code(),
        });
    }
    let (not_started, failed): (Vec<_>, Vec<_>) = failed
        .into_iter()
        .partition(|s| s.result == HostResult::NotStarted);
    // Hosts that failed the same way are said once: a fleet whose sudo
    // wants a password is one line, not one per host.
    let mut grouped: Vec<(String, Vec<&str>)> = Vec::new();
    for s in &failed {
        let rolled = if s.result == HostResult::RolledBack {
            " (rolled back to the previous release)"
        } else {
            ""
        };
        let reason = s.error.as_deref().unwrap_or("failed");
        let first_line = reason
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches(':');
        let said = format!("{first_line}{rolled}");
        match grouped.iter_mut().find(|(text, _)| *text == said) {
            Some((_, hosts)) => hosts.push(&s.host),
            None => grouped.push((said, vec![&s.host])),
        }
    }
    let mut reasons: Vec<String> = grouped
        .iter()
        .map(|(said, hosts)| format!("{}: {said}", hosts.join(", ")))
        .collect();
    let mut hints: Vec<String> = failed.iter().flat_map(|s| s.hints.clone()).collect();
    if failed
        .iter()
        .any(|s| s.error.as_deref().is_some_and(|e| e.contains('\n')))
    {
        // Where they are: above, or (JSON) in the host's own event.
        hints.push(if json {
            "the failed step's last lines of output are in its host's `host_finished` event (`summary.error`); `-v` adds all of it as `step_output` events".into()
        } else {
            "the failed step's last lines of output are shown above; `-v` shows all of it".into()
        });
    }
    if let Some(first) = not_started.first() {
        let names: Vec<&str> = not_started.iter().map(|s| s.host.as_str()).collect();
        let why = first.error.as_deref().unwrap_or("not started");
        reasons.push(format!(
            "{} host(s) {why}: {}",
            names.len(),
            names.join(", ")
        ));
        let rest: Vec<&str> = failed
            .iter()
            .map(|s| s.host.as_str())
            .chain(names)
            .collect();
        hints.push(format!(
            "once the failure is fixed, finish the rollout with `--limit {}`",
            rest.join(",")
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    hints.retain(|h| seen.insert(h.clone()));
    Err(Error::Failed {
        message: format!(
            "{} {env_name} failed on {} of {} host(s): {}",
            session.failed_phrase(),
            failed.len(),
            summaries.len(),
            reasons.join("; ")
        ),
        hints,
        exit_code: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(host: &str, result: HostResult, error: Option<&str>) -> HostSummary {
        HostSummary {
            result,
            error: error.map(str::to_owned),
            ..HostSummary::new(host, "main".into())
        }
    }

    fn deploy() -> Session {
        Session {
            failed: "deploy to",
            deploys: true,
            ..Session::default()
        }
    }

    #[test]
    fn every_host_deployed_is_ok() {
        let all = [ended("web1", HostResult::Deployed, None)];
        assert!(conclude(&deploy(), &all, "staging", false, &Cancel::default()).is_ok());
    }

    #[test]
    fn a_failure_names_each_host_its_first_line_and_what_was_rolled_back() {
        let all = [
            ended("web1", HostResult::Deployed, None),
            ended(
                "web2",
                HostResult::RolledBack,
                Some("step `run healthcheck_command` failed:\nTraceback ..."),
            ),
        ];
        let error = conclude(&deploy(), &all, "staging", false, &Cancel::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "deploy to staging failed on 1 of 2 host(s): web2: step `run healthcheck_command` failed (rolled back to the previous release)"
        );
        assert_eq!(error.exit_code(), 1);
        assert!(
            error.hints().iter().any(|h| h.contains("shown above")),
            "{:?}",
            error.hints()
        );
        let json = conclude(&deploy(), &all, "staging", true, &Cancel::default()).unwrap_err();
        assert!(
            json.hints()
                .iter()
                .any(|h| h.contains("`host_finished` event")),
            "{:?}",
            json.hints()
        );
    }

    #[test]
    fn hosts_that_failed_alike_are_said_once() {
        let alike = "step `take the deploy lock` sudo needs a password to run commands as `root`";
        let all = [
            ended("web1", HostResult::Failed, Some(alike)),
            ended("web2", HostResult::Failed, Some("step `build` failed")),
            ended("web3", HostResult::Failed, Some(alike)),
        ];
        let error = conclude(&deploy(), &all, "prod", false, &Cancel::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "deploy to prod failed on 3 of 3 host(s): web1, web3: {alike}; web2: step `build` failed"
            )
        );
    }

    #[test]
    fn hosts_never_started_are_listed_with_how_to_finish_the_rollout() {
        let all = [
            ended("web1", HostResult::Failed, Some("step `build` failed")),
            ended(
                "web2",
                HostResult::NotStarted,
                Some("not started: an earlier batch failed"),
            ),
        ];
        let error = conclude(&deploy(), &all, "prod", false, &Cancel::default()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("1 host(s) not started: an earlier batch failed: web2"),
            "{text}"
        );
        assert!(
            error.hints().contains(
                &"once the failure is fixed, finish the rollout with `--limit web1,web2`"
                    .to_owned()
            ),
            "{:?}",
            error.hints()
        );
    }

    #[test]
    fn a_stopped_run_is_interrupted_with_the_signals_exit_code() {
        let all = [ended("web1", HostResult::Interrupted, Some("interrupted"))];
        let error = conclude(&deploy(), &all, "staging", false, &Cancel::default()).unwrap_err();
        assert_eq!(error.exit_code(), 130, "no signal recorded: an abort");
        assert!(error.to_string().contains("locks were released"), "{error}");
        let cancel = Cancel::default();
        cancel.output_lost();
        let error = conclude(&deploy(), &all, "staging", false, &cancel).unwrap_err();
        assert_eq!(error.exit_code(), 141, "a closed output is SIGPIPE's");
        assert!(
            error.to_string().contains("the output was closed"),
            "{error}"
        );
    }
}
