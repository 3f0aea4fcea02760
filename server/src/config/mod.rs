//! The server's one `Config`: parsed from flags and `PARTUP_*` environment variables, validated once
//! at start. A bad value is a one-line error and exit code 2 before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use clap::builder::ArgPredicate;

use crate::auth::mint::TokenArgs;

/// S3's smallest part but the last (`EntityTooSmall` at CompleteMultipartUpload): direct parts
/// are the store's own, so its rule holds.
pub const S3_MIN_PART_SIZE: u64 = 5 << 20;

mod limits;
pub use limits::{FreeSpace, Limits, LogFormat};

/// Where uploads and objects are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// The local filesystem under `--data`.
    Fs,
    /// An S3-compatible object store (`--s3-*`); several instances can share one bucket.
    S3,
}

/// Who may read objects (`GET`/`HEAD /v1/objects/…`) on a server with upload tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadMode {
    /// A token whose `read` scope covers the key, by `Authorization: Bearer` or `?token=`.
    Token,
    /// Anyone who can reach the server.
    Public,
}

/// What the binary does besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print an upload token signed with --auth-secret-file (or --auth-private-key), for scripts
    /// and tests; an application mints its own in its backend.
    Token(TokenArgs),
}

/// Bytes a multipart form may add around a part's `content` (SPEC.md §2).
pub const FORM_OVERHEAD_BYTES: u64 = 64 << 10;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "partup-server",
    version,
    about = "partup: resumable, verified multipart uploads over HTTP (SPEC.md), stored on the local disk or in an S3-compatible store.",
    long_about = None
)]
pub struct Config {
    /// Address and port to listen on; port 0 picks a free port. Once bound, the address is printed
    /// on stdout as `partup-server listening on http://ADDR/`.
    #[arg(
        long,
        env = "PARTUP_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,

