//! `reload:` the cut-over: tell the app server to serve the release the
//! live symlink now points at, the way that server does it without dropping
//! a request, then wait until the app answers from that release.
//!
//! ```yaml
//! - name: cut over to {{ release.sha }}
//!   reload:
//!     server: "{{ app_server }}"          # command | gunicorn | uwsgi-emperor | systemd
//!     command: "{{ restart_command }}"    # command
//!     pid_file: "{{ gunicorn_pid_file }}" # gunicorn
//!     vassal: "{{ uwsgi_vassal }}"        # uwsgi-emperor
//!     unit: "{{ app_unit }}"              # systemd
//!     start: "{{ app_start_command }}"    # gunicorn: starts a master that is not running
//!     user: "{{ app_user }}"              # the app server's user
//!     link: "{{ site_path }}"
//!     serves: "{{ release_url }}"         # answers with the serving release's SHA
//!     timeout: "{{ cutover_timeout }}"
//!   become: root
//! ```
//!
//! - `gunicorn`: `HUP` to the master (its pid file). The master keeps the
//!   listening socket, re-reads its settings (`--chdir` through the symlink
//!   lands in the new release), starts new workers and stops the old ones
//!   gracefully; requests wait in the socket's queue, none is refused. The
//!   app is imported from the new release first: a HUP whose workers fail
//!   to boot stops gunicorn altogether. When no master is running (the
//!   first deploy after `wptdeploy setup`, or a master that died), `start`
//!   starts one (`systemctl start UNIT` by default) and the step waits
//!   until it has written its pid file; without `start` the step fails.
//! - `uwsgi-emperor`: touches the vassal's ini (the link itself, not what
//!   it points at); the emperor reloads the vassal gracefully, keeping its
//!   socket, and `chdir` is applied again.
//! - `systemd`: `systemctl reload UNIT` (the unit's `ExecReload`).
//! - `command`: the command as given (a plain restart drops requests).
//!
//! With `serves:` the step then fetches that URL on the host until its
//! answer holds the SHA of the release the link points at (read when the
//! step runs), for `timeout` seconds at most, and says how long the release
//! before kept answering. Like `restart:` it is run again after a switch
//! back, where it waits for the previous release in the same way.

use serde::Deserialize;

use super::app::Route;
use super::kind::{Effect, Prepared, Render, StepKind, Tmpl, check_choice, check_number};
use super::outcome::Outcome;
use super::root_safe::{AS_USER, UNTRUSTED};
use crate::template::TemplateError;
use crate::transport::quote;

/// The `reload:` kind.
pub struct Reload;

/// `reload:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadArgs {
    /// `command` (the default), `gunicorn`, `uwsgi-emperor` or `systemd`.
    #[serde(default)]
    pub server: Option<Tmpl>,
    /// `command`: what restarts or reloads the app (empty: nothing).
    #[serde(default)]
    pub command: Option<Tmpl>,
    /// `gunicorn`: the master's pid file.
    #[serde(default)]
    pub pid_file: Option<Tmpl>,
    /// `uwsgi-emperor`: the vassal's ini file.
    #[serde(default)]
    pub vassal: Option<Tmpl>,
    /// `systemd`: the unit to reload.
    #[serde(default)]
    pub unit: Option<Tmpl>,
    /// `gunicorn`: what starts the master when none is running (run as
    /// the step's user, root); empty: such a deploy fails.
    #[serde(default)]
    pub start: Option<Tmpl>,
    /// The user the app server runs as (`app_user`): as root, the
    /// gunicorn import check runs as this user and a pid file it can
    /// write must name its process.
    #[serde(default)]
    pub user: Option<Tmpl>,
    /// The live symlink: the release it points at is the one to serve.
    pub link: Tmpl,
    /// A URL whose answer holds the SHA of the release that serves it.
    #[serde(default)]
    pub serves: Option<Tmpl>,
    /// curl's `--connect-to` for `serves` (a site reached on this machine).
    #[serde(default)]
    pub connect_to: Option<Tmpl>,
    /// A unix socket `serves` is fetched through.
    #[serde(default)]
    pub unix_socket: Option<Tmpl>,
    /// Seconds to wait for the release to serve (default 60).
    #[serde(default)]
    pub timeout: Option<Tmpl>,
}

/// `server:` choices, the default first.
pub const APP_SERVERS: [&str; 4] = ["command", "gunicorn", "uwsgi-emperor", "systemd"];

