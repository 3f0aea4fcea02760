//! The `partup-server` binary: parse the config, set up logging (text or JSON lines), bind
//! `--listen`, say where it listens, and run the library's server until Ctrl-C or SIGTERM; or, as
//! `partup-server token`, print an upload token.

use std::process::ExitCode;
use std::time::Duration;

use partup_server::auth::mint::mint;
use partup_server::config::{Command, Config, LogFormat};

/// How long the runtime, once the server has stopped, waits for blocking file work still running
/// (an assembly cut by the shutdown timeout): the files it leaves are debris in `tmp/`, like after
/// a crash, emptied at the next start.
const BLOCKING_WORK_GRACE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the async runtime: {e}"), 1),
    };
    let code = runtime.block_on(serve());
    // Not `drop`: it would wait for every blocking task however long, past --shutdown-timeout.
    runtime.shutdown_timeout(BLOCKING_WORK_GRACE);
    code
}

async fn serve() -> ExitCode {
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
    init_logging(config.limits.log_format);
    let listener = match partup_server::http::serve::bind(config.listen) {
        Ok(listener) => listener,
        Err(e) => return fail(format!("cannot listen on {}: {e}", config.listen), 1),
    };
    match partup_server::run(listener, config, partup_server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => fail(problem.to_string(), problem.exit_code()),
    }
}

/// Log lines on stdout, filtered by `RUST_LOG` (default `info`): text, or one JSON object per
/// line whose `span` holds the request's `request_id`, method and path.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn fail(problem: String, code: u8) -> ExitCode {
    eprintln!("partup-server: {problem}");
    ExitCode::from(code)
}