    /// Directory holding uploads in progress and completed objects (created if missing).
    #[arg(
        long,
        env = "PARTUP_DATA",
        default_value = "./data",
        value_name = "DIR"
    )]
    pub data: PathBuf,

    /// Directory of the demo page served at `/`.
    #[arg(long, env = "PARTUP_WWW", default_value = "./www", value_name = "DIR")]
    pub www: PathBuf,

    /// A web origin allowed to call the API from a browser (repeatable; `*` allows any).
    /// Without one, only pages served by this server itself can call it.
    #[arg(long = "cors-origin", env = "PARTUP_CORS_ORIGIN", value_name = "ORIGIN", value_delimiter = ',',
          value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// Largest part accepted, in bytes; bigger parts are refused with EntityTooLarge (413).
    #[arg(
        long,
        env = "PARTUP_MAX_PART_SIZE",
        default_value_t = 104_857_600,
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    pub max_part_size: u64,

    /// Smallest size, in bytes, of every part but the last, checked at uploadComplete (5 MiB,
    /// S3's own minimum, with `--direct-parts`).
    #[arg(
        long,
        env = "PARTUP_MIN_PART_SIZE",
        default_value_t = 102_400,
        default_value_if("direct_parts", ArgPredicate::Equals("true".into()), Some("5242880")),
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    pub min_part_size: u64,

    /// How parts are hashed: `auto` (the fastest this CPU has: `avx512`, else `avx2`, else
    /// `scalar`), or one of those three, refused at start when the CPU lacks it (tests and
    /// benchmarks force each).
    #[arg(
        long,
        env = "PARTUP_MD5_PATH",
        default_value = "auto",
        value_name = "PATH"
    )]
    pub md5_path: String,

    /// Threads of the MD5 engine, which hash the parts arriving together in SIMD lanes; 0: one per
    /// 8 cores. Unused with `--md5-path scalar` (each part is hashed on its own task).
    #[arg(
        long,
        env = "PARTUP_MD5_THREADS",
        default_value_t = 0,
        value_name = "N"
    )]
    pub md5_threads: usize,

    /// Storage backend: `fs` (local disk, the default) or `s3` (S3-compatible object store; credentials
    /// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    #[arg(
        long,
        env = "PARTUP_STORE",
        value_enum,
        default_value = "fs",
        value_name = "KIND"
    )]
    pub store: StoreKind,

    /// S3 endpoint URL, e.g. http://127.0.0.1:3900 (default: AWS for the region).
    #[arg(long, env = "PARTUP_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// S3 bucket (required with `--store s3`).
    #[arg(long, env = "PARTUP_S3_BUCKET", value_name = "BUCKET")]
    pub s3_bucket: Option<String>,

    /// S3 region.
    #[arg(
        long,
        env = "PARTUP_S3_REGION",
        default_value = "us-east-1",
        value_name = "REGION"
    )]
    pub s3_region: String,

    /// Key prefix inside the bucket, so several deployments can share one bucket.
    #[arg(
        long,
        env = "PARTUP_S3_PREFIX",
        default_value = "",
        value_name = "PREFIX"
    )]
    pub s3_prefix: String,

    /// Address buckets as https://BUCKET.host/ instead of https://host/BUCKET/ (path style, the default,
    /// which MinIO, Garage and Ceph expect).
    #[arg(long, env = "PARTUP_S3_VIRTUAL_HOST_STYLE")]
    pub s3_virtual_host_style: bool,

    /// Parts go from clients straight into the bucket, in requests partup signs (SPEC.md §6;
    /// `--store s3` only; the bucket's CORS must allow the page's origin). Raises the default
    /// `--min-part-size` to S3's own 5 MiB.
    #[arg(long, env = "PARTUP_DIRECT_PARTS")]
    pub direct_parts: bool,

    /// The store's URL as clients reach it, which signed part requests name (default:
    /// `--s3-endpoint`, or AWS for the region).
    #[arg(long, env = "PARTUP_DIRECT_ENDPOINT", value_name = "URL")]
    pub direct_endpoint: Option<String>,

    /// How long a signed part request stays valid (`--direct-parts`).
    #[arg(long, env = "PARTUP_DIRECT_PART_EXPIRY", default_value = "15m", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub direct_part_expiry: Duration,

    /// Uploads untouched this long are aborted and their space freed (e.g. `7d`, `12h`, `30s`).
    #[arg(long, env = "PARTUP_UPLOAD_TTL", default_value = "7d", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub upload_ttl: Duration,

    /// URL the upload events (upload.created, .completed, .aborted, .expired) are POSTed to, signed
    /// with the secret of `--hook-secret-file`; delivered at least once (SPEC.md, Events).
    #[arg(long, env = "PARTUP_HOOK_URL", value_name = "URL")]
    pub hook_url: Option<String>,

    /// File holding the secret that signs every hook request (HMAC-SHA256, `Partup-Signature`).
    #[arg(long, env = "PARTUP_HOOK_SECRET_FILE", value_name = "FILE")]
    pub hook_secret_file: Option<PathBuf>,

    /// URL asked before every uploadInit; 2xx lets the upload start, 4xx refuses it (403), no answer
    /// in `--hook-timeout` or 5xx refuses it with 503 (fail closed).
    #[arg(long, env = "PARTUP_HOOK_PRE_CREATE", value_name = "URL")]
    pub hook_pre_create: Option<String>,

    /// How long one hook request may take.
    #[arg(long, env = "PARTUP_HOOK_TIMEOUT", default_value = "5s", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub hook_timeout: Duration,

    /// File holding the shared secret (at least 32 bytes) that upload tokens are signed with
    /// (HS256). With this or --auth-public-key, every API request needs `Authorization: Bearer`.
    #[arg(
        long,
        env = "PARTUP_AUTH_SECRET_FILE",
        value_name = "FILE",
        global = true
    )]
    pub auth_secret_file: Option<PathBuf>,

    /// PEM public key (Ed25519, EC P-256 or RSA) that upload tokens may be signed with
    /// (repeatable): partup then cannot mint tokens itself.
    #[arg(
        long = "auth-public-key",
        env = "PARTUP_AUTH_PUBLIC_KEY",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub auth_public_keys: Vec<PathBuf>,

    /// How long an upload token is still accepted after its `exp` (clock skew between partup and
    /// the backend that mints tokens).
    #[arg(long, env = "PARTUP_AUTH_LEEWAY", default_value = "30s", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub auth_leeway: Duration,

    /// Who may read objects with upload tokens on: `token` (a token with read scope; the default)
    /// or `public` (anyone).
    #[arg(long, env = "PARTUP_READ", value_enum, value_name = "WHO")]
    pub read: Option<ReadMode>,

    /// Serve without upload tokens on a non-loopback --listen address, and to any Host: anyone who
    /// can reach the server may upload, replace and read every object.
    #[arg(long, env = "PARTUP_ALLOW_ANONYMOUS")]
    pub allow_anonymous: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub limits: Limits,

    /// The origin objects are served from, e.g. https://files.example.com: another name for this
    /// server or a CDN in front of it. `GET`/`HEAD /v1/objects/…` on any other host is redirected
    /// there (307), so uploaded files never open on the API's origin.
    #[arg(long, env = "PARTUP_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
}

