//! Inbound transports: how clients reach the gateway. One file per transport; all of them end
//! in the [`Dispatcher`](crate::Dispatcher).

pub mod body;
pub mod guard;
mod modern;
mod sealed;
pub mod sse;
pub mod stdio;
pub mod streamable_http;

pub(crate) use modern::stamp_result as stamp_modern_result;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::error::McpError;
use crate::jsonrpc::error_frame;
use crate::outbound::Outbound;

pub use body::McpBody;
pub use guard::{OriginGuard, OriginGuardLayer, OriginPolicy};
pub use sealed::{MIN_SECRET_LEN, SEALED_SESSION_MAX_AGE, SessionSeal, WeakSecret};
pub use sse::SseService;
pub use streamable_http::{HttpOptions, StreamableHttpService};

/// Errors a boxed body may carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The request body type of the HTTP plane (any body, boxed; it need not be `Sync`, so hyper's
/// and axum's bodies stream through without being buffered).
pub type HttpBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
/// A request on the HTTP plane.
pub type HttpRequest = Request<HttpBody>;
/// The boxed, cloneable HTTP-plane service: HTTP-plane layers wrap it; it never fails (errors
/// are responses).
pub type HttpService =
    tower::util::BoxCloneSyncService<HttpRequest, Response<McpBody>, std::convert::Infallible>;

/// Boxes any request body into an [`HttpRequest`].
pub fn box_request<B>(req: Request<B>) -> HttpRequest
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    req.map(|b| b.map_err(Into::into).boxed_unsync())
}

/// A plain-text response with `status`.
pub fn plain(status: StatusCode, text: impl Into<String>) -> Response<McpBody> {
    let mut text = text.into();
    text.push('\n');
    let mut r = Response::new(McpBody::full(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A JSON-RPC error as an HTTP response with `status`.
pub(crate) fn rpc_error(
    status: StatusCode,
    id: Option<&crate::jsonrpc::RequestId>,
    e: &McpError,
) -> Response<McpBody> {
    json(status, error_frame(id, e))
}

pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<McpBody> {
    let mut r = Response::new(McpBody::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn sse_response(rx: mpsc::Receiver<Outbound>) -> Response<McpBody> {
    sse_with(McpBody::sse(rx))
}

/// An SSE response that fails (dropping the connection) when `cut` fires.
pub(crate) fn sse_response_until(
    rx: mpsc::Receiver<Outbound>,
    cut: CancellationToken,
) -> Response<McpBody> {
    sse_with(McpBody::sse_until(rx, cut))
}

fn sse_with(body: McpBody) -> Response<McpBody> {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    r
}

/// Whether the `Accept` headers name a media range that covers `media` (`type/subtype`) with a
/// non-zero quality: `media` itself, `type/*` or `*/*`. No `Accept` header at all is `false`
/// here (see [`admits`]).
pub(crate) fn accepts(req_headers: &http::HeaderMap, media: &str) -> bool {
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    req_headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let name = parts.next().unwrap_or("").trim();
            let covers = name.eq_ignore_ascii_case(media)
                || name == "*/*"
                || name
                    .strip_suffix("/*")
                    .is_some_and(|t| t.eq_ignore_ascii_case(kind));
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            covers && !refused
        })
}

/// Like [`accepts`], but a request without any `Accept` header admits everything (RFC 9110).
pub(crate) fn admits(req_headers: &http::HeaderMap, media: &str) -> bool {
    !req_headers.contains_key(ACCEPT) || accepts(req_headers, media)
}

/// A complete SSE response carrying one answer.
pub(crate) fn one_event(frame: Bytes) -> Response<McpBody> {
    let (tx, rx) = mpsc::channel(1);
    // A fresh channel of one always has room.
    let _ = tx.try_send(Outbound::Response(frame));
    sse_response(rx)
}

/// Whether the request's `Content-Type` is `application/json` (parameters such as `charset`
/// allowed, case-insensitive).
pub fn is_json(req_headers: &http::HeaderMap) -> bool {
    header(req_headers, CONTENT_TYPE.as_str()).is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Who opened a session: the [`Identity`](crate::Identity) the HTTP plane established — its
/// subject and the `auth.*` attributes the authentication layer sets (method, key name,
/// issuer), not the claims that may change from one token to the next — or `None` without
/// authentication. A session answers only to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner(Option<Arc<str>>);

impl Owner {
    pub(crate) fn of(identity: Option<&crate::Identity>) -> Owner {
        Owner(identity.map(|i| {
            let mut who = i.subject.clone();
            let mut fixed: Vec<_> = i
                .attributes
                .iter()
                .filter(|(k, _)| k.starts_with("auth."))
                .collect();
            fixed.sort();
            for (k, v) in fixed {
                who.push('\0');
                who.push_str(k);
                who.push('=');
                who.push_str(v);
            }
            Arc::from(who)
        }))
    }

    /// Who it is, as text (None: no authentication).
    pub(crate) fn text(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The identity's subject alone (for display: never a credential).
    pub(crate) fn subject(&self) -> Option<&str> {
        self.0.as_deref().map(|t| t.split('\0').next().unwrap_or(t))
    }
}

/// One open client session, as an operator sees it: no id, no credential.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The transport it came in on.
    pub transport: crate::session::TransportKind,
    /// The protocol version it negotiated (None before `initialize` completes).
    pub protocol_version: Option<String>,
    /// The client's `clientInfo.name` and version.
    pub client: Option<String>,
    /// The subject of the identity that opened it (None without authentication).
    pub identity: Option<String>,
    /// How long it has been open.
    pub age: std::time::Duration,
    /// Its requests in flight.
    pub inflight: usize,
}

impl SessionSummary {
    pub(crate) fn of(session: &crate::session::Session, owner: &Owner) -> SessionSummary {
        let info = session.info();
        SessionSummary {
            transport: info.transport(),
            protocol_version: info.protocol_version().map(|v| v.to_string()),
            client: info
                .client_info()
                .map(|c| format!("{} {}", c.name, c.version)),
            identity: owner.subject().map(str::to_owned),
            age: info.created().elapsed(),
            inflight: session.inflight(),
        }
    }
}

pub(crate) fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads a body up to `limit` bytes; `Err` is the response to send (413 or 400).
pub(crate) async fn read_body<B>(
    req: Request<B>,
    limit: usize,
) -> Result<(http::request::Parts, Bytes), Response<McpBody>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the message is larger than {limit} bytes (server.max_body_bytes)"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok((parts, b.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(plain(
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {e}"),
        )),
    }
}

