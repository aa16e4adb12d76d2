//! One file per command: each turns its validated arguments into a
//! [`session::Session`] (a plan) that the one engine runs. This file
//! dispatches and holds what every command shares: the vault, the sudo
//! password, the redactor that masks secrets in the final error.

mod checklist;
mod deploy;
pub mod error;
mod exec;
mod init;
mod lock;
mod migration;
mod releases;
mod rollback;
mod session;
mod state;
pub mod vars;
mod verify;

use crate::cli::{Cli, Command, MigrationCommand};
use crate::error::Error;
use crate::inventory::Sourced;
use crate::report::Redactor;
use crate::settings::{BecomePassword, Settings};
use error::CommandError;

/// What every command works with.
pub struct Context<'a> {
    /// The validated options.
    pub settings: &'a Settings,
    /// Masks the secrets known so far (all of them once a plan is loaded).
    pub redactor: Redactor,
    /// Each host's connection, kept between the command's plays.
    pub connections: std::sync::Arc<crate::engine::Connections>,
    /// Who was told this run started changing an environment, to be told how it ended.
    pub notifier: Option<crate::notify::Notifier>,
}

/// Runs the command and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let started = std::time::Instant::now();
    let json = cli.common.output == crate::cli::OutputFormat::Json;
    let command = cli.command_name();
    if json {
        crate::printer::json(&crate::report::run::run_started(&command));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut redactor = Redactor::default();
    let mut notifier = None;
    let result = runtime.block_on(async {
        let settings = Settings::from_args(&cli.common)?;
        let mut cx = Context {
            settings: &settings,
            redactor: Redactor::default(),
            connections: std::sync::Arc::default(),
            notifier: None,
        };
        let result = match cli.command {
            Some(Command::Deploy(args)) => deploy::run(args, &mut cx).await,
            Some(Command::Completions { shell }) => {
                let mut script = Vec::new();
                clap_complete::generate(
                    shell,
                    &mut crate::cli::command(),
                    "wptdeploy",
                    &mut script,
                );
                print_generated(&script);
                Ok(())
            }
            Some(Command::Init(args)) => init::run(&args, &cx),
            Some(Command::Man) => {
                let mut page = Vec::new();
                clap_mangen::Man::new(crate::cli::command()).render(&mut page)?;
                print_generated(&page);
                Ok(())
            }
            Some(Command::Unlock(args)) => lock::unlock(args, &mut cx).await,
            Some(Command::Lock(args)) => lock::hold_or_status(args, &mut cx).await,
            Some(Command::Exec(args)) => exec::run(args, &mut cx).await,
            Some(Command::Status(args)) => releases::status(args, &mut cx).await,
            Some(Command::Releases(args)) => releases::releases(args, &mut cx).await,
            Some(Command::History(args)) => releases::history(args, &mut cx).await,
            Some(Command::Rollback(args)) => rollback::run(args, &mut cx).await,
            Some(Command::Logs(args)) => exec::logs(args, &mut cx).await,
            Some(Command::Shell(args)) => exec::shell(args, &mut cx).await,
            Some(Command::Verify(args)) => verify::run(args, &mut cx).await,
            Some(Command::Checklist(args)) => checklist::run(args, &mut cx).await,
            Some(Command::Migration { command }) => match command {
                MigrationCommand::New(args) => migration::new(args, &mut cx).await,
                MigrationCommand::Test(args) => migration::test(args, &mut cx).await,
                MigrationCommand::Status(args) => migration::status(args, &mut cx).await,
                MigrationCommand::Lint(args) => migration::lint(args, &mut cx).await,
            },
            None => deploy::run(cli.deploy, &mut cx).await,
        };
        redactor = cx.redactor;
        notifier = cx.notifier;
        cx.connections.close_all().await;
        result
    });
    let (code, error, hints) = match &result {
        Ok(()) => (0, None, Vec::new()),
        Err(error) => {
            let message = redactor.apply(&error.to_string());
            let hints: Vec<String> = error.hints().iter().map(|h| redactor.apply(h)).collect();
            crate::printer::error(&message, &hints);
            (error.exit_code(), Some(message), hints)
        }
    };
    let ending = crate::report::run::Ending {
        exit_code: code,
        ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
        hints,
    };
    if let Some(notifier) = notifier {
        let hosts = crate::report::run::finished();
        for warning in runtime.block_on(notifier.finished(&ending, &hosts)) {
            crate::printer::warning(json, &redactor.apply(&warning));
        }
    }
    // Everything the run does is awaited above; what may still be blocked
    // is a read of this terminal (`shell`'s), which must not keep the
    // process alive until a key is pressed.
    runtime.shutdown_background();
    if json {
        crate::printer::json(&crate::report::run::run_finished(&ending));
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        crate::printer::github_actions(&command, &ending);
    }
    code
}

/// A generated completion script or man page, on stdout (a closed pipe,
/// as in `| head`, ends it quietly).
fn print_generated(text: &[u8]) {
    crate::printer::data(String::from_utf8_lossy(text).lines().map(str::to_owned));
}

impl Context<'_> {
    /// `-e`: the variables a command starts from, its own set over them.
    fn extra_vars(&self) -> Sourced {
        self.settings.extra.clone()
    }

    /// The sudo password for `become`: given, or asked once on the terminal (`-K`).
    fn become_password(&self) -> Result<Option<String>, Error> {
        match &self.settings.become_password {
            BecomePassword::None => Ok(None),
            BecomePassword::Given(password) => Ok(Some(password.clone())),
            BecomePassword::Ask => dialoguer::Password::new()
                .with_prompt("sudo password for become")
                .interact()
                .map(Some)
                .map_err(|e| {
                    CommandError::Unreadable {
                        what: "password",
                        error: e.to_string(),
                    }
                    .into()
                }),
        }
    }
}
