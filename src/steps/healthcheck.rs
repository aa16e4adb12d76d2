//! `healthcheck:` a command that must exit 0, or a URL that must answer
//! 2xx (fetched on the host with curl), retried. With `on_failure: warn`
//! a check that keeps failing is a warning (`warning:` and the check's last
//! lines), not a failure, and registers `{ok}`.
//!
//! ```yaml
//! - name: check the app answers
//!   healthcheck:
//!     url: "{{ healthcheck_url }}"
//!     retries: 5
//!     delay: 2
//! ```

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_choice, check_number};
use super::outcome::Outcome;
use crate::template::TemplateError;
use crate::transport::quote;

/// The `healthcheck:` kind.
pub struct HealthcheckKind;

/// `healthcheck:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckArgs {
    /// A shell command.
    #[serde(default)]
    pub command: Option<Tmpl>,
    /// A URL.
    #[serde(default)]
    pub url: Option<Tmpl>,
    /// Attempts before failing (default 5).
    #[serde(default)]
    pub retries: Option<Tmpl>,
    /// Seconds between attempts (default 2).
    #[serde(default)]
    pub delay: Option<Tmpl>,
    /// `fail` (the default) or `warn`.
    #[serde(default)]
    pub on_failure: Option<Tmpl>,
    /// What the warning says (`on_failure: warn`).
    #[serde(default)]
    pub warning: Option<Tmpl>,
}

/// `on_failure:` choices, the default first.
const ON_FAILURE: [&str; 2] = ["fail", "warn"];

impl StepKind for HealthcheckKind {
    const KEY: &'static str = "healthcheck";
    const SUMMARY: &'static str =
        "a command that must exit 0 or a URL that must answer 2xx, retried";
    type Args = HealthcheckArgs;

    fn check(a: &HealthcheckArgs) -> Result<(), String> {
        if a.command.is_some() == a.url.is_some() {
            return Err("healthcheck needs exactly one of `command` or `url`".into());
        }
        check_number::<u32>(a.retries.as_ref(), "healthcheck: retries")?;
        check_number::<u32>(a.delay.as_ref(), "healthcheck: delay")?;
        check_choice(
            a.on_failure.as_ref(),
            "healthcheck: on_failure",
            &ON_FAILURE,
        )
    }

    fn templates(a: &HealthcheckArgs) -> Vec<&str> {
        a.command
            .iter()
            .chain(&a.url)
            .chain(&a.retries)
            .chain(&a.delay)
            .chain(&a.on_failure)
            .chain(&a.warning)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &HealthcheckArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let probe = match (&a.command, &a.url) {
            (Some(command), _) => format!("sh -c {}", quote(&render.shell(command)?)),
            (None, Some(url)) => format!(
                "curl -fsS -o /dev/null --max-time 10 -- {}",
                quote(&render.text(url)?)
            ),
            (None, None) => unreachable!("checked when the playbook was loaded"),
        };
        let warn = match render.choice(
            a.on_failure.as_ref(),
            "healthcheck: on_failure",
            &ON_FAILURE,
        )? {
            "warn" => Some(render.optional(a.warning.as_ref())?),
            _ => None,
        };
        let retries: u32 = render.number(a.retries.as_ref(), 5, "healthcheck: retries")?;
        let delay: u32 = render.number(a.delay.as_ref(), 2, "healthcheck: delay")?;
        let script = format!(
            r#"n=1
while :; do
  if {probe}; then echo "wptdeploy.healthy=$n"; exit 0; fi
  if [ "$n" -ge {retries} ]; then echo "wptdeploy: health check failed $n time(s)" >&2; {gave_up}; fi
  n=$((n + 1)); sleep {delay}
done
"#,
            retries = retries.max(1),
            gave_up = if warn.is_some() {
                "echo \"wptdeploy.unhealthy=$n\"; exit 0"
            } else {
                "exit 1"
            }
        );
        Ok(Prepared::new(render.command(script), move |ran| {
            let marks = ran.succeeded()?;
            let healthy = !marks.contains_key("unhealthy");
            let warnings = match (&warn, healthy) {
                (Some(warning), false) => vec![format!(
                    "{warning}:\n  {}",
                    super::outcome::last_lines(&ran.output.stderr, 12).join("\n  ")
                )],
                _ => Vec::new(),
            };
            Ok(Outcome {
                changed: false,
                note: if healthy {
                    marks
                        .get("healthy")
                        .filter(|n| n.as_str() != "1")
                        .map(|n| format!("healthy after {n} attempts"))
                } else {
                    Some("failed: see the warning".into())
                },
                register: Some(minijinja::Value::from_serialize(
                    std::collections::BTreeMap::from([("ok", healthy)]),
                )),
                warnings,
                ..Outcome::default()
            })
        }))
    }
}