impl StepKind for Reload {
    const KEY: &'static str = "reload";
    const SUMMARY: &'static str = "reload the app server the way it drops no request, then wait until it serves the live release; run again after a switch back";
    type Args = ReloadArgs;

    fn check(a: &ReloadArgs) -> Result<(), String> {
        check_choice(a.server.as_ref(), "reload: server", &APP_SERVERS)?;
        check_number::<u32>(a.timeout.as_ref(), "reload: timeout")
    }

    fn templates(a: &ReloadArgs) -> Vec<&str> {
        a.server
            .iter()
            .chain(&a.command)
            .chain(&a.pid_file)
            .chain(&a.vassal)
            .chain(&a.unit)
            .chain(&a.start)
            .chain(&a.user)
            .chain(std::iter::once(&a.link))
            .chain(&a.serves)
            .chain(&a.connect_to)
            .chain(&a.unix_socket)
            .chain(&a.timeout)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &ReloadArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        let server = render.choice(a.server.as_ref(), "reload: server", &APP_SERVERS)?;
        // What the server needs (its pid file, vassal or unit), rendered.
        let setting = match a.setting(server) {
            Some((t, variable)) => render
                .given(t)?
                .ok_or_else(|| TemplateError::new(needs(server, variable)))?,
            None => String::new(),
        };
        let link = render.text(&a.link)?;
        let timeout: u32 = render.number(a.timeout.as_ref(), 60, "reload: timeout")?;
        let (signal, said) = match server {
            "gunicorn" => {
                let start = match a.start.as_ref() {
                    Some(t) => render.shell(t)?.trim().to_owned(),
                    None => String::new(),
                };
                let when_stopped = if start.is_empty() {
                    String::new()
                } else {
                    format!(" (none running: {start})")
                };
                (
                    gunicorn_hup(
                        &setting,
                        &link,
                        &render.optional(a.user.as_ref())?,
                        &start,
                        timeout,
                    ),
                    format!(
                        "import the app in {link} with gunicorn's Python, then HUP to its master ({setting}){when_stopped}"
                    ),
                )
            }
            "uwsgi-emperor" => (
                touch_vassal(&setting),
                format!("touch the uWSGI vassal {setting}"),
            ),
            "systemd" => (
                format!(
                    "unit={}\nsystemctl reload \"$unit\" || {{ echo \"wptdeploy: systemctl reload $unit failed: does the unit have an ExecReload? (app_server: command with restart_command restarts it instead)\" >&2; exit 1; }}\n",
                    quote(&setting)
                ),
                format!("systemctl reload {setting}"),
            ),
            _ => match a.command.as_ref().map(|c| render.shell(c)).transpose()? {
                Some(command) if !command.trim().is_empty() => {
                    let said = command.trim().to_owned();
                    (format!("{command}\n"), said)
                }
                _ => (String::new(), String::new()),
            },
        };
        let release_url = render.given(a.serves.as_ref())?;
        let route = Route {
            connect_to: render.optional(a.connect_to.as_ref())?,
            unix_socket: render.optional(a.unix_socket.as_ref())?,
        };
        let gate = release_url
            .as_ref()
            .map(|url| wait_until_served(&link, url, &route, timeout))
            .unwrap_or_default();
        let shown = match (&release_url, said.is_empty()) {
            (Some(url), false) => format!(
                "{said}, then wait until {url} answers with the release {link} points at ({timeout} s at most)"
            ),
            (Some(url), true) => format!(
                "wait until {url} answers with the release {link} points at ({timeout} s at most)"
            ),
            (None, _) => said,
        };
        let replaced = if matches!(server, "gunicorn" | "uwsgi-emperor") {
            wait_for_new_workers(timeout)
        } else {
            String::new()
        };
        let script = format!("set -e\nt0=$(date +%s%3N)\n{WORKERS}{signal}{replaced}{gate}");
        let server = server.to_owned();
        Ok(Prepared::new(render.command(script), move |ran| {
            let marks = ran.succeeded().map_err(|mut failure| {
                if failure.message.contains("did not answer from") {
                    failure.hints.push(not_served_hint(&server));
                } else if let Some(code) = answered_error(&failure.message) {
                    failure.hints.push(failing_hint(&server, code));
                }
                failure
            })?;
            Ok(Outcome {
                changed: true,
                note: {
                    let notes: Vec<String> = [
                        marks.contains_key("started").then(|| {
                            "no gunicorn master was running: started one".to_owned()
                        }),
                        marks.contains_key("import_skipped").then(|| {
                            "the app was not imported first: it would have run as root (set app_user)".to_owned()
                        }),
                        served_note(&marks),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    (!notes.is_empty()).then(|| notes.join("; "))
                },
                checked_app: marks.contains_key("served_ms"),
                ..Outcome::default()
            })
        })
        .with_effect(Effect::Restarts)
        .showing(shown))
    }
}

/// "app_server `S` needs `VARIABLE`": one wording before and at run time.
fn needs(server: &str, variable: &str) -> String {
    format!("app_server `{server}` needs `{variable}`: set it in the inventory (docs/cutover.md)")
}

impl ReloadArgs {
    /// The argument `server` needs, and the variable that usually gives it.
    fn setting(&self, server: &str) -> Option<(Option<&Tmpl>, &'static str)> {
        match server {
            "gunicorn" => Some((self.pid_file.as_ref(), "gunicorn_pid_file")),
            "uwsgi-emperor" => Some((self.vassal.as_ref(), "uwsgi_vassal")),
            "systemd" => Some((self.unit.as_ref(), "app_unit")),
            _ => None,
        }
    }

