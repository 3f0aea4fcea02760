//! The options of `new Uploader({...})` and of `uploader.upload(file, {...})`, read from plain JS
//! objects with defaults, and checked so a typo fails at once with a clear `InvalidOptions`.

use crate::error::UploadError;
use crate::retry::RetryPolicy;
use crate::retry_budget::DEFAULT_RETRY_BUDGET;
use crate::server_match::RESERVED_PREFIX;
use crate::slicing::{DEFAULT_MAX_PART_SIZE, DEFAULT_MIN_PART_SIZE, DEFAULT_PART_SIZE};
use js_sys::{Function, Object, Reflect};
use partup_wire::Metadata;
use wasm_bindgen::{JsCast, JsValue};

/// Default most part requests at once: like AWS lib-storage; browsers allow 6 connections per
/// host over HTTP/1.1, leaving room for the app's own requests.
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// A request during which no byte moved for this long is aborted and retried.
pub const DEFAULT_STALL_TIMEOUT_MS: f64 = 30_000.0;
/// The most `hashWorkers` an Uploader gets by default.
const MAX_DEFAULT_HASH_WORKERS: u32 = 4;
/// The most `hashWorkers` an app may ask for.
const MAX_HASH_WORKERS: f64 = 16.0;

/// `hashWorkers` when the app does not say: half the logical cores the browser reports (the other
/// half is for the page, the browser's reads of the file and its network stack), at least 1, at
/// most 4 (one worker hashes faster than most uploads go), and never more than `concurrency` (an
/// upload hashes at most that many parts ahead). `navigator.hardwareConcurrency` is missing in some
/// embedded engines and rounded in WebKit, so it only sizes, never decides.
pub fn default_hash_workers(hardware_concurrency: Option<f64>, concurrency: u32) -> u32 {
    let cores = hardware_concurrency
        .filter(|n| n.is_finite() && *n >= 1.0)
        .unwrap_or(2.0);
    ((cores / 2.0) as u32)
        .clamp(1, MAX_DEFAULT_HASH_WORKERS)
        .min(concurrency)
}

fn hardware_concurrency() -> Option<f64> {
    let navigator = Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).ok()?;
    get(&navigator, "hardwareConcurrency").as_f64()
}

/// Extra request headers: fixed, or a function called before every request (so a short-lived
/// auth token can be refreshed between retries); it may return a Promise.
#[derive(Clone)]
pub enum HeaderSource {
    Fixed(Vec<(String, String)>),
    Dynamic(Function),
}

/// `new Uploader(options)`.
#[derive(Clone)]
pub struct UploaderOptions {
    /// The API base, e.g. `/v1/multipart/parallel` or `http://host/v1/multipart/parallel`,
    /// without a trailing slash.
    pub endpoint: String,
    pub part_size: u64,
    pub min_part_size: u64,
    pub max_part_size: u64,
    pub concurrency: u32,
    pub retry: RetryPolicy,
    /// Retries all uploads of the Uploader may make while requests keep failing
    /// (`retry_budget.rs`).
    pub retry_budget: u32,
    pub stall_timeout_ms: f64,
    pub headers: HeaderSource,
    pub with_credentials: bool,
    /// Remember uploads in localStorage so a reload resumes them, and look for unfinished uploads
    /// (the default of each upload's `resume`).
    pub resume: bool,
    /// Workers hashing the parts (0: the page's thread).
    pub hash_workers: u32,
}

/// `uploader.upload(file, options)`.
#[derive(Clone)]
pub struct UploadOptions {
    pub resource_key: String,
    pub on_progress: Option<Function>,
    pub on_init: Option<Function>,
    pub on_exists: Option<Function>,
    pub signal: Option<web_sys::AbortSignal>,
    /// Instant upload: hash the whole file before sending anything, so the server can complete
    /// the object at once from content it already holds.
    pub instant: bool,
    /// Where an unfinished upload of this file is looked for.
    pub resume: ResumeFrom,
    /// The app's own metadata entries, stored with the upload beside the file's description.
    pub metadata: Metadata,
}

/// The `resume` upload option: where an unfinished upload of the same file is looked for before
/// a new one starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeFrom {
    /// `'auto'` (the default): the entry in this browser's localStorage, else the server's
    /// listing (another browser, a device, cleared site data).
    LocalThenServer,
    /// `'local'`: the localStorage entry only.
    Local,
    /// `'server'`: the server's listing only.
    Server,
    /// `false`: always a new upload.
    Nowhere,
}

impl ResumeFrom {
    pub fn local(self) -> bool {
        matches!(self, ResumeFrom::LocalThenServer | ResumeFrom::Local)
    }
    pub fn server(self) -> bool {
        matches!(self, ResumeFrom::LocalThenServer | ResumeFrom::Server)
    }
}

