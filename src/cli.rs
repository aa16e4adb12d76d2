//! Command-line syntax (clap types only): the top-level parser, the
//! options every command shares, and the arguments of the commands. Which
//! commands there are is the registry's (`src/commands/mod.rs`), given to
//! [`Cli`] as its type parameter.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Deploy a Python web app to your servers over SSH: releases, atomic
/// switch, rollback, deploy lock.
#[derive(Debug, Parser)]
#[command(
    name = "wptdeploy",
    version,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true,
    after_help = "Examples:\n  wptdeploy staging --commit my-branch\n  wptdeploy prod\n  wptdeploy staging --commit my-branch --check\n  wptdeploy unlock staging\n\n`wptdeploy help COMMAND` (or `COMMAND --help`) shows a command's options; `wptdeploy completions bash|zsh|fish` prints a completion script, `wptdeploy man` the man page."
)]
pub struct Cli<C: Subcommand> {
    /// Other commands.
    #[command(subcommand)]
    pub command: Option<C>,
    /// Deploy (the default command).
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Options of every command, before or after its name.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The command's name as typed (`deploy`, `migration lint`), for the
    /// JSON `run_started`.
    #[arg(skip)]
    pub name: String,
}

impl<C: Subcommand> Cli<C> {
    /// Parses the command line, exiting with clap's message on an error. A
    /// deploy's own options (`--commit`, `--check`, ...) given to another
    /// command are refused, as they would do nothing there.
    pub fn parse_args() -> Cli<C> {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let mut command = Cli::<C>::command();
        let args = help_as_flag(std::env::args().collect());
        if args.len() == 1 {
            // Bare `wptdeploy`: what there is to run (an environment set in
            // WPTDEPLOY_INVENTORY does not make it a deploy).
            eprintln!("{}", command.render_help());
            std::process::exit(2);
        }
        let matches = match command.clone().try_get_matches_from(&args) {
            Ok(matches) => matches,
            Err(error) => {
                use clap::error::ErrorKind;
                // A word where a command could go may be a misspelt
                // command; a misspelt option (`--comit`) or a bad value
                // (`--color sometimes`) is clap's to name, with its own
                // did-you-mean or the valid values.
                let offending = error
                    .get(clap::error::ContextKind::InvalidArg)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let a_word = matches!(
                    error.kind(),
                    ErrorKind::InvalidSubcommand | ErrorKind::UnknownArgument
                ) && !offending.starts_with('-');
                let typo = if a_word {
                    command_typo(&command, args.into_iter().skip(1))
                } else {
                    None
                };
                if let Some((typed, name)) = typo {
                    command
                        .error(
                            clap::error::ErrorKind::InvalidSubcommand,
                            format!(
                                "`{typed}` is not a command (did you mean `wptdeploy {name}`?)"
                            ),
                        )
                        .exit();
                }
                error.exit()
            }
        };
        if let Some((name, sub)) = matches.subcommand() {
            let deploy = <DeployArgs as Args>::augment_args(clap::Command::new("deploy"));
            let deploy_only: Vec<String> = deploy
                .get_arguments()
                .filter(|arg| {
                    matches.value_source(arg.get_id().as_str())
                        == Some(clap::parser::ValueSource::CommandLine)
                        && sub.try_contains_id(arg.get_id().as_str()).is_err()
                })
                .map(|arg| {
                    arg.get_long()
                        .map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"))
                })
                .collect();
            if !deploy_only.is_empty() {
                command
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "{} belong(s) to a deploy, not to `wptdeploy {name}`",
                            deploy_only.join(", ")
                        ),
                    )
                    .exit();
            }
        }
        let mut cli = Cli::<C>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli.name = command_name(&matches);
        cli
    }
}

