//! Inventories and playbooks as users write them wrong: errors point at
//! the file and line, and nothing is contacted.

use crate::support::{Run, bin, sandbox};

#[test]
fn a_malformed_inventory_line_points_at_file_and_line() {
    let s = sandbox();
    std::fs::write(
        s.inventory.join("staging"),
        "[staging]\nweb1 ansible_port\n",
    )
    .unwrap();
    s.wptdeploy(&["staging"])
        .failure(2)
        .stderr_has("staging:2: expected `key=value` after the host name, found `ansible_port`");
}

#[test]
fn malformed_group_vars_point_at_file_and_line() {
    let s = sandbox();
    std::fs::write(
        s.inventory.join("group_vars/all.yml"),
        "project_name: x\ngit_repo: a: b\n",
    )
    .unwrap();
    let run = s.wptdeploy(&["staging"]).failure(2);
    assert!(
        run.stderr
            .contains("group_vars/all.yml:2: mapping values are not allowed in this context"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_playbook_with_an_unknown_key_points_at_file_and_line() {
    let s = sandbox();
    let dir = s.dir.join("my-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("deploy.yml"),
        "steps:\n  - name: one\n    run: true\n  - name: two\n    runn: true\n",
    )
    .unwrap();
    let run = Run::from_command(s.command(bin()).args(["staging", "--playbooks"]).arg(&dir));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("deploy.yml:5: step `two`: unknown key `runn` (did you mean `run`?)"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_undefined_variable_is_named_with_where_to_define_it() {
    let s = sandbox();
    std::fs::write(s.inventory.join("group_vars/all.yml"), "git_repo: x\n").unwrap();
    s.wptdeploy(&["staging"])
        .failure(2)
        .stderr_has("undefined variable `project_name`, which `base_path` uses (`/var/www/{{ project_name }}`, built-in:playbooks/vars.yml:3)")
        .stderr_has("needed by step `look at what {{ app_user }} must write in {{ base_path }}` (built-in:playbooks/deploy.yml:30)")
        .stderr_has("hint: define it in");
}

#[test]
fn an_unknown_environment_lists_the_known_ones() {
    let s = sandbox();
    s.wptdeploy(&["qa"])
        .failure(2)
        .stderr_has("environment `qa` is not an inventory file or group")
        .stderr_has("hint: known environments: staging");
}

#[test]
fn an_unknown_environment_suggests_the_nearest() {
    let s = sandbox();
    s.wptdeploy(&["stagign"])
        .failure(2)
        .stderr_has("hint: did you mean `staging`?");
}

#[test]
fn an_unknown_filter_is_an_error_before_any_connection() {
    let s = sandbox();
    std::fs::write(
        s.inventory.join("staging"),
        "[staging]\nnowhere ansible_host=127.0.0.1 ansible_port=1\n",
    )
    .unwrap();
    let dir = s.dir.join("my-playbooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("p.yml"),
        "steps:\n  - name: tidy\n    run: echo {{ commit | to_nice_jsn }}\n",
    )
    .unwrap();
    let run = Run::from_command(
        s.command(bin())
            .args([
                "--no-progress",
                "staging",
                "--playbook",
                "p.yml",
                "--playbooks",
            ])
            .arg(&dir),
    )
    .failure(2)
    .stderr_has("step `tidy` (")
    .stderr_has("p.yml:2): filter to_nice_jsn is unknown");
    assert!(!run.stderr.contains("cannot connect"), "{}", run.stderr);
}

#[test]
fn an_app_server_there_is_none_of_or_one_missing_its_setting_is_refused_before_any_host() {
    let s = sandbox();
    let refused = |extra: &str| {
        let run = s
            .wptdeploy(&["staging", "--commit", "master", "-e", extra])
            .failure(2);
        assert!(
            !s.base_path.exists(),
            "nothing was contacted: {}",
            run.stderr
        );
        run.stderr_has("nothing was changed: no host was contacted")
    };
    refused("app_server=gunicron").stderr_has(
        "sandbox-host: app_server must be `command`, `gunicorn`, `uwsgi-emperor` or `systemd`, not `gunicron` (did you mean `gunicorn`?)",
    );
    refused("app_server=uwsgi-emperor").stderr_has(
        "sandbox-host: app_server `uwsgi-emperor` needs `uwsgi_vassal`: set it in the inventory (docs/cutover.md)",
    );
}
