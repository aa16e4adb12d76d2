//! `healthcheck:` retry a command or a URL until it succeeds.

use crate::transport::quote;

pub(super) enum Check {
    /// A shell command, already rendered with quoted values.
    Command(String),
    /// A URL fetched on the host.
    Url(String),
}

pub(super) fn script(check: &Check, retries: u32, delay: u32) -> String {
    let probe = match check {
        Check::Command(command) => format!("sh -c {}", quote(command)),
        Check::Url(url) => format!("curl -fsS -o /dev/null --max-time 10 -- {}", quote(url)),
    };
    format!(
        r#"n=1
while :; do
  if {probe}; then echo "wptdeploy.healthy=$n"; exit 0; fi
  if [ "$n" -ge {retries} ]; then echo "wptdeploy: health check failed $n time(s)" >&2; exit 1; fi
  n=$((n + 1)); sleep {delay}
done
"#,
        retries = retries.max(1)
    )
}
