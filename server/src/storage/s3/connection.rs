//! Reaching the bucket: the settings from the command line, the OpenDAL operator (with retries and
//! timeouts), and how its errors become [`AppError`]s.

use std::time::Duration;

use opendal::Operator;

use super::layout::{self, UPLOADS};
use crate::config::Config;
use crate::error::AppError;

/// Where and how to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub prefix: String,
    pub virtual_host_style: bool,
    /// The endpoint as clients reach it, for signed direct part requests (default: `endpoint`).
    pub direct_endpoint: Option<String>,
}

impl S3Settings {
    pub fn from_config(config: &Config) -> S3Settings {
        S3Settings {
            endpoint: config.s3_endpoint.clone(),
            bucket: config.s3_bucket.clone().unwrap_or_default(),
            region: config.s3_region.clone(),
            prefix: config.s3_prefix.clone(),
            virtual_host_style: config.s3_virtual_host_style,
            direct_endpoint: config.direct_endpoint.clone(),
        }
    }
}

/// An error of the object store: nothing a client can fix, so `InternalError` with the cause.
pub fn storage_error(err: opendal::Error) -> AppError {
    AppError::internal(format!("object store: {err}"))
}

/// Connects to the bucket and checks it answers. Credentials come from the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) as the AWS tools do.
pub async fn connect(settings: &S3Settings) -> Result<Operator, String> {
    // OpenDAL's reqwest transport; installed explicitly (first install wins) rather than by a
    // process constructor.
    opendal::install_default();
    let mut builder = opendal::services::S3::default()
        .bucket(&settings.bucket)
        .region(&settings.region)
        .root(&layout::root(&settings.prefix));
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.endpoint(endpoint);
    }
    if settings.virtual_host_style {
        builder = builder.enable_virtual_host_style();
    }
    if let (Ok(id), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        builder = builder.access_key_id(&id).secret_access_key(&secret);
    }
    let op = Operator::new(builder)
        .map_err(|e| format!("invalid S3 settings: {e}"))?
        .layer(opendal::layers::RetryLayer::new().with_jitter())
        .layer(opendal::layers::TimeoutLayer::new().with_io_timeout(Duration::from_secs(60)));
    op.list_with(UPLOADS)
        .limit(1)
        .await
        .map_err(|e| format!("cannot reach bucket '{}': {e}", settings.bucket))?;
    Ok(op)
}
