//! `app:` the app itself, before it goes live. `find` reads, as the app
//! user, what the running app server says of the app (gunicorn's command
//! line, the uWSGI vassal, the systemd unit, the nginx site in front of a
//! uwsgi socket; parsed in Rust by [`crate::serving`]): its WSGI entry
//! point, and the address and path where a request reaches it the way real
//! requests do (the build file, when the app serves it). `load` imports
//! the entry point from the new release, in its own environment and
//! directory with its config file in place, and asks the live release for
//! its build file at that address: an answer that names the live release
//! proves the address, and the cut-over is then gated on the new release
//! answering there.
//!
//! ```yaml
//! - name: find the app's entry point and address
//!   app:
//!     action: find
//!     wsgi_app: "{{ wsgi_app }}"           # MODULE:VARIABLE; empty: read from the server
//!     server: "{{ app_server }}"
//!     pid_file: "{{ gunicorn_pid_file }}"
//!     vassal: "{{ uwsgi_vassal }}"
//!     unit: "{{ app_unit }}"
//!     build_file: "{{ build_info_path }}"
//!   become: "{{ app_user }}"
//!   register: app
//! - name: load the app from the new release
//!   app:
//!     action: load
//!     path: "{{ release.build_path }}"
//!     entry: "{{ app.entry }}"
//!     url: "{{ app.url }}"
//!     connect_to: "{{ app.connect_to }}"
//!     unix_socket: "{{ app.unix_socket }}"
//!     live: "{{ release.live }}"
//!   become: "{{ app_user }}"
//!   register: loaded
//! ```

use std::collections::BTreeMap;

use minijinja::Value;
use serde::Deserialize;

use super::kind::{Prepared, Render, StepKind, Tmpl, check_choice};
use super::outcome::Outcome;
use crate::serving::{self, Address};
use crate::template::TemplateError;
use crate::transport::quote;

/// The `app:` kind.
pub struct AppKind;

/// `app:`'s arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppArgs {
    /// `find` or `load`.
    pub action: Tmpl,
    /// `find`: the entry point, when the inventory names it.
    #[serde(default)]
    pub wsgi_app: Option<Tmpl>,
    /// `find`: the app server (`app_server`).
    #[serde(default)]
    pub server: Option<Tmpl>,
    /// `find`: gunicorn's pid file.
    #[serde(default)]
    pub pid_file: Option<Tmpl>,
    /// `find`: the uWSGI vassal's ini.
    #[serde(default)]
    pub vassal: Option<Tmpl>,
    /// `find`: the systemd unit.
    #[serde(default)]
    pub unit: Option<Tmpl>,
    /// `find`: the build file, relative to the release.
    #[serde(default)]
    pub build_file: Option<Tmpl>,
    /// `load`: the new release's directory.
    #[serde(default)]
    pub path: Option<Tmpl>,
    /// `load`: the entry point to import (empty: none found).
    #[serde(default)]
    pub entry: Option<Tmpl>,
    /// `load`: the build file's URL (empty: none found).
    #[serde(default)]
    pub url: Option<Tmpl>,
    /// `load`: curl's `--connect-to` for `url`.
    #[serde(default)]
    pub connect_to: Option<Tmpl>,
    /// `load`: the unix socket `url` is fetched through.
    #[serde(default)]
    pub unix_socket: Option<Tmpl>,
    /// `load`: the live release's SHA (empty: none yet).
    #[serde(default)]
    pub live: Option<Tmpl>,
}

const ACTIONS: [&str; 2] = ["find", "load"];

impl StepKind for AppKind {
    const KEY: &'static str = "app";
    const SUMMARY: &'static str = "find the app's entry point and address from its server, or load it from the new release before the switch";
    type Args = AppArgs;

    fn check(a: &AppArgs) -> Result<(), String> {
        check_choice(Some(&a.action), "app: action", &ACTIONS)
    }

    fn templates(a: &AppArgs) -> Vec<&str> {
        std::iter::once(&a.action)
            .chain(&a.wsgi_app)
            .chain(&a.server)
            .chain(&a.pid_file)
            .chain(&a.vassal)
            .chain(&a.unit)
            .chain(&a.build_file)
            .chain(&a.path)
            .chain(&a.entry)
            .chain(&a.url)
            .chain(&a.connect_to)
            .chain(&a.unix_socket)
            .chain(&a.live)
            .map(|t| t.0.as_str())
            .collect()
    }