/// `resume`: `'auto'`, `'local'`, `'server'`, or `true`/`false`; absent: the Uploader's
/// `resume` (`true` → `'auto'`).
fn resume_from(options: &JsValue, uploader_resumes: bool) -> Result<ResumeFrom, UploadError> {
    let value = get(options, "resume");
    let chosen = match (value.as_bool(), value.as_string().as_deref()) {
        _ if value.is_undefined() || value.is_null() => uploader_resumes,
        (Some(flag), _) => flag,
        (_, Some("auto")) => true,
        (_, Some("local")) => return Ok(ResumeFrom::Local),
        (_, Some("server")) => return Ok(ResumeFrom::Server),
        _ => {
            return Err(invalid(format!(
                "option resume must be 'auto', 'local', 'server', true or false, got {}",
                describe(&value)
            )));
        }
    };
    Ok(if chosen {
        ResumeFrom::LocalThenServer
    } else {
        ResumeFrom::Nowhere
    })
}

/// `metadata`: an object of strings, none of whose keys is the client's own (`partup.…`). The
/// server's bounds are checked with the file's entries added (`upload.rs`).
fn app_metadata(options: &JsValue) -> Result<Metadata, UploadError> {
    let value = get(options, "metadata");
    let pairs = header_pairs(&value, "option metadata")?;
    let mut metadata = Metadata::new();
    for (key, text) in pairs {
        if key.starts_with(RESERVED_PREFIX) {
            return Err(invalid(format!(
                "option metadata: keys starting with '{RESERVED_PREFIX}' are the client's own"
            )));
        }
        metadata.insert(key, text);
    }
    Ok(metadata)
}

fn invalid(message: String) -> UploadError {
    UploadError::invalid_options(message)
}

