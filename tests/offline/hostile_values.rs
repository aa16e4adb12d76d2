//! Every value reaches a shell quoted, messages included: every step of
//! every built-in playbook, rendered with every variable that holds a
//! value (not a shell command, a number, a yes/no or one of a few choices)
//! set to a hostile one (quotes, `$(...)`, backticks, a newline), runs in a
//! real shell, and nothing the values carry runs. What the host would
//! register is unknown here and renders as its name.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use wptdeploy::playbook::{Playbook, PlaybookDirs};
use wptdeploy::steps::{Effect, Step};
use wptdeploy::template::{Scope, Templates, Unknown};
use wptdeploy::transport::{RemoteCommand, SudoAuth};

/// The playbooks whose steps run on hosts (`shell.yml` hands over a
/// terminal, and is left out).
const PLAYBOOKS: &[&str] = &[
    "deploy.yml",
    "rollback.yml",
    "migration-new.yml",
    "migration-status.yml",
    "migration-test.yml",
    "migration-lint.yml",
    "releases.yml",
    "history.yml",
    "verify.yml",
    "logs.yml",
    "exec.yml",
    "checklist.yml",
    "setup.yml",
];

/// A value that, if it ever ran, would leave a file named after `name` in `marks`.
fn hostile(marks: &Path, name: &str) -> String {
    let m = marks.display();
    format!(
        "v$(touch {m}/{name}.dollar)`touch {m}/{name}.tick`\"$(touch {m}/{name}.dq)\"'\n;touch {m}/{name}.line"
    )
}

/// The context: the playbook's defaults and `values` over them; what steps
/// register is unknown.
fn context(
    playbook: &Playbook,
    templates: &Templates,
    values: &BTreeMap<String, String>,
) -> minijinja::Value {
    let mut vars = playbook.vars.clone();
    // What wptdeploy itself sets for every host.
    for (name, value) in [("env_name", "staging"), ("inventory_hostname", "web1")] {
        vars.values
            .insert(name.into(), serde_yaml::Value::String(value.into()));
    }
    vars.values.insert(
        "group_names".into(),
        serde_yaml::Value::Sequence(vec!["staging".into()]),
    );
    // What the commands set as numbers and yes/no.
    for (name, value) in [
        ("history_last", serde_yaml::Value::from(5)),
        ("logs_lines", 10.into()),
        ("logs_follow", false.into()),
        ("releases_sizes", false.into()),
        ("releases_database", false.into()),
        ("releases_sources", false.into()),
    ] {
        vars.values.entry(name.into()).or_insert(value);
    }
    // What `migration lint FILE...` sets, checked in Rust (NAME.py:...).
    vars.values
        .insert("lint_files".into(), serde_yaml::Value::Sequence(vec![]));
    for (name, value) in values {
        // A list (`shared_paths: []`) gets one hostile item.
        let hostile = serde_yaml::Value::String(value.clone());
        let value = match playbook.vars.values.get(name) {
            Some(serde_yaml::Value::Sequence(_)) => serde_yaml::Value::Sequence(vec![hostile]),
            _ => hostile,
        };
        vars.values.insert(name.clone(), value);
    }
    // What any playbook's steps register (rollback.yml's steps run inside
    // deploy.yml's, after what it registers).
    static REGISTERED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let names = REGISTERED.get_or_init(|| {
        PLAYBOOKS
            .iter()
            .filter_map(|name| Playbook::load(&PlaybookDirs::new(None), name, templates).ok())
            .flat_map(|p| p.steps.into_iter().filter_map(|s| s.register))
            .chain(std::iter::once("now".to_owned()))
            .collect()
    });
    let registered = names
        .iter()
        .map(|name| (name.clone(), Unknown::value(name)))
        .collect();
    Scope::context(templates, Arc::new(vars), registered)
}

/// Whether a default is a value a person could set to any text.
fn holds_text(name: &str, default: Option<&serde_yaml::Value>) -> bool {
    !name.ends_with("_command")
        && !matches!(
            default,
            Some(serde_yaml::Value::Bool(_) | serde_yaml::Value::Number(_))
        )
}

/// The steps' commands as they would run, with every value hostile that
/// can be (a value a step checks, such as a number or a choice, is left
/// as its default when the hostile one is refused).
fn commands(name: &str, marks: &Path) -> Vec<(String, RemoteCommand)> {
    let templates = Templates::new();
    let playbook = Playbook::load(&PlaybookDirs::new(None), name, &templates)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut values: BTreeMap<String, String> = playbook
        .vars
        .values
        .iter()
        .filter(|(k, v)| holds_text(k, Some(v)))
        .map(|(k, _)| (k.clone(), hostile(marks, k)))
        .collect();
    let mut out = Vec::new();
    for step in &playbook.steps {
        if let Some(command) = prepare(step, &playbook, &templates, &mut values, marks) {
            out.push((format!("{name}: {}", step.name.0), command));
        }
    }
    out
}

