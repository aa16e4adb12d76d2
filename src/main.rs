//! The `wptdeploy` command.

fn main() {
    let cli = wptdeploy::commands::Cli::parse_args();
    std::process::exit(wptdeploy::commands::run(cli));
}
