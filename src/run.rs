//! From parsed arguments to an exit code: builds the plan, picks the
//! reporter, runs the engine, and prints the error with its hints.

use std::io::IsTerminal as _;
use std::sync::Arc;

use crate::cancel::Cancel;
use crate::cli::{
    ChecklistArgs, Cli, Command, CommonArgs, DeployArgs, GenerateArgs, MigrationCommand,
    MigrationNewArgs, MigrationTestArgs, OutputFormat, UnlockArgs, VerifyArgs,
};
use crate::engine::{self, RunOptions};
use crate::error::Error;
use crate::inventory::{self, Origin, Sourced};
use crate::plan::{self, ConnectSettings, Plan};
use crate::playbook::{Playbook, PlaybookDirs};
use crate::report::{
    HostResult, HostSummary, JsonReporter, PlainReporter, ProgressReporter, Redacted, Redactor,
    Reporter, Verbosity, tell,
};
use crate::steps::lock::{self, LockOwner};
use crate::steps::{self, Kind};
use crate::template::Templates;
use crate::transport::{Connection, SudoAuth, quote};
use crate::vault::{PasswordSources, Vault};

/// Runs the command and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut redactor = Redactor::default();
    let common = &cli.common;
    let result = runtime.block_on(async {
        let vault = open_vault(common)?;
        match cli.command {
            Some(Command::Unlock(args)) => unlock(args, common, &vault, &mut redactor).await,
            Some(Command::Verify(args)) => verify(args, common, &vault, &mut redactor).await,
            Some(Command::Checklist(args)) => checklist(args, common, &vault, &mut redactor).await,
            Some(Command::Migration {
                command: MigrationCommand::New(args),
            }) => migration_new(args, common, &vault, &mut redactor).await,
            Some(Command::Migration {
                command: MigrationCommand::Test(args),
            }) => migration_test(args, common, &vault, &mut redactor).await,
            Some(Command::Migration {
                command: MigrationCommand::Status(args),
            }) => {
                let run = Run::new(
                    "migration status of",
                    &args.env,
                    "migration-status.yml",
                    inventory::extra_vars(&common.extra_vars, &vault)?,
                );
                run.execute(common, &vault, &mut redactor).await
            }
            None => deploy(cli.deploy, common, &vault, &mut redactor).await,
        }
    });
    match result {
        Ok(()) => 0,
        Err(error) => {
            // An error may end with a remote program's output: `tell` shows
            // its control characters rather than obeying them.
            tell(&format!("error: {}", redactor.apply(&error.to_string())));
            for hint in error.hints() {
                tell(&format!("hint: {}", redactor.apply(&hint)));
            }
            error.exit_code()
        }
    }
}

/// Where a variable wptdeploy sets from an option came from.
fn command_line() -> Origin {
    Origin::at("the command line")
}

/// The vault passwords the options give (asked for on the terminal if so told).
fn open_vault(common: &CommonArgs) -> Result<Vault, Error> {
    let sources = PasswordSources {
        files: common.vault_password_file.clone(),
        ids: common.vault_id.clone(),
        ask: common.ask_vault_pass,
    }
    .or_ansible_defaults();
    if sources.is_empty() {
        return Ok(Vault::default());
    }
    let prompt = |label: Option<&str>| -> Result<String, String> {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err("asking for the vault password needs a terminal, and there is none: use `--vault-password-file FILE`".into());
        }
        let question = match label {
            Some(label) => format!("Vault password ({label})"),
            None => "Vault password".into(),
        };
        dialoguer::Password::new()
            .with_prompt(question)
            .interact()
            .map_err(|e| format!("could not read the vault password: {e}"))
    };
    let passwords = sources.read(&prompt).map_err(|e| Error::Usage {
        message: e.message,
        hints: vec![],
    })?;
    Ok(Vault::new(passwords))
}

fn verbosity(common: &CommonArgs) -> Verbosity {
    if common.quiet {
        Verbosity::Quiet
    } else if common.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    }
}

