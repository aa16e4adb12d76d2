//! How a running app server serves the app, read from what the server
//! itself runs (no Python, no guessing from the checkout): gunicorn's
//! command line, a uWSGI vassal's ini, a systemd unit's `ExecStart`, and
//! the nginx site in front of a socket that speaks uwsgi. From them: the
//! app's WSGI entry point (what loading the app imports) and the address
//! a request reaches it through, the way real requests do.

/// What a request to the app is sent to: `base` (scheme, host and port)
/// and how curl gets there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `http://127.0.0.1:8000`, `https://pulls.example.org:443`.
    pub base: String,
    /// curl's `--connect-to` (the site's name kept for `Host` and SNI, the
    /// connection made to this machine), when `base` names the site.
    pub connect_to: Option<String>,
    /// A unix socket that speaks HTTP (gunicorn's `unix:PATH`).
    pub unix_socket: Option<String>,
    /// Where it was read, for the person.
    pub from: String,
}

impl Address {
    fn tcp(host: &str, port: u16, from: String) -> Address {
        Address {
            base: format!("http://{host}:{port}"),
            connect_to: None,
            unix_socket: None,
            from,
        }
    }
}

/// The entry point and address gunicorn's master command line (`argv`,
/// one argument an item) gives: its `MODULE:VARIABLE` argument and its
/// first `--bind` (gunicorn's default, `127.0.0.1:8000`, without one).
pub fn gunicorn(argv: &[String]) -> (Option<String>, Option<Address>) {
    let entry = argv
        .iter()
        .skip(1)
        .rev()
        .find(|a| is_module_entry(a))
        .cloned();
    let mut bind = None;
    let mut rest = argv.iter().skip(1);
    while let Some(arg) = rest.next() {
        let value = match arg.as_str() {
            "-b" | "--bind" => rest.next().cloned(),
            _ => arg
                .strip_prefix("--bind=")
                .or_else(|| arg.strip_prefix("-b").filter(|v| !v.is_empty()))
                .map(str::to_owned),
        };
        if value.is_some() {
            bind = value;
            break;
        }
    }
    let from = "gunicorn's --bind".to_owned();
    let address = match bind.as_deref() {
        None => Some(Address::tcp(
            "127.0.0.1",
            8000,
            "gunicorn's default bind".into(),
        )),
        Some(b) => match b.strip_prefix("unix:") {
            Some(path) => Some(Address {
                base: "http://localhost".into(),
                connect_to: None,
                unix_socket: Some(path.to_owned()),
                from,
            }),
            None => host_port(b, 8000).map(|(host, port)| Address::tcp(&host, port, from)),
        },
    };
    (entry, address)
}

/// Whether `arg` is a `MODULE:VARIABLE` (or `MODULE:factory()`) argument.
fn is_module_entry(arg: &str) -> bool {
    let Some((module, attr)) = arg.split_once(':') else {
        return false;
    };
    let ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    module.split('.').all(ident) && ident(attr.split('(').next().unwrap_or(""))
}

/// `HOST:PORT`, `:PORT`, `PORT` or `HOST` (with `default` as the port):
/// where to connect on this machine (a wildcard address is loopback).
fn host_port(bind: &str, default: u16) -> Option<(String, u16)> {
    let bind = bind.trim();
    let (host, port) = if let Some(rest) = bind.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map_or(Some(default), |p| p.parse().ok())?;
        (format!("[{host}]"), port)
    } else if let Ok(port) = bind.parse::<u16>() {
        (String::new(), port)
    } else {
        match bind.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.parse().ok()?),
            None => (bind.to_owned(), default),
        }
    };
    let host = match host.as_str() {
        "" | "0.0.0.0" | "*" | "[::]" | "localhost" => "127.0.0.1".to_owned(),
        _ => host,
    };
    Some((host, port))
}

/// What a uWSGI vassal's ini says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vassal {
    /// `module`/`wsgi`/`mount`/`wsgi-file` with `callable`, as an entry
    /// point (`pkg.mod:app`, `path/app.py:application`).
    pub entry: Option<String>,
    /// `http`/`http-socket`: where it speaks HTTP itself.
    pub http: Option<String>,
    /// `socket`/`uwsgi-socket`: where it speaks uwsgi (behind nginx).
    pub socket: Option<String>,
}

