//! From a playbook step to the one remote command that does it, and from
//! that command's output back to what happened.
//!
//! Builtin kinds report through lines of the form `wptdeploy.KEY=VALUE`
//! on standard output, which are parsed here.

mod backup;
mod checkout;
pub mod columns;
pub mod fetch;
mod health;
mod link;
mod local;
pub mod lock;
pub mod migrations;
mod own;
mod pip;
pub mod upload;

use std::collections::BTreeMap;

use minijinja::Value;

use crate::playbook::{Action, Step, Tmpl};
use crate::template::{TemplateError, Templates};
use crate::transport::{Output, RemoteCommand};

pub use link::{read_link_script, switch_script};
pub use local::run as run_local;
pub use lock::LockSpec;

/// A step rendered for one host: the exact command, ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The step's rendered name.
    pub name: String,
    /// The command that does the step.
    pub command: RemoteCommand,
    /// A read-only command run instead under `--check`, when the step has one.
    pub probe: Option<RemoteCommand>,
    /// How to read the output.
    pub kind: Kind,
}

/// The kind of a prepared step, with what reading its output needs.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A command; `changes: false` makes it a probe.
    Run {
        /// Whether running it changes the host.
        changes: bool,
    },
    /// Takes the deploy lock.
    Lock(LockSpec),
    /// Clones and resolves a release.
    Checkout {
        /// `releases/SHA` is the release path.
        releases: String,
        /// Where new releases are built.
        clone_path: String,
    },
    /// Installs requirements.
    Pip,
    /// Writes a file rendered from a template.
    Template {
        /// The rendered text.
        content: String,
        /// The template it was rendered from (a file, or `inline`).
        source: String,
        /// Where it goes.
        dest: String,
        /// The file it replaces, for `--check`'s diff.
        current: String,
        /// Its octal mode as given.
        mode: Option<String>,
    },
    /// Switches a symlink.
    Switch {
        /// The symlink.
        link: String,
        /// Its new target.
        target: String,
    },
    /// Removes old releases.
    Prune,
    /// Checks (or makes) `base_path` the app user's.
    Own {
        /// The app user.
        user: String,
        /// `fix` rather than `check`.
        fixing: bool,
    },
    /// Restarts the app.
    Restart,
    /// Checks the app is healthy.
    Healthcheck,
    /// Checks or upgrades the database's migrations.
    Migrations(migrations::Action),
    /// Backs the database up.
    Backup {
        /// The pg_restore command, for the restore hint.
        restore: String,
        /// The database.
        database: String,
        /// Who runs the database tools (empty: the step's user).
        db_user: String,
    },
    /// Copies a file from the host (`src`) into a local directory (`dest`).
    Fetch {
        /// The file on the host.
        src: String,
        /// The local directory.
        dest: std::path::PathBuf,
    },
    /// Copies a local file (`src`, read when the step runs) to the host;
    /// the command reads the bytes, base64-encoded, on standard input.
    Upload {
        /// The local file.
        src: std::path::PathBuf,
        /// The file on the host.
        dest: String,
    },
    /// Runs the command on this machine, with the terminal attached.
    Local,
    /// Shows text to the person; nothing runs.
    Say {
        /// The rendered text.
        text: String,
    },
    /// Reads tables' columns.
    Columns {
        /// The tables.
        tables: Vec<String>,
        /// What they should hold.
        expects: Vec<crate::migrations::columns::Expect>,
    },
}

/// What a step did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Whether the host changed.
    pub changed: bool,
    /// The value stored by `register:`.
    pub register: Option<Value>,
    /// A short note for the user (e.g. `removed 2 releases`).
    pub note: Option<String>,
    /// Columns read from the database, for the user to see.
    pub columns: Option<columns::ColumnReport>,
    /// Things the user must look at (e.g. a migration's review).
    pub warnings: Vec<String>,
}

