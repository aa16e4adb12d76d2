//! What an Ansible tree's own files say its deploy does where its
//! variables do not: the service its deploy playbook's handlers restart
//! (wptdash's `systemd: name=emperor.uwsgi state=restarted`), where its
//! roles write `config.txt.j2` into the release (`{{site_path}}/config.txt`),
//! and the uWSGI vassal its roles install, which a graceful cut-over touches
//! (`app_server: uwsgi-emperor`), with the app its template names
//! (`wsgi_app`, loaded before each switch), and whether its pip task
//! gives the virtualenv the system's packages (wptdash's
//! `virtualenv_site_packages: yes`: `venv_site_packages`), and the files
//! its nginx role writes from a list of `{file, dest}` (wptdash's `confs`
//! and `shared`: `nginx_files`, which `wptdeploy setup` writes instead of
//! its own site).
//! These sit above wptdeploy's neutral defaults and below every variable
//! the inventory sets, so a tree deployed by Ansible before deploys the
//! same way with no variable added, and a project without such a tree gets
//! no restart and no config file unless it asks.

use std::path::Path;

use serde_yaml::Value;

use super::model::{Origin, Sourced};

/// The variables `dir`'s deploy playbook and roles imply.
pub fn from_tree(dir: &Path) -> Sourced {
    let mut derived = Sourced::default();
    let playbook = dir.join("deploy.yml");
    if let Some(restart) = restart_command(&read_yaml(&playbook)) {
        derived.insert(
            "restart_command",
            restart.into(),
            Origin::at(format!("{} (its handler)", playbook.display())),
        );
    }
    let mut tasks: Vec<std::path::PathBuf> = fs_err::read_dir(dir.join("roles"))
        .map(|roles| {
            roles
                .filter_map(Result::ok)
                .flat_map(|role| {
                    fs_err::read_dir(role.path().join("tasks")).map_or_else(
                        |_| Vec::new(),
                        |files| files.filter_map(Result::ok).map(|f| f.path()).collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    tasks.sort();
    for file in &tasks {
        if let Some(path) = config_path(&read_yaml(file)) {
            derived.insert(
                "config_path",
                path.into(),
                Origin::at(format!("{} (its template task)", file.display())),
            );
            break;
        }
    }
    for file in &tasks {
        if let Some((src, vassal)) = uwsgi_vassal(&read_yaml(file)) {
            let origin = Origin::at(format!("{} (its vassal template task)", file.display()));
            derived.insert("uwsgi_vassal", vassal.into(), origin.clone());
            derived.insert("app_server", "uwsgi-emperor".into(), origin);
            // The vassal's template names the app (wptdash's `module =
            // wptdash.prodapp:prod_app`): loaded before each switch even
            // where the server's vassal cannot be read.
            let template = file
                .parent()
                .and_then(Path::parent)
                .map(|role| role.join("templates").join(&src));
            if let Some(entry) = template
                .as_deref()
                .and_then(|t| fs_err::read_to_string(t).ok())
                .and_then(|text| crate::serving::uwsgi_ini(&text).entry)
                .filter(|e| !e.contains("{{"))
            {
                let place = template.unwrap_or_default().display().to_string();
                derived.insert(
                    "wsgi_app",
                    entry.into(),
                    Origin::at(format!("{place} (its module)")),
                );
            }
            break;
        }
    }
    for file in &tasks {
        if let Some(site) = site_packages(&read_yaml(file)) {
            derived.insert(
                "venv_site_packages",
                site.into(),
                Origin::at(format!(
                    "{} (its pip task's virtualenv_site_packages)",
                    file.display()
                )),
            );
            break;
        }
    }
    for file in tasks.iter().filter(|f| in_nginx_role(f)) {
        if let Some(lists) = nginx_file_lists(&read_yaml(file)) {
            let origin = Origin::at(format!(
                "{} (its template task over {})",
                file.display(),
                lists.join(", ")
            ));
            let files = format!("{{{{ {} }}}}", lists.join(" + "));
            derived.insert("nginx_files", files.into(), origin.clone());
            // The site is among them, where the role puts it (conf.d,
            // read by nginx as it is: no link to make).
            derived.insert("nginx_site", "".into(), origin.clone());
            derived.insert("nginx_enabled", "".into(), origin);
            break;
        }
    }
    derived
}

/// Whether `tasks_file` is in a role whose name says nginx.
fn in_nginx_role(tasks_file: &Path) -> bool {
    tasks_file
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .is_some_and(|role| role.to_string_lossy().contains("nginx"))
}

/// The variables a task list's `template: src={{item.file}}
/// dest={{item.dest}}` task runs over (`with_items`, `with_flattened`,
/// `loop`: `"{{confs}}"`, `"{{shared}}"`), as variable names.
fn nginx_file_lists(tasks: &Value) -> Option<Vec<String>> {
    tasks.as_sequence()?.iter().find_map(|task| {
        let args = arguments(task, &["template"])?;
        let plain = |key: &str| -> String {
            text(&args, key)
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect()
        };
        if !matches!(plain("src").as_str(), "{{item.file}}" | "{{item.src}}")
            || plain("dest") != "{{item.dest}}"
        {
            return None;
        }
        let over = ["with_flattened", "with_items", "loop", "with_list"]
            .iter()
            .find_map(|k| task.get(*k))?;
        let items: Vec<&Value> = match over {
            Value::Sequence(items) => items.iter().collect(),
            one => vec![one],
        };
        let names: Vec<String> = items
            .iter()
            .map(|v| {
                let name: String = v.as_str()?.chars().filter(|c| !c.is_whitespace()).collect();
                let name = name.strip_prefix("{{")?.strip_suffix("}}")?.to_owned();
                name.chars()
                    .all(|c| c.is_alphanumeric() || c == '_')
                    .then_some(name)
            })
            .collect::<Option<_>>()?;
        (!names.is_empty()).then_some(names)
    })
}

/// Whether a task list's `pip:` task creates its virtualenv with the
/// system's site-packages, when it says.
fn site_packages(tasks: &Value) -> Option<bool> {
    tasks.as_sequence()?.iter().find_map(|task| {
        let args = arguments(task, &["pip"])?;
        match args.get("virtualenv_site_packages")? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" => Some(true),
                "no" | "false" | "off" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    })
}

fn read_yaml(path: &Path) -> Value {
    fs_err::read_to_string(path)
        .ok()
        .and_then(|text| serde_yaml::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

/// The module's arguments, as a map, whether written `key=value ...` or as YAML.
fn arguments(task: &Value, modules: &[&str]) -> Option<serde_yaml::Mapping> {
    let args = modules.iter().find_map(|m| {
        task.get(*m)
            .or_else(|| task.get(format!("ansible.builtin.{m}").as_str()))
    })?;
    match args {
        Value::Mapping(map) => Some(map.clone()),
        Value::String(words) => Some(
            words
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (Value::from(k), Value::from(v)))
                .collect(),
        ),
        _ => None,
    }
}

fn text<'a>(map: &'a serde_yaml::Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// `systemctl restart NAME` when the playbook's handlers restart (or
/// reload) exactly one service.
fn restart_command(playbook: &Value) -> Option<String> {
    let mut commands: Vec<String> = Vec::new();
    let plays = playbook.as_sequence()?;
    let handlers = plays
        .iter()
        .filter_map(|play| play.get("handlers").and_then(Value::as_sequence))
        .flatten();
    for handler in handlers {
        let Some(args) = arguments(handler, &["systemd", "service", "systemd_service"]) else {
            continue;
        };
        let verb = match text(&args, "state") {
            Some("restarted") => "restart",
            Some("reloaded") => "reload",
            _ => continue,
        };
        if let Some(name) = text(&args, "name").filter(|n| !n.contains("{{")) {
            let command = format!("systemctl {verb} {name}");
            if !commands.contains(&command) {
                commands.push(command);
            }
        }
    }
    match commands.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Where a task list's `template: src=config.txt.j2` writes in the release
/// (`dest` under `{{ site_path }}`), relative to it.
fn config_path(tasks: &Value) -> Option<String> {
    tasks.as_sequence()?.iter().find_map(|task| {
        let args = arguments(task, &["template"])?;
        let src = text(&args, "src")?;
        if !src.ends_with("config.txt.j2") {
            return None;
        }
        let dest: String = text(&args, "dest")?.split_whitespace().collect();
        dest.strip_prefix("{{site_path}}/").map(str::to_owned)
    })
}

/// Where a task list writes a uWSGI vassal: a template whose `dest` is an
/// `.ini` in a `vassals` directory (wptdash's
/// `/etc/uwsgi/vassals/{{project_name}}_uwsgi.ini`), which the emperor
/// reloads when it is touched; with the template's `src`.
fn uwsgi_vassal(tasks: &Value) -> Option<(String, String)> {
    tasks.as_sequence()?.iter().find_map(|task| {
        let args = arguments(task, &["template"])?;
        let dest = text(&args, "dest")?.trim();
        let src = text(&args, "src").unwrap_or_default().trim().to_owned();
        let (dir, file) = dest.rsplit_once('/')?;
        (file.ends_with(".ini") && dir.ends_with("/vassals")).then(|| (src, dest.to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wptdash_s_handler_and_config_template_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str, text: &str| {
            let path = dir.path().join(file);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, text).unwrap();
        };
        write(
            "deploy.yml",
            "- hosts: all\n  roles:\n    - {name: deploy, tags: deploy}\n  handlers:\n    - name: restart uwsgi\n      systemd: name=emperor.uwsgi state=restarted\n",
        );
        write(
            "roles/deploy/tasks/main.yml",
            "- name: check\n  stat: path={{base_path}}/{{commit}}\n- name: Add config file to app\n  template:\n    src: config.txt.j2\n    dest: \"{{site_path}}/config.txt\"\n  notify: restart uwsgi\n",
        );
        write(
            "roles/uwsgi/tasks/main.yml",
            "- name: Create /etc/uwsgi\n  file: path=/etc/uwsgi/vassals state=directory\n- name: uwsgi.ini is loaded\n  template:\n    src: uwsgi.ini.j2\n    dest: /etc/uwsgi/vassals/{{project_name}}_uwsgi.ini\n- name: emperor.ini is loaded\n  template:\n    src: emperor.ini.j2\n    dest: /etc/uwsgi/emperor.ini\n",
        );
        write(
            "roles/deploy/tasks/build.yml",
            "- name: Install Flask App\n  pip:\n    name: \"{{clone_path}}\"\n    state: present\n    virtualenv: \"{{base_path}}/venv\"\n    virtualenv_python: python3\n    virtualenv_site_packages: yes\n  become: yes\n  become_user: www-data\n",
        );
        write(
            "roles/uwsgi/templates/uwsgi.ini.j2",
            "# {{project_name}}_uwsgi.ini file\n[uwsgi]\nsocket          = /tmp/{{project_name}}.sock\nchdir           = {{site_path}}\nmodule          = wptdash.prodapp:prod_app\n",
        );
        write(
            "roles/nginx/tasks/main.yml",
            "- name: ensure nginx config files exist\n  shell: touch {{item.dest}}\n  with_flattened:\n    - \"{{confs}}\"\n- name: generate new nginx config files\n  template:\n    src: \"{{item.file}}\"\n    dest: \"{{item.dest}}\"\n  register: nginx_conf\n  with_flattened:\n    - \"{{confs}}\"\n    - \"{{shared}}\"\n",
        );
        let derived = from_tree(dir.path());
        assert_eq!(
            derived.values["nginx_files"],
            Value::from("{{ confs + shared }}")
        );
        assert_eq!(derived.values["nginx_site"], Value::from(""));
        assert_eq!(
            derived.values["wsgi_app"],
            Value::from("wptdash.prodapp:prod_app")
        );
        assert!(
            derived.origins["wsgi_app"]
                .place
                .ends_with("roles/uwsgi/templates/uwsgi.ini.j2 (its module)")
        );
        assert_eq!(
            derived.values["uwsgi_vassal"],
            Value::from("/etc/uwsgi/vassals/{{project_name}}_uwsgi.ini")
        );
        assert_eq!(derived.values["app_server"], Value::from("uwsgi-emperor"));
        assert_eq!(
            derived.values["restart_command"],
            Value::from("systemctl restart emperor.uwsgi")
        );
        assert_eq!(derived.values["config_path"], Value::from("config.txt"));
        assert_eq!(derived.values["venv_site_packages"], Value::from(true));
        assert!(
            derived.origins["venv_site_packages"].place.ends_with(
                "roles/deploy/tasks/build.yml (its pip task's virtualenv_site_packages)"
            )
        );
        assert!(
            derived.origins["restart_command"]
                .place
                .ends_with("deploy.yml (its handler)")
        );
    }

    #[test]
    fn no_tree_or_two_services_imply_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(from_tree(dir.path()).values.is_empty());
        let two = "- hosts: all\n  handlers:\n    - service: {name: a, state: restarted}\n    - ansible.builtin.systemd: {name: b, state: reloaded}\n";
        let playbook: Value = serde_yaml::from_str(two).unwrap();
        assert_eq!(restart_command(&playbook), None);
        let one: Value = serde_yaml::from_str(
            "- hosts: all\n  handlers:\n    - ansible.builtin.systemd: {name: b, state: reloaded}\n",
        )
        .unwrap();
        assert_eq!(restart_command(&one).as_deref(), Some("systemctl reload b"));
    }
}