/// Reads a vassal's `[uwsgi]` section.
pub fn uwsgi_ini(text: &str) -> Vassal {
    let mut in_uwsgi = true;
    let mut values: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_uwsgi = line == "[uwsgi]";
            continue;
        }
        if !in_uwsgi || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            values.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let get = |keys: &[&str]| {
        values
            .iter()
            .find(|(k, _)| keys.contains(&k.as_str()))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let callable = get(&["callable"]).unwrap_or_else(|| "application".into());
    let with_callable = |target: String| {
        if target.contains(':') {
            target
        } else {
            format!("{target}:{callable}")
        }
    };
    let entry = get(&["module", "wsgi"])
        .or_else(|| {
            get(&["mount"]).and_then(|m| m.split_once('=').map(|(_, app)| app.trim().to_owned()))
        })
        .map(&with_callable)
        .or_else(|| get(&["wsgi-file", "file"]).map(with_callable));
    Vassal {
        entry,
        http: get(&["http", "http-socket"]),
        socket: get(&["socket", "uwsgi-socket"]),
    }
}

/// The address of a vassal speaking HTTP itself (`http = :8080`).
pub fn vassal_http(http: &str) -> Option<Address> {
    host_port(http, 80)
        .map(|(host, port)| Address::tcp(&host, port, "the uWSGI vassal's http".into()))
}

/// The argument vector of a systemd unit's `ExecStart`, as `systemctl
/// show -p ExecStart --value` prints it (`{ path=... ; argv[]=A B C ; ...}`).
pub fn exec_start(shown: &str) -> Vec<String> {
    shown
        .split("argv[]=")
        .nth(1)
        .map(|rest| rest.split(" ;").next().unwrap_or(rest))
        .map(|argv| argv.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The path a Flask app serves `build_file` at, when it lies in a
/// `static` directory (`wptdash/static/build.txt` is `/static/build.txt`).
pub fn served_path(build_file: &str) -> Option<String> {
    let parts: Vec<&str> = build_file
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let at = parts.iter().position(|p| *p == "static")?;
    (at + 1 < parts.len()).then(|| format!("/{}", parts[at..].join("/")))
}

/// One nginx directive: its name and arguments, and its block's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive {
    name: String,
    args: Vec<String>,
    block: Vec<Directive>,
}

/// Parses nginx configuration text (comments, quotes, nested blocks).
fn nginx_parse(text: &str) -> Vec<Directive> {
    let mut tokens = Vec::new();
    for line in text.lines() {
        let mut word = String::new();
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (None, '#') => break,
                (None, '"' | '\'') => quote = Some(c),
                (None, ';' | '{' | '}') => {
                    if !word.is_empty() {
                        tokens.push(std::mem::take(&mut word));
                    }
                    tokens.push(c.to_string());
                }
                (None, c) if c.is_whitespace() => {
                    if !word.is_empty() {
                        tokens.push(std::mem::take(&mut word));
                    }
                }
                (_, c) => word.push(c),
            }
        }
        if !word.is_empty() {
            tokens.push(word);
        }
    }
    let mut tokens = tokens.into_iter();
    block(&mut tokens)
}

fn block(tokens: &mut impl Iterator<Item = String>) -> Vec<Directive> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    while let Some(token) = tokens.next() {
        match token.as_str() {
            ";" => {
                if !words.is_empty() {
                    let name = words.remove(0);
                    out.push(Directive {
                        name,
                        args: std::mem::take(&mut words),
                        block: Vec::new(),
                    });
                }
            }
            "{" => {
                let inner = block(tokens);
                if !words.is_empty() {
                    let name = words.remove(0);
                    out.push(Directive {
                        name,
                        args: std::mem::take(&mut words),
                        block: inner,
                    });
                }
            }
            "}" => return out,
            _ => words.push(token),
        }
    }
    out
}

