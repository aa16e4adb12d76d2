//! `wptdeploy migration new|test|status|lint`: generate a migration on a
//! staging host and pull it here; put an edited one back and test it; show
//! the database's revision against the live release; lint the SQL that
//! would run (on a host, or SQL files here).

use std::path::{Path, PathBuf};

use super::Context;
use super::session::Session;
use super::vars::{self, GenerateVars, LintVars, TestVars};
use crate::cli::{
    MigrationArgs, MigrationCommand,
    GenerateArgs, MigrationLintArgs, MigrationNewArgs, MigrationStatusArgs, MigrationTestArgs,
};
use crate::error::CommandError;
use crate::error::Error;
use crate::migrations::file::MigrationFile;
use crate::transport::quote;

/// `wptdeploy migration ...`: one of its commands.
pub async fn run(args: MigrationArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    match args.command {
        MigrationCommand::New(args) => new(args, cx).await,
        MigrationCommand::Test(args) => test(args, cx).await,
        MigrationCommand::Status(args) => status(args, cx).await,
        MigrationCommand::Lint(args) => lint(args, cx).await,
    }
}

/// `migration status ENV`.
pub async fn status(args: MigrationStatusArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let extra = cx.extra_vars();
    let session = Session {
        name: "migration status",
        title: "{name} of {env}",
        env: args.env,
        playbook: "migration-status.yml".into(),
        extra,
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}

/// `migration lint [ENV] [FILE.py...] [FILE.sql...]`: the SQL files here
/// first (nothing is contacted if a file cannot be read), then the
/// environment's hosts: their live release's pending migrations, or the
/// migration files given, rendered there against the live release.
pub async fn lint(args: MigrationLintArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    use crate::migrations::lint::{self, LintSettings};
    let extension = |t: &String| {
        Path::new(t)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_owned)
    };
    let (files, rest): (Vec<&String>, Vec<&String>) = args
        .targets
        .iter()
        .partition(|t| extension(t).as_deref() == Some("sql"));
    let (migrations, envs): (Vec<&String>, Vec<&String>) = rest
        .into_iter()
        .partition(|t| extension(t).as_deref() == Some("py"));
    if let [_, second, ..] = envs.as_slice() {
        return Err(CommandError::LintTargets((*second).clone()).into());
    }
    if let (Some(file), None) = (migrations.first(), envs.first()) {
        return Err(CommandError::LintNeedsHost(PathBuf::from(file)).into());
    }
    let lint_files = migrations
        .iter()
        .map(|f| lint_file(Path::new(f)))
        .collect::<Result<Vec<_>, Error>>()?;
    // The SQL is what wptdeploy would run: it sets the timeouts itself.
    let settings = LintSettings {
        server_version: args.server_version.clone(),
        allow: args.allow.clone(),
        timeouts_set: true,
        ..LintSettings::default()
    };
    let mut findings = Vec::new();
    for file in &files {
        let sql = fs_err::read_to_string(file)?;
        findings.extend(lint::lint_sql_file(file, &sql, &settings));
    }
    let blocking = findings.iter().filter(|f| f.blocks()).count();
    if cx.settings.json {
        crate::printer::data([
            serde_json::json!({ "event": "table", "data": { "lint": findings } }).to_string(),
        ]);
    } else {
        for finding in &findings {
            crate::printer::data(
                std::iter::once(finding.headline())
                    .chain(finding.details().into_iter().map(|d| format!("    {d}"))),
            );
        }
    }
    let mut places: Vec<String> = files.iter().map(|f| (*f).clone()).collect();
    let mut blocking = blocking;
    if let Some(env) = envs.first() {
        let mut extra = cx.extra_vars();
        vars::set(
            &mut extra,
            &LintVars {
                migration_allow: args.allow.join(","),
                lint_server_version: args.server_version.clone().unwrap_or_default(),
                lint_files,
            },
        );
        let session = Session {
            name: "migration lint",
            title: "{name} of {env}",
            env: (*env).clone(),
            playbook: "migration-lint.yml".into(),
            extra,
            ..Session::default()
        };
        let summaries = session.execute(cx).await?;
        for summary in &summaries {
            let found = summary
                .data
                .iter()
                .filter_map(|d| d.get("lint").cloned())
                .filter_map(|l| serde_json::from_value::<Vec<lint::Finding>>(l).ok())
                .flatten()
                .filter(lint::Finding::blocks)
                .count();
            if found > 0 {
                blocking += found;
                places.push(format!("{env} ({})", summary.host));
            }
        }
    }
    if blocking > 0 {
        return Err(Error::Failed {
            message: format!(
                "{blocking} finding(s) in {} that can hurt the live database",
                places.join(", ")
            ),
            hints: vec![
                "rewrite the migration as `safe:` says, or allow a rule with `--allow RULE`".into(),
            ],
            exit_code: None,
        });
    }
    Ok(())
}

