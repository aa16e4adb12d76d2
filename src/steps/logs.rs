//! `logs:` the app's logs on the host: `command` if given, else the last
//! `lines` of `files` (`tail`), else where the app server says it logs
//! (read on the host, from root's files: the uWSGI vassal's `logto`,
//! `daemonize` or `logger = file:PATH`; the systemd unit's `ExecStart`,
//! gunicorn's `--error-logfile`/`--access-logfile`/`--log-file`), else the
//! journal of `unit`, else of the systemd unit that `restart` restarts
//! (`systemctl restart emperor.uwsgi` → `journalctl -u emperor.uwsgi`);
//! with `follow`, it keeps printing until interrupted. Read-only; its
//! output is what it is for.
//!
//! ```yaml
//! - name: the app's logs
//!   logs:
//!     command: "{{ logs_command }}"
//!     files: "{{ logs_files }}"
//!     vassal: "{{ uwsgi_vassal }}"
//!     unit: "{{ app_unit }}"
//!     restart: "{{ restart_command }}"
//!     lines: 50
//!     follow: false
//! ```

use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_number};
use super::outcome::Outcome;
use super::root_safe::UNTRUSTED;
use crate::template::TemplateError;
use crate::transport::quote;

/// The `logs:` kind.
pub struct LogsKind;

/// `logs:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsArgs {
    /// A command that prints the logs (shell text), over everything else.
    #[serde(default)]
    pub command: Option<Tmpl>,
    /// Log files, a list or one path per line.
    #[serde(default)]
    pub files: Option<Tmpl>,
    /// The uWSGI vassal, whose `logto`/`daemonize`/`logger` names the log.
    #[serde(default)]
    pub vassal: Option<Tmpl>,
    /// The app server's systemd unit: its `ExecStart` may name gunicorn's
    /// log files; else its journal.
    #[serde(default)]
    pub unit: Option<Tmpl>,
    /// The restart command, whose systemd unit's journal is the default.
    #[serde(default)]
    pub restart: Option<Tmpl>,
    /// How many lines from the end.
    #[serde(default)]
    pub lines: Option<Tmpl>,
    /// Keep printing new lines until interrupted.
    #[serde(default)]
    pub follow: Option<Tmpl>,
}

impl StepKind for LogsKind {
    const KEY: &'static str = "logs";
    const SUMMARY: &'static str =
        "print the app's logs (a command, files, or the restart unit's journal), or follow them";
    type Args = LogsArgs;

    fn check(a: &LogsArgs) -> Result<(), String> {
        check_number::<usize>(a.lines.as_ref(), "logs: lines")
    }

    fn templates(a: &LogsArgs) -> Vec<&str> {
        [
            &a.command, &a.files, &a.vassal, &a.unit, &a.restart, &a.lines, &a.follow,
        ]
        .into_iter()
        .flatten()
        .map(|t| t.0.as_str())
        .collect()
    }

    fn prepare(a: &LogsArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let lines: usize = render.number(a.lines.as_ref(), 50, "logs: lines")?;
        let follow = render.flag(a.follow.as_ref())?;
        let command = match a.command.as_ref().map(|c| render.shell(c)).transpose()? {
            Some(command) if !command.trim().is_empty() => command,
            _ => {
                let files = render.list(a.files.as_ref())?;
                let restart = render.optional(a.restart.as_ref())?;
                let server = Server {
                    vassal: render.optional(a.vassal.as_ref())?,
                    unit: render.optional(a.unit.as_ref())?,
                };
                if files.is_empty() && !server.is_empty() {
                    server.command(&restart, lines, follow)
                } else {
                    default_command(&files, &restart, lines, follow).map_err(TemplateError::new)?
                }
            }
        };
        let mut command = render.command(format!("{command}\n"));
        if follow {
            command.timeout = None;
        }
        Ok(Prepared::new(command, |ran| {
            ran.succeeded()?;
            Ok(Outcome::default())
        })
        .looking_only())
    }
}

/// What the app server's own files say of its logs.
struct Server {
    vassal: String,
    unit: String,
}

impl Server {
    fn is_empty(&self) -> bool {
        self.vassal.is_empty() && self.unit.is_empty()
    }

