//! `wptdeploy man`: the man page, in roff, from clap's own description of
//! the command line (clap_mangen).

use super::Context;
use crate::cli::ManArgs;
use crate::error::Error;

/// Prints the page on stdout (a closed pipe, as in `| head`, ends it quietly).
pub async fn run(_args: ManArgs, _cx: &mut Context<'_>) -> Result<(), Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(super::clap_command()).render(&mut page)?;
    crate::printer::data(String::from_utf8_lossy(&page).lines().map(str::to_owned));
    Ok(())
}