fn parse_origin(text: &str) -> Result<String, String> {
    if text == "*" {
        return Ok(text.to_owned());
    }
    let valid = (text.starts_with("http://") || text.starts_with("https://"))
        && !text.ends_with('/')
        && http::HeaderValue::from_str(text).is_ok();
    if valid {
        Ok(text.to_owned())
    } else {
        Err("an origin looks like https://app.example.com (scheme, host, optional port, no path), or *".into())
    }
}

fn parse_public_url(text: &str) -> Result<String, String> {
    // Only an origin: the redirect appends the request's own path and query to it.
    let authority = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .filter(|rest| !rest.contains(['/', '?', '#', '@']));
    match authority.map(str::parse::<http::uri::Authority>) {
        Some(Ok(_)) => Ok(text.to_owned()),
        _ => Err("--public-url is an origin like https://files.example.com (scheme, host, optional port; no path)".into()),
    }
}

impl Config {
    /// Parses the command line and environment, exiting with a one-line error (code 2) when a value is
    /// bad, or printing help/version (code 0).
    pub fn from_args_or_exit() -> Config {
        let config = match Config::try_parse() {
            Ok(config) => config,
            Err(err) => {
                use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
                if matches!(err.kind(), DisplayHelp | DisplayVersion) {
                    err.exit();
                }
                let text = err.to_string();
                let first_line = text.lines().next().unwrap_or("invalid arguments");
                eprintln!(
                    "partup-server: {}",
                    first_line.trim_start_matches("error: ")
                );
                std::process::exit(2);
            }
        };
        if config.command.is_none()
            && let Err(problem) = config.validate()
        {
            eprintln!("partup-server: {problem}");
            std::process::exit(2);
        }
        config
    }

