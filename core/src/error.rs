//! The MCP-plane error: what a layer or an upstream returns instead of a result.
//!
//! An [`McpError`] always becomes a JSON-RPC error object on the wire. Its [`ErrorKind`] decides
//! the code: protocol errors use the JSON-RPC/MCP codes (-32700 … -32603), gateway-local failures
//! (upstream down, timeout, rate limited) use toolgate's own range below -31000 — outside the
//! -32000…-32099 block the spec reserves — and carry `data: {source, upstream, retryable}`.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// JSON-RPC and toolgate error codes.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i32 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i32 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Invalid method parameters (also: unknown tool or prompt).
    pub const INVALID_PARAMS: i32 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// Resource not found (MCP, up to 2025-11-25).
    pub const RESOURCE_NOT_FOUND: i32 = -32002;
    /// `Mcp-Method`/`Mcp-Name` headers do not match the body (2026-07-28).
    pub const HEADER_MISMATCH: i32 = -32020;
    /// Unsupported protocol version (2026-07-28).
    pub const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;
    /// toolgate: the upstream is down, crashed or unreachable.
    pub const UPSTREAM_UNAVAILABLE: i32 = -31000;
    /// toolgate: the upstream did not answer in time.
    pub const UPSTREAM_TIMEOUT: i32 = -31001;
    /// toolgate: a rate or concurrency limit rejected the request.
    pub const RATE_LIMITED: i32 = -31002;
    /// toolgate: the upstream answered with something that is not MCP.
    pub const UPSTREAM_PROTOCOL: i32 = -31003;
    /// Gateway-local: the upstream refused the gateway's credentials (HTTP 401/403).
    pub const UPSTREAM_UNAUTHORIZED: i32 = -31004;
}

/// What went wrong, for callers that branch on it. The message text is not API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The message was not valid JSON (-32700).
    Parse,
    /// The message was not a valid JSON-RPC request (-32600).
    InvalidRequest,
    /// Unknown method (-32601).
    MethodNotFound,
    /// Bad parameters, unknown tool or prompt (-32602).
    InvalidParams,
    /// Unknown resource (-32002).
    ResourceNotFound,
    /// A bug or an unexpected state inside the gateway (-32603).
    Internal,
    /// The upstream answered with a JSON-RPC error; code and data are passed on unchanged.
    Upstream,
    /// The upstream is down, crashed mid-call, or could not be reached (-31000, retryable).
    UpstreamUnavailable,
    /// The upstream did not answer before the deadline (-31001).
    Timeout,
    /// A limit rejected the request (-31002).
    RateLimited,
    /// The upstream broke the protocol (-31003).
    UpstreamProtocol,
    /// The upstream refused the credentials the gateway sent it: HTTP 401 or 403, with its
    /// `WWW-Authenticate` in `data` (-31004).
    UpstreamUnauthorized,
    /// The caller cancelled the request: no response is sent.
    Cancelled,
}

/// Settings of a component that cannot work, with a message that says what to write instead:
/// the error of the policy crates' builders and `from_settings` (the config-file path wraps it
/// in a [`LayerError`](crate::registry::LayerError) naming the layer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SettingsError {
    message: String,
}

impl SettingsError {
    /// Settings that cannot work, and why.
    pub fn new(message: impl Into<String>) -> Self {
        SettingsError {
            message: message.into(),
        }
    }

