//! `wptdeploy completions SHELL`: the script that has SHELL ask wptdeploy
//! what completes as the person types (clap_complete's dynamic
//! completion, [`crate::completion`]): commands and options, and the
//! environments, branches and hosts of the project where it is typed.

use clap_complete::Shell;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};

use super::Context;
use crate::cli::CompletionsArgs;
use crate::error::Error;

/// Prints the script on stdout (a closed pipe, as in `| head`, ends it quietly).
pub async fn run(args: CompletionsArgs, _cx: &mut Context<'_>) -> Result<(), Error> {
    let shell: &dyn EnvCompleter = match args.shell {
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Elvish => &Elvish,
        Shell::PowerShell => &Powershell,
        _ => &Bash,
    };
    let mut script = Vec::new();
    // The script calls `wptdeploy` (on PATH) with COMPLETE set.
    shell.write_registration("COMPLETE", "wptdeploy", "wptdeploy", "wptdeploy", &mut script)?;
    if args.shell == Shell::Zsh {
        // Installed as `_wptdeploy` on zsh's fpath (as the release archive
        // does), compinit autoloads the file at the first Tab: completing
        // then, and not only from the second Tab on.
        script.extend_from_slice(
            b"if [ \"${funcstack[1]}\" = \"_wptdeploy\" ]; then\n    _clap_dynamic_completer_wptdeploy \"$@\"\nfi\n",
        );
    }
    crate::printer::data(String::from_utf8_lossy(&script).lines().map(str::to_owned));
    Ok(())
}