/// The reporter `common` asks for, showing `verbosity`; with it, the
/// spinners' screen when it draws any (prompts hide them while asking).
fn reporter(
    common: &CommonArgs,
    verbosity: Verbosity,
    redactor: Redactor,
    cancel: &Cancel,
) -> (Arc<dyn Reporter>, Option<indicatif::MultiProgress>) {
    let cancel = cancel.clone();
    if common.output == OutputFormat::Json {
        return (
            Arc::new(Redacted::new(
                JsonReporter::new(verbosity),
                redactor,
                cancel,
            )),
            None,
        );
    }
    let spinners =
        verbosity != Verbosity::Quiet && !common.no_progress && std::io::stderr().is_terminal();
    if spinners {
        let progress = ProgressReporter::new(verbosity);
        let screen = progress.screen();
        (
            Arc::new(Redacted::new(progress, redactor, cancel)),
            Some(screen),
        )
    } else {
        (
            Arc::new(Redacted::new(
                PlainReporter::new(verbosity),
                redactor,
                cancel,
            )),
            None,
        )
    }
}

/// Loads the inventory and playbook and resolves every host's variables.
fn load_plan(
    env: &str,
    common: &CommonArgs,
    vault: &Vault,
    playbook: &str,
    extra: &Sourced,
    templates: &Templates,
) -> Result<(Plan, Vec<String>), Error> {
    let mut inventory = inventory::load(env, common.inventory.as_deref(), vault)?;
    if let Some(pattern) = &common.limit {
        inventory = inventory.limit(pattern)?;
    }
    let playbook = Playbook::load(
        &PlaybookDirs::new(common.playbooks.as_deref())
            .with_ansible_tree(inventory.ansible_dir.as_deref()),
        playbook,
        templates,
    )?;
    let settings = ConnectSettings {
        user: common.user.clone(),
        known_hosts: common.known_hosts.clone(),
        accept_new_host_keys: common.accept_new_host_keys,
        connect_timeout: common.connect_timeout,
        transport: common.transport,
    };
    let plan = plan::build(&inventory, playbook, extra, &settings, templates)?;
    Ok((plan, inventory.warnings))
}

fn become_password(common: &CommonArgs) -> Result<Option<String>, Error> {
    if let Some(file) = &common.become_password_file {
        let text = fs_err::read_to_string(file)?;
        return Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()));
    }
    if !common.ask_become_pass {
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::Usage {
            message: "`-K` needs a terminal to ask for the password".into(),
            hints: vec!["use `--become-password-file FILE` when there is no terminal".into()],
        });
    }
    dialoguer::Password::new()
        .with_prompt("sudo password for become")
        .interact()
        .map(Some)
        .map_err(|e| Error::Usage {
            message: format!("could not read the password: {e}"),
            hints: vec![],
        })
}

fn this_machine() -> String {
    let host = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{}@{host}", crate::transport::local_user())
}

/// What a run abandoned in the middle of its cleanup may have left, host by
/// host, and how to fix it.
fn abandoned_message(plan: &Plan, templates: &Templates) -> String {
    let mut lines = vec!["abandoned before the cleanup ended; what may be left:".to_owned()];
    for host in &plan.hosts {
        let scope = host.scope(templates, std::collections::BTreeMap::new());
        let get = |name: &str| {
            crate::template::Scope::lookup(&scope, name)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| format!("<{name}>"))
        };
        lines.push(format!(
            "  {}: the deploy lock {} (`wptdeploy unlock {}` removes it); `readlink {}` shows the release live now",
            host.name,
            get("lock_path"),
            quote(&plan.env),
            quote(&get("site_path"))
        ));
    }
    lines.push(format!(
        "  `wptdeploy {} --commit SHA` with the previous release's SHA switches back",
        quote(&plan.env)
    ));
    lines.join("\n")
}

