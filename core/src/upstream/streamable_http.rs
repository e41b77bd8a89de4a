//! Upstream over Streamable HTTP: a remote MCP server the gateway talks to with POSTs.
//!
//! Each request is one POST; its answer comes back as JSON or as an SSE stream that may carry
//! progress notifications before the response, and both are routed through the same request
//! table as stdio. The `Mcp-Session-Id` from `initialize` and the negotiated
//! `MCP-Protocol-Version` go on every later request. A GET stream, when the server offers one,
//! carries server-initiated notifications (`list_changed`). A 404 for our session, or a server
//! that cannot be reached, ends the session: the supervisor re-initializes with backoff.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;

use super::callers::CallerSessions;
use super::link::{BoxFuture, Connection, Link, Reply};
use super::remote::{self, HttpClient, HttpSpec, is_event_stream, read_snippet};
use super::table;
use super::{Backoff, Shared, UpstreamCaller, UpstreamStatus, handshake, unavailable};
use crate::error::{ErrorKind, McpError};
use crate::jsonrpc::Message;

/// Largest JSON answer accepted from an upstream.
const MAX_BODY: usize = 64 * 1024 * 1024;
const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// One Streamable HTTP session with an upstream.
#[derive(Debug)]
pub(crate) struct HttpLink {
    client: HttpClient,
    uri: Uri,
    headers: HeaderMap,
    session_id: RwLock<Option<HeaderValue>>,
    protocol_version: RwLock<Option<HeaderValue>>,
    /// Fires when the session is over (404, unreachable); the supervisor starts a new one.
    broken: CancellationToken,
    /// The first POST was answered 400/404/405: per the spec's backwards-compatibility rule
    /// this may be a legacy SSE server.
    legacy_hint: std::sync::atomic::AtomicBool,
    /// A caller's session (see `callers.rs`): the caller's `Authorization`, on its own
    /// requests too (`initialize`, `DELETE`).
    caller_auth: Option<HeaderValue>,
    /// The sessions of callers, for upstreams that act for callers.
    callers: CallerSessions<HttpLink>,
}

impl HttpLink {
    fn new(client: HttpClient, uri: Uri, headers: HeaderMap) -> Self {
        HttpLink {
            client,
            uri,
            headers,
            session_id: RwLock::new(None),
            protocol_version: RwLock::new(None),
            broken: CancellationToken::new(),
            legacy_hint: std::sync::atomic::AtomicBool::new(false),
            caller_auth: None,
            callers: CallerSessions::default(),
        }
    }

    /// A new session of this server for `caller`.
    fn for_caller_session(&self, caller: &UpstreamCaller) -> Self {
        HttpLink {
            caller_auth: Some(caller.authorization.clone()),
            ..HttpLink::new(self.client.clone(), self.uri.clone(), self.headers.clone())
        }
    }

    /// Ends this session and every caller session opened beside it (at shutdown).
    async fn close(&self, shared: &Shared) {
        let callers = self.callers.drain();
        let all = callers.iter().map(|c| c.connection.delete_session(shared));
        tokio::join!(
            self.delete_session(shared),
            futures_util::future::join_all(all)
        );
    }

