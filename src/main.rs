//! The `wptdeploy` command.

use clap::Parser as _;

fn main() {
    let cli = wptdeploy::cli::Cli::parse();
    std::process::exit(wptdeploy::run::run(cli));
}
