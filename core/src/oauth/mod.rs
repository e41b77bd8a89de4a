//! OAuth 2 tokens for upstream servers: the gateway as an OAuth client.
//!
//! - [`TokenSource`]: the client-credentials grant (RFC 6749 §4.4, as OAuth 2.1 keeps it) — the
//!   gateway's own token for one upstream, fetched before the first call, cached, refreshed
//!   before it expires and once when the upstream answers 401.
//! - [`TokenExchange`]: RFC 8693 — a caller's validated JWT exchanged for a token for one
//!   upstream, cached per subject token until shortly before it expires.
//!
//! Both talk to the token endpoint with [`crate::http::Client`]. Client secrets and tokens
//! never appear in `Debug` output or logs.

mod client_credentials;
mod endpoint;
mod exchange;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use client_credentials::TokenSource;
pub use exchange::TokenExchange;

/// Which grant a [`OAuthSettings`] uses for calls made on behalf of a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Grant {
    /// Every request carries the gateway's own token (client credentials).
    #[default]
    ClientCredentials,
    /// Calls for a caller carry that caller's JWT exchanged for an upstream token (RFC 8693);
    /// the gateway's own requests (`initialize`, listings) carry its client-credentials token.
    TokenExchange,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClientAuth {
    /// HTTP Basic with the URL-encoded id and secret (`client_secret_basic`, the default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// One OAuth client registration, and what to ask the token endpoint for.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct OAuthSettings {
    /// The grant for calls made on behalf of a caller.
    pub grant: Grant,
    /// The authorization server's token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// How the secret is sent.
    pub client_auth: ClientAuth,
    /// `scope` to ask for (space-separated), if any.
    pub scope: Option<String>,
    /// `audience` to ask for, if any (the upstream's identifier at the authorization server).
    pub audience: Option<String>,
    /// `resource` to ask for (RFC 8707: the upstream's URL), if any.
    pub resource: Option<String>,
}

impl OAuthSettings {
    /// A client-credentials client `client_id`/`client_secret` at `token_url`.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        OAuthSettings {
            grant: Grant::ClientCredentials,
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            client_auth: ClientAuth::Basic,
            scope: None,
            audience: None,
            resource: None,
        }
    }

    /// Uses `grant` for calls made on behalf of a caller.
    #[must_use]
    pub fn grant(mut self, grant: Grant) -> Self {
        self.grant = grant;
        self
    }

    /// Asks for `scope`.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Asks for a token for `audience`.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Asks for a token for `resource` (RFC 8707).
    #[must_use]
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sends the secret with `how`.
    #[must_use]
    pub fn client_auth(mut self, how: ClientAuth) -> Self {
        self.client_auth = how;
        self
    }
}

impl fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("grant", &self.grant)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("client_auth", &self.client_auth)
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .finish()
    }
}

/// Why no token could be had: the message says what the token endpoint answered.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct OAuthError(Arc<str>);

impl OAuthError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        OAuthError(message.into().into())
    }
}

/// An access token and how long it lasts.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: Arc<str>,
    pub(crate) expires: Option<tokio::time::Instant>,
}

impl Token {
    /// Whether it should be replaced now: expired, or within the refresh margin of expiring
    /// (a fifth of its lifetime, at most a minute).
    pub(crate) fn stale(&self, lifetime: Duration) -> bool {
        let Some(expires) = self.expires else {
            return false;
        };
        let margin = (lifetime / 5).min(Duration::from_secs(60));
        tokio::time::Instant::now() + margin >= expires
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}