    /// What is wrong and what to write instead.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An error on the MCP plane, rendered as a JSON-RPC error object.
#[derive(Clone)]
pub struct McpError {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    code: i32,
    message: Cow<'static, str>,
    data: Option<Value>,
    /// The request never left the gateway: sending it elsewhere cannot repeat it.
    unsent: bool,
}

impl McpError {
    /// An error of `kind` with the code that kind implies.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        let code = match kind {
            ErrorKind::Parse => code::PARSE_ERROR,
            ErrorKind::InvalidRequest => code::INVALID_REQUEST,
            ErrorKind::MethodNotFound => code::METHOD_NOT_FOUND,
            ErrorKind::InvalidParams => code::INVALID_PARAMS,
            ErrorKind::ResourceNotFound => code::RESOURCE_NOT_FOUND,
            ErrorKind::Internal | ErrorKind::Upstream | ErrorKind::Cancelled => {
                code::INTERNAL_ERROR
            }
            ErrorKind::UpstreamUnavailable => code::UPSTREAM_UNAVAILABLE,
            ErrorKind::Timeout => code::UPSTREAM_TIMEOUT,
            ErrorKind::RateLimited => code::RATE_LIMITED,
            ErrorKind::UpstreamProtocol => code::UPSTREAM_PROTOCOL,
            ErrorKind::UpstreamUnauthorized => code::UPSTREAM_UNAUTHORIZED,
        };
        McpError {
            inner: Box::new(Inner {
                kind,
                code,
                message: message.into(),
                data: None,
                unsent: false,
            }),
        }
    }

    /// -32700.
    pub fn parse(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Parse, message)
    }
    /// -32600.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }
    /// -32601 for `method`.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorKind::MethodNotFound,
            format!("method not found: {method}"),
        )
    }
    /// -32602.
    pub fn invalid_params(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidParams, message)
    }
    /// -32603.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// The caller went away or cancelled; nothing is sent back.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "request cancelled")
    }

    /// A gateway-local failure concerning `upstream`: sets `data: {source, upstream, retryable}`.
    pub fn gateway(
        kind: ErrorKind,
        upstream: &str,
        retryable: bool,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(kind, message).with_data(serde_json::json!({
            "source": "gateway",
            "upstream": upstream,
            "retryable": retryable,
        }))
    }

    /// The upstream is unavailable (retryable).
    pub fn upstream_unavailable(upstream: &str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::gateway(ErrorKind::UpstreamUnavailable, upstream, true, message)
    }

    /// An error object the upstream sent, passed on with its own code, message and data.
    pub fn from_upstream(code: i32, message: String, data: Option<Value>) -> Self {
        McpError {
            inner: Box::new(Inner {
                kind: ErrorKind::Upstream,
                code,
                message: message.into(),
                data,
                unsent: false,
            }),
        }
    }

    /// An error object as a peer sent it — an upstream's answer, or a client's answer to a
    /// request relayed to it — passed on with its own code, message and data. A malformed one
    /// is -31003.
    pub fn from_error_object(raw: &serde_json::value::RawValue) -> Self {
        #[derive(serde::Deserialize)]
        struct ErrorObject {
            code: i32,
            message: String,
            data: Option<Value>,
        }
        match serde_json::from_str::<ErrorObject>(raw.get()) {
            Ok(e) => McpError::from_upstream(e.code, e.message, e.data),
            Err(_) => McpError::gateway(
                ErrorKind::UpstreamProtocol,
                "",
                false,
                format!("a malformed error object: {}", raw.get()),
            ),
        }
    }

    /// Replaces the `data` member.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.inner.data = Some(data);
        self
    }

    /// Marks the error as raised before the request was sent anywhere (an upstream not
    /// connected, say): whoever sees it may send the request elsewhere, whatever it does.
    #[must_use]
    pub fn unsent(mut self) -> Self {
        self.inner.unsent = true;
        self
    }

    /// Whether the request never left the gateway (see [`McpError::unsent`]).
    pub fn is_unsent(&self) -> bool {
        self.inner.unsent
    }

    /// Replaces the JSON-RPC code, keeping the kind.
    #[must_use]
    pub fn with_code(mut self, code: i32) -> Self {
        self.inner.code = code;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }
    /// The JSON-RPC error code sent on the wire.
    pub fn code(&self) -> i32 {
        self.inner.code
    }
    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
    /// The `data` member, if any.
    pub fn data(&self) -> Option<&Value> {
        self.inner.data.as_ref()
    }
    /// Whether the caller may retry the same request.
    pub fn is_retryable(&self) -> bool {
        self.inner
            .data
            .as_ref()
            .and_then(|d| d.get("retryable"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    /// True for [`ErrorKind::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        self.inner.kind == ErrorKind::Cancelled
    }

    /// The JSON-RPC error object: `{"code", "message", "data"?}`.
    pub fn to_error_object(&self) -> Value {
        let mut obj = serde_json::Map::with_capacity(3);
        obj.insert("code".into(), self.inner.code.into());
        obj.insert(
            "message".into(),
            Value::String(self.inner.message.to_string()),
        );
        if let Some(data) = &self.inner.data {
            obj.insert("data".into(), data.clone());
        }
        Value::Object(obj)
    }
}

impl fmt::Debug for McpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpError")
            .field("kind", &self.inner.kind)
            .field("code", &self.inner.code)
            .field("message", &self.inner.message)
            .field("data", &self.inner.data)
            .finish()
    }
}

impl fmt::Display for McpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.inner.message, self.inner.code)
    }
}

impl std::error::Error for McpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_errors_live_outside_the_reserved_range() {
        let e = McpError::upstream_unavailable("demo", "upstream 'demo' exited");
        assert!(!(-32099..=-32000).contains(&e.code()));
        assert_eq!(e.code(), code::UPSTREAM_UNAVAILABLE);
        assert!(e.is_retryable());
        let obj = e.to_error_object();
        assert_eq!(obj["data"]["source"], "gateway");
        assert_eq!(obj["data"]["upstream"], "demo");
    }

    #[test]
    fn upstream_errors_keep_their_code() {
        let e = McpError::from_upstream(-32602, "bad".into(), None);
        assert_eq!(e.code(), -32602);
        assert_eq!(e.kind(), ErrorKind::Upstream);
    }
}
