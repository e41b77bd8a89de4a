//! What a request is checked with: the [`AuthenticateRequest`] extension point, and the
//! built-in [`Authenticator`] (API keys and JWT bearer tokens).
//!
//! The built-in one reads `Authorization: Bearer <credential>` (or `X-API-Key: <key>`). A
//! credential shaped like a JWT goes to the JWT verifier when one is configured; anything else
//! is looked up as an API key.

use std::future::Future;
use std::sync::Arc;

use http::request::Parts;
use toolgate::Identity;

use super::api_key::KeyStore;
use super::error::AuthError;
use super::jwt::JwtVerifier;
use crate::BoxFuture;

/// Decides who sent a request, from its head. Implemented by [`Authenticator`] and by closures
/// `Fn(&Parts) -> impl Future<Output = Result<Identity, AuthError>>` (copy what you need out
/// of the head before the `async` block):
///
/// ```
/// use toolgate::Identity;
/// use toolgate_auth::authn::{AuthError, AuthenticateLayer};
///
/// let layer = AuthenticateLayer::new(|parts: &http::request::Parts| {
///     let user = parts.headers.get("x-forwarded-user").and_then(|v| v.to_str().ok()).map(str::to_owned);
///     async move {
///         let subject = user.ok_or_else(|| AuthError::missing("no X-Forwarded-User"))?;
///         Ok::<_, AuthError>(Identity { subject, attributes: vec![] })
///     }
/// });
/// # let _ = layer;
/// ```
pub trait AuthenticateRequest: Send + Sync + 'static {
    /// The caller's identity, or why the request is refused.
    fn authenticate(&self, request: &Parts) -> BoxFuture<Result<Identity, AuthError>>;
}

impl<F, Fut> AuthenticateRequest for F
where
    F: Fn(&Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Identity, AuthError>> + Send + 'static,
{
    fn authenticate(&self, request: &Parts) -> BoxFuture<Result<Identity, AuthError>> {
        Box::pin(self(request))
    }
}

/// API keys and/or JWT bearer tokens.
#[derive(Clone, Default)]
pub struct Authenticator {
    keys: Option<Arc<dyn KeyStore>>,
    jwt: Option<JwtVerifier>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("api_keys", &self.keys.is_some())
            .field("jwt", &self.jwt)
            .finish()
    }
}

impl Authenticator {
    /// Accepts nothing yet; add [`api_keys`](Self::api_keys) and/or [`jwt`](Self::jwt).
    pub fn new() -> Self {
        Self::default()
    }
    /// Accepts API keys found in `store`.
    #[must_use]
    pub fn api_keys(mut self, store: impl KeyStore) -> Self {
        self.keys = Some(Arc::new(store));
        self
    }
    /// Accepts JWT bearer tokens `verifier` accepts.
    #[must_use]
    pub fn jwt(mut self, verifier: JwtVerifier) -> Self {
        self.jwt = Some(verifier);
        self
    }

    fn what_to_send(&self) -> &'static str {
        match (&self.keys, &self.jwt) {
            (Some(_), Some(_)) => {
                "send Authorization: Bearer <API key or JWT> (or X-API-Key: <API key>)"
            }
            (Some(_), None) => "send Authorization: Bearer <API key> (or X-API-Key: <API key>)",
            _ => "send Authorization: Bearer <JWT>",
        }
    }

    /// Which credential the request carries.
    fn credential(&self, parts: &Parts) -> Result<Credential, AuthError> {
        let mut auth = parts.headers.get_all(http::header::AUTHORIZATION).iter();
        if let Some(value) = auth.next() {
            if auth.next().is_some() {
                return Err(AuthError::invalid(
                    "more than one Authorization header; send exactly one",
                ));
            }
            let value = value
                .to_str()
                .map_err(|_| AuthError::invalid("the Authorization header is not visible ASCII"))?
                .trim();
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(AuthError::invalid(format!(
                    "the Authorization scheme must be Bearer; {}",
                    self.what_to_send()
                )));
            }
            let token = token.trim();
            if token.is_empty() {
                return Err(AuthError::invalid(format!(
                    "the bearer credential is empty; {}",
                    self.what_to_send()
                )));
            }
            return Ok(if self.jwt.is_some() && looks_like_jwt(token) {
                Credential::Jwt(token.to_string())
            } else {
                Credential::Key(token.to_string())
            });
        }
        let mut keys = parts.headers.get_all("x-api-key").iter();
        if let Some(value) = keys.next() {
            if keys.next().is_some() {
                return Err(AuthError::invalid(
                    "more than one X-API-Key header; send exactly one",
                ));
            }
            let key = value
                .to_str()
                .map_err(|_| AuthError::invalid("the X-API-Key header is not visible ASCII"))?
                .trim();
            if key.is_empty() {
                return Err(AuthError::invalid("the X-API-Key header is empty"));
            }
            return Ok(Credential::Key(key.to_string()));
        }
        // The admin page's login form keeps the credential in a cookie scoped to `/admin`
        // (a browser cannot add a header to the page's own requests). Taken there only.
        let path = parts.uri.path();
        if (path == ADMIN_PREFIX || path.starts_with("/admin/"))
            && let Some(token) = admin_cookie(parts)
        {
            return Ok(if self.jwt.is_some() && looks_like_jwt(token) {
                Credential::Jwt(token.to_string())
            } else {
                Credential::Key(token.to_string())
            });
        }
        let hint = if path == ADMIN_PREFIX || path.starts_with("/admin/") {
            "; in a browser, log in at /admin/login"
        } else {
            ""
        };
        Err(AuthError::missing(format!(
            "authentication required: {}{hint}",
            self.what_to_send()
        )))
    }
}

