//! [`TokenExchange`]: RFC 8693 — a caller's JWT exchanged for a token for one upstream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::endpoint::{audience_params, request};
use super::{OAuthError, OAuthSettings, Token};
use crate::http::Client;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Most exchanged tokens kept; past it, stale ones go first, then all.
const MAX_CACHED: usize = 10_000;

/// Exchanges callers' tokens at a token endpoint and caches the results per subject token
/// (keyed by its SHA-256: the caller's token itself is not kept).
#[derive(Debug)]
pub struct TokenExchange {
    settings: OAuthSettings,
    client: Client,
    timeout: Duration,
    cache: Mutex<HashMap<[u8; 32], (Token, Duration)>>,
}

impl TokenExchange {
    /// An exchange for `settings`, talking to the token endpoint with `client`; each exchange
    /// is bounded by `timeout`.
    pub fn new(settings: OAuthSettings, client: Client, timeout: Duration) -> Self {
        TokenExchange {
            settings,
            client,
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A token for the upstream on behalf of the holder of `subject_token` (a JWT).
    pub async fn exchange(&self, subject_token: &str) -> Result<Arc<str>, OAuthError> {
        let key = key_of(subject_token);
        if let Some((token, lifetime)) = self.cache.lock().get(&key)
            && !token.stale(*lifetime)
        {
            return Ok(token.value.clone());
        }
        let mut form = vec![
            ("grant_type", GRANT),
            ("subject_token", subject_token),
            ("subject_token_type", JWT),
            ("requested_token_type", ACCESS_TOKEN),
        ];
        form.extend(audience_params(&self.settings));
        let (token, lifetime) = request(&self.client, &self.settings, &form, self.timeout).await?;
        let value = token.value.clone();
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (t, life)| !t.stale(*life));
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (token, lifetime));
        Ok(value)
    }

    /// Forgets the token exchanged for `subject_token` (the upstream refused it).
    pub fn invalidate(&self, subject_token: &str) {
        self.cache.lock().remove(&key_of(subject_token));
    }
}

fn key_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
