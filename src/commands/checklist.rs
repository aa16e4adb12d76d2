//! `wptdeploy checklist ENV --commit BRANCH`: checklist.yml, every step
//! asked, the migration generated, edited here, tested and committed.

use super::Context;
use super::migration::generate_vars;
use super::session::{Asking, Session};
use super::vars::{self, ChecklistVars};
use crate::cli::ChecklistArgs;
use crate::error::Error;

/// Walks the checklist.
pub async fn run(args: ChecklistArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let commit = args.commit.clone().unwrap_or_default();
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| message_from_branch(&commit));
    let mut extra = cx.extra_vars();
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|e| !e.trim().is_empty())
        .filter(|_| !extra.values.contains_key("editor"));
    let checklist = ChecklistVars {
        generate: if args.list_steps {
            None
        } else {
            Some(generate_vars(&commit, &message, &args.generate)?)
        },
        wptdeploy_command: cx.settings.rerun.clone(),
        editor,
    };
    vars::set(&mut extra, &checklist);
    let session = Session {
        name: "checklist",
        failed: "checklist on",
        title: "the migration checklist for {commit} on {env}",
        deploys: true,
        checks_ref: true,
        lock_command: Some(format!(
            "wptdeploy checklist {} --commit {commit}",
            args.env
        )),
        env: args.env,
        playbook: "checklist.yml".into(),
        extra,
        asking: Asking::Checklist,
        changes: true,
        one_host: true,
        start_at: args.start_at,
        list_steps: args.list_steps,
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}

/// `feature/comment-url` → `comment url`: a migration message when none is given.
fn message_from_branch(branch: &str) -> String {
    branch
        .rsplit('/')
        .next()
        .unwrap_or(branch)
        .replace(['-', '_'], " ")
}