    /// Checks relations between values that clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_part_size == 0 {
            return Err("--max-part-size must be at least 1 byte".into());
        }
        if self.min_part_size > self.max_part_size {
            return Err(format!(
                "--min-part-size ({}) is larger than --max-part-size ({}); no upload could complete",
                self.min_part_size, self.max_part_size
            ));
        }
        if self.store == StoreKind::S3 {
            if self.s3_bucket.as_deref().unwrap_or("").is_empty() {
                return Err("--store s3 needs --s3-bucket (or PARTUP_S3_BUCKET)".into());
            }
            if let Some(endpoint) = &self.s3_endpoint
                && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            {
                return Err(format!(
                    "--s3-endpoint must be an http:// or https:// URL, not '{endpoint}'"
                ));
            }
            // UploadPartCopy and S3 parts stop at 5 GiB.
            if self.max_part_size > 5 << 30 {
                return Err("--max-part-size can be at most 5 GiB with --store s3".into());
            }
        }
        self.validate_direct_parts()?;
        self.limits.validate()?;
        crate::storage::Md5Engine::check_setting(&self.md5_path)?;
        self.validate_metrics_listen()?;
        if self.upload_ttl.is_zero() {
            return Err("--upload-ttl must be longer than 0".into());
        }
        self.validate_hooks()?;
        self.validate_auth()
    }

    /// `--direct-parts` needs the S3 store, S3's minimum part size and a signature expiry S3
    /// accepts; `--direct-endpoint` is an http(s) URL.
    fn validate_direct_parts(&self) -> Result<(), String> {
        if let Some(url) = &self.direct_endpoint {
            let parsed = reqwest::Url::parse(url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return Err(format!(
                    "--direct-endpoint must be an http:// or https:// URL, not '{url}'"
                ));
            }
        }
        if !self.direct_parts {
            return Ok(());
        }
        if self.store != StoreKind::S3 {
            return Err(
                "--direct-parts needs --store s3: parts go straight into the bucket".into(),
            );
        }
        if self.min_part_size < S3_MIN_PART_SIZE {
            return Err(format!(
                "--direct-parts needs --min-part-size of at least {S3_MIN_PART_SIZE} (S3's own minimum part size), not {}",
                self.min_part_size
            ));
        }
        // SigV4's presigned requests live at most 7 days.
        if self.direct_part_expiry < Duration::from_secs(1)
            || self.direct_part_expiry > Duration::from_secs(7 * 86_400)
        {
            return Err("--direct-part-expiry must be between 1s and 7d".into());
        }
        Ok(())
    }

    /// Hook URLs are http(s) and come with the secret that signs their requests.
    fn validate_hooks(&self) -> Result<(), String> {
        for (flag, url) in [
            ("--hook-url", &self.hook_url),
            ("--hook-pre-create", &self.hook_pre_create),
        ] {
            let Some(url) = url else { continue };
            let parsed = reqwest::Url::parse(url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return Err(format!(
                    "{flag} must be an http:// or https:// URL, not '{url}'"
                ));
            }
            if self.hook_secret_file.is_none() {
                return Err(format!(
                    "{flag} needs --hook-secret-file (or PARTUP_HOOK_SECRET_FILE) to sign its requests"
                ));
            }
        }
        if self.hook_timeout.is_zero() {
            return Err("--hook-timeout must be longer than 0".into());
        }
        Ok(())
    }

    /// `--metrics-listen` is a listener of its own: never the API's address and port.
    fn validate_metrics_listen(&self) -> Result<(), String> {
        let Some(metrics) = self.limits.metrics_listen else {
            return Ok(());
        };
        let same_host = metrics.ip() == self.listen.ip()
            || metrics.ip().is_unspecified()
            || self.listen.ip().is_unspecified();
        if metrics.port() != 0 && metrics.port() == self.listen.port() && same_host {
            return Err(format!(
                "--metrics-listen {metrics} is the API's --listen {}; give metrics a port of their own",
                self.listen
            ));
        }
        Ok(())
    }

    /// Whether upload tokens are required (an auth option is given).
    pub fn auth_enabled(&self) -> bool {
        self.auth_secret_file.is_some() || !self.auth_public_keys.is_empty()
    }

    /// Who may read objects: `--read`, else `token` with auth on (anonymous servers serve all).
    pub fn read_mode(&self) -> ReadMode {
        match (self.read, self.auth_enabled()) {
            (Some(mode), _) => mode,
            (None, true) => ReadMode::Token,
            (None, false) => ReadMode::Public,
        }
    }

    /// The auth options: their keys load, and a server without them listens on loopback only,
    /// unless --allow-anonymous.
    fn validate_auth(&self) -> Result<(), String> {
        if !self.auth_enabled() {
            if self.read == Some(ReadMode::Token) {
                return Err("--read token needs --auth-secret-file or --auth-public-key".into());
            }
            if !self.listen.ip().is_loopback() && !self.allow_anonymous {
                return Err(format!(
                    "--listen {} is not a loopback address: give --auth-secret-file or --auth-public-key, or --allow-anonymous to let anyone who reaches it upload and read",
                    self.listen
                ));
            }
            return Ok(());
        }
        crate::auth::verify::Verifier::load(
            self.auth_secret_file.as_deref(),
            &self.auth_public_keys,
            self.auth_leeway.as_secs(),
        )
        .map(drop)
    }

    /// How often the stale-upload sweep runs: often enough that an upload outlives its TTL by at
    /// most a quarter of it, never busier than 4 times a second nor rarer than every 10 minutes.
    pub fn sweep_interval(&self) -> Duration {
        (self.upload_ttl / 4).clamp(Duration::from_millis(250), Duration::from_secs(600))
    }
}
