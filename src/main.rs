//! The `wptdeploy` command.

fn main() {
    let cli = wptdeploy::cli::Cli::parse_args();
    std::process::exit(wptdeploy::commands::run(cli));
}
