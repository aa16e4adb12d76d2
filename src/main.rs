//! The `wptdeploy` command.

fn main() {
    // `COMPLETE=bash wptdeploy -- WORDS`: the shell asks what completes.
    clap_complete::CompleteEnv::with_factory(wptdeploy::commands::clap_command).complete();
    let cli = wptdeploy::commands::Cli::parse_args();
    std::process::exit(wptdeploy::commands::run(cli));
}
