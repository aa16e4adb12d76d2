//! `wptdeploy verify ENV --table T [--expect C]... [--from-migration FILE]`:
//! the columns of tables as the database has them (the checklist's step 8).

use super::Context;
use super::session::Session;
use super::vars::{self, VerifyVars};
use crate::cli::VerifyArgs;
use crate::error::CommandError;
use crate::error::Error;

/// Shows the columns, failing when an expectation does not hold.
pub async fn run(args: VerifyArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let checked = tables_and_expectations(&args)?;
    let mut extra = cx.extra_vars();
    vars::set(&mut extra, &checked);
    let session = Session {
        name: "verify",
        env: args.env,
        playbook: "verify.yml".into(),
        extra,
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}

/// The tables to read and what they must hold, from the options (and the
/// migration file), checked before anything is contacted.
fn tables_and_expectations(args: &VerifyArgs) -> Result<VerifyVars, Error> {
    let mut tables = args.tables.clone();
    let mut expects: Vec<String> = Vec::new();
    if let Some(path) = &args.from_migration {
        let file = crate::migrations::file::parse(&fs_err::read_to_string(path)?);
        if file.upgrade.is_empty() {
            return Err(CommandError::NoSchemaOperations(path.clone()).into());
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
            return Err(CommandError::ExpectWithoutTable {
                item: item.clone(),
                column: bare.to_owned(),
            }
            .into());
        }
    }
    if tables.is_empty() {
        return Err(CommandError::NoTable.into());
    }
    if let Some(bad) = tables.iter().chain(&expects).find(|t| t.contains(',')) {
        return Err(CommandError::Comma(bad.clone()).into());
    }
    Ok(VerifyVars {
        verify_tables: tables.join(","),
        verify_expect: expects.join(","),
    })
}
