//! `healthcheck:` a command that must exit 0, or a URL that must answer
//! 2xx (fetched on the host with curl; `status:` names others, such as
//! `2xx,302`; redirects are not followed unless `follow_redirects:`),
//! retried. A failing URL says its last status and how its answer begins.
//! With `on_failure: warn`
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
    /// `url`: the healthy statuses, comma-separated codes or classes
    /// (`2xx`, the default; `2xx,302`).
    #[serde(default)]
    pub status: Option<Tmpl>,
    /// `url`: follow redirects (default false: a 302 to a login page is
    /// not a healthy app).
    #[serde(default)]
    pub follow_redirects: Option<Tmpl>,
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
        super::kind::check_literal(a.status.as_ref(), |s| status_patterns(s).map(|_| ()))?;
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
            .chain(&a.status)
            .chain(&a.follow_redirects)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &HealthcheckArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let probe = match (&a.command, &a.url) {
            (Some(command), _) => format!("sh -c {}", quote(&render.shell(command)?)),
            (None, Some(url)) => {
                let status = render
                    .given(a.status.as_ref())?
                    .unwrap_or_else(|| "2xx".into());
                let patterns = status_patterns(&status).map_err(TemplateError::new)?;
                url_probe(
                    &render.text(url)?,
                    &status,
                    &patterns,
                    render.flag(a.follow_redirects.as_ref())?,
                )
            }
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
why=$(mktemp); trap 'rm -f -- "$why"' EXIT
while :; do
  if {probe}; then echo "wptdeploy.healthy=$n"; exit 0; fi
  if [ "$n" -ge {retries} ]; then echo "wptdeploy: health check failed $n time(s)" >&2; cat -- "$why" >&2; {gave_up}; fi
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
                checked_app: healthy && warn.is_none(),
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

/// `status:` as shell `case` patterns: `2xx` is `2??`, `302` itself.
fn status_patterns(status: &str) -> Result<String, String> {
    let patterns: Vec<String> = status
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let class = s.strip_suffix("xx").filter(|d| d.len() == 1);
            match class {
                Some(d) if matches!(d, "1" | "2" | "3" | "4" | "5") => Ok(format!("{d}??")),
                _ if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.to_owned()),
                _ => Err(format!(
                    "healthcheck: status `{s}` is not a status code (`200`) or a class (`2xx`)"
                )),
            }
        })
        .collect::<Result<_, _>>()?;
    if patterns.is_empty() {
        return Err("healthcheck: status is empty: `2xx` is the usual".into());
    }
    Ok(patterns.join("|"))
}

/// A shell condition true when `url` answers one of `patterns` (`status`
/// as written); when not, it writes to `$why` the status, where a
/// redirect goes, and how the answer begins.
fn url_probe(url: &str, status: &str, patterns: &str, follow: bool) -> String {
    format!(
        r#"{{ url={u}; answer=$(mktemp); code=$(curl -sS --proto =http,https --max-time 10{follow} -o "$answer" -w '%{{http_code}} %{{redirect_url}}' -- "$url" 2>"$answer.err") || code="000 "; to=${{code#* }}; code=${{code%% *}}; case "$code" in {patterns}) rm -f -- "$answer" "$answer.err"; true ;; *) {{ if [ "$code" = 000 ]; then echo "wptdeploy: $url did not answer: $(head -c 200 -- "$answer.err")"; elif [ -n "$to" ]; then echo "wptdeploy: $url answered $code, a redirect to $to (healthy: {status}; healthcheck_follow_redirects follows it)"; else echo "wptdeploy: $url answered $code (healthy: {status}); its answer begins"; head -c 2000 -- "$answer" | head -n 8 | cut -c 1-200 | sed 's/^/    /'; fi; }} > "$why"; rm -f -- "$answer" "$answer.err"; false ;; esac; }}"#,
        u = quote(url),
        follow = if follow { " -L" } else { "" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_said_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let hostile = "http://127.0.0.1:9/$(touch MARK)`touch MARK`\"";
        let probe = url_probe(hostile, "2xx", "2??", false);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "why=$(mktemp)\nif {probe}; then :; fi\ncat -- \"$why\""
            ))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!dir.path().join("MARK").exists(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("$(touch MARK)"),
            "{out:?}"
        );
    }

    #[test]
    fn statuses_are_codes_or_classes() {
        assert_eq!(status_patterns("2xx").unwrap(), "2??");
        assert_eq!(status_patterns("2xx, 302").unwrap(), "2??|302");
        assert!(status_patterns("ok").unwrap_err().contains("`ok`"));
        assert!(status_patterns("").is_err());
    }
}