/// A step ran and failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StepFailure {
    /// What happened.
    pub message: String,
    /// What to do about it.
    pub hints: Vec<String>,
}

/// Renders `step` for one host. `ctx` holds the host's variables and what
/// earlier steps registered; `login_user` decides whether `become` needs sudo.
pub fn prepare(
    step: &Step,
    templates: &Templates,
    ctx: &Value,
    login_user: &str,
) -> Result<Prepared, TemplateError> {
    let text = |t: &Tmpl| templates.render(&t.0, ctx);
    let optional = |t: &Option<Tmpl>| {
        t.as_ref()
            .map(text)
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let name = text(&step.name)?.trim().to_owned();
    let become_user = step
        .become_user
        .as_ref()
        .map(text)
        .transpose()?
        .filter(|u| !u.is_empty() && u != login_user);
    let cwd = step.cwd.as_ref().map(text).transpose()?;
    let env = step
        .env
        .iter()
        .map(|(k, v)| Ok((k.clone(), text(v)?)))
        .collect::<Result<Vec<_>, TemplateError>>()?;
    let background_log = match &step.background {
        None => None,
        Some(log) => match text(log)?.as_str() {
            "true" | "yes" => Some(crate::playbook::step::DEFAULT_BACKGROUND_LOG.to_owned()),
            "false" | "no" | "" => None,
            path => Some(path.to_owned()),
        },
    };
    let wrap = |script: String| RemoteCommand {
        script,
        become_user: become_user.clone(),
        cwd: cwd.clone(),
        env: env.clone(),
        timeout: step.timeout,
        stdin: None,
        background_log: background_log.clone(),
    };
    let (command, probe, kind) = match &step.action {
        Action::Run(command) => {
            let script = templates.render_shell(&command.0, ctx)?;
            let command = wrap(script);
            let probe = (!step.changes).then(|| command.clone());
            (
                command,
                probe,
                Kind::Run {
                    changes: step.changes,
                },
            )
        }
        Action::Restart(command) => (
            wrap(templates.render_shell(&command.0, ctx)?),
            None,
            Kind::Restart,
        ),
        Action::Lock(args) => {
            let spec = LockSpec {
                path: text(&args.path)?,
                become_user: become_user.clone(),
            };
            (wrap(String::new()), None, Kind::Lock(spec))
        }
        Action::Checkout(args) => {
            let spec = checkout::Checkout {
                repo: text(&args.repo)?,
                reference: text(&args.reference)?,
                releases: text(&args.releases)?,
                clone_path: text(&args.clone_path)?,
                force: args
                    .force
                    .as_ref()
                    .map(text)
                    .transpose()?
                    .is_some_and(|f| crate::template::truthy(&Value::from(f))),
                live: optional(&args.live)?,
            };
            let kind = Kind::Checkout {
                releases: spec.releases.clone(),
                clone_path: spec.clone_path.clone(),
            };
            (wrap(spec.script()), Some(wrap(spec.probe_script())), kind)
        }
        Action::Pip(args) => {
            let pip = pip::Pip {
                venv: text(&args.venv)?,
                requirements: text(&args.requirements)?,
                project: Some(optional(&args.project)?).filter(|p| !p.is_empty()),
                python: Some(optional(&args.python)?)
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "python3".into()),
                site_packages: crate::template::truthy(&Value::from(optional(
                    &args.site_packages,
                )?)),
            };
            (wrap(pip.script()), None, Kind::Pip)
        }
        Action::Template(args, body) => {
            let content = templates
                .render(&body.text, ctx)
                .map_err(|e| TemplateError {
                    message: format!("{}: {}", body.origin, e.message),
                    ..e
                })?;
            let mode = args.mode.as_ref().map(text).transpose()?;
            let dest = text(&args.dest)?;
            let current = Some(optional(&args.current)?)
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| dest.clone());
            let mut command = wrap(upload::script(&dest, mode.as_deref())?);
            command.stdin = Some(upload::encode(content.as_bytes()));
            let kind = Kind::Template {
                content,
                source: body.origin.clone(),
                dest,
                current,
                mode,
            };
            (command, None, kind)
        }
        Action::Switch(args) => {
            let link = text(&args.link)?;
            let target = text(&args.target)?;
            let script = link::switch_script(&link, &target);
            (wrap(script), None, Kind::Switch { link, target })
        }
        Action::Prune(args) => {
            let keep = text(&args.keep)?;
            let keep: usize = keep.trim().parse().map_err(|_| {
                TemplateError::new(format!("prune: keep must be a number, not `{keep}`"))
            })?;
            let protect = args
                .protect
                .iter()
                .map(text)
                .collect::<Result<Vec<_>, _>>()?;
            let backups = args.backups.as_ref().map(text).transpose()?;
            let script = link::prune_script(
                &text(&args.releases)?,
                keep.max(1),
                &text(&args.link)?,
                &protect,
                backups.as_deref().filter(|b| !b.is_empty()),
            );
            (wrap(script), None, Kind::Prune)
        }
        Action::Own(args) => {
            let own = own::Own {
                path: text(&args.path)?,
                user: text(&args.user)?,
                inside: args
                    .inside
                    .iter()
                    .map(text)
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .collect(),
            };
            let fixing = match text(&args.action)?.as_str() {
                "check" => false,
                "fix" => true,
                other => {
                    return Err(TemplateError::new(format!(
                        "own: action must be `check` or `fix`, not `{other}`"
                    )));
                }
            };
            let command = wrap(if fixing {
                own.fix_script()
            } else {
                own.check_script()
            });
            let probe = (!fixing).then(|| command.clone());
            let kind = Kind::Own {
                user: own.user.clone(),
                fixing,
            };
            (command, probe, kind)
        }
        Action::Healthcheck(args) => {
            let check = match (&args.command, &args.url) {
                (Some(command), _) => {
                    health::Check::Command(templates.render_shell(&command.0, ctx)?)
                }
                (None, Some(url)) => health::Check::Url(text(url)?),
                (None, None) => unreachable!("validated when the playbook was loaded"),
            };
            let number = |t: &Option<Tmpl>, default: u32| -> Result<u32, TemplateError> {
                match t {
                    None => Ok(default),
                    Some(t) => {
                        let v = text(t)?;
                        v.trim().parse().map_err(|_| {
                            TemplateError::new(format!("healthcheck: `{v}` is not a number"))
                        })
                    }
                }
            };
            let script = health::script(&check, number(&args.retries, 5)?, number(&args.delay, 2)?);
            (wrap(script), None, Kind::Healthcheck)
        }
        Action::Migrations(args) => {
            let shell = |t: &Option<Tmpl>, what: &str| -> Result<String, TemplateError> {
                match t {
                    Some(t) => templates.render_shell(&t.0, ctx),
                    None => Err(TemplateError::new(format!(
                        "migrations: this action needs `{what}`"
                    ))),
                }
            };
            let verb = text(&args.action)?;
            let command = if verb == "pending" {
                String::new()
            } else {
                shell(&args.command, "command")?
            };
            let action = match verb.as_str() {
                "check" => migrations::Action::Check,
                "upgrade" => migrations::Action::Upgrade {
                    head: optional(&args.head)?,
                    from: optional(&args.from)?,
                },
                "downgrade" => migrations::Action::Downgrade {
                    to: Some(optional(&args.to)?)
                        .filter(|t| !t.is_empty())
                        .unwrap_or_else(|| "base".into()),
                    from: optional(&args.from)?,
                },
                "describe" => migrations::Action::Describe {
                    revisions: optional(&args.revisions)?
                        .split(',')
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect(),
                },
                "generate" => migrations::Action::Generate {
                    message: optional(&args.message)?,
                    rev_id: Some(optional(&args.rev_id)?).filter(|r| !r.is_empty()),
                },
                "pending" => migrations::Action::Pending {
                    psql: shell(&args.psql, "psql")?,
                    database: optional(&args.database)?,
                },
                other => {
                    return Err(TemplateError::new(format!(
                        "migrations: action must be `check`, `upgrade`, `downgrade`, `describe`, `generate` or `pending`, not `{other}`"
                    )));
                }
            };
            let versions = Some(optional(&args.versions)?)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "migrations/versions".into());
            let command = wrap(migrations::script(
                &command,
                &text(&args.path)?,
                &versions,
                &action,
            ));
            let read_only = matches!(
                action,
                migrations::Action::Check
                    | migrations::Action::Describe { .. }
                    | migrations::Action::Pending { .. }
            );
            let probe = read_only.then(|| command.clone());
            (command, probe, Kind::Migrations(action))
        }
        Action::Backup(args) => {
            let dump = templates.render_shell(&args.dump.0, ctx)?;
            let restore = templates.render_shell(&args.restore.0, ctx)?;
            let database = text(&args.database)?;
            let db_user = optional(&args.db_user)?;
            let script = backup::Backup {
                dump: &dump,
                restore: &restore,
                database: &database,
                dir: &text(&args.dir)?,
                release: &text(&args.release)?,
                db_user: &db_user,
                owner: &optional(&args.owner)?,
            }
            .script();
            let kind = Kind::Backup {
                restore,
                database,
                db_user,
            };
            (wrap(script), None, kind)
        }
        Action::Import(file) => {
            unreachable!("`import: {file}` is expanded when the playbook is loaded")
        }
        Action::Fetch(args) => {
            let src = text(&args.src)?;
            let dest = std::path::PathBuf::from(text(&args.dest)?);
            let mut command = fetch::checksum_command(&src);
            command.become_user = become_user.clone();
            (command, None, Kind::Fetch { src, dest })
        }
        Action::Upload(args) => {
            let dest = text(&args.dest)?;
            let mode = args.mode.as_ref().map(text).transpose()?;
            let command = wrap(upload::script(&dest, mode.as_deref())?);
            let src = std::path::PathBuf::from(text(&args.src)?);
            (command, None, Kind::Upload { src, dest })
        }
        Action::Local(command) => (
            wrap(templates.render_shell(&command.0, ctx)?),
            None,
            Kind::Local,
        ),
        Action::Say(body) => (
            RemoteCommand::new(String::new()),
            None,
            Kind::Say {
                text: text(body)?.trim_end().to_owned(),
            },
        ),
        Action::Columns(args) => {
            let psql = templates.render_shell(&args.psql.0, ctx)?;
            let expect = args
                .expect
                .as_ref()
                .map(text)
                .transpose()?
                .unwrap_or_default();
            let (tables, expects) =
                columns::parse_args(&text(&args.tables)?, &expect).map_err(TemplateError::new)?;
            let mut command = wrap(columns::script(&psql, &text(&args.database)?, &tables));
            command.stdin = Some(crate::migrations::columns::QUERY.to_owned());
            let probe = Some(command.clone());
            (command, probe, Kind::Columns { tables, expects })
        }
    };
    Ok(Prepared {
        name,
        command,
        probe,
        kind,
    })
}