async fn deploy(
    args: DeployArgs,
    common: &CommonArgs,
    vault: &Vault,
    redactor: &mut Redactor,
) -> Result<(), Error> {
    let env = args.env.clone().unwrap_or_default();
    if let Some(commit) = &args.commit {
        plan::check_ref(commit)?;
    }
    let mut extra = inventory::extra_vars(&common.extra_vars, vault)?;
    if let Some(commit) = &args.commit {
        extra.insert("commit", commit.clone().into(), command_line());
    }
    if args.force {
        extra.insert("force", true.into(), command_line());
    }
    if args.migrate {
        extra.insert("migrate", true.into(), command_line());
    }
    if args.no_migrate {
        extra.insert("check_pending_migrations", false.into(), command_line());
    }
    let mut run = Run::new("deploy to", &env, &args.playbook, extra);
    run.check = args.check;
    run.lock_wait = args.lock_wait;
    run.forks = args.forks;
    run.serial = args.serial;
    run.force = args.force;
    run.changes = true;
    run.step = args.step;
    run.start_at = args.start_at.clone();
    run.list_steps = args.list_steps;
    run.execute(common, vault, redactor).await
}

async fn verify(
    args: VerifyArgs,
    common: &CommonArgs,
    vault: &Vault,
    redactor: &mut Redactor,
) -> Result<(), Error> {
    let usage = |message: String| Error::Usage {
        message,
        hints: vec![],
    };
    let mut tables = args.tables.clone();
    let mut expects: Vec<String> = Vec::new();
    if let Some(path) = &args.from_migration {
        let file = crate::migrations::file::parse(&fs_err::read_to_string(path)?);
        if file.upgrade.is_empty() {
            return Err(usage(format!(
                "{} has no schema operations in `upgrade()`",
                path.display()
            )));
        }
        let description = file.description("");
        for table in description["tables"].split(',') {
            if !tables.iter().any(|t| t == table) {
                tables.push(table.to_owned());
            }
        }
        expects.extend(description["expect"].split(',').map(str::to_owned));
    }
    for item in &args.expect {
        let bare = item.trim_start_matches('!');
        if bare.split(':').next().is_some_and(|c| c.contains('.')) {
            expects.push(item.clone());
        } else if let [table] = args.tables.as_slice() {
            let negated = if item.starts_with('!') { "!" } else { "" };
            expects.push(format!("{negated}{table}.{bare}"));
        } else {
            return Err(usage(format!(
                "`--expect {item}`: say which table, as `table.{bare}`"
            )));
        }
    }
    if tables.is_empty() {
        return Err(Error::Usage {
            message: "which table? pass `--table NAME` or `--from-migration FILE`".into(),
            hints: vec!["e.g. `wptdeploy verify staging --table pull_request`".into()],
        });
    }
    if let Some(bad) = tables.iter().chain(&expects).find(|t| t.contains(',')) {
        return Err(usage(format!("`{bad}` contains a comma")));
    }
    let mut extra = inventory::extra_vars(&common.extra_vars, vault)?;
    extra.insert("verify_tables", tables.join(",").into(), command_line());
    extra.insert("verify_expect", expects.join(",").into(), command_line());
    let run = Run::new("verify of", &args.env, "verify.yml", extra);
    run.execute(common, vault, redactor).await
}

