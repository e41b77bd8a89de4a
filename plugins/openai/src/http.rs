//! HTTP helpers shared by the REST and chat routes: JSON answers, error bodies, body reading,
//! query strings, and the HTTP status an MCP-plane error maps to.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use toolgate::server::{HttpRequest, McpBody};
use toolgate::{ErrorKind as McpErrorKind, McpError};

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<McpBody> {
    bytes_response(status, "application/json", Bytes::from(body.to_string()))
}

/// A response with `content_type` and `body`.
pub(crate) fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<McpBody> {
    let mut r = Response::new(McpBody::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` — what the
/// official SDKs parse into their exceptions.
pub(crate) fn openai_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: impl Into<String>,
) -> Response<McpBody> {
    json_response(
        status,
        &json!({"error": {
            "message": message.into(),
            "type": kind,
            "param": param,
            "code": code,
        }}),
    )
}

/// 405 with `Allow`.
pub(crate) fn method_not_allowed(allow: &'static str, path: &str) -> Response<McpBody> {
    let mut r = openai_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        None,
        format!("{path} accepts {allow} only"),
    );
    r.headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the limit (413).
    TooLarge(usize),
    /// The connection failed mid-body (400).
    Read(String),
    /// The body is not declared `Content-Type: application/json` (415).
    NotJson,
}

impl BodyError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
            BodyError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
    pub(crate) fn message(&self) -> String {
        match self {
            BodyError::TooLarge(limit) => {
                format!("the request body is larger than {limit} bytes (server.max_body_bytes)")
            }
            BodyError::Read(e) => format!("could not read the request body: {e}"),
            BodyError::NotJson => "the request body must be Content-Type: application/json".into(),
        }
    }
}

/// Reads the whole JSON body (`Content-Type: application/json`), at most `limit` bytes.
pub(crate) async fn read_body(
    req: HttpRequest,
    limit: usize,
) -> Result<(http::request::Parts, Bytes), BodyError> {
    if !toolgate::server::is_json(req.headers()) {
        return Err(BodyError::NotJson);
    }
    if let Some(len) = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(BodyError::TooLarge(limit));
    }
    let (parts, body) = req.into_parts();
    let data = collect_limited(body, limit).await.map_err(|e| match e {
        Collect::TooLarge => BodyError::TooLarge(limit),
        Collect::Read(e) => BodyError::Read(e),
    })?;
    Ok((parts, data))
}

/// Why [`collect_limited`] stopped.
#[derive(Debug)]
pub(crate) enum Collect {
    /// More than the limit.
    TooLarge,
    /// The body failed.
    Read(String),
}

/// Reads a whole body, failing past `limit` bytes. (A loop rather than `http_body_util::Limited`,
/// whose boxed error trips a higher-ranked `Send` check in these futures.)
pub(crate) async fn collect_limited<B>(mut body: B, limit: usize) -> Result<Bytes, Collect>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Collect::Read(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(Collect::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// The value of query parameter `name`, percent-decoded (the last one if repeated).
pub(crate) fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .last()
}

/// The HTTP status for an MCP-plane error.
pub(crate) fn status_of(e: &McpError) -> StatusCode {
    match e.kind() {
        McpErrorKind::Parse | McpErrorKind::InvalidRequest | McpErrorKind::InvalidParams => {
            StatusCode::BAD_REQUEST
        }
        McpErrorKind::MethodNotFound | McpErrorKind::ResourceNotFound => StatusCode::NOT_FOUND,
        McpErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        McpErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        McpErrorKind::UpstreamUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        McpErrorKind::Upstream
        | McpErrorKind::UpstreamProtocol
        | McpErrorKind::UpstreamUnauthorized => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `Retry-After` value (whole seconds, at least 1) for an MCP-plane error whose status is
/// 429 or 503 and whose `data.retry_after_ms` says how long to wait: `ceil(ms / 1000)`.
pub(crate) fn retry_after_of(e: &McpError) -> Option<HeaderValue> {
    if !matches!(
        status_of(e),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        return None;
    }
    let ms = e.data()?.get("retry_after_ms")?.as_u64()?;
    let secs = ms.div_ceil(1000).max(1);
    Some(HeaderValue::from(secs))
}

/// The response for an MCP-plane error: `status_of(e)`, `body`, and `Retry-After` when the
/// error says when to retry (a rate limit's `retry_after_ms`).
pub(crate) fn mcp_error_response(e: &McpError, body: &Value) -> Response<McpBody> {
    with_retry_after(json_response(status_of(e), body), e)
}

/// Adds `Retry-After` to `r` when `e` says when to retry (see [`retry_after_of`]).
pub(crate) fn with_retry_after(mut r: Response<McpBody>, e: &McpError) -> Response<McpBody> {
    if let Some(after) = retry_after_of(e) {
        r.headers_mut().insert(http::header::RETRY_AFTER, after);
    }
    r
}

/// A short machine-readable name for an MCP-plane error.
pub(crate) fn code_of(e: &McpError) -> &'static str {
    match e.kind() {
        McpErrorKind::Parse | McpErrorKind::InvalidRequest => "invalid_request",
        McpErrorKind::InvalidParams => "invalid_params",
        McpErrorKind::MethodNotFound => "method_not_found",
        McpErrorKind::ResourceNotFound => "not_found",
        McpErrorKind::RateLimited => "rate_limited",
        McpErrorKind::Timeout => "upstream_timeout",
        McpErrorKind::UpstreamUnavailable => "upstream_unavailable",
        McpErrorKind::Upstream => "upstream_error",
        McpErrorKind::UpstreamProtocol => "upstream_protocol_error",
        McpErrorKind::UpstreamUnauthorized => "upstream_unauthorized",
        _ => "internal_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        let uri: http::Uri = "/x?format=openai&server_id=my%20server&format=mcp"
            .parse()
            .expect("uri");
        assert_eq!(query_param(&uri, "server_id").as_deref(), Some("my server"));
        assert_eq!(query_param(&uri, "format").as_deref(), Some("mcp"));
        assert_eq!(query_param(&uri, "nope"), None);
    }

    #[test]
    fn mcp_errors_map_to_statuses() {
        assert_eq!(
            status_of(&McpError::invalid_params("x")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(&McpError::upstream_unavailable("a", "down")),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&McpError::new(McpErrorKind::Timeout, "slow")),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            status_of(&McpError::new(McpErrorKind::RateLimited, "slow down")),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    fn limited(retry_after_ms: Value) -> McpError {
        McpError::new(McpErrorKind::RateLimited, "rate limit 1/min exceeded")
            .with_data(json!({"retryable": true, "retry_after_ms": retry_after_ms}))
    }

    fn retry_after(e: &McpError) -> Option<String> {
        let r = mcp_error_response(e, &json!({"error": "x"}));
        r.headers()
            .get(http::header::RETRY_AFTER)
            .map(|v| v.to_str().map(str::to_owned).unwrap_or_default())
    }

    #[test]
    fn rate_limited_errors_carry_retry_after_in_whole_seconds_rounded_up() {
        let e = limited(json!(480));
        assert_eq!(
            mcp_error_response(&e, &json!({})).status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(retry_after(&e).as_deref(), Some("1"));
        assert_eq!(retry_after(&limited(json!(1000))).as_deref(), Some("1"));
        assert_eq!(retry_after(&limited(json!(1001))).as_deref(), Some("2"));
        assert_eq!(retry_after(&limited(json!(59_999))).as_deref(), Some("60"));
        // A zero wait still tells the client to back off for a second.
        assert_eq!(retry_after(&limited(json!(0))).as_deref(), Some("1"));
    }

    #[test]
    fn retry_after_is_absent_without_a_usable_wait() {
        assert_eq!(retry_after(&limited(json!("soon"))), None);
        assert_eq!(retry_after(&limited(json!(-5))), None);
        assert_eq!(
            retry_after(&McpError::new(McpErrorKind::RateLimited, "no data")),
            None
        );
        // A timeout (504) is not told when to retry, whatever its data says.
        let timeout =
            McpError::new(McpErrorKind::Timeout, "slow").with_data(json!({"retry_after_ms": 500}));
        assert_eq!(retry_after(&timeout), None);
    }

    #[test]
    fn unavailable_upstreams_pass_their_retry_hint_on() {
        let e = McpError::upstream_unavailable("demo", "restarting")
            .with_data(json!({"retry_after_ms": 2500}));
        assert_eq!(retry_after(&e).as_deref(), Some("3"));
    }
}