impl Prepared {
    /// Whether the step only looks (`run:` with `changes: false`, `own:`
    /// with `action: check`): under `--check` it runs like any other time.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self.kind,
            Kind::Run { changes: false } | Kind::Own { fixing: false, .. }
        )
    }

    /// A template whose text holds one of `secrets` is written 0640 or
    /// stricter, whatever mode the playbook asked for.
    pub fn protect_secrets(&mut self, secrets: &[String]) {
        let Kind::Template {
            content,
            dest,
            mode,
            ..
        } = &mut self.kind
        else {
            return;
        };
        let holds_secret = secrets
            .iter()
            .any(|s| s.len() >= 3 && content.contains(s.as_str()));
        let asked = mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0o644);
        if holds_secret && asked & !0o740 != 0 {
            let strict = format!("0{:o}", asked & 0o740);
            if let Ok(script) = upload::script(dest, Some(&strict)) {
                self.command.script = script;
                *mode = Some(strict);
            }
        }
    }

    /// What the person is shown as the step's command: the exact remote
    /// command, or what runs on this machine; nothing for a `say:`.
    pub fn shown(&self) -> String {
        match &self.kind {
            Kind::Say { .. } => String::new(),
            Kind::Local => {
                let place = match &self.command.cwd {
                    Some(dir) => format!("on this machine, in {dir}"),
                    None => "on this machine".into(),
                };
                format!("{place}: {}", self.command.script)
            }
            Kind::Upload { src, .. } => format!(
                "{}\n(its standard input: {} from this machine, base64-encoded)",
                self.command.plan_text(),
                src.display()
            ),
            _ => self.command.plan_text(),
        }
    }

    /// Reads what the step did from its output; a non-zero exit is a failure.
    pub fn outcome(&self, output: &Output) -> Result<Outcome, StepFailure> {
        if let Kind::Migrations(migrations::Action::Upgrade { head, from }) = &self.kind {
            return migrations::upgrade_outcome(output, head, from);
        }
        if let Kind::Migrations(migrations::Action::Downgrade { to, from }) = &self.kind {
            return migrations::downgrade_outcome(output, to, from);
        }
        if matches!(self.kind, Kind::Pip) && !wrapper_failed(&self.command, output) {
            return pip::outcome(output);
        }
        if output.exit_code != 0 {
            return Err(failure(&self.command, output));
        }
        let marks = markers(&output.stdout);
        let changed_mark = marks.get("changed").map(|v| v == "true");
        Ok(match &self.kind {
            Kind::Run { changes } => Outcome {
                changed: *changes,
                register: Some(Value::from(output.stdout.trim().to_owned())),
                note: None,
                ..Outcome::default()
            },
            Kind::Restart => Outcome {
                changed: true,
                ..Outcome::default()
            },
            Kind::Checkout {
                releases,
                clone_path,
            } => checkout::outcome(&marks, releases, clone_path),
            Kind::Switch { link, target } => {
                let previous = marks.get("previous").cloned().unwrap_or_default();
                let register = BTreeMap::from([
                    ("link", link.clone()),
                    ("previous", previous),
                    ("current", target.clone()),
                ]);
                Outcome {
                    changed: changed_mark.unwrap_or(true),
                    register: Some(Value::from_serialize(&register)),
                    note: None,
                    ..Outcome::default()
                }
            }
            Kind::Prune => {
                let removed = output
                    .stdout
                    .lines()
                    .filter(|l| l.starts_with("wptdeploy.removed="))
                    .count();
                Outcome {
                    changed: removed > 0,
                    register: None,
                    note: (removed > 0).then(|| format!("removed {removed} old release(s)")),
                    ..Outcome::default()
                }
            }
            Kind::Own { user, fixing } => own::outcome(output, user, *fixing),
            Kind::Healthcheck => Outcome {
                changed: false,
                register: None,
                note: marks
                    .get("healthy")
                    .filter(|n| n.as_str() != "1")
                    .map(|n| format!("healthy after {n} attempts")),
                ..Outcome::default()
            },
            Kind::Migrations(migrations::Action::Generate { .. }) => {
                migrations::generate_outcome(output)?
            }
            Kind::Migrations(migrations::Action::Describe { .. }) => {
                migrations::describe_outcome(output)
            }
            Kind::Migrations(migrations::Action::Pending { .. }) => {
                migrations::pending_outcome(output)?
            }
            Kind::Migrations(_) => migrations::check_outcome(output)?,
            Kind::Backup {
                restore,
                database,
                db_user,
            } => backup::outcome(output, restore, database, db_user)?,
            Kind::Fetch { .. } | Kind::Upload { .. } => {
                unreachable!("the engine reads a copy's outcome with the bytes it copied")
            }
            Kind::Say { text } => Outcome {
                note: Some(text.clone()),
                ..Outcome::default()
            },
            Kind::Columns { tables, expects } => columns::outcome(output, tables, expects)?,
            Kind::Pip => unreachable!("read above"),
            Kind::Template { .. } | Kind::Lock(_) | Kind::Local => Outcome {
                changed: changed_mark.unwrap_or(true),
                register: None,
                note: None,
                ..Outcome::default()
            },
        })
    }
}