/// The command's name as typed (`deploy` when none is): the subcommands
/// `matches` went through.
fn command_name(matches: &clap::ArgMatches) -> String {
    let mut names = Vec::new();
    let mut at = matches;
    while let Some((name, inner)) = at.subcommand() {
        names.push(name.to_owned());
        at = inner;
    }
    if names.is_empty() {
        "deploy".to_owned()
    } else {
        names.join(" ")
    }
}

/// `wptdeploy help [COMMAND...]` as `wptdeploy [COMMAND...] --help`: an
/// environment is a positional word too, so `help` is read first.
fn help_as_flag(mut args: Vec<String>) -> Vec<String> {
    if args.get(1).is_some_and(|a| a == "help") {
        args.remove(1);
        args.push("--help".into());
    }
    args
}

/// A number of at least 1 (`--forks`).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A duration longer than zero (`--connect-timeout`).
fn some_time(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than 0s".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A word of `args` that is close to one of `command`'s subcommands but is
/// none of them: a misspelt command, with the one it is close to.
fn command_typo(
    command: &clap::Command,
    args: impl Iterator<Item = String>,
) -> Option<(String, String)> {
    let names: Vec<&str> = command
        .get_subcommands()
        .map(clap::Command::get_name)
        .collect();
    // `migration lint`: a command's own commands are not typos of others.
    let nested: Vec<&str> = command
        .get_subcommands()
        .flat_map(clap::Command::get_subcommands)
        .map(clap::Command::get_name)
        .collect();
    args.filter(|a| {
        !a.starts_with('-') && !names.contains(&a.as_str()) && !nested.contains(&a.as_str())
    })
    .find_map(|typed| {
        let close = crate::suggest::closest(&typed, names.iter().copied())?;
        Some((typed.clone(), close.to_owned()))
    })
}

/// `wptdeploy migration ...`: database migrations.
#[derive(Debug, Args)]
pub struct MigrationArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: MigrationCommand,
}

/// `wptdeploy completions SHELL`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `wptdeploy man`
#[derive(Debug, Args)]
pub struct ManArgs {}

/// `wptdeploy vault ...`: ansible-vault files, with the same password
/// options as every command.
#[derive(Debug, Args)]
pub struct VaultArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: VaultCommand,
}

/// `wptdeploy vault ...`
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Write a new vault: `$EDITOR` opens on a private temporary file, encrypted when it closes.
    Create(VaultFileArgs),
    /// Edit a vault in `$EDITOR` (a private 0600 file, removed however the command ends); re-encrypted, same label and format, only if it changed.
    Edit(VaultFileArgs),
    /// Print what a vault holds.
    View(VaultFileArgs),
    /// Encrypt files in place.
    Encrypt(VaultFilesArgs),
    /// Decrypt files in place.
    Decrypt(VaultFilesArgs),
    /// Encrypt a value read from standard input (never the command line) as `NAME: !vault |` for a YAML file.
    EncryptString(VaultStringArgs),
    /// Encrypt vaults again with the password `--new-vault-password-file` holds.
    Rekey(VaultRekeyArgs),
}

/// A vault file.
#[derive(Debug, Args)]
pub struct VaultFileArgs {
    /// The file.
    pub file: PathBuf,
    /// The vault id label to encrypt with (a `--vault-id LABEL@...`): format 1.2.
    #[arg(long, value_name = "LABEL")]
    pub encrypt_vault_id: Option<String>,
}

/// Vault files.
#[derive(Debug, Args)]
pub struct VaultFilesArgs {
    /// The files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The vault id label to encrypt with (a `--vault-id LABEL@...`): format 1.2.
    #[arg(long, value_name = "LABEL")]
    pub encrypt_vault_id: Option<String>,
}

/// `wptdeploy vault encrypt-string --name NAME < value`
#[derive(Debug, Args)]
pub struct VaultStringArgs {
    /// The variable's name.
    #[arg(long, short = 'n')]
    pub name: String,
    /// The vault id label to encrypt with (a `--vault-id LABEL@...`): format 1.2.
    #[arg(long, value_name = "LABEL")]
    pub encrypt_vault_id: Option<String>,
}

