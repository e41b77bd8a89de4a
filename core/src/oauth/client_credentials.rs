//! [`TokenSource`]: the gateway's own token for one upstream (client-credentials grant).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::endpoint::{audience_params, request};
use super::{OAuthError, OAuthSettings, Token};
use crate::http::Client;

/// A cached client-credentials token. Concurrent callers share one fetch.
#[derive(Debug)]
pub struct TokenSource {
    settings: OAuthSettings,
    client: Client,
    timeout: Duration,
    current: Mutex<Option<(Token, Duration)>>,
}

impl TokenSource {
    /// A source for `settings`, talking to the token endpoint with `client`; each fetch is
    /// bounded by `timeout`.
    pub fn new(settings: OAuthSettings, client: Client, timeout: Duration) -> Self {
        TokenSource {
            settings,
            client,
            timeout,
            current: Mutex::new(None),
        }
    }

    /// The settings it fetches with.
    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// A valid token: the cached one, or a new one when it is missing or about to expire.
    pub async fn token(&self) -> Result<Arc<str>, OAuthError> {
        let mut current = self.current.lock().await;
        if let Some((token, lifetime)) = current.as_ref()
            && !token.stale(*lifetime)
        {
            return Ok(token.value.clone());
        }
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(audience_params(&self.settings));
        let (token, lifetime) = request(&self.client, &self.settings, &form, self.timeout).await?;
        tracing::debug!(token_url = %self.settings.token_url, lifetime = ?lifetime, "fetched a client-credentials token");
        let value = token.value.clone();
        *current = Some((token, lifetime));
        Ok(value)
    }

    /// Forgets `rejected` (the upstream answered 401 to it): the next [`token`](Self::token)
    /// fetches a new one. A token fetched meanwhile by another caller is kept.
    pub async fn invalidate(&self, rejected: &str) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|(t, _)| &*t.value == rejected) {
            *current = None;
        }
    }
}