/// The `wptdeploy.KEY=VALUE` lines of a builtin step's output.
pub fn markers(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("wptdeploy."))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The last `n` lines of `text`, in order: what a failure message quotes.
fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Whether what ran the command failed rather than the command: sudo
/// refused, or the step's timeout stopped it. [`failure`] explains those.
fn wrapper_failed(command: &RemoteCommand, output: &Output) -> bool {
    let sudo = command.become_user.is_some()
        && [
            "a password is required",
            "a terminal is required",
            "incorrect password",
            "unknown user",
            "sudo: not found",
        ]
        .iter()
        .any(|s| output.stderr.contains(s));
    output.exit_code != 0 && (sudo || (output.exit_code == 124 && command.timeout.is_some()))
}

/// Explains a non-zero exit, recognising sudo's and the timeout's own.
pub fn failure(command: &RemoteCommand, output: &Output) -> StepFailure {
    let stderr = output.stderr.trim();
    // What wptdeploy's own scripts say of a failure is the message; the
    // rest of the output is quoted after it.
    let ours: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("wptdeploy: "))
        .collect();
    let others: String = stderr
        .lines()
        .filter(|l| !l.starts_with("wptdeploy: "))
        .collect::<Vec<_>>()
        .join("\n");
    let tail = last_lines(if ours.is_empty() { stderr } else { &others }, 12);
    let said = if tail.is_empty() {
        String::new()
    } else {
        format!(":\n  {}", tail.join("\n  "))
    };
    if let Some(user) = &command.become_user {
        if stderr.contains("a password is required") || stderr.contains("a terminal is required") {
            return StepFailure {
                message: format!("sudo needs a password to run commands as `{user}`"),
                hints: vec![
                    "pass `-K` (`--ask-become-pass`) to type it once, or `--become-password-file FILE`".into(),
                    format!("or allow it without a password in sudoers: `LOGIN ALL=({user}) NOPASSWD: ALL`"),
                ],
            };
        }
        if stderr.contains("incorrect password")
            || stderr.contains("Sorry, try again")
            || stderr.contains("no password was provided")
        {
            return StepFailure {
                message: format!("sudo rejected the password given for becoming `{user}`"),
                hints: vec!["check the password; it is the login user's own sudo password".into()],
            };
        }
        if stderr.contains("unknown user") {
            return StepFailure {
                message: format!("there is no user `{user}` on the host{said}"),
                hints: vec!["set `app_user` to a user that exists, or create it".into()],
            };
        }
        if stderr.contains("sudo: not found") || stderr.contains("sudo: command not found") {
            return StepFailure {
                message: "sudo is not installed on the host".into(),
                hints: vec![format!(
                    "install sudo, or log in as `{user}` (`--user {user}`)"
                )],
            };
        }
    }
    if output.exit_code == 124 && command.timeout.is_some() {
        let secs = command.timeout.map_or(0, |t| t.as_secs());
        return StepFailure {
            message: format!("timed out after {secs}s and was stopped{said}"),
            hints: vec!["raise the step's `timeout:` in the playbook if it needs longer".into()],
        };
    }
    let what = match ours.last() {
        Some(line) => format!("failed: {line}"),
        None => format!("exited with status {}", output.exit_code),
    };
    StepFailure {
        message: format!("{what}{said}"),
        hints: Vec::new(),
    }
}