    /// A script that finds the log files the vassal or the unit names, on
    /// the host, and tails them; else the unit's journal, else the restart
    /// unit's. As root only root's files are read for it (a vassal whose
    /// path someone else could change is passed over, and said; the unit
    /// through systemctl), never a pid file the app user could write.
    fn command(&self, restart: &str, lines: usize, follow: bool) -> String {
        let fallback = match (self.unit.is_empty(), unit_of(restart)) {
            (false, _) => format!(
                "exec journalctl --no-pager -n {lines}{} -u {}",
                if follow { " -f" } else { "" },
                quote(&self.unit)
            ),
            (true, Some(unit)) => format!(
                "exec journalctl --no-pager -n {lines}{} -u {}",
                if follow { " -f" } else { "" },
                quote(unit)
            ),
            (true, None) => "echo \"wptdeploy: neither $vassal nor a unit names the app's log: set logs_files (e.g. [\\\"{{ site_path }}/logs/uwsgi.log\\\"]) or logs_command\" >&2; exit 1".to_owned(),
        };
        format!(
            r#"{UNTRUSTED}vassal={vassal} unit={unit} files=""
# As root, a vassal someone else could change (a link into a release) is
# not read: what it names would be root's to read.
if [ -n "$vassal" ] && [ -f "$vassal" ] && [ "$(id -u)" = 0 ] && [ -n "$(untrusted "$vassal")" ]; then
  echo "wptdeploy: not reading the log $vassal names as root: $(untrusted "$vassal") is not root's alone; set logs_files, or logs_user to the app user" >&2; vassal=""
fi
if [ -n "$vassal" ] && [ -f "$vassal" ]; then
  files=$(sed -n -E -e 's/^[[:space:]]*(logto|logto2|daemonize|daemonize2)[[:space:]]*=[[:space:]]*([^[:space:]]+).*/\2/p' -e 's/^[[:space:]]*(logger|req-logger)[[:space:]]*=[[:space:]]*([^[:space:]]+[[:space:]]+)?file:([^[:space:],]+).*/\3/p' -- "$vassal")
fi
if [ -z "$files" ] && [ -n "$unit" ] && command -v systemctl >/dev/null 2>&1; then
  files=$(systemctl show -p ExecStart --value -- "$unit" 2>/dev/null | sed -n 's/.*argv\[\]=\([^;]*\);.*/\1/p' | tr ' ' '\n' \
    | awk 'take {{ print; take=0; next }} /^--(error-logfile|access-logfile|log-file)$/ {{ take=1; next }} /^--(error-logfile|access-logfile|log-file)=/ {{ sub(/^[^=]*=/, ""); print }}' | grep -v '^-$' || true)
fi
if [ -n "$files" ]; then
  set -f; exec tail -n {lines}{tail_follow} -- $files
fi
{fallback}"#,
            vassal = quote(&self.vassal),
            unit = quote(&self.unit),
            tail_follow = if follow { " -F" } else { "" },
        )
    }
}

/// `tail` of the files, else the journal of the unit `restart` restarts.
fn default_command(
    files: &[String],
    restart: &str,
    lines: usize,
    follow: bool,
) -> Result<String, String> {
    if !files.is_empty() {
        let quoted: Vec<String> = files.iter().map(|f| quote(f)).collect();
        return Ok(format!(
            "tail -n {lines}{} -- {}",
            if follow { " -F" } else { "" },
            quoted.join(" ")
        ));
    }
    match unit_of(restart) {
        Some(unit) => Ok(format!(
            "journalctl --no-pager -n {lines}{} -u {}",
            if follow { " -f" } else { "" },
            quote(unit)
        )),
        None => Err(
            "no `logs_command` or `logs_files`, and `restart_command` names no systemd unit whose journal to read: set `logs_files` (e.g. `[\"{{ site_path }}/logs/uwsgi.log\"]`) or `logs_command`"
                .into(),
        ),
    }
}

/// The unit of `systemctl restart|reload|try-restart|reload-or-restart UNIT`.
fn unit_of(restart: &str) -> Option<&str> {
    let words: Vec<&str> = restart.split_whitespace().collect();
    let at = words.iter().position(|w| w.ends_with("systemctl"))?;
    let verbs = [
        "restart",
        "reload",
        "try-restart",
        "reload-or-restart",
        "start",
    ];
    let verb = words[at + 1..].iter().position(|w| verbs.contains(w))? + at + 1;
    words[verb + 1..]
        .iter()
        .find(|w| !w.starts_with('-'))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vassal_names_the_log_that_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("uwsgi.log");
        fs_err::write(&log, "first\nsecond\nthird\n").unwrap();
        // The last two lines of what the vassal with `line` names.
        let tail = |line: &str| {
            let vassal = dir.path().join("app_uwsgi.ini");
            fs_err::write(&vassal, format!("[uwsgi]\nsocket = /tmp/a.sock\n{line}\n")).unwrap();
            let server = Server {
                vassal: vassal.display().to_string(),
                unit: String::new(),
            };
            std::process::Command::new("sh")
                .arg("-c")
                .arg(server.command("", 2, false))
                .output()
                .unwrap()
        };
        for line in [
            format!("logger          = file:{}", log.display()),
            format!("logto = {}", log.display()),
            format!("daemonize={}", log.display()),
        ] {
            let out = tail(&line);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "second\nthird\n",
                "{line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // A vassal that names no log, and no unit: said, with what to set.
        let out = tail("processes = 2");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("set logs_files"));
    }

    #[test]
    fn the_default_is_the_files_else_the_restart_units_journal() {
        assert_eq!(
            default_command(
                &["/srv/site/logs/uwsgi.log".into(), "/var/log/app.log".into()],
                "",
                20,
                true
            )
            .unwrap(),
            "tail -n 20 -F -- /srv/site/logs/uwsgi.log /var/log/app.log"
        );
        assert_eq!(
            default_command(&[], "systemctl restart emperor.uwsgi", 50, false).unwrap(),
            "journalctl --no-pager -n 50 -u emperor.uwsgi"
        );
        assert_eq!(
            default_command(
                &[],
                "sudo /bin/systemctl --no-block reload gunicorn",
                5,
                true
            )
            .unwrap(),
            "journalctl --no-pager -n 5 -f -u gunicorn"
        );
        assert!(
            default_command(&[], "touch /srv/reload", 5, false)
                .unwrap_err()
                .contains("set `logs_files`")
        );
    }
}