    fn request(&self, method: Method, body: Bytes) -> Result<Request<Full<Bytes>>, McpError> {
        let mut req = Request::builder()
            .method(method)
            .uri(self.uri.clone())
            .body(Full::new(body))
            .map_err(|e| McpError::internal(format!("could not build an upstream request: {e}")))?;
        let h = req.headers_mut();
        h.extend(self.headers.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(auth) = &self.caller_auth {
            h.insert(http::header::AUTHORIZATION, auth.clone());
        }
        if let Some(id) = self.session_id.read().clone() {
            h.insert(HeaderName::from_static(SESSION_HEADER), id);
        }
        if let Some(v) = self.protocol_version.read().clone() {
            h.insert(HeaderName::from_static(VERSION_HEADER), v);
        }
        Ok(req)
    }

    /// Sends `build()`'s request with the upstream's credentials (see
    /// [`remote::send_authorized`]).
    async fn send_authorized(
        &self,
        shared: &Shared,
        build: impl Fn() -> Result<Request<Full<Bytes>>, McpError>,
    ) -> Result<http::Response<Incoming>, McpError> {
        remote::send_authorized(shared, &shared.credentials, build, |req| {
            self.send(shared, req)
        })
        .await
    }

    async fn send(
        &self,
        shared: &Shared,
        req: Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, McpError> {
        match self.client.request(req).await {
            Ok(resp) => {
                if let Some(id) = resp.headers().get(SESSION_HEADER) {
                    let mut slot = self.session_id.write();
                    if slot.is_none() {
                        *slot = Some(id.clone());
                    }
                }
                Ok(resp)
            }
            Err(e) => {
                if e.is_connect() {
                    self.broken.cancel();
                }
                Err(unavailable(
                    shared,
                    format_args!("could not be reached at {}: {e}", self.uri),
                ))
            }
        }
    }

    /// POSTs a request and reads its answer. The response to it goes straight back to the
    /// caller; other messages on the way (progress, notifications) are routed through the
    /// table. An SSE answer is read on in the background after the response — bounded in time
    /// and size — so that the connection is finished and goes back to the pool (dropping an
    /// unread body would close it, and the next call would open a new one).
    pub(crate) async fn post_request(
        &self,
        shared: &Arc<Shared>,
        link: &Link,
        id: i64,
        frame: Bytes,
        headers: &HeaderMap,
    ) -> Result<Option<Reply>, McpError> {
        let build = || {
            let mut req = self.request(Method::POST, frame.clone())?;
            if !headers.is_empty() {
                req.headers_mut().extend(headers.clone());
            }
            Ok(req)
        };
        let resp = self.send_authorized(shared, build).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND && self.session_id.read().is_some() {
            self.broken.cancel();
            return Err(unavailable(shared, "ended our session (404); reconnecting"));
        }
        if !status.is_success() {
            if matches!(status.as_u16(), 400 | 404 | 405) && self.session_id.read().is_none() {
                self.legacy_hint
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let body = read_snippet(resp).await;
            return Err(McpError::gateway(
                ErrorKind::UpstreamUnavailable,
                &shared.name,
                status.is_server_error(),
                format!("upstream '{}' answered HTTP {status}: {body}", shared.name),
            ));
        }
        if is_event_stream(resp.headers()) {
            let mut events = sse_stream::SseStream::new(resp.into_body());
            // SEP-1699: after an event with an id, the server may end the stream before the
            // response; the answer is then fetched with a GET carrying `Last-Event-ID`.
            let mut last_id: Option<String> = None;
            let mut retry: Option<Duration> = None;
            let mut resumed = 0;
            loop {
                while let Some(event) = events.next().await {
                    let ev = match event {
                        Ok(ev) => ev,
                        Err(e) => {
                            return Err(unavailable(
                                shared,
                                format_args!("broke its event stream: {e}"),
                            ));
                        }
                    };
                    if let Some(event_id) = ev.id.filter(|i| !i.is_empty()) {
                        last_id = Some(event_id);
                    }
                    if let Some(ms) = ev.retry {
                        retry = Some(Duration::from_millis(ms));
                    }
                    let Some(data) = ev.data.filter(|d| !d.trim().is_empty()) else {
                        continue;
                    };
                    let msg = match Message::parse(data.as_bytes()) {
                        Ok(msg) => msg,
                        Err(e) => {
                            tracing::warn!(upstream = %shared.name, error = %e.error, "upstream sent an invalid message");
                            continue;
                        }
                    };
                    match table::reply_to(msg, id) {
                        Ok(reply) => {
                            finish(shared, link, events);
                            return Ok(Some(reply));
                        }
                        Err(other) => table::on_related(shared, link, id, other),
                    }
                    if !shared.table.contains(id) {
                        // Answered some other way (cancelled, failed): the rest is not ours to
                        // wait for.
                        finish(shared, link, events);
                        return Ok(None);
                    }
                }
                let Some(resume_from) = last_id.clone() else {
                    break;
                };
                if !shared.table.contains(id) || resumed >= MAX_RESUMES {
                    break;
                }
                resumed += 1;
                let wait = retry.unwrap_or(DEFAULT_RETRY).min(MAX_RETRY_WAIT);
                tracing::debug!(upstream = %shared.name, last_event_id = %resume_from, ?wait, "answer stream closed before the response; resuming");
                tokio::time::sleep(wait).await;
                events = sse_stream::SseStream::new(self.resume(shared, &resume_from).await?);
            }
        } else {
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| unavailable(shared, format_args!("sent an unreadable answer: {e}")))?
                .to_bytes();
            if !body.is_empty() {
                match Message::parse(&body) {
                    Ok(msg) => match table::reply_to(msg, id) {
                        Ok(reply) => return Ok(Some(reply)),
                        Err(other) => table::on_related(shared, link, id, other),
                    },
                    Err(e) => {
                        tracing::warn!(upstream = %shared.name, error = %e.error, "upstream sent an invalid message");
                    }
                }
            }
        }
        if shared.table.contains(id) {
            return Err(protocol(
                shared,
                "ended its answer without a response to the request",
            ));
        }
        Ok(None)
    }

    /// GETs the rest of a closed answer stream from the event after `last_event_id`.
    async fn resume(&self, shared: &Shared, last_event_id: &str) -> Result<Incoming, McpError> {
        let last = HeaderValue::from_str(last_event_id).map_err(|_| {
            protocol(
                shared,
                "sent an event id that cannot be sent back in Last-Event-ID",
            )
        })?;
        let build = || {
            let mut req = self.request(Method::GET, Bytes::new())?;
            let h = req.headers_mut();
            h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
            h.remove(CONTENT_TYPE);
            h.insert(HeaderName::from_static("last-event-id"), last.clone());
            Ok(req)
        };
        let resp = self.send_authorized(shared, build).await?;
        if resp.status().is_success() && is_event_stream(resp.headers()) {
            return Ok(resp.into_body());
        }
        let status = resp.status();
        let body = read_snippet(resp).await;
        Err(protocol(
            shared,
            format_args!(
                "closed an answer stream before the response, and resuming it with \
                 Last-Event-ID {last_event_id} was answered HTTP {status}: {body}"
            ),
        ))
    }

    /// POSTs a notification or response (expects 202).
    pub(crate) async fn post_message(&self, shared: &Arc<Shared>, frame: Bytes) {
        match self
            .send_authorized(shared, || self.request(Method::POST, frame.clone()))
            .await
        {
            Ok(resp) if resp.status().is_success() => {}
            Ok(resp) => {
                tracing::debug!(upstream = %shared.name, status = %resp.status(), "upstream refused a notification")
            }
            Err(e) => {
                tracing::debug!(upstream = %shared.name, error = %e, "could not send a notification")
            }
        }
    }

    /// Listens on the GET stream for server-initiated messages until the session ends.
    async fn listen(self: Arc<Self>, shared: Arc<Shared>) {
        let link = Link::from_arc(self.clone());
        let mut delay = Duration::from_millis(200);
        loop {
            let build = || {
                let mut req = self.request(Method::GET, Bytes::new())?;
                req.headers_mut()
                    .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
                req.headers_mut().remove(CONTENT_TYPE);
                Ok(req)
            };
            let resp = tokio::select! {
                r = self.send_authorized(&shared, build) => r,
                _ = self.broken.cancelled() => return,
            };
            match resp {
                Ok(resp) if resp.status().is_success() && is_event_stream(resp.headers()) => {
                    let mut events = sse_stream::SseStream::new(resp.into_body());
                    loop {
                        let ev = tokio::select! {
                            ev = events.next() => ev,
                            _ = self.broken.cancelled() => return,
                        };
                        match ev {
                            Some(Ok(ev)) => {
                                if let Some(data) = ev.data.as_deref()
                                    && !data.trim().is_empty()
                                {
                                    table::on_message(&shared, &link, data.as_bytes());
                                }
                            }
                            _ => break,
                        }
                    }
                }
                // 405: the server offers no GET stream; that is allowed.
                Ok(resp) if resp.status() == StatusCode::METHOD_NOT_ALLOWED => return,
                // 404: our session is gone — or, from a server that gave us no session, it
                // simply has no GET stream (it must not make us re-initialize).
                Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
                    if self.session_id.read().is_some() {
                        self.broken.cancel();
                    } else {
                        tracing::debug!(upstream = %shared.name, "sessionless upstream has no GET stream (404)");
                    }
                    return;
                }
                Ok(_) | Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.broken.cancelled() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    async fn delete_session(&self, shared: &Shared) {
        if self.session_id.read().is_none() {
            return;
        }
        let build = || self.request(Method::DELETE, Bytes::new());
        let _ =
            tokio::time::timeout(Duration::from_secs(1), self.send_authorized(shared, build)).await;
    }
}

/// How long to wait before resuming a closed answer stream when the server named no `retry:`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// The longest `retry:` honoured (the request's deadline bounds the whole call anyway).
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Most times one answer is resumed.
const MAX_RESUMES: usize = 100;

fn protocol(shared: &Shared, why: impl std::fmt::Display) -> McpError {
    McpError::gateway(
        ErrorKind::UpstreamProtocol,
        &shared.name,
        true,
        format!("upstream '{}' {why}", shared.name),
    )
}

/// Most of an SSE answer read after its response, and for how long, before the connection is
/// given up instead (a server that keeps a finished answer's stream open).
const DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Finishes an SSE answer whose response has been taken: usually the stream's end arrived
/// with the response (the connection is back in the pool already); otherwise the rest is read
/// in the background.
fn finish<S>(shared: &Arc<Shared>, link: &Link, mut events: S)
where
    S: futures_util::Stream<Item = Result<sse_stream::Sse, sse_stream::Error>>
        + Unpin
        + Send
        + 'static,
{
    use futures_util::FutureExt;
    match events.next().now_or_never() {
        Some(None) => {}
        Some(Some(Ok(ev))) => {
            if let Some(data) = ev.data.as_deref().filter(|d| !d.trim().is_empty()) {
                table::on_message(shared, link, data.as_bytes());
            }
            tokio::spawn(drain(shared.clone(), link.clone(), events));
        }
        Some(Some(Err(_))) => {}
        None => {
            tokio::spawn(drain(shared.clone(), link.clone(), events));
        }
    }
}

/// Reads what is left of an SSE answer after its response, routing any message in it, so that
/// the connection ends cleanly and is reused.
async fn drain<S>(shared: Arc<Shared>, link: Link, mut events: S)
where
    S: futures_util::Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> + Unpin,
{
    let read = async {
        let mut seen = 0usize;
        while let Some(Ok(ev)) = events.next().await {
            if let Some(data) = ev.data.as_deref().filter(|d| !d.trim().is_empty()) {
                seen += data.len();
                table::on_message(&shared, &link, data.as_bytes());
            }
            if seen > DRAIN_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// Requests are POSTed; the answer comes in the POST's own body (JSON or SSE).
impl Connection for HttpLink {
    fn send_request<'a>(
        &'a self,
        shared: &'a Arc<Shared>,
        link: &'a Link,
        id: i64,
        frame: Bytes,
        headers: &'a HeaderMap,
    ) -> BoxFuture<'a, Result<Option<Reply>, McpError>> {
        Box::pin(self.post_request(shared, link, id, frame, headers))
    }

    fn deliver<'a>(&'a self, shared: &'a Arc<Shared>, frame: Bytes) -> BoxFuture<'a, ()> {
        Box::pin(self.post_message(shared, frame))
    }

    /// Each caller gets a session of their own, opened with their token.
    fn for_caller<'a>(
        &'a self,
        shared: &'a Arc<Shared>,
        caller: &'a UpstreamCaller,
    ) -> BoxFuture<'a, Result<Option<Link>, McpError>> {
        Box::pin(async move {
            let (session, evicted) = self.callers.get(
                caller,
                |c| c.broken.is_cancelled(),
                || self.for_caller_session(caller),
            );
            if let Some(old) = evicted {
                let shared = shared.clone();
                tokio::spawn(async move { old.connection.delete_session(&shared).await });
            }
            let link = Link::from_arc(session.connection.clone());
            session
                .opened
                .get_or_try_init(|| async {
                    let info = handshake::initialize(shared, &link).await?;
                    if let Ok(v) = HeaderValue::from_str(info.protocol_version.as_str()) {
                        *session.connection.protocol_version.write() = Some(v);
                    }
                    tracing::debug!(upstream = %shared.name, caller = %caller.key, "opened a session for a caller");
                    Ok::<_, McpError>(())
                })
                .await?;
            Ok(Some(link))
        })
    }
}

pub(crate) fn spawn_supervisor(shared: Arc<Shared>, spec: HttpSpec) {
    tokio::spawn(supervise(shared, spec));
}

async fn supervise(shared: Arc<Shared>, spec: HttpSpec) {
    let (uri, headers) = match remote::parse_spec(&spec) {
        Ok(x) => x,
        Err(reason) => {
            shared.set_status(UpstreamStatus::Down { reason });
            return;
        }
    };
    let client = match remote::client(&spec, &shared.options) {
        Ok(c) => c,
        Err(reason) => {
            tracing::error!(upstream = %shared.name, %reason, "upstream cannot be reached: its client settings are wrong");
            shared.set_status(UpstreamStatus::Down { reason });
            return;
        }
    };
    let mut backoff = Backoff::new(&shared.options);
    loop {
        let http = Arc::new(HttpLink::new(client.clone(), uri.clone(), headers.clone()));
        let link = Link::from_arc(http.clone());
        let reason = tokio::select! {
            r = handshake::initialize(&shared, &link) => match r {
                Ok(info) => {
                    if let Ok(v) = HeaderValue::from_str(info.protocol_version.as_str()) {
                        *http.protocol_version.write() = Some(v);
                    }
                    tracing::info!(upstream = %shared.name, server = %info.server_info.name, version = %info.protocol_version, "upstream ready");
                    shared.set_link(Some(link));
                    shared.set_status(UpstreamStatus::Ready(Arc::new(info)));
                    backoff.reset();
                    tokio::spawn(http.clone().listen(shared.clone()));
                    tokio::select! {
                        _ = http.broken.cancelled() => "the session ended".to_string(),
                        _ = shared.shutdown.cancelled() => {
                            shared.set_link(None);
                            http.broken.cancel();
                            http.close(&shared).await;
                            break;
                        }
                    }
                }
                Err(e) => {
                    if http.legacy_hint.load(std::sync::atomic::Ordering::Relaxed) {
                        tracing::info!(upstream = %shared.name, "POST refused; trying legacy HTTP+SSE at the same URL");
                        return super::sse::supervise(shared, spec).await;
                    }
                    e.message().to_string()
                }
            },
            _ = shared.shutdown.cancelled() => break,
        };
        http.broken.cancel();
        if !shared.went_down(reason, &mut backoff).await {
            break;
        }
    }
    shared.stopped();
}