/// `wptdeploy vault rekey FILE... --new-vault-password-file NEW`
#[derive(Debug, Args)]
pub struct VaultRekeyArgs {
    /// The files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The new password, in a file (or a script that prints it).
    #[arg(long, value_name = "FILE")]
    pub new_vault_password_file: PathBuf,
    /// The new password's vault id label (format 1.2).
    #[arg(long, value_name = "LABEL")]
    pub new_vault_id: Option<String>,
}

/// `wptdeploy migration ...`
#[derive(Debug, Subcommand)]
pub enum MigrationCommand {
    /// Deploy a branch, generate its migration on the host, pull the file into this checkout, apply and check it.
    New(MigrationNewArgs),
    /// The database's revision, the live release's head, and the pending migrations.
    Status(MigrationStatusArgs),
    /// Put a locally edited migration file into the live release, re-apply it there and check it.
    Test(MigrationTestArgs),
    /// Lint the SQL the live release's pending migrations would run (ENV), or SQL files (FILE.sql: `flask db upgrade --sql` output), with the safety rules; exit 1 on a finding not allowed.
    Lint(MigrationLintArgs),
}

/// `wptdeploy checklist ENV --commit BRANCH`
#[derive(Debug, Args)]
pub struct ChecklistArgs {
    /// Environment to generate on (a staging server with a real database).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// The branch whose models changed.
    #[arg(
        short,
        long,
        value_name = "REF",
        required_unless_present = "list_steps"
    )]
    #[arg(add = crate::completion::refs())]
    pub commit: Option<String>,
    /// The migration's message [default: from the branch name].
    #[arg(short, long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Where the file goes, and how it is made and checked.
    #[command(flatten)]
    pub generate: GenerateArgs,
    /// Resume at this step (its number or the start of its name).
    #[arg(long, value_name = "STEP")]
    pub start_at: Option<String>,
    /// List the checklist's steps and exit.
    #[arg(long)]
    pub list_steps: bool,
}

/// How a migration is generated, pulled and checked (`migration new`, `checklist`).
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Local directory for the file [default: ./migrations/versions].
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// Use this revision id instead of a random one.
    #[arg(long, value_name = "ID")]
    pub rev_id: Option<String>,
    /// Also downgrade, check the columns went back, and upgrade again.
    #[arg(long)]
    pub roundtrip: bool,
    /// Apply a generated migration that drops a table or a column, or
    /// whose SQL production's lint would stop on, without asking (for
    /// scripts; at a terminal wptdeploy shows what it found and asks).
    #[arg(long)]
    pub allow_destructive: bool,
}

/// `wptdeploy migration test ENV FILE`
#[derive(Debug, Args)]
pub struct MigrationTestArgs {
    /// Environment to test on (a staging server).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// The migration file, as edited locally.
    pub file: PathBuf,
    /// Also downgrade, check the columns went back, and upgrade again.
    #[arg(long)]
    pub roundtrip: bool,
}

/// `wptdeploy migration lint [ENV] [FILE.sql...]`
#[derive(Debug, Args)]
pub struct MigrationLintArgs {
    /// An environment (its live release's pending migrations against its database), migration files to lint there against the live release, and/or SQL files to lint here.
    #[arg(required = true, value_name = "ENV|FILE.py|FILE.sql")]
    pub targets: Vec<String>,
    /// A rule whose findings are allowed (repeatable).
    #[arg(long, value_name = "RULE", value_parser = crate::migrations::lint::parse_rule)]
    pub allow: Vec<String>,
    /// The PostgreSQL version to lint for: SQL files' [default: 15], and
    /// instead of the host's (production's version, linted on staging).
    #[arg(long, value_name = "VERSION")]
    pub server_version: Option<String>,
}

/// `wptdeploy migration status ENV`
#[derive(Debug, Args)]
pub struct MigrationStatusArgs {
    /// Environment whose database to read.
    #[arg(add = crate::completion::environments())]
    pub env: String,
}

