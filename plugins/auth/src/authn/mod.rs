//! Authentication on the HTTP plane: [`Authenticate`] checks every request (API keys, JWT
//! bearer tokens, or any [`AuthenticateRequest`]) before it reaches the MCP endpoint.
//!
//! A request that passes gets a [`toolgate::Identity`] in its extensions, which the transports
//! move into `McpContext::identity`. One that does not is answered here, never passed on:
//!
//! | what | status |
//! |---|---|
//! | no credentials | 401, `WWW-Authenticate: Bearer realm="…", resource_metadata="…"` |
//! | unknown key, bad/expired token, wrong issuer or audience | 401, `… error="invalid_token", error_description="…"` |
//! | token without a required scope | 403, `… error="insufficient_scope"` |
//! | key store or JWKS unreachable | 503 (fails closed) |
//! | the check panicked | 500 (fails closed) |
//!
//! Paths added with [`AuthenticateLayer::public_path`] (the RFC 9728 metadata document) pass
//! without credentials.

mod api_key;
mod credentials;
mod error;
mod future;
pub mod jwt;
mod layer;
pub mod metadata;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use http::{Request, Response};
use toolgate::Identity;
use toolgate::server::McpBody;
use tower::Service;

pub use api_key::{ApiKeys, KeyStore, KeyStoreError, parse_sha256_hex, sha256};
pub use credentials::{AuthenticateRequest, Authenticator};
pub use error::{AuthError, AuthErrorKind, Challenge};
pub use future::ResponseFuture;
pub use jwt::{JwtVerifier, JwtVerifierBuilder};
pub use layer::AuthenticateLayer;
pub use metadata::ProtectedResourceMetadata;

use crate::BoxFuture;
use crate::authz::Rules;

/// Refuses requests without valid credentials; see the [module docs](self).
#[derive(Debug)]
pub struct Authenticate<S, A> {
    inner: S,
    auth: Arc<A>,
    challenge: Arc<Challenge>,
    public: Arc<[String]>,
}

impl<S: Clone, A> Clone for Authenticate<S, A> {
    fn clone(&self) -> Self {
        Authenticate {
            inner: self.inner.clone(),
            auth: self.auth.clone(),
            challenge: self.challenge.clone(),
            public: self.public.clone(),
        }
    }
}

impl<S, A> Authenticate<S, A> {
    /// Wraps `inner`: requests are checked with `auth`, refusals carry `challenge`.
    pub fn new(inner: S, auth: A, challenge: Challenge) -> Self {
        Authenticate {
            inner,
            auth: Arc::new(auth),
            challenge: Arc::new(challenge),
            public: Arc::from(Vec::new()),
        }
    }
    pub(crate) fn from_parts(
        inner: S,
        auth: Arc<A>,
        challenge: Arc<Challenge>,
        public: Arc<[String]>,
    ) -> Self {
        Authenticate {
            inner,
            auth,
            challenge,
            public,
        }
    }
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, A, B> Service<Request<B>> for Authenticate<S, A>
where
    S: Service<Request<B>, Response = Response<McpBody>> + Clone,
    A: AuthenticateRequest,
{
    type Response = Response<McpBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The router serves extra routes with or without a trailing slash; so does this check.
        let path = req.uri().path();
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        if self.public.iter().any(|p| p == path || p == trimmed) {
            return ResponseFuture::pass(self.inner.call(req));
        }
        let (parts, body) = req.into_parts();
        let auth = self.auth.clone();
        let check: BoxFuture<Result<Identity, AuthError>> =
            match std::panic::catch_unwind(AssertUnwindSafe(|| auth.authenticate(&parts))) {
                Ok(check) => Box::pin(
                    AssertUnwindSafe(check)
                        .catch_unwind()
                        .map(|r| r.unwrap_or_else(|_| Err(AuthError::internal(panicked())))),
                ),
                Err(_) => Box::pin(std::future::ready(Err(AuthError::internal(panicked())))),
            };
        // The ready service handles this request; a fresh clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::check(check, parts, body, inner, self.challenge.clone())
    }
}

fn panicked() -> &'static str {
    tracing::error!("the authentication check panicked; request refused");
    "the credentials could not be checked (internal error)"
}

/// Everything `use: auth` sets up: the [`AuthenticateLayer`], the metadata routes, and the
/// per-key limits (an MCP-plane [`Rules`] policy) a config file may give its API keys.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    authenticator: Authenticator,
    challenge: Challenge,
    metadata: Option<ProtectedResourceMetadata>,
    key_policy: Option<Rules>,
}

impl Auth {
    /// Nothing accepted yet; add API keys and/or a JWT verifier.
    pub fn new() -> Self {
        Self::default()
    }
    /// Accepts API keys found in `store`.
    #[must_use]
    pub fn api_keys(mut self, store: impl KeyStore) -> Self {
        self.authenticator = self.authenticator.api_keys(store);
        self
    }
    /// Accepts JWT bearer tokens `verifier` accepts.
    #[must_use]
    pub fn jwt(mut self, verifier: JwtVerifier) -> Self {
        self.authenticator = self.authenticator.jwt(verifier);
        self
    }
    /// The realm named in `WWW-Authenticate` (default `toolgate`).
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        let url = self.challenge.resource_metadata_url().map(str::to_string);
        self.challenge = Challenge::new(realm);
        if let Some(url) = url {
            self.challenge = self.challenge.resource_metadata(url);
        }
        self
    }
    /// Serves `document` (RFC 9728) and points 401 answers at it.
    #[must_use]
    pub fn resource_metadata(mut self, document: ProtectedResourceMetadata) -> Self {
        self.challenge = self.challenge.clone().resource_metadata(document.url());
        self.metadata = Some(document);
        self
    }
    /// An MCP-plane policy installed with the authentication (a config file's per-key
    /// `servers`/`tools` limits).
    #[must_use]
    pub fn key_policy(mut self, rules: Rules) -> Self {
        self.key_policy = Some(rules);
        self
    }

    /// The HTTP-plane layer, with the metadata paths public.
    pub fn layer(&self) -> AuthenticateLayer<Authenticator> {
        let mut layer =
            AuthenticateLayer::new(self.authenticator.clone()).challenge(self.challenge.clone());
        for path in self.metadata.iter().flat_map(|m| m.paths()) {
            layer = layer.public_path(path);
        }
        // The admin page's login form: where a browser gets the cookie credential.
        layer.public_path(credentials::ADMIN_LOGIN_PATH)
    }
    /// The metadata document, if configured.
    pub fn metadata(&self) -> Option<&ProtectedResourceMetadata> {
        self.metadata.as_ref()
    }
    /// The per-key policy, if any.
    pub fn key_policy_rules(&self) -> Option<&Rules> {
        self.key_policy.as_ref()
    }
}

#[cfg(test)]
mod tests;