    /// Checks, before any host is contacted, that the app server is one
    /// there is and that what it needs is set; `render` renders a template
    /// with one host's variables. The error says what to set.
    pub fn check_settings(
        &self,
        render: impl Fn(&Tmpl) -> Result<String, TemplateError>,
    ) -> Result<(), String> {
        let given = |t: Option<&Tmpl>| -> Result<String, String> {
            t.map(&render)
                .transpose()
                .map(Option::unwrap_or_default)
                .map_err(|e| e.to_string())
        };
        let server = given(self.server.as_ref())?;
        if !server.is_empty() && !APP_SERVERS.contains(&server.as_str()) {
            return Err(super::kind::choice_error(
                "app_server",
                &APP_SERVERS,
                &server,
            ));
        }
        match self.setting(&server) {
            Some((t, variable)) if given(t)?.trim().is_empty() => Err(needs(&server, variable)),
            _ => Ok(()),
        }
    }
}

/// HUP to the gunicorn master named by `pid_file`, with what went wrong
/// when there is no such master. First the app the master serves (its
/// `MODULE:VARIABLE` argument) is imported from `link` with the master's
/// own Python, as `user` (never as root): on HUP, workers that fail to
/// boot make gunicorn's master stop ("Worker failed to boot"), taking the
/// old release's workers with it, so a release that does not import is
/// never sent a HUP.
///
/// When no master is running (no pid file, or its process gone) and
/// `start` is given (a shell command from the inventory), `start` runs
/// instead, and the script waits (`timeout` seconds at most) until a
/// master has written the pid file; `master` is then that process with
/// no workers before it, so the wait for workers that follows waits for
/// its first ones (and fails if it stops: an app that does not import).
///
/// gunicorn writes its own `--pid` file, so `user` can write it: as root,
/// a pid file on a path someone other than root can change is read as
/// `user`, and trusted only when it names a process of `user` whose
/// command line is gunicorn's (systemd's rule for `PIDFile=`). What such a
/// file says can at most make root run `start`, the inventory's command.
fn gunicorn_hup(pid_file: &str, link: &str, user: &str, start: &str, timeout: u32) -> String {
    let file = quote(pid_file);
    let link = quote(link);
    let user = quote(user);
    let start_said = quote(start);
    let limit = u64::from(timeout) * 1000;
    let start_block = if start.is_empty() {
        r#"echo "wptdeploy: $why: start it, or set gunicorn_pid_file (app_start_command starts it when none runs)" >&2; exit 1"#.to_owned()
    } else {
        format!(
            r#"out=$(mktemp)
  if ! ( {start}
  ) > "$out" 2>&1 < /dev/null; then
    tail -n 12 -- "$out" >&2; rm -f -- "$out"
    echo "wptdeploy: no gunicorn master was running ($why), and starting one failed: "{start_said} >&2; exit 1
  fi
  rm -f -- "$out"; started=yes; echo "wptdeploy.started=1"
  until read_pid; do
    if [ $(($(date +%s%3N) - t0)) -ge {limit} ]; then
      echo "wptdeploy: no gunicorn master was running, so it was started ("{start_said}"), but none wrote its pid file within {timeout} s ($why): its log says why (`journalctl -u UNIT` for a systemd unit, or gunicorn's --error-logfile)" >&2; exit 1
    fi
    sleep 0.1
  done"#
        )
    };
    format!(
        r#"pid_file={file} user={user} started=""
{AS_USER}{UNTRUSTED}if [ "$(id -u)" = 0 ] && [ -n "$(untrusted "$pid_file")" ]; then trusted=""; else trusted=yes; fi
read_pid() {{
  if [ -n "$trusted" ]; then pid=$(head -c 32 -- "$pid_file" 2>/dev/null); else pid=$(as_user "$user" head -c 32 -- "$pid_file" 2>/dev/null); fi \
    || {{ why="cannot read gunicorn's pid file $pid_file: is gunicorn running with --pid $pid_file?"; return 1; }}
  pid=$(printf '%s' "$pid" | tr -d ' \n')
  case "$pid" in ''|*[!0-9]*) why="gunicorn's pid file $pid_file does not hold a process id"; return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || {{ why="no gunicorn master with pid $pid (from $pid_file) is running"; return 1; }}
}}
if ! read_pid; then
  {start_block}
fi
args=$(xargs -0 printf '%s\n' < /proc/"$pid"/cmdline)
owner=$(stat -c %U /proc/"$pid")
if [ -z "$trusted" ]; then
  expected=${{user:-$(stat -c %U -- "$pid_file")}}
  if [ "$owner" != "$expected" ] || ! printf '%s\n' "$args" | grep -q 'gunicorn'; then
    echo "wptdeploy: gunicorn's pid file $pid_file, which $expected can write, names process $pid, which is not $expected's gunicorn (it runs as $owner): no signal sent; start gunicorn as $expected with --pid $pid_file, or set gunicorn_pid_file" >&2
    exit 1
  fi
fi
if [ -n "$started" ]; then
  master=$pid; old_workers=""
else
python=$(printf '%s\n' "$args" | head -n 1)
module=$(printf '%s\n' "$args" | grep -E '^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_]' | tail -n 1 | cut -d: -f1)
case "$python" in */python*) ;; *) module="" ;; esac
importer=$owner; [ -z "$user" ] || importer=$user; [ "$(id -u)" = 0 ] || importer=""
if [ -n "$module" ] && [ "$(id -u)" = 0 ] && [ "$importer" = root ] && [ "$user" != root ]; then
  echo "wptdeploy.import_skipped=root"; module=""