fn walk<'a>(directives: &'a [Directive], out: &mut Vec<&'a Directive>) {
    for d in directives {
        out.push(d);
        walk(&d.block, out);
    }
}

/// The address of the nginx site that passes requests to `socket` (a
/// vassal's uwsgi socket: a path, or `HOST:PORT`), read from nginx's
/// configuration files (`(path, text)`): its `listen` (plain HTTP first)
/// and `server_name`, connected to on this machine.
pub fn nginx_front(files: &[(String, String)], socket: &str) -> Option<Address> {
    let parsed: Vec<(String, Vec<Directive>)> = files
        .iter()
        .map(|(path, text)| (path.clone(), nginx_parse(text)))
        .collect();
    let mut all = Vec::new();
    for (_, directives) in &parsed {
        walk(directives, &mut all);
    }
    let wanted = |target: &str| same_socket(target, socket);
    let upstreams: Vec<&str> = all
        .iter()
        .filter(|d| d.name == "upstream")
        .filter(|d| {
            d.block
                .iter()
                .any(|s| s.name == "server" && s.args.first().is_some_and(|a| wanted(a)))
        })
        .filter_map(|d| d.args.first().map(String::as_str))
        .collect();
    let passes = |d: &Directive| {
        let mut inner = Vec::new();
        walk(&d.block, &mut inner);
        inner.iter().any(|p| {
            p.name == "uwsgi_pass"
                && p.args
                    .first()
                    .is_some_and(|target| wanted(target) || upstreams.contains(&target.as_str()))
        })
    };
    let (path, server) = parsed.iter().find_map(|(path, directives)| {
        let mut here = Vec::new();
        walk(directives, &mut here);
        here.into_iter()
            .find(|d| d.name == "server" && passes(d))
            .map(|d| (path, d))
    })?;
    let listens: Vec<&Directive> = server.block.iter().filter(|d| d.name == "listen").collect();
    let listen = listens
        .iter()
        .find(|l| !l.args.iter().any(|a| a == "ssl"))
        .or_else(|| listens.first())?;
    let https = listen.args.iter().any(|a| a == "ssl");
    let (ip, port) = host_port(listen.args.first()?, 80)?;
    let name = server
        .block
        .iter()
        .filter(|d| d.name == "server_name")
        .flat_map(|d| d.args.iter())
        .find(|n| *n != "_" && !n.starts_with('~') && !n.contains('*') && !n.is_empty());
    let scheme = if https { "https" } else { "http" };
    let from = format!("the nginx site in {path}");
    Some(match name {
        Some(name) => Address {
            base: format!("{scheme}://{name}:{port}"),
            connect_to: Some(format!("{name}:{port}:{ip}:{port}")),
            unix_socket: None,
            from,
        },
        None => Address {
            base: format!("{scheme}://{ip}:{port}"),
            connect_to: None,
            unix_socket: None,
            from,
        },
    })
}