/// What generating a migration needs (`migration new`, `checklist`): its
/// arguments checked, as the variables migration-generate.yml reads, with
/// the local directory the file is pulled into.
fn new_migration_vars(
    commit: &str,
    message: &str,
    generate: &GenerateArgs,
    extra_vars: &[String],
    vault: &Vault,
) -> Result<(Sourced, std::path::PathBuf), Error> {
    plan::check_ref(commit)?;
    if let Some(rev) = &generate.rev_id
        && (rev.is_empty() || !rev.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(Error::Usage {
            message: format!("`{rev}` is not a revision id (letters, digits and `_`)"),
            hints: vec![],
        });
    }
    let into = generate
        .into
        .clone()
        .unwrap_or_else(|| "migrations/versions".into());
    if !into.is_dir() {
        return Err(Error::Usage {
            message: format!("{} is not a directory", into.display()),
            hints: vec![
                "run this in your app's checkout, or pass `--into DIR` for the pulled file".into(),
            ],
        });
    }
    let into = fs_err::canonicalize(&into)?;
    let mut extra = inventory::extra_vars(extra_vars, vault)?;
    extra.insert("commit", commit.into(), command_line());
    extra.insert("migrate", true.into(), command_line());
    extra.insert("migration_message", message.into(), command_line());
    extra.insert(
        "migration_rev_id",
        generate.rev_id.clone().unwrap_or_default().into(),
        command_line(),
    );
    extra.insert(
        "migration_into",
        into.display().to_string().into(),
        command_line(),
    );
    extra.insert("roundtrip", generate.roundtrip.into(), command_line());
    Ok((extra, into))
}

async fn migration_new(
    args: MigrationNewArgs,
    common: &CommonArgs,
    vault: &Vault,
    redactor: &mut Redactor,
) -> Result<(), Error> {
    let (extra, into) = new_migration_vars(
        &args.commit,
        &args.message,
        &args.generate,
        &common.extra_vars,
        vault,
    )?;
    let listing = |dir: &std::path::Path| -> Result<Vec<std::path::PathBuf>, Error> {
        Ok(fs_err::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect())
    };
    let before = listing(&into)?;
    let mut run = Run::new("migration new on", &args.env, "migration-new.yml", extra);
    run.lock_command = Some(format!(
        "wptdeploy migration new {} --commit {}",
        args.env, args.commit
    ));
    run.changes = true;
    run.one_host = true;
    run.execute(common, vault, redactor).await?;
    let pulled: Vec<_> = listing(&into)?
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    if common.quiet || common.output == OutputFormat::Json {
        return Ok(());
    }
    match pulled.first() {
        None => tell(
            "\nno migration was generated (no changes in schema detected), so nothing was pulled",
        ),
        Some(file) => tell(&format!(
            "\nnext: review {file} (autogenerate misses renames, constraints and enum changes),\n  \
             `git add {quoted}` and commit it with the model change, open a PR,\n  \
             and once it is merged: `wptdeploy prod --migrate`",
            file = file.display(),
            quoted = quote(&file.display().to_string())
        )),
    }
    Ok(())
}

/// `wptdeploy checklist ENV --commit BRANCH`: checklist.yml, every step asked.
async fn checklist(
    args: ChecklistArgs,
    common: &CommonArgs,
    vault: &Vault,
    redactor: &mut Redactor,
) -> Result<(), Error> {
    let commit = args.commit.clone().unwrap_or_default();
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| message_from_branch(&commit));
    let mut extra = if args.list_steps {
        inventory::extra_vars(&common.extra_vars, vault)?
    } else {
        new_migration_vars(&commit, &message, &args.generate, &common.extra_vars, vault)?.0
    };
    extra.insert(
        "wptdeploy_command",
        this_command(common)?.into(),
        command_line(),
    );
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|e| !e.trim().is_empty());
    if let Some(editor) = editor
        && !extra.values.contains_key("editor")
    {
        extra.insert("editor", editor.into(), Origin::at("$VISUAL/$EDITOR"));
    }
    let mut run = Run::new("checklist on", &args.env, "checklist.yml", extra);
    run.lock_command = Some(format!(
        "wptdeploy checklist {} --commit {commit}",
        args.env
    ));
    run.asker = "the checklist";
    run.unattended = format!(
        "`wptdeploy migration new {} --commit BRANCH -m MESSAGE` runs its steps without asking",
        quote(&args.env)
    );
    run.changes = true;
    run.one_host = true;
    run.step = true;
    run.start_at = args.start_at.clone();
    run.list_steps = args.list_steps;
    run.execute(common, vault, redactor).await
}