/// `wptdeploy migration new ENV --commit BRANCH -m MESSAGE`
#[derive(Debug, Args)]
pub struct MigrationNewArgs {
    /// Environment to generate on (a staging server with a real database).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// The branch whose models changed.
    #[arg(short, long, value_name = "REF", add = crate::completion::refs())]
    pub commit: String,
    /// The migration's message (its file name's slug).
    #[arg(short, long, value_name = "TEXT")]
    pub message: String,
    /// Where the file goes, and how it is made and checked.
    #[command(flatten)]
    pub generate: GenerateArgs,
}

/// `wptdeploy verify ENV --table T ...`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Environment whose database to read.
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// A table to show (repeatable).
    #[arg(short, long = "table", value_name = "TABLE", add = crate::completion::tables())]
    pub tables: Vec<String>,
    /// A column that must exist (`name`, `name:type`, `table.name:type`) or be gone (`!name`). Repeatable.
    #[arg(long, value_name = "COLUMN[:TYPE]")]
    pub expect: Vec<String>,
    /// Expect what this migration file's `upgrade()` does to its tables.
    #[arg(long, value_name = "FILE")]
    pub from_migration: Option<PathBuf>,
}

/// `wptdeploy ENV ...`
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Environment: an inventory file or group (`staging`, `production` or `prod`).
    #[arg(required = true, add = crate::completion::environments())]
    pub env: Option<String>,
    /// Branch, tag or commit to deploy [default: the inventory's `commit`, else master].
    #[arg(short, long, value_name = "REF", add = crate::completion::refs())]
    pub commit: Option<String>,
    /// Rebuild the release, and its virtualenv, even if that commit is already deployed.
    #[arg(long)]
    pub force: bool,
    /// Show the plan (hosts, steps, what each found; with `-v`, the exact remote commands) and change nothing.
    #[arg(long)]
    pub check: bool,
    /// Install only the set of packages the environment promoted from (`promote_from`) tested for this commit: refuse to resolve one here.
    #[arg(long)]
    pub require_promoted: bool,
    /// Check the new release's migrations and upgrade the database before the switch.
    #[arg(long)]
    pub migrate: bool,
    /// Deploy even if the release brings migrations the database has not had (without upgrading it).
    #[arg(long, conflicts_with = "migrate")]
    pub no_migrate: bool,
    /// Allow a finding of the migration SQL lint (a rule name, e.g. `adding-required-field`); repeatable; recorded in the history.
    #[arg(long, value_name = "RULE", value_parser = crate::migrations::lint::parse_rule)]
    pub allow: Vec<String>,
    /// With --migrate: after the upgrade, run the live (old) release's health check against the migrated database, and warn if it fails.
    #[arg(long, requires = "migrate")]
    pub compat_check: bool,
    /// Ask before each step: run, skip, show details or abort (and after a failure: retry, skip, abort).
    #[arg(long)]
    pub step: bool,
    /// Start at this step (its number or the start of its name): earlier steps only run their read-only checks.
    #[arg(long, value_name = "STEP")]
    pub start_at: Option<String>,
    /// List the playbook's steps and exit.
    #[arg(long)]
    pub list_steps: bool,
    /// Wait this long for another deploy's lock instead of failing (e.g. `10m`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub lock_wait: Option<Duration>,
    /// The playbook to run, from the playbooks directory.
    #[arg(long, default_value = "deploy.yml", value_name = "FILE")]
    pub playbook: String,
    /// Hosts to deploy at once.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = at_least_one)]
    pub forks: usize,
    /// Rolling deploy: hosts in batches of N (or N% of them), in order; a failed batch stops the rest. A list (`1,50%`) repeats its last size. Over the playbook's `serial:`.
    #[arg(long, value_name = "N|N%", value_delimiter = ',')]
    pub serial: Vec<crate::rollout::BatchSize>,
}