fn get(object: &JsValue, key: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// Option `key` read by `read`: `Ok(None)` when absent (`undefined`/`null`), `Err(value)` when it
/// is of another type.
fn typed<T>(
    object: &JsValue,
    key: &str,
    read: impl Fn(&JsValue) -> Option<T>,
) -> Result<Option<T>, JsValue> {
    let value = get(object, key);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    read(&value).map(Some).ok_or(value)
}

/// A whole, positive number option (`undefined`/`null` → default).
fn number(
    object: &JsValue,
    key: &str,
    default: f64,
    min: f64,
    max: f64,
) -> Result<f64, UploadError> {
    let found = match typed(object, key, JsValue::as_f64) {
        Ok(None) => return Ok(default),
        Ok(Some(n)) if n.is_finite() && n.fract() == 0.0 && n >= min && n <= max => return Ok(n),
        Ok(Some(n)) => JsValue::from_f64(n),
        Err(value) => value,
    };
    Err(invalid(format!(
        "option {key} must be a whole number from {} to {}, got {}",
        min as u64,
        max as u64,
        describe(&found)
    )))
}

fn boolean(object: &JsValue, key: &str, default: bool) -> Result<bool, UploadError> {
    typed(object, key, JsValue::as_bool)
        .map(|flag| flag.unwrap_or(default))
        .map_err(|value| {
            invalid(format!(
                "option {key} must be true or false, got {}",
                describe(&value)
            ))
        })
}

fn function(object: &JsValue, key: &str) -> Result<Option<Function>, UploadError> {
    let value = get(object, key);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.dyn_into::<Function>().map(Some).map_err(|v| {
        invalid(format!(
            "option {key} must be a function, got {}",
            describe(&v)
        ))
    })
}

fn describe(value: &JsValue) -> String {
    if let Some(s) = value.as_string() {
        format!("the string \"{s}\"")
    } else if let Some(n) = value.as_f64() {
        // Integer formatting only: float formatting would add kilobytes to the .wasm.
        if n.fract() == 0.0 && n.abs() < 1e15 {
            format!("{}", n as i64)
        } else {
            "a fractional or huge number".into()
        }
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// Reads `{name: value}` pairs of strings (headers, metadata).
pub fn header_pairs(value: &JsValue, what: &str) -> Result<Vec<(String, String)>, UploadError> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !value.is_object() {
        return Err(invalid(format!(
            "{what} must be an object of names to strings"
        )));
    }
    let mut pairs = Vec::new();
    for entry in Object::entries(value.unchecked_ref()).iter() {
        let entry: js_sys::Array = entry.unchecked_into();
        let name = entry.get(0).as_string().unwrap_or_default();
        let Some(text) = entry.get(1).as_string() else {
            return Err(invalid(format!("{what}: {name} must be a string")));
        };
        pairs.push((name, text));
    }
    Ok(pairs)
}

/// The API base, without a trailing slash.
fn endpoint(options: &JsValue) -> Result<String, UploadError> {
    let endpoint = typed(options, "endpoint", JsValue::as_string)
        .ok()
        .flatten()
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| {
            invalid("option endpoint is required, e.g. '/v1/multipart/parallel'".into())
        })?;
    Ok(endpoint.trim().trim_end_matches('/').to_string())
}

/// `(partSize, minPartSize, maxPartSize)`.
fn part_sizes(options: &JsValue) -> Result<(u64, u64, u64), UploadError> {
    const MAX_SIZE: f64 = 5.0 * 1024.0 * 1024.0 * 1024.0;
    let min_default = DEFAULT_MIN_PART_SIZE as f64;
    let max_default = DEFAULT_MAX_PART_SIZE as f64;
    let min_part_size = number(options, "minPartSize", min_default, 0.0, MAX_SIZE)? as u64;
    let max_part_size = number(options, "maxPartSize", max_default, 1.0, MAX_SIZE)? as u64;
    let part_size = number(options, "partSize", DEFAULT_PART_SIZE as f64, 1.0, MAX_SIZE)? as u64;
    if min_part_size > max_part_size {
        return Err(invalid(format!(
            "option minPartSize ({min_part_size}) is larger than maxPartSize ({max_part_size})"
        )));
    }
    Ok((part_size, min_part_size, max_part_size))
}

fn retry_policy(options: &JsValue) -> Result<RetryPolicy, UploadError> {
    let defaults = RetryPolicy::default();
    Ok(RetryPolicy {
        max_retries: number(options, "retries", defaults.max_retries as f64, 0.0, 100.0)? as u32,
        base_delay_ms: number(
            options,
            "retryDelay",
            defaults.base_delay_ms,
            0.0,
            600_000.0,
        )?,
        max_delay_ms: number(
            options,
            "maxRetryDelay",
            defaults.max_delay_ms,
            0.0,
            3_600_000.0,
        )?,
    })
}

fn header_source(options: &JsValue) -> Result<HeaderSource, UploadError> {
    let value = get(options, "headers");
    Ok(match value.dyn_ref::<Function>() {
        Some(function) => HeaderSource::Dynamic(function.clone()),
        None => HeaderSource::Fixed(header_pairs(&value, "option headers")?),
    })
}

impl UploaderOptions {
    pub fn from_js(options: &JsValue) -> Result<UploaderOptions, UploadError> {
        if !options.is_object() {
            return Err(invalid(
                "new Uploader(options) needs an object, e.g. { endpoint: '/v1/multipart/parallel' }".into(),
            ));
        }
        let endpoint = endpoint(options)?;
        let (part_size, min_part_size, max_part_size) = part_sizes(options)?;
        let retry = retry_policy(options)?;
        let headers = header_source(options)?;
        let concurrency_default = DEFAULT_CONCURRENCY as f64;
        let stall_default = DEFAULT_STALL_TIMEOUT_MS;
        let budget_default = DEFAULT_RETRY_BUDGET as f64;
        let concurrency = number(options, "concurrency", concurrency_default, 1.0, 32.0)? as u32;
        let workers_default = default_hash_workers(hardware_concurrency(), concurrency) as f64;
        Ok(UploaderOptions {
            endpoint,
            part_size,
            min_part_size,
            max_part_size,
            concurrency,
            retry,
            retry_budget: number(options, "retryBudget", budget_default, 0.0, 100_000.0)? as u32,
            stall_timeout_ms: number(options, "stallTimeout", stall_default, 100.0, 3_600_000.0)?,
            headers,
            with_credentials: boolean(options, "withCredentials", false)?,
            resume: boolean(options, "resume", true)?,
            hash_workers: number(
                options,
                "hashWorkers",
                workers_default,
                0.0,
                MAX_HASH_WORKERS,
            )? as u32,
        })
    }
}

impl UploadOptions {
    /// `uploader_resumes`: the Uploader's `resume`, the default of the upload's.
    pub fn from_js(
        options: &JsValue,
        uploader_resumes: bool,
    ) -> Result<UploadOptions, UploadError> {
        let resource_key = typed(options, "resourceKey", JsValue::as_string).ok().flatten().ok_or_else(|| {
            invalid("uploader.upload(file, { resourceKey }) needs resourceKey, the object's name, e.g. 'videos/clip.mp4'".into())
        })?;
        let signal_value = get(options, "signal");
        let signal = if signal_value.is_undefined() || signal_value.is_null() {
            None
        } else {
            Some(
                signal_value
                    .dyn_into::<web_sys::AbortSignal>()
                    .map_err(|_| invalid("option signal must be an AbortSignal".into()))?,
            )
        };
        Ok(UploadOptions {
            resource_key,
            on_progress: function(options, "onProgress")?,
            on_init: function(options, "onInit")?,
            on_exists: function(options, "onExists")?,
            signal,
            instant: boolean(options, "instant", false)?,
            resume: resume_from(options, uploader_resumes)?,
            metadata: app_metadata(options)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::default_hash_workers;

    #[test]
    fn default_hash_workers_is_half_the_cores_within_one_to_four_and_concurrency() {
        assert_eq!(default_hash_workers(Some(2.0), 4), 1);
        assert_eq!(default_hash_workers(Some(4.0), 4), 2);
        assert_eq!(default_hash_workers(Some(16.0), 4), 4);
        assert_eq!(default_hash_workers(Some(16.0), 2), 2);
        assert_eq!(default_hash_workers(Some(1.0), 4), 1);
        assert_eq!(default_hash_workers(Some(8.0), 1), 1);
        assert_eq!(default_hash_workers(None, 4), 1);
        assert_eq!(default_hash_workers(Some(f64::NAN), 4), 1);
    }
}