/// `feature/comment-url` → `comment url`: a migration message when none is given.
fn message_from_branch(branch: &str) -> String {
    branch
        .rsplit('/')
        .next()
        .unwrap_or(branch)
        .replace(['-', '_'], " ")
}

/// This program, with the options that say where the inventory, playbooks,
/// keys and passwords are: how a local step runs wptdeploy again.
fn this_command(common: &CommonArgs) -> Result<String, Error> {
    let exe = std::env::current_exe()?;
    let mut words = vec![crate::transport::quote(&exe.display().to_string())];
    let mut option = |flag: &str, value: Option<&std::path::Path>| {
        if let Some(value) = value {
            words.push(flag.to_owned());
            words.push(crate::transport::quote(&value.display().to_string()));
        }
    };
    option("--inventory", common.inventory.as_deref());
    option("--playbooks", common.playbooks.as_deref());
    option("--known-hosts", common.known_hosts.as_deref());
    option(
        "--become-password-file",
        common.become_password_file.as_deref(),
    );
    for file in &common.vault_password_file {
        option("--vault-password-file", Some(file));
    }
    let mut flag = |flag: &str, value: Option<&str>| {
        words.push(flag.to_owned());
        words.extend(value.map(crate::transport::quote));
    };
    if let Some(user) = &common.user {
        flag("--user", Some(user));
    }
    if common.ask_become_pass {
        flag("-K", None);
    }
    for id in &common.vault_id {
        flag("--vault-id", Some(id));
    }
    if common.ask_vault_pass {
        flag("--ask-vault-pass", None);
    }
    Ok(words.join(" "))
}

/// The 0-based index of `--start-at`'s step: a number, or the start of a name.
fn find_step(plan: &Plan, wanted: &str) -> Result<usize, Error> {
    let steps = &plan.playbook.steps;
    let found = match wanted.parse::<usize>() {
        Ok(number) if (1..=steps.len()).contains(&number) => Some(number - 1),
        _ => {
            let wanted = wanted.to_lowercase();
            steps
                .iter()
                .position(|s| s.name.0.to_lowercase().starts_with(&wanted))
        }
    };
    found.ok_or_else(|| Error::Usage {
        message: format!("no step `{wanted}` in {}", plan.playbook.origin),
        hints: vec!["`--list-steps` shows the steps, by number and name".into()],
    })
}

async fn migration_test(
    args: MigrationTestArgs,
    common: &CommonArgs,
    vault: &Vault,
    redactor: &mut Redactor,
) -> Result<(), Error> {
    use base64::Engine as _;
    let text = fs_err::read_to_string(&args.file)?;
    let parsed = crate::migrations::file::parse(&text);
    let name = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if parsed.revision.is_none() || !name.ends_with(".py") {
        return Err(Error::Usage {
            message: format!(
                "{} is not a migration file (no `revision = '...'`)",
                args.file.display()
            ),
            hints: vec![],
        });
    }
    let mut pulled = serde_yaml::Mapping::new();
    for (key, value) in parsed.description(&name) {
        pulled.insert(key.into(), value.into());
    }
    let mut extra = inventory::extra_vars(&common.extra_vars, vault)?;
    extra.insert("pulled", serde_yaml::Value::Mapping(pulled), command_line());
    extra.insert(
        "migration_text_b64",
        base64::engine::general_purpose::STANDARD
            .encode(text.as_bytes())
            .into(),
        command_line(),
    );
    extra.insert("roundtrip", args.roundtrip.into(), command_line());
    let mut run = Run::new("migration test on", &args.env, "migration-test.yml", extra);
    run.lock_command = Some(format!("wptdeploy migration test {}", args.env));
    run.changes = true;
    run.one_host = true;
    run.execute(common, vault, redactor).await
}