fi
if [ -n "$module" ]; then
  if ! out=$(cd {link} && as_user "$importer" env PYTHONDONTWRITEBYTECODE=1 "$python" -c 'import importlib, sys; sys.path.insert(0, "."); importlib.import_module(sys.argv[1])' "$module" 2>&1); then
    printf '%s\n' "$out" | tail -n 12 >&2
    echo "wptdeploy: the release's app does not import ($module, with $python): a HUP would stop gunicorn (its workers would fail to boot), so it was not sent" >&2
    exit 1
  fi
  echo "wptdeploy.imported=$module"
fi
master=$pid; old_workers=$(workers "$master")
kill -HUP "$pid"
fi
"#
    )
}

/// Touches the vassal's ini itself (a symlinked vassal is touched as a
/// link: the emperor watches the link's time).
fn touch_vassal(vassal: &str) -> String {
    let file = quote(vassal);
    let find_master = vassal_master(vassal);
    format!(
        r#"vassal={file}
[ -e "$vassal" ] || [ -L "$vassal" ] || {{ echo "wptdeploy: no uWSGI vassal at $vassal: set uwsgi_vassal to the ini file in the emperor's directory" >&2; exit 1; }}
{find_master}
touch --no-dereference {file}
"#
    )
}

/// `workers PID`: the live (not zombie) children of PID, one a line.
const WORKERS: &str = r#"workers() {
  for w in $(cat "/proc/$1/task/$1/children" 2>/dev/null || ps -o pid= --ppid "$1" 2>/dev/null); do
    [ "$(sed 's/.*) //' "/proc/$w/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] || [ ! -e "/proc/$w" ] || echo "$w"
  done
}
"#;

