//! What `wptdeploy setup` runs on a host with systemd, where the tests'
//! machine has none (tests/setup.rs proves the rest there): setup.yml's
//! start steps, rendered as a host running systemd would have them, start
//! the right unit, reload nginx only after `nginx -t`, and run only with
//! systemd.

use std::sync::Arc;

use wptdeploy::playbook::{Playbook, PlaybookDirs};
use wptdeploy::template::{Scope, Templates};

/// The check and fix of setup.yml's step whose name starts with `name`,
/// with `vars` over the defaults and `init_system` as the probe found it.
fn script(name: &str, vars: &[(&str, &str)], init_system: &str) -> Option<String> {
    let templates = Templates::new();
    let playbook = Playbook::load(&PlaybookDirs::new(None), "setup.yml", &templates).unwrap();
    let mut values = playbook.vars.clone();
    for (key, value) in [("project_name", "notes"), ("inventory_hostname", "web1")]
        .iter()
        .chain(vars)
    {
        values
            .values
            .insert((*key).into(), serde_yaml::Value::String((*value).into()));
    }
    let registered = [(
        "init_system".to_owned(),
        minijinja::Value::from(init_system),
    )]
    .into_iter()
    .collect();
    let ctx = Scope::context(&templates, Arc::new(values), registered);
    let step = playbook
        .steps
        .iter()
        .find(|s| s.name.0.starts_with(name))
        .unwrap_or_else(|| panic!("no step `{name}` in setup.yml"));
    if let Some(when) = &step.when
        && !templates.condition(when, &ctx).unwrap()
    {
        return None;
    }
    let prepared = wptdeploy::steps::prepare(step, &templates, &ctx, "root", &[]).unwrap();
    Some(prepared.command.script)
}

#[test]
fn on_systemd_the_unit_starts_and_nginx_reloads_after_its_test() {
    let gunicorn = script(
        "start the app server's unit",
        &[("app_server", "gunicorn")],
        "systemd",
    )
    .expect("runs with systemd");
    assert!(
        gunicorn.contains("systemctl daemon-reload && systemctl enable notes.service && if [ -e /var/www/notes/site ]; then systemctl restart notes.service; fi")
            && gunicorn.contains("systemctl is-active --quiet notes.service"),
        "{gunicorn}"
    );
    let emperor = script(
        "start the app server's unit",
        &[
            ("app_server", "uwsgi-emperor"),
            ("uwsgi_vassal", "/etc/uwsgi/vassals/notes.ini"),
        ],
        "systemd",
    )
    .expect("runs with systemd");
    assert!(
        emperor.contains("systemctl enable emperor.uwsgi.service"),
        "{emperor}"
    );
    let nginx = script("reload nginx", &[], "systemd").expect("runs with systemd");
    assert!(
        nginx.contains("if ! out=$(nginx -t 2>&1); then")
            && nginx.contains("fi\nsystemctl enable nginx && systemctl reload-or-restart nginx && touch /run/wptdeploy-nginx-notes"),
        "{nginx}"
    );
    // Without systemd, neither runs, and the note does.
    assert_eq!(
        script(
            "start the app server's unit",
            &[("app_server", "gunicorn")],
            "none"
        ),
        None
    );
    assert_eq!(script("reload nginx", &[], "none"), None);
    assert!(script("what is left to start", &[], "none").is_some());
    assert_eq!(script("what is left to start", &[], "systemd"), None);
}

/// Runs `script` with a `systemctl` on PATH that keeps the unit's state in
/// files (the test machine runs no systemd); what it was asked, one call
/// a line.
fn with_recording_systemctl(script: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let stub = bin.join("systemctl");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nstate={state}\necho \"$*\" >> \"$state/calls\"\ncase \"$1\" in\n  is-enabled) test -e \"$state/enabled\" ;;\n  is-active) test -e \"$state/active\" ;;\n  show) echo no ;;\n  enable) touch \"$state/enabled\" ;;\n  restart) touch \"$state/active\" ;;\nesac\n",
            state = dir.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let ran = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap_or_default();
    (ran.status.success(), calls)
}

#[test]
fn before_the_first_release_the_gunicorn_unit_is_enabled_and_left_for_the_deploy_to_start() {
    let base = tempfile::tempdir().unwrap();
    let base_path = base.path().display().to_string();
    let unit = |app_server: &str| {
        script(
            "start the app server's unit",
            &[
                ("app_server", app_server),
                ("base_path", &base_path),
                ("uwsgi_vassal", "/etc/uwsgi/vassals/notes.ini"),
            ],
            "systemd",
        )
        .expect("runs with systemd")
    };
    // No release yet: enabled, not started (it would fail and loop).
    let (ok, calls) = with_recording_systemctl(&unit("gunicorn"));
    assert!(ok, "{calls}{}", unit("gunicorn"));
    assert!(calls.contains("enable notes.service"), "{calls}");
    assert!(
        !calls.contains("restart"),
        "started before a release: {calls}"
    );
    // A release is live: started (restarted to load a changed unit).
    std::os::unix::fs::symlink(base.path(), base.path().join("site")).unwrap();
    let (ok, calls) = with_recording_systemctl(&unit("gunicorn"));
    assert!(ok && calls.contains("restart notes.service"), "{calls}");
    // The emperor runs without a release: always started.
    std::fs::remove_file(base.path().join("site")).unwrap();
    let (ok, calls) = with_recording_systemctl(&unit("uwsgi-emperor"));
    assert!(
        ok && calls.contains("restart emperor.uwsgi.service"),
        "{calls}"
    );
}