/// One run of a playbook on an environment, from plan to exit status.
struct Run<'a> {
    /// For the error: "deploy to", "verify of".
    what: &'a str,
    env: &'a str,
    playbook: &'a str,
    extra: Sourced,
    check: bool,
    lock_wait: Option<std::time::Duration>,
    forks: usize,
    /// `--serial`, over the playbook's (empty: the playbook's).
    serial: Vec<crate::rollout::BatchSize>,
    force: bool,
    /// It changes hosts: production asks for its name to be typed.
    changes: bool,
    /// `--step`.
    step: bool,
    /// `--start-at`.
    start_at: Option<String>,
    /// `--list-steps`.
    list_steps: bool,
    /// The command works on exactly one host (`migration new`, `migration test`).
    one_host: bool,
    /// Who asks before each step, for the no-terminal error: `--step`, the checklist.
    asker: &'a str,
    /// How to run it without a terminal, for that error.
    unattended: String,
    /// What the lock records as the command that holds it [default: the deploy's].
    lock_command: Option<String>,
}

impl<'a> Run<'a> {
    /// A run of `playbook` that changes nothing but what its steps say:
    /// no `--check`, no lock wait, ten hosts at a time.
    fn new(what: &'a str, env: &'a str, playbook: &'a str, extra: Sourced) -> Self {
        Run {
            what,
            env,
            playbook,
            extra,
            check: false,
            lock_wait: None,
            forks: 10,
            serial: Vec::new(),
            force: false,
            changes: false,
            step: false,
            start_at: None,
            list_steps: false,
            one_host: false,
            asker: "`--step`",
            unattended: "drop `--step` to run without asking".into(),
            lock_command: None,
        }
    }