    fn prepare(a: &AppArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
        if render.choice(Some(&a.action), "app: action", &ACTIONS)? == "find" {
            prepare_find(a, render)
        } else {
            prepare_load(a, render)
        }
    }
}

/// An argument, rendered and trimmed (empty when not given).
fn given(render: &Render<'_>, t: Option<&Tmpl>) -> Result<String, TemplateError> {
    render.optional(t).map(|s| s.trim().to_owned())
}

fn prepare_find(a: &AppArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
    let inputs = Found {
        wsgi_app: given(render, a.wsgi_app.as_ref())?,
        server: given(render, a.server.as_ref())?,
        build_file: given(render, a.build_file.as_ref())?,
    };
    let script = find_script(
        &given(render, a.pid_file.as_ref())?,
        &given(render, a.vassal.as_ref())?,
        &given(render, a.unit.as_ref())?,
    );
    Ok(Prepared::new(render.command(script), move |ran| {
        ran.succeeded()?;
        Ok(inputs.read(&ran.output.stdout))
    })
    .data_on_stdout()
    .looking_only()
    .showing("read the app server's settings (gunicorn's command line, the uWSGI vassal, the systemd unit, nginx's site) for the app's entry point and address".into()))
}

fn prepare_load(a: &AppArgs, render: &Render<'_>) -> Result<Prepared, TemplateError> {
    let path = given(render, a.path.as_ref())?;
    let entry = given(render, a.entry.as_ref())?;
    let url = given(render, a.url.as_ref())?;
    let route = Route {
        connect_to: given(render, a.connect_to.as_ref())?,
        unix_socket: given(render, a.unix_socket.as_ref())?,
    };
    let live = given(render, a.live.as_ref())?;
    let script = load_script(&path, &entry, &url, &route, &live);
    let shown = match (entry.is_empty(), url.is_empty() || live.is_empty()) {
        (false, false) => format!(
            "import {entry} in {path} with its environment, and ask the live release for {url}"
        ),
        (false, true) => format!("import {entry} in {path} with its environment"),
        (true, false) => format!("ask the live release for {url}"),
        (true, true) => "nothing to load: no entry point was found".into(),
    };
    Ok(Prepared::new(render.command(script), move |ran| {
        let marks = ran.succeeded().map_err(|mut failure| {
            if failure.message.contains("does not load") {
                failure.hints.push("nothing was switched: the live release serves as before; fix the app (a missing package in the requirements, the config file it reads) and deploy again".into());
            }
            failure
        })?;
        Ok(load_outcome(&marks, &entry, &url, &route))
    })
    .showing(shown))
}

/// What `find` knows before it reads the host.
struct Found {
    wsgi_app: String,
    server: String,
    build_file: String,
}