/// Sets `master` to the vassal's uWSGI master (the process the emperor
/// started with `--ini NAME`, whose parent is not one too) and
/// `old_workers` to its workers; both empty when it is not running.
fn vassal_master(vassal: &str) -> String {
    let name = vassal.rsplit('/').next().unwrap_or(vassal);
    format!(
        r#"master=""; old_workers=""
for c in $(grep -lsa -- --ini /proc/[0-9]*/cmdline); do
  p=${{c#/proc/}}; p=${{p%/cmdline}}
  tr '\0' '\n' < "$c" 2>/dev/null | grep -qxF -e {name} -e {path} || continue
  parent=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f2)
  tr '\0' '\n' < "/proc/$parent/cmdline" 2>/dev/null | grep -qxF -e {name} -e {path} && continue
  master=$p; old_workers=$(workers "$p"); break
done
"#,
        name = quote(name),
        path = quote(vassal),
    )
}

/// Waits until the app server's workers from before the reload are all
/// gone and new ones run (`master` and `old_workers` set before it): only
/// then does an answer come from the new release's code. Prints
/// `wptdeploy.replaced_ms`; fails after `timeout` seconds naming the
/// workers still running.
fn wait_for_new_workers(timeout: u32) -> String {
    let limit = u64::from(timeout) * 1000;
    format!(
        r#"if [ -n "$master" ]; then
  while :; do
    now_workers=" $(workers "$master" | tr '\n' ' ')"
    left=""; for w in $old_workers; do case "$now_workers" in *" $w "*) left="$left $w" ;; esac; done
    if [ -z "$left" ] && [ -n "${{now_workers# }}" ]; then echo "wptdeploy.replaced_ms=$(($(date +%s%3N) - t0))"; break; fi
    if [ ! -e "/proc/$master" ]; then echo "wptdeploy: the app server's master ($master) stopped during the reload: the app is not served" >&2; exit 1; fi
    if [ $(($(date +%s%3N) - t0)) -ge {limit} ]; then echo "wptdeploy: the app server's workers from before the reload (pids$left) still ran after {timeout} s: the new release's code may not be serving" >&2; exit 1; fi
    sleep 0.05
  done
fi
"#
    )
}

/// Fetches `url` (through `route`) until it answers 2xx with the release
/// `link` points at. Prints `wptdeploy.served_ms` (from the reload to the
/// first answer from it) and `wptdeploy.before_ms` (how long answers still
/// came from another release); fails after `timeout` seconds naming what
/// answered instead, or sooner when the app answers an error of its own
/// (5xx other than the 502-504 a proxy gives while the server reloads)
/// ten times in a row, quoting the answer.
fn wait_until_served(link: &str, url: &str, route: &Route, timeout: u32) -> String {
    let link = quote(link);
    let url_q = quote(url);
    let options = route.curl_options();
    let limit = u64::from(timeout) * 1000;
    format!(
        r#"want=$(basename "$(readlink {link})"); url={url_q}
before=0; last=""; failing=0
answer=$(mktemp); trap 'rm -f -- "$answer"' EXIT
while :; do
  code=$(curl -sS --max-time 5 {options} -o "$answer" -w '%{{http_code}}' -- "$url" 2>/dev/null) || code=${{code:-000}}
  body=$(head -c 4096 -- "$answer" 2>/dev/null)
  now=$(date +%s%3N)
  case "$code:$body" in
    2??:*"$want"*) echo "wptdeploy.served_ms=$((now - t0))"; echo "wptdeploy.before_ms=$before"; exit 0 ;;
  esac
  case "$code" in 5??) [ "$code" -ge 502 ] && [ "$code" -le 504 ] || failing=$((failing + 1)) ;; *) failing=0 ;; esac
  if [ "$failing" -ge 10 ]; then
    echo "wptdeploy: the new release answers $code at $url (10 times in a row); its answer begins" >&2
    printf '%s\n' "$body" | head -n 8 | cut -c 1-200 | sed 's/^/    /' >&2
    exit 1
  fi
  served=$(printf '%s' "$body" | grep -oE '[0-9a-f]{{40}}' | head -n 1 || true)
  if [ "$code" = 000 ]; then last="no answer"
  elif [ -n "$served" ]; then before=$((now - t0)); last="the release $served"; case "$code" in 2??) ;; *) last="$last ($code)" ;; esac
  else last="$code: $(printf '%s' "$body" | head -c 200)"; fi
  if [ $((now - t0)) -ge {limit} ]; then
    kept=""
    [ "$before" -eq 0 ] || kept=", which kept serving for $((before / 1000)).$((before % 1000 / 100)) s"
    echo "wptdeploy: $url did not answer from $want within {timeout} s: it answered with $last$kept" >&2
    exit 1
  fi
  sleep 0.1
