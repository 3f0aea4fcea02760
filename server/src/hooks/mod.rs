//! Event hooks for the application (SPEC.md, Events), tusd style: a blocking pre-create call at
//! uploadInit (`pre_create.rs`) and notifications of what happened to uploads (`event.rs`), stored
//! durably by storage's flows before they answer and delivered at least once by a background task
//! (`delivery.rs`). Every request is a JSON POST signed with the shared secret (`signature.rs`).

pub mod delivery;
pub mod event;
pub mod pre_create;
pub mod signature;

use std::time::Duration;

use self::signature::{SIGNATURE_HEADER, Signer};
use crate::config::Config;

/// Sends signed JSON POSTs to the application.
#[derive(Debug, Clone)]
pub struct HookSender {
    client: reqwest::Client,
    signer: Signer,
}

impl HookSender {
    /// A sender with the secret of `--hook-secret-file` and requests cut off at `--hook-timeout`;
    /// `None` when no hook is configured.
    pub fn from_config(config: &Config) -> Result<Option<HookSender>, String> {
        let Some(secret_file) = &config.hook_secret_file else {
            return Ok(None);
        };
        let signer = Signer::from_file(secret_file)?;
        let client = reqwest::Client::builder()
            .timeout(config.hook_timeout)
            .connect_timeout(config.hook_timeout.min(Duration::from_secs(5)))
            // A signed request goes where it was configured to go, nowhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the hook client: {e}"))?;
        Ok(Some(HookSender { client, signer }))
    }

    /// POSTs `body` (JSON) to `url` with its signature.
    pub async fn post(&self, url: &str, body: Vec<u8>) -> reqwest::Result<reqwest::Response> {
        let signature = self.signer.sign(&body);
        self.client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
    }
}