impl Found {
    /// The entry point and address the host's files give; registers
    /// `{entry, entry_from, url, connect_to, unix_socket, address_from}`
    /// (empty strings where none was found) and warns once when there is
    /// no entry point.
    fn read(&self, stdout: &str) -> Outcome {
        let sections = sections(stdout);
        let section = |name: &str| {
            sections
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, text)| text.as_str())
        };
        // Each running nginx: its main file, then the files it includes
        // (an upstream's name means something only within its own nginx).
        let mut nginx: Vec<Vec<(String, String)>> = Vec::new();
        for (name, text) in &sections {
            if let Some(path) = name.strip_prefix("nginx-main ") {
                nginx.push(vec![(path.to_owned(), text.clone())]);
            } else if let (Some(path), Some(current)) =
                (name.strip_prefix("nginx "), nginx.last_mut())
            {
                current.push((path.to_owned(), text.clone()));
            }
        }
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut addresses: Vec<Address> = Vec::new();
        if !self.wsgi_app.is_empty() {
            entries.push((self.wsgi_app.clone(), "wsgi_app".into()));
        }
        if let Some(text) = section("gunicorn") {
            let argv: Vec<String> = text.lines().map(str::to_owned).collect();
            let (entry, address) = serving::gunicorn(&argv);
            entries.extend(entry.map(|e| (e, "gunicorn's command line".to_owned())));
            addresses.extend(address);
        }
        if let Some(text) = section("vassal") {
            let vassal = serving::uwsgi_ini(text);
            entries.extend(vassal.entry.map(|e| (e, "the uWSGI vassal".to_owned())));
            match (&vassal.http, &vassal.socket) {
                (Some(http), _) => addresses.extend(serving::vassal_http(http)),
                (None, Some(socket)) => addresses.extend(
                    nginx
                        .iter()
                        .find_map(|files| serving::nginx_front(files, socket)),
                ),
                (None, None) => {}
            }
        }
        if let Some(text) = section("unit") {
            let argv = serving::exec_start(text);
            if argv.iter().any(|a| a.contains("gunicorn")) {
                let (entry, address) = serving::gunicorn(&argv);
                entries.extend(entry.map(|e| (e, "the systemd unit's ExecStart".to_owned())));
                addresses.extend(address);
            }
        }
        let entry = entries.into_iter().next();
        let address = addresses.into_iter().next();
        let path = serving::served_path(&self.build_file);
        let url = match (&address, &path) {
            (Some(a), Some(p)) => format!("{}{p}", a.base),
            _ => String::new(),
        };
        let mut warnings = Vec::new();
        if entry.is_none() {
            warnings.push(format!(
                "no WSGI entry point found for the app ({}): the new release cannot be loaded before the switch; set `wsgi_app` (MODULE:VARIABLE, as gunicorn takes it) in the inventory",
                match self.server.as_str() {
                    "gunicorn" => "gunicorn's command line names none",
                    "uwsgi-emperor" => "the uWSGI vassal names no module",
                    "systemd" => "the unit's ExecStart names none",
                    _ => "app_server `command` says nothing of it",
                }
            ));
        }
        let note = match (&entry, &url) {
            (Some((e, from)), u) if !u.is_empty() => format!("{e} (from {from}), answering at {u}"),
            (Some((e, from)), _) => format!("{e} (from {from}); no address found"),
            (None, u) if !u.is_empty() => format!("no entry point; answering at {u}"),
            (None, _) => "no entry point, no address".into(),
        };
        let (entry, entry_from) = entry.unwrap_or_default();
        let register = BTreeMap::from([
            ("entry", entry),
            ("entry_from", entry_from),
            ("url", url),
            (
                "connect_to",
                address
                    .as_ref()
                    .and_then(|a| a.connect_to.clone())
                    .unwrap_or_default(),
            ),
            (
                "unix_socket",
                address
                    .as_ref()
                    .and_then(|a| a.unix_socket.clone())
                    .unwrap_or_default(),
            ),
            ("address_from", address.map(|a| a.from).unwrap_or_default()),
        ]);
        Outcome {
            register: Some(Value::from_serialize(&register)),
            note: Some(note),
            warnings,
            ..Outcome::default()
        }
    }
}

/// The marker that starts a section of `find`'s output.
const SECTION: &str = "@@wptdeploy-section ";