done
"#
    )
}

/// The status in "the new release answers 500 at ...", if that is the failure.
fn answered_error(message: &str) -> Option<&str> {
    let rest = message.split("the new release answers ").nth(1)?;
    rest.split_whitespace().next()
}

/// What to do when the new release answers with an error, by server.
fn failing_hint(server: &str, code: &str) -> String {
    let log = match server {
        "gunicorn" => "gunicorn's error log (`--error-logfile`) has the traceback",
        "uwsgi-emperor" => "the vassal's log (its `logger`/`logto`) has the traceback",
        _ => "the app server's log has the traceback",
    };
    format!(
        "the new release answers {code}: it loads but fails on a request (a missing table or setting, an error in a hook); {log}; `wptdeploy logs ENV` shows it"
    )
}

/// Why an app server may keep serving the release before, by server.
fn not_served_hint(server: &str) -> String {
    match server {
        "gunicorn" => "gunicorn reloads code on HUP only when the app is not preloaded (`--preload`) and its master was started as `VENV/bin/python -m gunicorn --chdir SITE` through the links (docs/cutover.md)".into(),
        "uwsgi-emperor" => "the emperor reloads a vassal when its ini's time changes: check uwsgi_vassal is the file in the emperor's directory, and that the vassal's `chdir` is site_path, not a release".into(),
        _ => "the app server did not load the new release: check that it serves from site_path and that the reload really reloads (docs/cutover.md)".into(),
    }
}

/// "serving the release after 1.9 s (the release before answered until
/// 1.7 s)", from the gate's markers.
fn served_note(marks: &std::collections::BTreeMap<String, String>) -> Option<String> {
    let seconds = |ms: &str| {
        ms.parse::<u64>().ok().map(|ms| match ms {
            0..1000 => format!("{ms} ms"),
            _ => format!("{}.{} s", ms / 1000, ms % 1000 / 100),
        })
    };
    let served = seconds(marks.get("served_ms")?)?;
    let before = marks
        .get("before_ms")
        .filter(|ms| ms.as_str() != "0")
        .and_then(|ms| seconds(ms))
        .map(|s| format!(" (the release before answered until {s})"))
        .unwrap_or_default();
    Some(format!("serving it after {served}{before}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_says_when_the_release_served_and_how_long_the_one_before_did() {
        let marks = |served: &str, before: &str| {
            std::collections::BTreeMap::from([
                ("served_ms".to_owned(), served.to_owned()),
                ("before_ms".to_owned(), before.to_owned()),
            ])
        };
        assert_eq!(
            served_note(&marks("1940", "1720")).as_deref(),
            Some("serving it after 1.9 s (the release before answered until 1.7 s)")
        );
        assert_eq!(
            served_note(&marks("230", "0")).as_deref(),
            Some("serving it after 230 ms")
        );
        assert_eq!(served_note(&std::collections::BTreeMap::new()), None);
    }

    /// Runs `script` with `sh` in a fresh directory; whether `$(touch
    /// MARK)` in a value ran, and the error output.
    fn ran_injection(script: &str) -> (bool, String) {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("t0=$(date +%s%3N)\n{WORKERS}{script}"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            dir.path().join("MARK").exists(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn values_in_the_messages_are_never_run() {
        let hostile = "/nowhere/$(touch MARK)`touch MARK`\"$(touch MARK)\"";
        for script in [
            touch_vassal(hostile),
            gunicorn_hup(hostile, "/nowhere", hostile, "", 0),
            wait_until_served(
                "/nowhere/site",
                &format!("http://127.0.0.1:9{hostile}"),
                &Route::default(),
                0,
            ),
        ] {
            let (ran, stderr) = ran_injection(&script);
            assert!(!ran, "a value ran: {stderr}\n{script}");
            assert!(stderr.contains("$(touch MARK)"), "said as it is: {stderr}");
        }
    }

    #[test]
    fn the_gate_reads_the_link_when_it_runs_and_names_what_answered_instead() {
        let script = wait_until_served(
            "/srv/app/site",
            "http://127.0.0.1:8000/version",
            &Route::default(),
            30,
        );
        assert!(script.contains("readlink /srv/app/site"), "{script}");
        assert!(script.contains("-ge 30000"), "{script}");
        assert!(
            script.contains("did not answer from $want within 30 s"),
            "{script}"
        );
    }
}