/// `wptdeploy exec ENV -- CMD ARGS...`
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Environment whose hosts run it (`--limit` picks some).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// The command and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// How the output is shown.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `--raw` / `--prefix`: how `exec` and `logs` show the hosts' output.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The output as the host printed it (stdout to stdout, stderr to stderr, no prefix), even with several hosts [default with one host].
    #[arg(long, conflicts_with = "prefix")]
    pub raw: bool,
    /// Each line prefixed by its host, on stderr (`[web1]   | line`), even with one host [default with several].
    #[arg(long)]
    pub prefix: bool,
}

/// `wptdeploy lock ENV -m WHY` / `wptdeploy lock status ENV`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct HoldArgs {
    /// `status`: who holds it.
    #[command(subcommand)]
    pub command: Option<LockCommand>,
    /// Environment whose lock to hold.
    #[arg(required = true, add = crate::completion::environments())]
    pub env: Option<String>,
    /// Why: recorded in the lock and shown to every deploy it refuses.
    #[arg(short, long, value_name = "WHY", required = true)]
    pub message: Option<String>,
}

/// `wptdeploy lock ...`
#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Who holds the deploy lock of ENV, host by host.
    Status(UnlockArgs),
}

/// `wptdeploy init`: what it asks, as flags (for scripts and CI). Without
/// a terminal, what no flag gives is what was detected, or the default.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project to set up (a git checkout of the app).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: std::path::PathBuf,
    /// The staging server (host name or address).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// The production server [default: none yet; add it to inventory/production later].
    #[arg(long, value_name = "HOST")]
    pub production_host: Option<String>,
    /// The ssh user wptdeploy logs in as [default: this user].
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The ssh port.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// The private key file to log in with [default: ssh-agent and ssh's own].
    #[arg(long, value_name = "FILE")]
    pub key: Option<String>,
    /// The repository the servers clone [default: this checkout's `origin`].
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// The branch deployed when no `--commit` is given [default: the checkout's default branch].
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// The user the app runs as, who owns the releases.
    #[arg(long, value_name = "USER")]
    pub app_user: Option<String>,
    /// Where the releases live on the server [default: /srv/PROJECT].
    #[arg(long, value_name = "PATH")]
    pub base_path: Option<String>,
    /// How the app is served and told to serve a new release: `gunicorn` (`wptdeploy setup` writes its systemd unit and nginx's site; HUP at each deploy), `uwsgi-emperor`, `systemd` (`systemctl reload`), or `command` (`--restart`) [default: gunicorn when the app depends on it, else command].
    #[arg(long, value_name = "SERVER", value_parser = clap::builder::PossibleValuesParser::new(crate::steps::reload::APP_SERVERS))]
    pub app_server: Option<String>,
    /// The command that restarts the app after the switch, as root (e.g. `systemctl restart myapp`) [default: none].
    #[arg(long, value_name = "COMMAND")]
    pub restart: Option<String>,
    /// A command that must succeed in the new release after the switch, or it goes back [default: none].
    #[arg(long, value_name = "COMMAND")]
    pub healthcheck: Option<String>,
    /// A URL that must answer 2xx from the server after the switch, or it goes back [default: none].
    #[arg(long, value_name = "URL")]
    pub healthcheck_url: Option<String>,
    /// The PostgreSQL database the migrations run against [default: the project's name, when it has Flask-Migrate].
    #[arg(long, value_name = "NAME")]
    pub db: Option<String>,
    /// Where `playbooks/templates/config.txt.j2` is written in each release, the file the app reads its settings from (e.g. `.env`, `instance/config.py`) [default: the one detected: `.env` with python-dotenv, Flask's instance folder, `config.txt` with that template].
    #[arg(long, value_name = "PATH")]
    pub config_path: Option<String>,
    /// The app's WSGI entry point, `MODULE:VARIABLE` [default: detected (`wsgi.py`, `app.py`, a package's `app` or `create_app`)].
    #[arg(long, value_name = "MODULE:VARIABLE")]
    pub wsgi_app: Option<String>,
    /// Directories inside a release that outlive it, kept once in `base_path/shared` and linked into each release, comma-separated (empty: none) [default: those of `instance`, `logs`, `uploads` the checkout has].
    #[arg(long, value_name = "DIRS")]
    pub shared_paths: Option<String>,
    /// An Ansible tree that deployed the app before (wptdash's `ansible/`): read as it is and reported (its environments and hosts, the restart and config file its playbook implies); nothing is written.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["host", "production_host", "force"])]
    pub from_ansible: Option<std::path::PathBuf>,
    /// Keep the app's secrets in an encrypted vault, inventory/group_vars/all/vault (ansible-vault's format; a new random `secret_key` in it), with the vault password of `--vault-password-file`/`--ask-vault-pass` (asked for, twice, at a terminal) [default: asked at a terminal].
    #[arg(long, overrides_with = "no_vault")]
    pub vault: bool,
    /// No vault.
    #[arg(long)]
    pub no_vault: bool,
    /// Overwrite inventory files that exist.
    #[arg(long)]
    pub force: bool,
}

