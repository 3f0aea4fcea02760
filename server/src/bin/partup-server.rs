//! The `partup-server` binary: parse the config, set up logging, run until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use partup_server::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::from_args_or_exit();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match partup_server::run(config, partup_server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("partup-server: {problem}");
            ExitCode::FAILURE
        }
    }
}