pub(crate) fn accepted() -> Response<McpBody> {
    let mut r = Response::new(McpBody::empty());
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

/// 32 random bytes, hex: visible ASCII, unguessable (session ids, request states, the admin
/// page's token).
pub fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    let mut s = String::with_capacity(64);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Feeds a server-to-client SSE stream: notifications for every session and keep-alive
/// comments when idle. Returns when the client goes away, the session closes, or the client
/// falls a whole queue behind (it is cut off rather than buffered without bound).
pub(crate) async fn feed(
    tx: &mpsc::Sender<Outbound>,
    mut notifications: Option<broadcast::Receiver<Outbound>>,
    session: u64,
    keep_alive: Duration,
    closed: &CancellationToken,
    mut on_sent: impl FnMut(),
) {
    let mut tick = tokio::time::interval(keep_alive);
    tick.tick().await;
    loop {
        let frame = tokio::select! {
            n = async {
                match notifications.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match n {
                Ok(f) => f,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => { notifications = None; continue }
            },
            _ = tick.tick() => Outbound::KeepAlive,
            _ = tx.closed() => return,
            _ = closed.cancelled() => return,
        };
        let Some(frame) = frame.for_session(session) else {
            continue;
        };
        if tx.try_send(frame).is_err() {
            return;
        }
        on_sent();
    }
}

#[cfg(test)]
mod tests {
    use super::{accepts, admits};

    fn headers(accept: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for a in accept {
            h.append(http::header::ACCEPT, a.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn accept_matches_media_ranges_with_quality() {
        let h = headers(&["application/json, text/event-stream"]);
        assert!(accepts(&h, "application/json") && accepts(&h, "text/event-stream"));
        assert!(accepts(&headers(&["text/*"]), "text/event-stream"));
        assert!(accepts(&headers(&["*/*;q=0.1"]), "application/json"));
        assert!(!accepts(&headers(&["text/html"]), "application/json"));
        assert!(!accepts(
            &headers(&["application/json;q=0"]),
            "application/json"
        ));
        assert!(!accepts(
            &headers(&["application/jsonx"]),
            "application/json"
        ));
        assert!(accepts(
            &headers(&["text/html", "Application/JSON"]),
            "application/json"
        ));
        assert!(admits(&headers(&[]), "application/json"));
        assert!(!accepts(&headers(&[]), "application/json"));
    }
}
