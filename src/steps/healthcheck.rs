//! `healthcheck:` a command that must exit 0, or a URL that must answer
//! 2xx (fetched on the host with curl), retried.
//!
//! ```yaml
//! - name: check the app answers
//!   healthcheck:
//!     url: "{{ healthcheck_url }}"
//!     retries: 5
//!     delay: 2
//! ```

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_number};
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
}

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
        check_number::<u32>(a.delay.as_ref(), "healthcheck: delay")
    }

    fn templates(a: &HealthcheckArgs) -> Vec<&str> {
        a.command
            .iter()
            .chain(&a.url)
            .chain(&a.retries)
            .chain(&a.delay)
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
        let retries: u32 = render.number(a.retries.as_ref(), 5, "healthcheck: retries")?;
        let delay: u32 = render.number(a.delay.as_ref(), 2, "healthcheck: delay")?;
        let script = format!(
            r#"n=1
while :; do
  if {probe}; then echo "wptdeploy.healthy=$n"; exit 0; fi
  if [ "$n" -ge {retries} ]; then echo "wptdeploy: health check failed $n time(s)" >&2; exit 1; fi
  n=$((n + 1)); sleep {delay}
done
"#,
            retries = retries.max(1)
        );
        Ok(Prepared::new(render.command(script), |ran| {
            let marks = ran.succeeded()?;
            Ok(Outcome {
                changed: false,
                note: marks
                    .get("healthy")
                    .filter(|n| n.as_str() != "1")
                    .map(|n| format!("healthy after {n} attempts")),
                ..Outcome::default()
            })
        }))
    }
}