/// One step's command, with variables it needs that have no default made
/// hostile, and those it refuses as hostile set back to their default.
fn prepare(
    step: &Step,
    playbook: &Playbook,
    templates: &Templates,
    values: &mut BTreeMap<String, String>,
    marks: &Path,
) -> Option<RemoteCommand> {
    let mut refused: Vec<String> = Vec::new();
    let attempt = |values: &BTreeMap<String, String>, refused: &[String]| {
        let mut tried = values.clone();
        for name in refused {
            // Back to its default, or empty where it has none.
            if playbook.vars.values.contains_key(name) {
                tried.remove(name);
            } else {
                tried.insert(name.clone(), String::new());
            }
        }
        let ctx = context(playbook, templates, &tried);
        wptdeploy::steps::prepare(step, templates, &ctx, "", &[]).map(|p| (p, tried))
    };
    for _ in 0..64 {
        match attempt(values, &refused) {
            Ok(_) => {
                // Each value set back that the step takes hostile after all
                // is made hostile again.
                for name in refused.clone() {
                    let fewer: Vec<String> =
                        refused.iter().filter(|r| **r != name).cloned().collect();
                    if attempt(values, &fewer).is_ok() {
                        refused = fewer;
                    }
                }
                let (prepared, _) = attempt(values, &refused).expect("it rendered");
                return match prepared.effect {
                    Effect::RunsHere
                    | Effect::Interactive
                    | Effect::Says { .. }
                    | Effect::Asks { .. } => None,
                    _ => Some(RemoteCommand {
                        become_user: None,
                        timeout: None,
                        background_log: None,
                        ..prepared.command
                    }),
                };
            }
            Err(e) if !e.undefined.is_empty() => {
                // The variable at the end of the chain the message names.
                let named = e
                    .message
                    .split("undefined variable `")
                    .nth(1)
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_owned);
                let new: Vec<String> = e
                    .undefined
                    .iter()
                    .cloned()
                    .chain(named)
                    .filter(|n| !values.contains_key(n))
                    .collect();
                if new.is_empty() {
                    panic!("{}: {} (refused: {refused:?})", step.name.0, e.message);
                }
                for name in new {
                    // A command a command sets (`exec -- CMD`) is the person's own.
                    let value = if holds_text(&name, None) {
                        hostile(marks, &name)
                    } else {
                        "true".to_owned()
                    };
                    values.insert(name, value);
                }
            }
            Err(e) => {
                // A check refused a hostile value (a user name, a number, a
                // choice): the next variable the step names goes back to
                // its default.
                let text = step.templates().join("\n");
                let next = values
                    .keys()
                    .filter(|name| names(&text, name))
                    .find(|name| !refused.contains(name))
                    .cloned();
                match next {
                    Some(name) => refused.push(name),
                    None => panic!("{}: {}", step.name.0, e.message),
                }
            }
        }
    }
    panic!("{}: could not be rendered", step.name.0)
}

/// Whether `text` names the variable `name` (not as part of a longer name).
fn names(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(word)
            && !text[at + name.len()..].chars().next().is_some_and(word)
    })
}

/// Runs `command` as the host would (in a shell, its input a here-document),
/// as `nobody` when this is root, in `dir`, for 3 s at most (a value that
/// ran would have run at once; some steps wait for what is not there).
fn run(command: &RemoteCommand, dir: &Path) {
    let line = command.with_input(SudoAuth::NonInteractive, "WPTDEPLOY_TEST_END");
    let mut shell = if is_root() {
        let mut c = std::process::Command::new("timeout");
        c.args(["3", "runuser", "-u", "nobody", "--", "sh", "-c"]);
        c
    } else {
        let mut c = std::process::Command::new("timeout");
        c.args(["3", "sh", "-c"]);
        c
    };
    let _ = shell
        .arg(&line)
        .current_dir(dir)
        .env("HOME", dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

#[test]
fn every_step_runs_with_every_value_hostile_and_nothing_in_them_runs() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let marks = tmp.path().join("marks");
    let work = tmp.path().join("work");
    for dir in [tmp.path(), &marks, &work] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let all: Vec<(String, RemoteCommand)> = PLAYBOOKS
        .iter()
        .flat_map(|name| commands(name, &marks))
        .collect();
    assert!(all.len() > 60, "only {} steps", all.len());
    // All at once (some wait out their 3 s); one at a time only to name
    // the step, if a value ran.
    std::thread::scope(|scope| {
        for chunk in all.chunks(all.len().div_ceil(16)) {
            let work = &work;
            scope.spawn(move || chunk.iter().for_each(|(_, command)| run(command, work)));
        }
    });
    let left = |marks: &Path| -> Vec<String> {
        std::fs::read_dir(marks)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    if left(&marks).is_empty() {
        return;
    }
    for entry in std::fs::read_dir(&marks).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for (step, command) in &all {
        run(command, &work);
        let found = left(&marks);
        assert!(
            found.is_empty(),
            "`{step}` ran what a value held ({found:?}):\n{}",
            command.script
        );
    }
    panic!(
        "a value ran, but not again one step at a time: {:?}",
        left(&marks)
    );
}
