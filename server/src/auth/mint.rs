//! `partup-server token`: mints an upload token, for scripts and tests. An application normally
//! mints its tokens in its own backend (README: "Upload tokens"); this is the same recipe.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

use crate::auth::verify::read_secret;
use crate::auth::{Claims, Scope};

/// The options of `partup-server token`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// Who uploads: the token's `sub` claim; an upload belongs to the sub that started it.
    #[arg(long, value_name = "SUBJECT")]
    pub sub: String,

    /// A key or prefix (ending in `/`) the token may upload to (repeatable).
    #[arg(long, value_name = "KEY_OR_PREFIX")]
    pub write: Vec<String>,

    /// A key or prefix (ending in `/`) the token may read (repeatable).
    #[arg(long, value_name = "KEY_OR_PREFIX")]
    pub read: Vec<String>,

    /// Most bytes one upload may hold, e.g. `10GiB`, `500MB`, `1048576`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,

    /// How long the token is valid, e.g. `1h`, `5m`, `30s`.
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub ttl: Duration,

    /// Let uploads of this token replace existing objects.
    #[arg(long)]
    pub replace: bool,

    /// Sign with this PEM private key (Ed25519 → EdDSA, EC P-256 → ES256, RSA → RS256) instead of
    /// the shared secret of `--auth-secret-file`.
    #[arg(long, value_name = "FILE")]
    pub auth_private_key: Option<PathBuf>,
}

/// The token `args` describe, signed with the private key or else the shared secret.
pub fn mint(secret_file: Option<&Path>, args: &TokenArgs) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let claims = Claims {
        sub: args.sub.clone(),
        exp: (now + args.ttl).as_secs(),
        partup: Scope {
            write: args.write.clone(),
            read: args.read.clone(),
            max_size: args.max_size,
            replace: args.replace,
        },
    };
    let (algorithm, key) = match (&args.auth_private_key, secret_file) {
        (Some(path), _) => private_key(path)?,
        (None, Some(path)) => (
            Algorithm::HS256,
            EncodingKey::from_secret(&read_secret(path)?),
        ),
        (None, None) => {
            return Err("token needs --auth-secret-file FILE or --auth-private-key FILE".into());
        }
    };
    encode(&Header::new(algorithm), &claims, &key)
        .map_err(|e| format!("cannot sign the token: {e}"))
}

/// A PEM private key and the algorithm it signs with.
fn private_key(path: &Path) -> Result<(Algorithm, EncodingKey), String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the private key {}: {e}", path.display()))?;
    if let Ok(key) = EncodingKey::from_ed_pem(&pem) {
        return Ok((Algorithm::EdDSA, key));
    }
    if let Ok(key) = EncodingKey::from_ec_pem(&pem) {
        return Ok((Algorithm::ES256, key));
    }
    if let Ok(key) = EncodingKey::from_rsa_pem(&pem) {
        return Ok((Algorithm::RS256, key));
    }
    Err(format!(
        "{} is not a PEM private key (Ed25519, EC P-256 or RSA)",
        path.display()
    ))
}

/// A size in bytes: digits with an optional unit, `KiB`/`MiB`/`GiB`/`TiB` (1024-based, also
/// `K`/`M`/`G`/`T`) or `KB`/`MB`/`GB`/`TB` (1000-based).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size like 10GiB, 500MB or 1048576"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "'{text}': unknown unit (use KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("10GiB"), Ok(10_737_418_240));
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("2K"), Ok(2048));
        assert!(parse_size("lots").is_err() && parse_size("1XB").is_err());
    }
}