    async fn execute(
        self,
        common: &CommonArgs,
        vault: &Vault,
        redactor: &mut Redactor,
    ) -> Result<(), Error> {
        let templates = Templates::new();
        let (mut plan, warnings) = load_plan(
            self.env,
            common,
            vault,
            self.playbook,
            &self.extra,
            &templates,
        )?;
        if !self.serial.is_empty() {
            plan.playbook.rollout.serial.clone_from(&self.serial);
        }
        if self.one_host && plan.hosts.len() != 1 {
            return Err(Error::Usage {
                message: format!(
                    "{} works on one host, and {} has {}: {}",
                    self.what.trim_end_matches(" on"),
                    plan.env,
                    plan.hosts.len(),
                    plan.hosts
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                hints: vec![
                    "use an environment (inventory file or group) with just the staging host"
                        .into(),
                ],
            });
        }
        if self.list_steps {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            for (index, step) in plan.playbook.steps.iter().enumerate() {
                let listed = writeln!(
                    stdout,
                    "{:>3}  {}    ({}:{})",
                    index + 1,
                    step.name.0,
                    step.origin,
                    step.line
                );
                // A reader that stopped (`| head`) has what it wanted.
                if listed.is_err() {
                    break;
                }
            }
            return Ok(());
        }
        let start_at = match &self.start_at {
            Some(wanted) => find_step(&plan, wanted)?,
            None => 0,
        };
        let attended = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if self.step && !attended {
            return Err(Error::Usage {
                message: format!(
                    "{} asks before each step, and there is no terminal to ask on",
                    self.asker
                ),
                hints: vec![self.unattended.clone()],
            });
        }
        if self.changes && !self.check && plan.env == "production" && !common.yes {
            if !attended {
                return Err(Error::Usage {
                    message: "a change to production must be confirmed, and there is no terminal to ask on".into(),
                    hints: vec!["pass `--yes` to confirm on the command line".into()],
                });
            }
            if !crate::report::confirm_environment(&plan.env) {
                return Err(Error::Usage {
                    message: format!("you did not type `{}`: nothing was changed", plan.env),
                    hints: vec![],
                });
            }
        }
        let password = become_password(common)?;
        let mut secrets = plan.secrets.clone();
        secrets.extend(password.clone());
        secrets.extend(vault.secrets().map(str::to_owned));
        *redactor = Redactor::new(secrets);
        // Under --step, output streams (under the spinner) unless -q.
        let shown = match verbosity(common) {
            Verbosity::Normal if self.step => Verbosity::Verbose,
            asked => asked,
        };
        let cancel = Cancel::default();
        let (reporter, spinners) = reporter(common, shown, redactor.clone(), &cancel);
        let gate = self.step.then(|| {
            Arc::new(crate::report::TerminalGate::new(redactor.clone(), spinners))
                as Arc<dyn crate::engine::gate::Gate>
        });
        for message in warnings {
            reporter.report(&crate::report::Event::Warning {
                host: None,
                message,
            });
        }
        let command = self.lock_command.clone().unwrap_or_else(|| {
            let force = if self.force { " --force" } else { "" };
            format!("wptdeploy {} --commit {}{force}", plan.env, plan.commit)
        });
        let options = RunOptions {
            gate,
            start_at,
            check: self.check,
            lock_wait: self.lock_wait,
            forks: if self.step { 1 } else { self.forks },
            become_password: password,
            lock_owner: LockOwner {
                token: crate::transport::random_token(),
                who: this_machine(),
                commit: plan.commit.clone(),
                command,
            },
        };
        let env_name = plan.env.clone();
        cancel.on_signals(abandoned_message(&plan, &templates));
        let interrupt = cancel.receiver();
        if self.step && !self.check {
            // The whole plan first: what --check shows, then each step asks.
            let preview = RunOptions {
                gate: None,
                start_at: 0,
                check: true,
                lock_wait: None,
                become_password: options.become_password.clone(),
                lock_owner: options.lock_owner.clone(),
                forks: 1,
            };
            let summaries = engine::run(
                plan.clone(),
                Templates::new(),
                preview,
                reporter.clone(),
                interrupt.clone(),
            )
            .await;
            self.conclude(&summaries, &env_name)?;
            tell("\nThat is the plan. Now each step asks before it runs.\n");
        }
        let summaries = engine::run(plan, templates, options, reporter, interrupt).await;
        self.conclude(&summaries, &env_name)
    }

    /// Ok if every host succeeded, else the error naming each failure.
    fn conclude(&self, summaries: &[HostSummary], env_name: &str) -> Result<(), Error> {
        let failed: Vec<_> = summaries.iter().filter(|s| !s.succeeded()).collect();
        if failed.is_empty() && crate::cancel::output_closed() {
            // Done, but what the command was for (its events, the columns)
            // did not all reach the reader: as a pipeline would, say so.
            return Err(Error::Interrupted {
                detail: ": the output was closed (the program reading it exited) after every host had finished".into(),
            });
        }
        if failed.is_empty() {
            return Ok(());
        }
        let stopped: Vec<String> = failed
            .iter()
            .filter(|s| s.result == HostResult::Interrupted)
            .map(|s| format!("{}: {}", s.host, s.error.as_deref().unwrap_or("stopped")))
            .collect();
        if !stopped.is_empty() {
            let why = if crate::cancel::output_closed() {
                ": the output was closed (the program reading it exited)"
            } else {
                ""
            };
            return Err(Error::Interrupted {
                detail: format!(
                    "{why} ({}); locks were released and any switched release was switched back",
                    stopped.join("; ")
                ),
            });
        }
        let (not_started, failed): (Vec<_>, Vec<_>) = failed
            .into_iter()
            .partition(|s| s.result == HostResult::NotStarted);
        let mut reasons: Vec<String> = failed
            .iter()
            .map(|s| {
                let rolled = if s.result == HostResult::RolledBack {
                    " (rolled back to the previous release)"
                } else {
                    ""
                };
                let reason = s.error.as_deref().unwrap_or("failed");
                let first_line = reason
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(':');
                format!("{}: {first_line}{rolled}", s.host)
            })
            .collect();
        let mut hints: Vec<String> = failed.iter().flat_map(|s| s.hints.clone()).collect();
        if failed
            .iter()
            .any(|s| s.error.as_deref().is_some_and(|e| e.contains('\n')))
        {
            hints.push(
                "the failed step's last lines of output are shown above; `-v` shows all of it"
                    .into(),
            );
        }
        if let Some(first) = not_started.first() {
            let names: Vec<&str> = not_started.iter().map(|s| s.host.as_str()).collect();
            let why = first.error.as_deref().unwrap_or("not started");
            reasons.push(format!(
                "{} host(s) {why}: {}",
                names.len(),
                names.join(", ")
            ));
            let rest: Vec<&str> = failed
                .iter()
                .map(|s| s.host.as_str())
                .chain(names)
                .collect();
            hints.push(format!(
                "once the failure is fixed, finish the rollout with `--limit {}`",
                rest.join(",")
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        hints.retain(|h| seen.insert(h.clone()));
        Err(Error::Failed {
            message: format!(
                "{} {env_name} failed on {} of {} host(s): {}",
                self.what,
                failed.len(),
                summaries.len(),
                reasons.join("; ")
            ),
            hints,
        })
    }
}

async fn unlock(
    args: UnlockArgs,
    common: &CommonArgs,
    vault: &Vault,
    redactor: &mut Redactor,
) -> Result<(), Error> {
    let templates = Templates::new();
    let extra = inventory::extra_vars(&common.extra_vars, vault)?;
    let (plan, _) = load_plan(&args.env, common, vault, "deploy.yml", &extra, &templates)?;
    *redactor = Redactor::new(plan.secrets.clone());
    let Some(lock_step) = plan.playbook.lock_step() else {
        return Err(Error::Usage {
            message: format!(
                "{} has no `lock` step, so there is no lock to remove",
                plan.playbook.origin
            ),
            hints: vec![],
        });
    };
    let password = become_password(common)?;
    let auth = password
        .as_deref()
        .map_or(SudoAuth::NonInteractive, SudoAuth::Password);
    for host in &plan.hosts {
        let ctx = host.scope(
            &templates,
            std::collections::BTreeMap::from([("now".to_owned(), minijinja::Value::from(""))]),
        );
        let mut conn = Connection::open(&host.connect)
            .await
            .map_err(|e| Error::Failed {
                message: e.to_string(),
                hints: e.hints(),
            })?;
        let prepared =
            steps::prepare(lock_step, &templates, &ctx, conn.login_user()).map_err(|e| {
                Error::Usage {
                    message: format!("host {}: {}", host.name, e.message),
                    hints: vec![],
                }
            })?;
        let Kind::Lock(spec) = prepared.kind else {
            unreachable!("lock_step returns a lock step")
        };
        let output = conn
            .run(&spec.inspect(), auth, &mut |_, _| {})
            .await
            .map_err(|e| Error::Failed {
                message: e.to_string(),
                hints: e.hints(),
            })?;
        match lock::holder(&output) {
            None => tell(&format!("{}: not locked ({})", host.name, spec.path)),
            Some(holder) => {
                tell(&format!(
                    "{}: locked by {}",
                    host.name,
                    redactor.apply(&holder.describe())
                ));
                if !common.yes && !confirm(&format!("Remove the lock on {}?", host.name))? {
                    tell(&format!("{}: lock kept", host.name));
                    continue;
                }
                let removed = conn
                    .run(&spec.remove(), auth, &mut |_, _| {})
                    .await
                    .map_err(|e| Error::Failed {
                        message: e.to_string(),
                        hints: e.hints(),
                    })?;
                if removed.exit_code != 0 {
                    return Err(Error::Failed {
                        message: format!(
                            "could not remove {}: {}",
                            spec.path,
                            removed.stderr.trim()
                        ),
                        hints: vec![],
                    });
                }
                tell(&format!("{}: lock removed", host.name));
            }
        }
        conn.close().await;
    }
    Ok(())
}

fn confirm(question: &str) -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage {
            message: "removing a lock needs confirmation and there is no terminal".into(),
            hints: vec!["pass `--yes` to remove it without asking".into()],
        });
    }
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| Error::Usage {
            message: format!("could not read the answer: {e}"),
            hints: vec![],
        })
}
