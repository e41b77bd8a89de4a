//! Why a request was not authenticated, and the response that says so.

use std::borrow::Cow;

use http::header::{CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use toolgate::server::McpBody;

/// What kind of rejection an [`AuthError`] is; decides the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No credentials were sent (401, no `error` in the challenge).
    Missing,
    /// The credentials are wrong, expired or malformed (401, `error="invalid_token"`).
    Invalid,
    /// The token is valid but lacks a required scope (403, `error="insufficient_scope"`).
    InsufficientScope,
    /// The credentials could not be checked: key store or signing keys unavailable (503).
    /// Authentication fails closed: such a request is never let through.
    Unavailable,
    /// The check itself failed unexpectedly (500), e.g. a custom key store panicked.
    Internal,
}

/// A rejected request. The message says what to fix; it is sent to the client, so it never
/// contains the presented secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    kind: AuthErrorKind,
    message: Cow<'static, str>,
    scope: Option<String>,
}

impl AuthError {
    /// An error of `kind`.
    pub fn new(kind: AuthErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        AuthError {
            kind,
            message: message.into(),
            scope: None,
        }
    }
    /// No credentials (401).
    pub fn missing(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Missing, message)
    }
    /// Wrong credentials (401, `invalid_token`).
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Invalid, message)
    }
    /// A valid token without the scopes `scope` (space-separated) names (403).
    pub fn insufficient_scope(scope: impl Into<String>) -> Self {
        let scope = scope.into();
        AuthError {
            kind: AuthErrorKind::InsufficientScope,
            message: format!("the token lacks a required scope; needed: {scope}").into(),
            scope: Some(scope),
        }
    }
    /// Credentials could not be checked (503).
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Unavailable, message)
    }
    /// The check failed unexpectedly (500).
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(AuthErrorKind::Internal, message)
    }

    /// The kind.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }
    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            AuthErrorKind::Missing | AuthErrorKind::Invalid => StatusCode::UNAUTHORIZED,
            AuthErrorKind::InsufficientScope => StatusCode::FORBIDDEN,
            AuthErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OAuth error code (RFC 6750 §3.1), if this kind has one.
    fn oauth_error(&self) -> Option<&'static str> {
        match self.kind {
            AuthErrorKind::Invalid => Some("invalid_token"),
            AuthErrorKind::InsufficientScope => Some("insufficient_scope"),
            AuthErrorKind::Missing | AuthErrorKind::Unavailable | AuthErrorKind::Internal => None,
        }
    }

    /// The response: the status, a `WWW-Authenticate` challenge on 401 and 403, and a JSON body
    /// `{"error", "error_description"}`.
    pub fn to_response(&self, challenge: &Challenge) -> Response<McpBody> {
        let error = self.oauth_error().unwrap_or(match self.kind {
            AuthErrorKind::Missing => "unauthorized",
            AuthErrorKind::Unavailable => "temporarily_unavailable",
            _ => "server_error",
        });
        let body = serde_json::json!({"error": error, "error_description": self.message});
        let mut response = Response::new(McpBody::full(body.to_string()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if matches!(
            self.kind,
            AuthErrorKind::Missing | AuthErrorKind::Invalid | AuthErrorKind::InsufficientScope
        ) && let Ok(value) = HeaderValue::from_str(&challenge.header(self))
        {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if self.kind == AuthErrorKind::Unavailable {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// What the `WWW-Authenticate: Bearer …` challenge says besides the error: the realm and,
/// when configured, where the protected-resource metadata is (RFC 9728 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: String,
    resource_metadata: Option<String>,
}

impl Default for Challenge {
    fn default() -> Self {
        Challenge::new("toolgate")
    }
}

impl Challenge {
    /// A challenge for `realm`.
    pub fn new(realm: impl Into<String>) -> Self {
        Challenge {
            realm: realm.into(),
            resource_metadata: None,
        }
    }
    /// Adds `resource_metadata="URL"`.
    #[must_use]
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }
    /// The metadata URL, if any.
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }

    /// The header value for `error`.
    pub fn header(&self, error: &AuthError) -> String {
        let mut value = format!("Bearer realm=\"{}\"", quoted(&self.realm));
        if let Some(url) = &self.resource_metadata {
            value.push_str(&format!(", resource_metadata=\"{}\"", quoted(url)));
        }
        if let Some(code) = error.oauth_error() {
            value.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                quoted(&error.message)
            ));
        }
        if let Some(scope) = &error.scope {
            value.push_str(&format!(", scope=\"{}\"", quoted(scope)));
        }
        value
    }
}

/// The text made safe for a quoted-string: visible ASCII and spaces, without `"` and `\`.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c == ' ' || c.is_ascii_graphic() => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_get_a_challenge_without_an_error_code() {
        let c = Challenge::new("toolgate").resource_metadata("http://h/.well-known/x");
        let r = AuthError::missing("send a key").to_response(&c);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let h = r.headers()[WWW_AUTHENTICATE].to_str().unwrap_or_default();
        assert_eq!(
            h,
            "Bearer realm=\"toolgate\", resource_metadata=\"http://h/.well-known/x\""
        );
    }

    #[test]
    fn invalid_tokens_name_the_error_and_quotes_are_neutralised() {
        let c = Challenge::default();
        let h = c.header(&AuthError::invalid("bad \"token\"\n"));
        assert_eq!(
            h,
            "Bearer realm=\"toolgate\", error=\"invalid_token\", error_description=\"bad 'token'?\""
        );
    }

    #[test]
    fn unavailable_is_503_without_a_challenge() {
        let r = AuthError::unavailable("store down").to_response(&Challenge::default());
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn insufficient_scope_is_403_with_the_scope() {
        let c = Challenge::default();
        let e = AuthError::insufficient_scope("mcp:tools");
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert!(c.header(&e).ends_with(
            "error=\"insufficient_scope\", error_description=\"the token lacks a required scope; needed: mcp:tools\", scope=\"mcp:tools\""
        ));
    }
}
