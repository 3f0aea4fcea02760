//! `Limits`: what one server lets its clients hold and fill — connections, timeouts, uploads in
//! progress, object size, free disk space — and how it reports (metrics, log format).

use std::net::SocketAddr;
use std::time::Duration;

/// What one server lets its clients hold and fill (README, "Running it in production").
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// A request body that sends no byte for this long is cut: the connection is closed and a
    /// part's staged bytes discarded.
    #[arg(long, env = "PARTUP_BODY_IDLE_TIMEOUT", default_value = "30s", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub body_idle_timeout: Duration,

    /// How long a client may take to send a request's headers; then the connection is closed.
    #[arg(long, env = "PARTUP_HEADER_TIMEOUT", default_value = "10s", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// Open connections served at once; more wait in the kernel's accept queue. The soft limit on
    /// open files is raised at start to fit it.
    #[arg(
        long,
        env = "PARTUP_MAX_CONNECTIONS",
        default_value_t = 4096,
        value_name = "N"
    )]
    pub max_connections: usize,

    /// On SIGTERM or Ctrl-C, how long requests in flight and completes may still run before the
    /// server exits anyway (a stalled body never holds it up for longer).
    #[arg(long, env = "PARTUP_SHUTDOWN_TIMEOUT", default_value = "30s", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Largest object an upload may complete into (bytes, or with a unit: `50GiB`); checked at
    /// uploadInit when the client says the size, while parts arrive, and at uploadComplete.
    #[arg(long, env = "PARTUP_MAX_OBJECT_SIZE", default_value = "5TiB", value_name = "SIZE",
          value_parser = parse_size)]
    pub max_object_size: u64,

    /// Uploads in progress on this server (or, over S3, seen by this instance) at once; more
    /// uploadInits are refused with 429 TooManyUploads.
    #[arg(
        long,
        env = "PARTUP_MAX_UPLOADS",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub max_uploads: usize,

    /// Uploads in progress per client: per token `sub`, or per client address without tokens.
    #[arg(
        long,
        env = "PARTUP_MAX_UPLOADS_PER_CLIENT",
        default_value_t = 100,
        value_name = "N"
    )]
    pub max_uploads_per_client: usize,

    /// Free space `--data` must keep (bytes with an optional unit, or a percentage of the disk,
    /// e.g. `2GiB` or `5%`): below it, inits, parts and completes are refused with 507
    /// InsufficientStorage before anything is written.
    #[arg(long, env = "PARTUP_MIN_FREE_SPACE", default_value = "1%", value_name = "SIZE|PERCENT",
          value_parser = parse_free_space)]
    pub min_free_space: FreeSpace,

    /// Serve Prometheus metrics at http://ADDR/metrics (off by default; keep it off the API's
    /// address and away from the internet).
    #[arg(long, env = "PARTUP_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log lines as `text` (the default) or `json` (one object per line, for log collectors).
    #[arg(
        long,
        env = "PARTUP_LOG_FORMAT",
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Free space to keep on `--data`'s filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FreeSpace {
    Bytes(u64),
    /// A percentage (0–100) of the filesystem's size.
    Percent(f64),
}

impl FreeSpace {
    /// Bytes to keep free on a filesystem of `total` bytes.
    pub fn bytes_of(self, total: u64) -> u64 {
        match self {
            FreeSpace::Bytes(bytes) => bytes,
            FreeSpace::Percent(percent) => (total as f64 * percent / 100.0).ceil() as u64,
        }
    }
}

/// `1048576`, `64MiB`, `2 GB`, `5TiB`.
fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|_| {
            format!(
                "'{text}' is not a size; write bytes, or a number with a unit like 64MiB or 2GB"
            )
        })
}

fn parse_free_space(text: &str) -> Result<FreeSpace, String> {
    match text.trim().strip_suffix('%') {
        Some(number) => match number.trim().parse::<f64>() {
            Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(FreeSpace::Percent(percent)),
            _ => Err(format!("'{text}' is not a percentage from 0% to 100%")),
        },
        None => parse_size(text).map(FreeSpace::Bytes),
    }
}

impl Limits {
    /// Timeouts and caps that would refuse everything.
    pub(super) fn validate(&self) -> Result<(), String> {
        let limits = self;
        for (flag, duration) in [
            ("--body-idle-timeout", limits.body_idle_timeout),
            ("--header-timeout", limits.header_timeout),
        ] {
            if duration.is_zero() {
                return Err(format!("{flag} must be longer than 0"));
            }
        }
        for (flag, count) in [
            ("--max-connections", limits.max_connections),
            ("--max-uploads", limits.max_uploads),
            ("--max-uploads-per-client", limits.max_uploads_per_client),
        ] {
            if count == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if limits.max_object_size == 0 {
            return Err("--max-object-size must be at least 1 byte".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_bytes_or_with_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("5TiB"), Ok(5 << 40));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn free_space_is_bytes_or_a_percentage_of_the_disk() {
        assert_eq!(parse_free_space("2GiB"), Ok(FreeSpace::Bytes(2 << 30)));
        assert_eq!(parse_free_space("5%").map(|f| f.bytes_of(1000)), Ok(50));
        assert!(parse_free_space("101%").is_err());
        assert!(parse_free_space("-1%").is_err());
    }
}
