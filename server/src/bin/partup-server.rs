//! The `partup-server` binary: parse the config, set up logging, bind `--listen`, say where it
//! listens, and run the library's server until Ctrl-C or SIGTERM; or, as `partup-server token`,
//! print an upload token.

use std::process::ExitCode;

use partup_server::auth::mint::mint;
use partup_server::config::{Command, Config};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::from_args_or_exit();
    if let Some(Command::Token(args)) = &config.command {
        return match mint(config.auth_secret_file.as_deref(), args) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(problem) => {
                eprintln!("partup-server: {problem}");
                ExitCode::from(2)
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let listener = match TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => return fail(format!("cannot listen on {}: {e}", config.listen)),
    };
    // With port 0 the system picks the port: this line, whatever RUST_LOG says, is how tests and
    // scripts learn it (the bound address, never a port picked beforehand that another process
    // could take first).
    match listener.local_addr() {
        Ok(address) => {
            println!("partup-server listening on http://{address}/");
            if !config.auth_enabled() && !address.ip().is_loopback() {
                eprintln!(
                    "partup-server: warning: --allow-anonymous: no upload tokens on {address}; anyone who can reach it may upload, replace and read every object"
                );
            }
        }
        Err(e) => return fail(format!("cannot read the listening address: {e}")),
    }
    match partup_server::run(listener, config, partup_server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => fail(problem),
    }
}

fn fail(problem: String) -> ExitCode {
    eprintln!("partup-server: {problem}");
    ExitCode::FAILURE
}