/// A migration file here: its name, its text and what it says, or
/// `NotAMigration` for a file that is not `NAME.py` with a `revision`.
fn read_migration(path: &Path) -> Result<(String, String, MigrationFile), Error> {
    let text = fs_err::read_to_string(path)?;
    let parsed = crate::migrations::file::parse(&text);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if parsed.revision.is_none() || !name.ends_with(".py") {
        return Err(CommandError::NotAMigration(path.to_owned()).into());
    }
    Ok((name, text, parsed))
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// A migration file as `sql_lint:` takes it: `NAME:PARENT:REVISION:BASE64`.
fn lint_file(path: &Path) -> Result<String, Error> {
    let (name, text, parsed) = read_migration(path)?;
    let plain = |s: &str| s.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
    match parsed.revision {
        Some(revision) if plain(&name) && plain(&revision) => Ok(format!(
            "{name}:{}:{revision}:{}",
            parsed.down_revision.unwrap_or_default(),
            base64(&text)
        )),
        _ => Err(CommandError::NotAMigration(path.to_owned()).into()),
    }
}

/// `migration new ENV --commit BRANCH -m MESSAGE`.
pub async fn new(args: MigrationNewArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let generate = generate_vars(&args.commit, &args.message, &args.generate)?;
    let into = PathBuf::from(&generate.migration_into);
    let mut extra = cx.extra_vars();
    vars::set(&mut extra, &generate);
    let before = listing(&into)?;
    let session = Session {
        name: "migration new",
        failed: "migration new on",
        deploys: true,
        checks_ref: true,
        lock_command: Some(format!(
            "wptdeploy migration new {} --commit {}",
            args.env, args.commit
        )),
        env: args.env.clone(),
        playbook: "migration-new.yml".into(),
        extra,
        changes: true,
        one_host: true,
        ..Session::default()
    };
    session.execute(cx).await?;
    let pulled: Vec<_> = listing(&into)?
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    crate::printer::note(
        cx.settings,
        &match pulled.first() {
            None => "\nno migration was generated (no changes in schema detected), so nothing was pulled".to_owned(),
            Some(file) => format!(
                "\nnext: review {file} (autogenerate misses renames, constraints and enum changes),\n  \
                 `git add {quoted}` and commit it with the model change, open a PR,\n  \
                 and once it is merged: `wptdeploy prod --migrate`",
                file = file.display(),
                quoted = quote(&file.display().to_string())
            ),
        },
    );
    Ok(())
}

/// `migration test ENV FILE`.
pub async fn test(args: MigrationTestArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let (name, text, parsed) = read_migration(&args.file)?;
    let mut extra = cx.extra_vars();
    vars::set(
        &mut extra,
        &TestVars {
            pulled: parsed
                .description(&name)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            migration_text_b64: base64(&text),
            roundtrip: args.roundtrip,
        },
    );
    let session = Session {
        name: "migration test",
        failed: "migration test on",
        lock_command: Some(format!("wptdeploy migration test {}", args.env)),
        env: args.env,
        playbook: "migration-test.yml".into(),
        extra,
        changes: true,
        one_host: true,
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}

/// What generating a migration needs (`migration new`, `checklist`), its
/// arguments checked before anything is contacted.
pub(super) fn generate_vars(
    commit: &str,
    message: &str,
    generate: &GenerateArgs,
) -> Result<GenerateVars, Error> {
    crate::plan::check_ref(commit)?;
    if let Some(rev) = &generate.rev_id
        && (rev.is_empty() || !rev.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(CommandError::NotARevisionId(rev.clone()).into());
    }
    let into = generate
        .into
        .clone()
        .unwrap_or_else(|| "migrations/versions".into());
    if !into.is_dir() {
        return Err(CommandError::NotADirectory(into).into());
    }
    Ok(GenerateVars {
        commit: commit.to_owned(),
        migrate: true,
        migration_message: message.to_owned(),
        migration_rev_id: generate.rev_id.clone().unwrap_or_default(),
        migration_into: fs_err::canonicalize(&into)?.display().to_string(),
        roundtrip: generate.roundtrip,
        allow_destructive: generate.allow_destructive,
        compat_check: true,
    })
}

/// The files in `dir`.
fn listing(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(fs_err::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect())
}