/// A command that takes only an environment.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The environment (an inventory file).
    #[arg(add = crate::completion::environments())]
    pub env: String,
}

/// `wptdeploy setup ENV [--check]`
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The environment (an inventory file).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// Show what is missing (each part checked, each file's diff) and change nothing.
    #[arg(long)]
    pub check: bool,
}

/// `wptdeploy releases ENV [--packages SHA]`
#[derive(Debug, Args)]
pub struct ReleasesArgs {
    /// The environment (an inventory file).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// List the set of packages the release SHA (or a prefix of it) recorded, one requirement a line.
    #[arg(long, value_name = "SHA")]
    pub packages: Option<String>,
}

/// `wptdeploy diff A B` (two environments) or `wptdeploy diff ENV SHA1 SHA2`
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first environment.
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// The second environment, or (with a third argument) the first release of ENV.
    pub other: String,
    /// The second release of ENV (then OTHER is the first).
    pub sha: Option<String>,
}

/// `wptdeploy history ENV [-n N] [--host H]`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The environment (an inventory file).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// How many runs to show (0: all).
    #[arg(short = 'n', long = "last", value_name = "N", default_value_t = 20)]
    pub last: usize,
    /// Only this host (a `--limit` pattern).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
}

/// `wptdeploy shell ENV [--host H]`
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The environment (an inventory file).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// Which host, when ENV has several (a `--limit` pattern naming one).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
}

/// `wptdeploy logs ENV [-f] [-n N]`
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The environment (an inventory file).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// Keep printing new lines until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// How many lines from the end of each host's logs.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
    pub lines: usize,
    /// How the output is shown.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `wptdeploy rollback ENV [--to SHA|REF|-N] [--downgrade | --restore BACKUP]`
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The environment (an inventory file).
    #[arg(add = crate::completion::environments())]
    pub env: String,
    /// The release: a SHA (7 characters or more), a ref it was deployed as, or `-N` (the Nth good release before the live one) [default: -1].
    #[arg(long, value_name = "SHA|REF|-N", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// When the database is ahead with changes that release's code cannot run against: downgrade it first, with the live release's migrations (after a backup on production).
    #[arg(long, conflicts_with = "restore")]
    pub downgrade: bool,
    /// Restore this pg_dump (a file in `backup_dir`, or a path on the host) before the switch, in one transaction.
    #[arg(long, value_name = "BACKUP")]
    pub restore: Option<String>,
    /// Show the plan: the release, the database's case, every step (`-v`: its command); change nothing.
    #[arg(long)]
    pub check: bool,
}

/// `wptdeploy unlock ENV`
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Environment whose lock to remove.
    #[arg(add = crate::completion::environments())]
    pub env: String,
}

