//! `wptdeploy setup ENV [--check]`: brings each host of ENV to what
//! `wptdeploy ENV` needs (packages, the app user, `base_path` and the
//! shared paths, PostgreSQL's role and database, the app server's files,
//! nginx's site) with `setup.yml`, as root through `become`. Every part
//! checks before it changes (docs/setup.md).

use super::Context;
use super::session::Session;
use crate::cli::SetupArgs;
use crate::error::Error;

/// Sets the hosts up.
pub async fn run(args: SetupArgs, cx: &mut Context<'_>) -> Result<(), Error> {
    let session = Session {
        name: "setup",
        failed: "setup of",
        title: "setting up {env} for its deploys",
        env: args.env,
        playbook: "setup.yml".into(),
        extra: cx.extra_vars(),
        check: args.check,
        changes: true,
        ..Session::default()
    };
    session.execute(cx).await.map(drop)
}