/// `find`'s output, as `(name, text)` sections.
fn sections(stdout: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix(SECTION) {
            out.push((name.to_owned(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// Prints, as the app user, what the server runs: gunicorn's master's
/// arguments, the vassal, the unit's `ExecStart`, and the configuration
/// of each running nginx (its main file and the files it includes).
fn find_script(pid_file: &str, vassal: &str, unit: &str) -> String {
    let mut script = String::from("section() { printf '\\n@@wptdeploy-section %s\\n' \"$1\"; }\n");
    if !pid_file.is_empty() {
        script.push_str(&format!(
            "if pid=$(cat -- {f} 2>/dev/null) && [ -r \"/proc/$pid/cmdline\" ]; then section gunicorn; tr '\\0' '\\n' < \"/proc/$pid/cmdline\"; fi\n",
            f = quote(pid_file)
        ));
    }
    if !unit.is_empty() {
        script.push_str(&format!(
            "section unit; systemctl show -p ExecStart --value -- {} 2>/dev/null || true\n",
            quote(unit)
        ));
    }
    if !vassal.is_empty() {
        script.push_str(&format!(
            r#"if [ -r {v} ]; then section vassal; cat -- {v}
  confs=$(grep -las 'nginx: master process' /proc/[0-9]*/cmdline | while read -r c; do
    line=$(tr '\0' ' ' < "$c" 2>/dev/null) || continue
    prefix=$(printf '%s' "$line" | sed -n 's/.* -p \([^ ]*\).*/\1/p')
    conf=$(printf '%s' "$line" | sed -n 's/.* -c \([^ ]*\).*/\1/p')
    case "$conf" in /*) ;; "") echo /etc/nginx/nginx.conf; continue ;; *) conf="${{prefix:-/etc/nginx}}/$conf" ;; esac
    echo "$conf"
  done | sort -u)
  for conf in ${{confs:-/etc/nginx/nginx.conf}}; do
    [ -r "$conf" ] || continue
    section "nginx-main $conf"; cat -- "$conf"
    dir=$(dirname -- "$conf")
    sed -n 's/^[[:space:]]*include[[:space:]]\{{1,\}}\([^;]*\);.*/\1/p' -- "$conf" | while read -r pattern; do
      case "$pattern" in /*) ;; *) pattern="$dir/$pattern" ;; esac
      for f in $pattern; do [ -f "$f" ] && [ -r "$f" ] && {{ section "nginx $f"; cat -- "$f"; }}; done
    done
  done
fi
"#,
            v = quote(vassal)
        ));
    }
    script
}

/// How curl reaches an address: through `--connect-to` (a site's name
/// kept, the connection made to this machine) or a unix socket.
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// curl's `--connect-to`.
    pub connect_to: String,
    /// A unix socket that speaks HTTP.
    pub unix_socket: String,
}

impl Route {
    /// curl's options for the route (only http and https, whatever the
    /// URL says; `--insecure` only for a site reached on this machine).
    pub fn curl_options(&self) -> String {
        let mut options = String::from("--proto =http,https");
        if !self.connect_to.is_empty() {
            options.push_str(&format!(
                " --insecure --connect-to {}",
                quote(&self.connect_to)
            ));
        }
        if !self.unix_socket.is_empty() {
            options.push_str(&format!(" --unix-socket {}", quote(&self.unix_socket)));
        }
        options
    }
}

/// The loader: imports `MODULE` (or runs a `.py` file) from the current
/// directory and takes `VARIABLE` (calling `factory()`), which must be a
/// WSGI callable.
const LOADER: &str = r#"import importlib, os, runpy, sys
sys.path.insert(0, os.getcwd())
spec = sys.argv[1]
target, _, attr = spec.rpartition(":")
if target.endswith(".py") or "/" in target:
    names = runpy.run_path(target, run_name="__wptdeploy_load__")
else:
    names = vars(importlib.import_module(target))
app = eval(attr, dict(names)) if "(" in attr else names[attr]
if not callable(app):
    sys.exit(spec + " is not a WSGI app: it is not callable")
"#;

/// Imports `entry` from the release at `path` with its `.venv`, then asks
/// the live release for `url` (through `route`): `wptdeploy.proven=1` when
/// the answer names `live`.
fn load_script(path: &str, entry: &str, url: &str, route: &Route, live: &str) -> String {
    let mut script = String::new();
    if !entry.is_empty() {
        script.push_str(&format!(
            r#"dir={dir} entry={e}
cd -- "$dir" || exit 3
if ! out=$(env PYTHONDONTWRITEBYTECODE=1 ./.venv/bin/python -c {loader} "$entry" 2>&1 < /dev/null); then
  printf '%s\n' "$out" | tail -n 15 >&2
  echo "wptdeploy: the new release's app does not load ($entry, imported in $dir with its environment)" >&2
  exit 1
fi
echo wptdeploy.loaded=1
"#,
            dir = quote(path),
            loader = quote(LOADER),
            e = quote(entry),
        ));
    }
    if !url.is_empty() && !live.is_empty() {
        script.push_str(&format!(
            r#"body=$(curl -sS --max-time 5 {options} -- {u} 2>&1 | head -c 4096) || true
case "$body" in *{live}*) echo wptdeploy.proven=1 ;; *) printf 'wptdeploy.answered=%s\n' "$(printf '%s' "$body" | head -n 1 | cut -c 1-120)" ;; esac
"#,
            options = route.curl_options(),
            u = quote(url),
            live = quote(live),
        ));
    }
    if script.is_empty() {
        script.push_str("true\n");
    }
    script
}

/// Registers `{loaded, url, connect_to, unix_socket}`: `url` (and its
/// route) only when the live release answered there with its build file.
fn load_outcome(
    marks: &BTreeMap<String, String>,
    entry: &str,
    url: &str,
    route: &Route,
) -> Outcome {
    let loaded = marks.contains_key("loaded");
    let proven = marks.contains_key("proven");
    let mut notes = Vec::new();
    if loaded {
        notes.push(format!("{entry} loads"));
    }
    if proven {
        notes.push(format!("the live release answers at {url}"));
    } else if let Some(answer) = marks.get("answered") {
        notes.push(format!(
            "{url} does not answer with the live release's build file ({}): the switch is not gated on it",
            if answer.is_empty() { "an empty answer" } else { answer.as_str() }
        ));
    }
    let gate = |s: &str| if proven { s.to_owned() } else { String::new() };
    Outcome {
        register: Some(Value::from_serialize(BTreeMap::from([
            ("loaded", Value::from(loaded)),
            ("url", Value::from(gate(url))),
            ("connect_to", Value::from(gate(&route.connect_to))),
            ("unix_socket", Value::from(gate(&route.unix_socket))),
        ]))),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_reads_the_vassal_and_the_nginx_site_in_front_of_it() {
        let found = Found {
            wsgi_app: String::new(),
            server: "uwsgi-emperor".into(),
            build_file: "wptdash/static/build.txt".into(),
        };
        let stdout = "\n@@wptdeploy-section vassal\n[uwsgi]\nsocket = /tmp/wpt.sock\nmodule = wptdash.prodapp:prod_app\n\n@@wptdeploy-section nginx-main /etc/nginx/nginx.conf\nhttp { include /etc/nginx/conf.d/*.conf; }\n\n@@wptdeploy-section nginx /etc/nginx/conf.d/site.conf\nserver { listen 80; server_name pulls.example.org; location / { uwsgi_pass unix:/tmp/wpt.sock; } }\n";
        // Another nginx on the machine, whose upstream has the same name
        // but another socket, comes first: not ours.
        let other = "\n@@wptdeploy-section nginx-main /srv/other/nginx.conf\nhttp { upstream app { server unix:/srv/other.sock; } server { listen 127.0.0.1:9999; location / { uwsgi_pass app; } } }\n";
        let mine = "\n@@wptdeploy-section nginx-main /srv/mine/nginx.conf\nhttp { upstream app { server unix:/tmp/wpt.sock; } }\n";
        let outcome = found.read(&format!("{other}{mine}{stdout}"));
        let register = outcome.register.unwrap();
        let get = |k: &str| register.get_attr(k).unwrap().to_string();
        assert_eq!(get("entry"), "wptdash.prodapp:prod_app");
        assert_eq!(get("entry_from"), "the uWSGI vassal");
        assert_eq!(get("url"), "http://pulls.example.org:80/static/build.txt");
        assert_eq!(get("connect_to"), "pulls.example.org:80:127.0.0.1:80");
        assert!(outcome.warnings.is_empty());
    }

    #[test]
    fn without_an_entry_point_find_warns_naming_the_variable() {
        let found = Found {
            wsgi_app: String::new(),
            server: "command".into(),
            build_file: "build.txt".into(),
        };
        let outcome = found.read("");
        assert_eq!(outcome.warnings.len(), 1);
        assert!(
            outcome.warnings[0].contains("set `wsgi_app`"),
            "{:?}",
            outcome.warnings
        );
        let register = outcome.register.unwrap();
        assert_eq!(register.get_attr("url").unwrap().to_string(), "");
        let named = Found {
            wsgi_app: "app:app".into(),
            ..found
        };
        assert!(named.read("").warnings.is_empty());
    }

    #[test]
    fn an_entry_point_is_said_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let hostile = "m:app$(touch MARK)`touch MARK`\"";
        let script = load_script(".", hostile, "", &Route::default(), "");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!dir.path().join("MARK").exists(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("(m:app$(touch MARK)"),
            "{out:?}"
        );
    }

    #[test]
    fn only_a_proven_address_gates_the_cut_over() {
        let route = Route {
            connect_to: "a:80:127.0.0.1:80".into(),
            unix_socket: String::new(),
        };
        let marks = BTreeMap::from([
            ("loaded".to_owned(), "1".to_owned()),
            ("proven".to_owned(), "1".to_owned()),
        ]);
        let register = load_outcome(&marks, "m:app", "http://a:80/static/build.txt", &route)
            .register
            .unwrap();
        assert_eq!(
            register.get_attr("url").unwrap().to_string(),
            "http://a:80/static/build.txt"
        );
        let marks = BTreeMap::from([("answered".to_owned(), "404 Not Found".to_owned())]);
        let outcome = load_outcome(&marks, "m:app", "http://a:80/static/build.txt", &route);
        assert_eq!(
            outcome
                .register
                .unwrap()
                .get_attr("url")
                .unwrap()
                .to_string(),
            ""
        );
        assert!(outcome.note.unwrap().contains("not gated"));
    }
}