/// The admin page's path; its login form is public, its cookie credential valid under it only.
pub(crate) const ADMIN_PREFIX: &str = "/admin";
/// The login form of the admin page, which needs no credentials.
pub(crate) const ADMIN_LOGIN_PATH: &str = "/admin/login";
/// The cookie the admin page's login form sets.
pub(crate) const ADMIN_COOKIE: &str = "toolgate_admin";

/// The value of the `toolgate_admin` cookie, if the request carries one.
fn admin_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == ADMIN_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

enum Credential {
    Key(String),
    Jwt(String),
}

/// Three non-empty base64url segments, the first decoding to a JSON object: a JWS.
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    let (h, p, s) = (parts.next(), parts.next(), parts.next());
    ok(h) && ok(p) && ok(s) && parts.next().is_none() && h.is_some_and(|h| h.starts_with("eyJ"))
}

impl AuthenticateRequest for Authenticator {
    fn authenticate(&self, request: &Parts) -> BoxFuture<Result<Identity, AuthError>> {
        let credential = match self.credential(request) {
            Ok(c) => c,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        match credential {
            Credential::Jwt(token) => {
                let verifier = self.jwt.clone();
                Box::pin(async move {
                    match verifier {
                        Some(v) => v.verify(&token).await,
                        None => Err(AuthError::invalid(
                            "JWT bearer tokens are not accepted here",
                        )),
                    }
                })
            }
            Credential::Key(key) => {
                let Some(store) = self.keys.clone() else {
                    return Box::pin(std::future::ready(Err(AuthError::invalid(
                        "the bearer credential is not a JWT, and API keys are not accepted here",
                    ))));
                };
                let lookup = store.lookup(&key);
                Box::pin(async move {
                    match lookup.await {
                        Ok(Some(identity)) => Ok(identity),
                        Ok(None) => Err(AuthError::invalid("unknown API key")),
                        Err(e) => {
                            tracing::warn!(error = %e, "API key lookup failed; request refused");
                            Err(AuthError::unavailable(
                                "API keys cannot be checked right now; try again later",
                            ))
                        }
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::{ApiKeys, AuthErrorKind};

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().uri("/mcp");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    fn keys() -> Authenticator {
        Authenticator::new().api_keys(ApiKeys::new().key("alpha", "alpha-key-0123456789"))
    }

    #[tokio::test]
    async fn bearer_and_x_api_key_both_carry_keys() {
        for h in [
            ("authorization", "Bearer alpha-key-0123456789"),
            ("authorization", "bearer   alpha-key-0123456789"),
            ("x-api-key", "alpha-key-0123456789"),
        ] {
            let id = keys().authenticate(&parts(&[h])).await.expect("accepted");
            assert_eq!(id.subject, "alpha", "{h:?}");
        }
    }

    #[tokio::test]
    async fn missing_wrong_and_malformed_credentials_are_told_apart() {
        let kind = |h: &[(&str, &str)]| {
            let f = keys().authenticate(&parts(h));
            async move { f.await.expect_err("refused").kind() }
        };
        assert_eq!(kind(&[]).await, AuthErrorKind::Missing);
        assert_eq!(
            kind(&[("authorization", "Bearer nope")]).await,
            AuthErrorKind::Invalid
        );
        assert_eq!(
            kind(&[("authorization", "Basic YWxwaGE6eA==")]).await,
            AuthErrorKind::Invalid
        );
        assert_eq!(
            kind(&[("authorization", "Bearer ")]).await,
            AuthErrorKind::Invalid
        );
        assert_eq!(kind(&[("x-api-key", "")]).await, AuthErrorKind::Invalid);
    }

    #[tokio::test]
    async fn a_failing_key_store_fails_closed() {
        let auth = Authenticator::new()
            .api_keys(|_: &str| async { Err(crate::authn::KeyStoreError::new("database down")) });
        let e = auth
            .authenticate(&parts(&[("x-api-key", "whatever")]))
            .await
            .expect_err("refused");
        assert_eq!(e.kind(), AuthErrorKind::Unavailable);
        assert!(!e.message().contains("whatever"));
    }

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOi.eyJzdWIi.c2ln"));
        assert!(!looks_like_jwt("alpha-key-0123456789"));
        assert!(!looks_like_jwt("eyJ.a.b.c"));
        assert!(!looks_like_jwt("eyJ..c"));
    }
}