/// Options every command takes, before or after the command's name
/// (`wptdeploy -i ansible/inventory migration status prod`).
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Extra variables, over everything else: `key=value` (a string, as `ansible-playbook -e` gives), `'{"key": false}'` (typed, JSON or YAML) or `@file.yml`/`@file.json` (typed; may be vault-encrypted).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS", global = true)]
    pub extra_vars: Vec<String>,
    /// Inventory file or directory [default: ./inventory, then ./ansible/inventory].
    #[arg(
        short,
        long,
        value_name = "PATH",
        env = "WPTDEPLOY_INVENTORY",
        global = true
    )]
    pub inventory: Option<PathBuf>,
    /// Only these hosts: names, groups or globs separated by `,`; `!x` excludes, `&x` intersects, `@file` reads a list.
    #[arg(short, long, value_name = "PATTERN", global = true, add = crate::completion::hosts())]
    pub limit: Option<String>,
    /// Directory whose files override the built-in playbooks [default: ./playbooks].
    #[arg(long, value_name = "DIR", env = "WPTDEPLOY_PLAYBOOKS", global = true)]
    pub playbooks: Option<PathBuf>,
    /// Log in as this user (over `ansible_user`).
    #[arg(short, long, value_name = "NAME", global = true)]
    pub user: Option<String>,
    /// Ask once for the sudo password used for `become`.
    #[arg(short = 'K', long, global = true)]
    pub ask_become_pass: bool,
    /// Read the sudo password from this file (for CI).
    #[arg(long, value_name = "FILE", global = true)]
    pub become_password_file: Option<PathBuf>,
    /// The ansible-vault password, from this file (run, if executable, and its output used). Repeatable.
    #[arg(
        long,
        value_name = "FILE",
        env = "ANSIBLE_VAULT_PASSWORD_FILE",
        global = true
    )]
    pub vault_password_file: Vec<PathBuf>,
    /// Ask for the ansible-vault password on the terminal.
    #[arg(long, alias = "ask-vault-password", global = true)]
    pub ask_vault_pass: bool,
    /// An ansible-vault password with its label: `label@FILE`, `label@prompt`, or `FILE`. Repeatable.
    #[arg(long, value_name = "LABEL@SOURCE", global = true)]
    pub vault_id: Vec<String>,
    /// known_hosts file to check host keys against [default: ~/.ssh/known_hosts].
    #[arg(
        long,
        value_name = "FILE",
        env = "WPTDEPLOY_KNOWN_HOSTS",
        global = true
    )]
    pub known_hosts: Option<PathBuf>,
    /// Record the keys of hosts not yet in known_hosts (changed keys are still refused).
    #[arg(long, global = true)]
    pub accept_new_host_keys: bool,
    /// How to reach hosts whose inventory does not say (`ansible_connection`): `russh` (built in, fastest) or `openssh` (the system ssh: all of ~/.ssh/config).
    #[arg(
        long,
        default_value = "russh",
        value_name = "NAME",
        env = "WPTDEPLOY_TRANSPORT",
        global = true
    )]
    pub transport: crate::transport::TransportKind,
    /// Give up connecting to a host after this long.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = some_time, global = true)]
    pub connect_timeout: Duration,
    /// Do not ask: confirms production changes and lock removal on the command line.
    #[arg(short, long, global = true)]
    pub yes: bool,
    /// Show every line of remote output.
    #[arg(short, long, conflicts_with = "quiet", global = true)]
    pub verbose: bool,
    /// Show only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Plain lines instead of progress spinners.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Colour on stderr: `auto` (a terminal, unless `NO_COLOR` is set; `CLICOLOR_FORCE` forces it), `always` or `never`.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "WHEN",
        global = true
    )]
    pub color: crate::report::style::ColorWhen,
    /// `json`: one event per line on stdout, for CI.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    pub output: OutputFormat,
}

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// JSON lines on stdout.
    Json,
}