/// Whether nginx's `target` (`unix:/tmp/app.sock`, `127.0.0.1:3031`) is
/// uWSGI's `socket` (`/tmp/app.sock`, `:3031`).
fn same_socket(target: &str, socket: &str) -> bool {
    match (target.strip_prefix("unix:"), socket.starts_with('/')) {
        (Some(path), true) => path == socket,
        (None, false) => host_port(target, 80) == host_port(socket, 80),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn gunicorn_s_command_line_gives_the_entry_and_the_bind() {
        let (entry, address) = gunicorn(&argv(
            "/srv/app/venv/bin/python -m gunicorn --chdir /srv/app/site --bind 0.0.0.0:8001 --workers 2 wptdash.wsgi:app",
        ));
        assert_eq!(entry.as_deref(), Some("wptdash.wsgi:app"));
        let address = address.unwrap();
        assert_eq!(address.base, "http://127.0.0.1:8001");
        let (entry, address) = gunicorn(&argv("gunicorn -bunix:/run/app.sock 'app:create_app()'"));
        assert_eq!(entry, None, "a quoted argument is not one gunicorn got");
        assert_eq!(
            address.unwrap().unix_socket.as_deref(),
            Some("/run/app.sock")
        );
        let (entry, address) = gunicorn(&argv("gunicorn app:create_app()"));
        assert_eq!(entry.as_deref(), Some("app:create_app()"));
        assert_eq!(address.unwrap().base, "http://127.0.0.1:8000");
        let (_, address) = gunicorn(&argv("gunicorn --bind=[::1]:9000 a:b"));
        assert_eq!(address.unwrap().base, "http://[::1]:9000");
    }

    #[test]
    fn a_vassal_gives_its_module_file_or_mount_and_its_sockets() {
        let wptdash = "# wpt_uwsgi.ini file\n[uwsgi]\n\n# process-related settings\nsocket          = /tmp/wpt-pullresults.sock\nchdir           = /var/www/wpt/site\nmodule          = wptdash.prodapp:prod_app\nvirtualenv      = /var/www/wpt/venv\n";
        let v = uwsgi_ini(wptdash);
        assert_eq!(v.entry.as_deref(), Some("wptdash.prodapp:prod_app"));
        assert_eq!(v.socket.as_deref(), Some("/tmp/wpt-pullresults.sock"));
        assert_eq!(v.http, None);
        let v = uwsgi_ini("[uwsgi]\nwsgi-file = app/wsgi.py\ncallable = app\nhttp = :8080\n");
        assert_eq!(v.entry.as_deref(), Some("app/wsgi.py:app"));
        assert_eq!(
            vassal_http(&v.http.unwrap()).unwrap().base,
            "http://127.0.0.1:8080"
        );
        let v = uwsgi_ini("[uwsgi]\nmount = /=myapp.web\n[other]\nmodule = not.this\n");
        assert_eq!(v.entry.as_deref(), Some("myapp.web:application"));
    }

    #[test]
    fn the_nginx_site_in_front_of_a_socket_gives_its_listen_and_name() {
        let site = "server {\n  listen 443 ssl;\n  include ssl_params;\n  server_name pulls.example.org;\n  location / {\n    include uwsgi_params;\n    uwsgi_pass unix:/tmp/wpt.sock;\n  }\n}\nserver {\n  listen 80 default_server;\n  server_name _;\n  return 301 $scheme://pulls.example.org$request_uri; # redirect\n}\n";
        let files = vec![
            (
                "/etc/nginx/nginx.conf".to_owned(),
                "http { include conf.d/*.conf; }".to_owned(),
            ),
            ("/etc/nginx/conf.d/site.conf".to_owned(), site.to_owned()),
        ];
        let a = nginx_front(&files, "/tmp/wpt.sock").unwrap();
        assert_eq!(a.base, "https://pulls.example.org:443");
        assert_eq!(
            a.connect_to.as_deref(),
            Some("pulls.example.org:443:127.0.0.1:443")
        );
        assert!(a.from.contains("conf.d/site.conf"), "{}", a.from);
        assert_eq!(nginx_front(&files, "/tmp/other.sock"), None);
        let upstream = "http {\n upstream app {\n server unix:/srv/s/app.sock max_fails=0;\n }\n server {\n listen 127.0.0.1:8081;\n location / { include /etc/nginx/uwsgi_params; uwsgi_pass app; }\n }\n}\n";
        let a = nginx_front(&[("n.conf".into(), upstream.into())], "/srv/s/app.sock").unwrap();
        assert_eq!(a.base, "http://127.0.0.1:8081");
        assert_eq!(a.connect_to, None);
    }

    #[test]
    fn systemd_s_exec_start_and_the_build_file_s_path_are_read() {
        let shown = "{ path=/srv/venv/bin/gunicorn ; argv[]=/srv/venv/bin/gunicorn -b 127.0.0.1:5000 app:app ; ignore_errors=no ; start_time=[n/a] }";
        assert_eq!(
            exec_start(shown),
            argv("/srv/venv/bin/gunicorn -b 127.0.0.1:5000 app:app")
        );
        assert_eq!(
            served_path("wptdash/static/build.txt").as_deref(),
            Some("/static/build.txt")
        );
        assert_eq!(
            served_path("static/build.txt").as_deref(),
            Some("/static/build.txt")
        );
        assert_eq!(served_path("build.txt"), None);
    }
}
