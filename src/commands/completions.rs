//! `wptdeploy completions SHELL`: the completion script for SHELL, from
//! clap's own description of the command line (clap_complete).

use super::Context;
use crate::cli::CompletionsArgs;
use crate::error::Error;

/// Prints the script on stdout (a closed pipe, as in `| head`, ends it quietly).
pub async fn run(args: CompletionsArgs, _cx: &mut Context<'_>) -> Result<(), Error> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut super::clap_command(),
        "wptdeploy",
        &mut script,
    );
    crate::printer::data(String::from_utf8_lossy(&script).lines().map(str::to_owned));
    Ok(())
}
