//! Inbound Streamable HTTP (MCP 2025-03-26 … 2025-11-25, and stateless 2026-07-28).
//!
//! [`StreamableHttpService`] is a `tower::Service<http::Request<B>>` that a user can mount in
//! their own hyper or axum app. POST carries one JSON-RPC message; a request is answered with
//! JSON, or with an SSE stream when it asked for progress (`_meta.progressToken`) and accepts
//! `text/event-stream`; notifications and responses get 202. `initialize` creates a session
//! (`Mcp-Session-Id`, 32 random bytes in hex); other requests must carry it (missing → 400,
//! unknown or ended → 404). GET opens the session's stream for server notifications; DELETE
//! ends the session. A request whose `MCP-Protocol-Version` is 2026-07-28 is served
//! statelessly: no session, `Mcp-Method` must match the body.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method as HttpMethod, Request, Response, StatusCode};
use http_body::Body;
use parking_lot::Mutex;
use rmcp::model::ProtocolVersion;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::body::McpBody;
use super::{
    Owner, accepted, accepts, admits, header, is_json, json, one_event, read_body, rpc_error,
    sse_response,
};
use crate::dispatcher::{Dispatcher, Inbound};
use crate::envelope::Identity;
use crate::error::{McpError, code};
use crate::jsonrpc::{Message, Method};
use crate::outbound::Outbound;
use crate::session::{Downstream, Session, SessionInfo, TransportKind};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";

/// Limits and timings of the Streamable HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Largest accepted POST body (larger → 413).
    pub max_body_bytes: usize,
    /// A session with no traffic for this long is ended.
    pub session_idle_timeout: Duration,
    /// Most sessions open at once (more → 503).
    pub max_sessions: usize,
    /// Interval of keep-alive comments on idle SSE streams.
    pub keep_alive: Duration,
    /// Queue length of one SSE stream; a client that falls this far behind is cut off.
    pub stream_queue: usize,
    /// Seals session ids so that any gateway replica with the same secret can serve the
    /// session (`server.session_secret`); `None`: ids are random and known to this process
    /// only.
    pub session_seal: Option<super::SessionSeal>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body_bytes: 4 * 1024 * 1024,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            keep_alive: Duration::from_secs(15),
            stream_queue: 256,
            session_seal: None,
        }
    }
}

/// The MCP endpoint over Streamable HTTP.
#[derive(Clone, Debug)]
pub struct StreamableHttpService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dispatcher: Dispatcher,
    options: HttpOptions,
    sessions: Mutex<HashMap<Arc<str>, Arc<HttpSession>>>,
    notifications: Option<broadcast::Sender<Outbound>>,
}

#[derive(Debug)]
struct HttpSession {
    session: Arc<Session>,
    /// Who opened it: every later request must come from the same identity.
    owner: Owner,
    last_seen: Mutex<Instant>,
    /// The session's GET stream: where notifications go, and the token that ends it.
    stream: Mutex<Option<(mpsc::Sender<Outbound>, CancellationToken)>>,
}

impl HttpSession {
    fn touch(&self) {
        *self.last_seen.lock() = Instant::now();
    }
    fn downstream(&self) -> Downstream {
        match self.stream.lock().as_ref().map(|(tx, _)| tx.clone()) {
            Some(tx) => Downstream::new(tx),
            None => Downstream::none(),
        }
    }
}

impl StreamableHttpService {
    /// Another endpoint like this one — the same limits and notifications — over `dispatcher`
    /// (with its own sessions).
    pub fn over(&self, dispatcher: Dispatcher) -> Self {
        StreamableHttpService::new(
            dispatcher,
            self.inner.options.clone(),
            self.inner.notifications.clone(),
        )
    }

    /// An endpoint over `dispatcher`. `notifications` (usually
    /// [`Aggregate::subscribe`](crate::aggregate::Aggregate::subscribe)'s sender) feeds every
    /// session's GET stream. Spawns the task that ends idle sessions: must run inside a tokio
    /// runtime (the task stops when the service is dropped).
    pub fn new(
        dispatcher: Dispatcher,
        options: HttpOptions,
        notifications: Option<broadcast::Sender<Outbound>>,
    ) -> Self {
        let inner = Arc::new(Inner {
            dispatcher,
            options,
            sessions: Mutex::new(HashMap::new()),
            notifications,
        });
        tokio::spawn(reap_idle(Arc::downgrade(&inner)));
        StreamableHttpService { inner }
    }

    /// The sessions open right now, as an operator sees them (no ids, no credentials).
    pub fn sessions(&self) -> Vec<super::SessionSummary> {
        self.inner
            .sessions
            .lock()
            .values()
            .map(|s| super::SessionSummary::of(&s.session, &s.owner))
            .collect()
    }

    /// Sessions open right now.
    pub fn session_count(&self) -> usize {
        self.inner.sessions.lock().len()
    }
}

impl<B> tower::Service<Request<B>> for StreamableHttpService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            Ok(match *req.method() {
                HttpMethod::POST => inner.post(req).await,
                HttpMethod::GET => inner.get(req),
                HttpMethod::DELETE => inner.delete(req),
                _ => {
                    let mut r =
                        super::plain(StatusCode::METHOD_NOT_ALLOWED, "use POST, GET or DELETE");
                    r.headers_mut().insert(
                        http::header::ALLOW,
                        HeaderValue::from_static("GET, POST, DELETE"),
                    );
                    r
                }
            })
        })
    }
}

fn has_progress_token(req: &crate::jsonrpc::JsonRpcRequest) -> bool {
    req.params
        .as_deref()
        .is_some_and(|p| crate::params::progress_token(p).is_ok_and(|t| t.is_some()))
}

impl Inner {
    async fn post<B>(self: Arc<Self>, req: Request<B>) -> Response<McpBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !is_json(req.headers()) {
            return super::plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "POST bodies must be Content-Type: application/json",
            );
        }
        // The answer is JSON or an SSE stream; a client must take at least one of them.
        let sse_ok = accepts(req.headers(), "text/event-stream");
        let json_ok = admits(req.headers(), "application/json");
        if !sse_ok && !json_ok {
            return super::plain(
                StatusCode::NOT_ACCEPTABLE,
                "Accept must admit application/json or text/event-stream (clients send both)",
            );
        }
        let (parts, body) = match read_body(req, self.options.max_body_bytes).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
        let msg = match Message::parse(&body) {
            Ok(m) => m,
            Err(f) => return rpc_error(StatusCode::BAD_REQUEST, f.id.as_ref(), &f.error),
        };
        let identity = parts.extensions.get::<Identity>().cloned();
        let answer = Answer { sse_ok, json_ok };

        // Protocol version header: unknown → 400; 2026-07-28 → stateless.
        let version = match header(&parts.headers, VERSION_HEADER) {
            Some(v) => {
                let v: ProtocolVersion =
                    match serde_json::from_value(serde_json::Value::String(v.to_string())) {
                        Ok(v) => v,
                        Err(_) => {
                            return super::plain(
                                StatusCode::BAD_REQUEST,
                                "invalid MCP-Protocol-Version",
                            );
                        }
                    };
                if !ProtocolVersion::KNOWN_VERSIONS.contains(&v) {
                    let e = McpError::new(
                        crate::ErrorKind::InvalidRequest,
                        format!("unsupported MCP-Protocol-Version: {v}"),
                    )
                    .with_code(code::UNSUPPORTED_PROTOCOL_VERSION)
                    .with_data(serde_json::json!({
                        "supported": ProtocolVersion::KNOWN_VERSIONS,
                        "requested": v,
                    }));
                    let id = match &msg {
                        Message::Request(r) => Some(r.id.clone()),
                        _ => None,
                    };
                    return rpc_error(StatusCode::BAD_REQUEST, id.as_ref(), &e);
                }
                Some(v)
            }
            None => None,
        };
        if let Some(v) = version.as_ref().filter(|v| !v.has_initialize()) {
            return self
                .stateless(v.clone(), &parts, msg, identity, answer)
                .await;
        }

        let mut inbound = Inbound {
            identity,
            extensions: parts.extensions,
            ..Default::default()
        };

        if let Message::Request(r) = &msg
            && r.method == Method::Initialize
        {
            return self.initialize(msg, inbound, answer).await;
        }

        let Some(sid) = header(&parts.headers, SESSION_HEADER) else {
            let id = match &msg {
                Message::Request(r) => Some(r.id.clone()),
                _ => None,
            };
            return rpc_error(
                StatusCode::BAD_REQUEST,
                id.as_ref(),
                &McpError::invalid_request(
                    "missing Mcp-Session-Id header: send initialize first and echo the session id it returns",
                ),
            );
        };
        let Some(hs) = self.session(sid, inbound.identity.as_ref()) else {
            return unknown_session();
        };
        hs.touch();
        let req = match msg {
            Message::Request(r) => r,
            other => {
                self.dispatcher.handle(&hs.session, other, inbound).await;
                return accepted();
            }
        };
        if answer.stream(&req) {
            let (tx, rx) = mpsc::channel(self.options.stream_queue);
            inbound.downstream = Downstream::new(tx.clone());
            let dispatcher = self.dispatcher.clone();
            let session = hs.session.clone();
            tokio::spawn(async move {
                if let Some(frame) = dispatcher.request(&session, req, inbound).await {
                    let _ = tx.send(Outbound::Response(frame)).await;
                }
            });
            return sse_response(rx);
        }
        if !answer.sse_ok {
            // JSON only: anything for the client goes on its GET stream, if it has one.
            inbound.downstream = hs.downstream();
            return match self.dispatcher.request(&hs.session, req, inbound).await {
                Some(frame) => answer.single(frame),
                None => accepted(),
            };
        }
        self.json_unless_streamed(&hs.session, req, inbound, answer)
            .await
    }

    /// Answers with one JSON body, unless something for the client (a log message, a request
    /// relayed from an upstream) comes before the answer: then the answer is an SSE stream
    /// carrying those messages and, last, the response — so they reach the client on the
    /// stream of the request they belong to.
    async fn json_unless_streamed(
        &self,
        session: &Arc<Session>,
        req: crate::jsonrpc::JsonRpcRequest,
        mut inbound: Inbound,
        answer: Answer,
    ) -> Response<McpBody> {
        let (tx, mut rx) = mpsc::channel(self.options.stream_queue);
        inbound.downstream = Downstream::new(tx);
        let dispatcher = self.dispatcher.clone();
        let session = session.clone();
        let mut request = Box::pin(async move { dispatcher.request(&session, req, inbound).await });
        let first = tokio::select! {
            biased;
            frame = &mut request => {
                let queued: Vec<Outbound> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
                let Some(frame) = frame else {
                    return accepted();
                };
                if queued.is_empty() {
                    return answer.single(frame);
                }
                let (tx, rx) = mpsc::channel(queued.len() + 1);
                for message in queued.into_iter().chain([Outbound::Response(frame)]) {
                    let _ = tx.try_send(message);
                }
                return sse_response(rx);
            }
            Some(first) = rx.recv() => first,
        };
        let (tx, stream) = mpsc::channel(self.options.stream_queue);
        tokio::spawn(async move {
            // A client that goes away drops `request`: the request is cancelled.
            if tx.send(first).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    biased;
                    Some(message) = rx.recv() => {
                        if tx.send(message).await.is_err() {
                            return;
                        }
                    }
                    frame = &mut request => {
                        while let Ok(message) = rx.try_recv() {
                            let _ = tx.send(message).await;
                        }
                        if let Some(frame) = frame {
                            let _ = tx.send(Outbound::Response(frame)).await;
                        }
                        return;
                    }
                }
            }
        });
        sse_response(stream)
    }

    async fn initialize(
        &self,
        msg: Message,
        inbound: Inbound,
        answer: Answer,
    ) -> Response<McpBody> {
        if self.sessions.lock().len() >= self.options.max_sessions {
            return super::plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open sessions; try again later",
            );
        }
        let sid: Arc<str> = super::random_token().into();
        let session = Arc::new(Session::new(SessionInfo::new(
            Some(sid.clone()),
            TransportKind::StreamableHttp,
        )));
        let owner = Owner::of(inbound.identity.as_ref());
        let frame = self.dispatcher.handle(&session, msg, inbound).await;
        let ok = session.info().protocol_version().is_some();
        let Some(frame) = frame else {
            return accepted();
        };
        let mut resp = answer.single(frame);
        // With a shared secret the id the client gets is the session itself, sealed.
        let sid = match (&self.options.session_seal, ok) {
            (Some(seal), true) => {
                match sealed_state(&session, &owner).and_then(|s| seal.seal(&s)) {
                    Some(sealed) => Arc::from(sealed),
                    None => sid,
                }
            }
            _ => sid,
        };
        if ok {
            let hs = Arc::new(HttpSession {
                session,
                owner,
                last_seen: Mutex::new(Instant::now()),
                stream: Mutex::new(None),
            });
            self.sessions.lock().insert(sid.clone(), hs);
            if let Ok(v) = HeaderValue::from_str(&sid) {
                resp.headers_mut().insert(SESSION_HEADER, v);
            }
        }
        resp
    }

    async fn stateless(
        &self,
        version: ProtocolVersion,
        parts: &http::request::Parts,
        msg: Message,
        identity: Option<Identity>,
        answer: Answer,
    ) -> Response<McpBody> {
        let req = match msg {
            Message::Request(r) => r,
            // Nothing to cancel or acknowledge without a session.
            _ => return accepted(),
        };
        if let Some(m) = header(&parts.headers, METHOD_HEADER)
            && m != req.method.as_str()
        {
            let e = McpError::invalid_request(format!(
                "Mcp-Method header '{m}' does not match the body's method '{}'",
                req.method
            ))
            .with_code(code::HEADER_MISMATCH);
            return rpc_error(StatusCode::BAD_REQUEST, Some(&req.id), &e);
        }
        let capabilities = match super::modern::check_request(&req) {
            Ok(c) => c,
            Err(refusal) => return rpc_error(refusal.status, Some(&req.id), &refusal.error),
        };
        if req.method.as_str() == super::modern::LISTEN {
            return self.listen(&req);
        }
        let info = SessionInfo::stateless(version, TransportKind::StreamableHttp);
        info.set_client_capabilities(capabilities);
        let session = Arc::new(Session::new(info));
        let mut inbound = Inbound {
            identity,
            extensions: parts.extensions.clone(),
            ..Default::default()
        };
        if answer.stream(&req) {
            let (tx, rx) = mpsc::channel(self.options.stream_queue);
            inbound.downstream = Downstream::new(tx.clone());
            let dispatcher = self.dispatcher.clone();
            tokio::spawn(async move {
                // In 2026-07-28 closing the stream IS cancellation.
                let closed = tx.clone();
                tokio::select! {
                    frame = dispatcher.request(&session, req, inbound) => {
                        if let Some(frame) = frame { let _ = tx.send(Outbound::Response(frame)).await; }
                    }
                    _ = closed.closed() => session.close(),
                }
            });
            return sse_response(rx);
        }
        match self.dispatcher.request(&session, req, inbound).await {
            Some(frame) => answer.single(frame),
            None => accepted(),
        }
    }

    /// `subscriptions/listen` (2026-07-28): a stream that opens with
    /// `notifications/subscriptions/acknowledged` and then carries the list changes the client
    /// asked for, tagged with the subscription's id (the request's id), until the client closes
    /// it.
    fn listen(&self, req: &crate::jsonrpc::JsonRpcRequest) -> Response<McpBody> {
        let filter = super::modern::ListenFilter::of(req);
        let subscription = match &req.id {
            crate::jsonrpc::RequestId::Number(n) => n.to_string(),
            crate::jsonrpc::RequestId::String(s) => s.to_string(),
        };
        let (tx, rx) = mpsc::channel(self.options.stream_queue);
        let _ = tx.try_send(filter.acknowledgement(&subscription));
        let mut notifications = self
            .notifications
            .as_ref()
            .map(broadcast::Sender::subscribe);
        let keep_alive = self.options.keep_alive;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(keep_alive);
            tick.tick().await;
            loop {
                let message = tokio::select! {
                    n = async {
                        match notifications.as_mut() {
                            Some(rx) => rx.recv().await,
                            None => std::future::pending().await,
                        }
                    } => match n {
                        Ok(m) => m,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = tick.tick() => Outbound::KeepAlive,
                    _ = tx.closed() => return,
                };
                let out = match message {
                    Outbound::KeepAlive => Some(Outbound::KeepAlive),
                    other => filter.deliver(&subscription, &other),
                };
                if let Some(out) = out
                    && tx.try_send(out).is_err()
                {
                    return;
                }
            }
        });
        sse_response(rx)
    }

    fn get<B>(self: Arc<Self>, req: Request<B>) -> Response<McpBody> {
        if header(req.headers(), VERSION_HEADER)
            .is_some_and(|v| v == ProtocolVersion::V_2026_07_28.as_str())
        {
            return super::plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "protocol version 2026-07-28 has no GET stream",
            );
        }
        if !accepts(req.headers(), "text/event-stream") {
            return super::plain(
                StatusCode::NOT_ACCEPTABLE,
                "GET needs Accept: text/event-stream",
            );
        }
        let Some(sid) = header(req.headers(), SESSION_HEADER) else {
            return super::plain(StatusCode::BAD_REQUEST, "missing Mcp-Session-Id header");
        };
        let Some(hs) = self.session(sid, req.extensions().get::<Identity>()) else {
            return unknown_session();
        };
        hs.touch();
        let (tx, rx) = mpsc::channel(self.options.stream_queue);
        let cut = CancellationToken::new();
        // One stream per session: a new GET ends the previous one, so no message is sent on two.
        let previous = hs.stream.lock().replace((tx.clone(), cut.clone()));
        if let Some((_, old)) = previous {
            old.cancel();
        }
        let notifications = self
            .notifications
            .as_ref()
            .map(broadcast::Sender::subscribe);
        tokio::spawn(feed_stream(
            hs,
            tx,
            notifications,
            self.options.keep_alive,
            cut.clone(),
        ));
        super::sse_response_until(rx, cut)
    }

    fn delete<B>(&self, req: Request<B>) -> Response<McpBody> {
        let Some(sid) = header(req.headers(), SESSION_HEADER) else {
            return super::plain(StatusCode::BAD_REQUEST, "missing Mcp-Session-Id header");
        };
        let owner = Owner::of(req.extensions().get::<Identity>());
        let removed = {
            let mut sessions = self.sessions.lock();
            match sessions.get(sid) {
                Some(hs) if hs.owner == owner => sessions.remove(sid),
                _ => None,
            }
        };
        match removed {
            Some(hs) => {
                hs.session.close();
                if let Some((_, cut)) = hs.stream.lock().take() {
                    cut.cancel();
                }
                Response::new(McpBody::empty())
            }
            None => unknown_session(),
        }
    }

    /// The session `sid`, if it exists and `identity` is the one that opened it. Another
    /// identity is told the same as for a session that does not exist.
    fn session(&self, sid: &str, identity: Option<&Identity>) -> Option<Arc<HttpSession>> {
        let known = self.sessions.lock().get(sid).cloned();
        match known {
            Some(hs) => (hs.owner == Owner::of(identity)).then_some(hs),
            None => self.restore(sid, identity),
        }
    }

    /// A session another replica opened: its sealed id opened with the shared secret, for the
    /// identity that opened it, made here as if `initialize` had run here.
    fn restore(&self, sid: &str, identity: Option<&Identity>) -> Option<Arc<HttpSession>> {
        let seal = self.options.session_seal.as_ref()?;
        let sealed = seal.open(sid)?;
        let owner = Owner::of(identity);
        if sealed.o != super::SessionSeal::owner_fingerprint(owner.text()) {
            return None;
        }
        let mut sessions = self.sessions.lock();
        if sessions.len() >= self.options.max_sessions {
            return None;
        }
        let info = SessionInfo::new(Some(sealed.id.into()), TransportKind::StreamableHttp);
        info.set_initialized(sealed.v, sealed.ci, sealed.cc);
        let hs = Arc::new(HttpSession {
            session: Arc::new(Session::new(info)),
            owner,
            last_seen: Mutex::new(Instant::now()),
            stream: Mutex::new(None),
        });
        tracing::debug!(session = ?hs.session.info().id(), "serving a session opened by another replica");
        Some(sessions.entry(Arc::from(sid)).or_insert(hs).clone())
    }
}

/// What a sealed id of `session` carries (None before it is initialized).
fn sealed_state(session: &Session, owner: &Owner) -> Option<super::sealed::SealedSession> {
    let info = session.info();
    Some(super::sealed::SealedSession {
        id: info.id()?.to_owned(),
        v: info.protocol_version()?.clone(),
        ci: info.client_info()?.clone(),
        cc: info.client_capabilities()?.clone(),
        o: super::SessionSeal::owner_fingerprint(owner.text()),
        t: super::sealed::now_secs(),
    })
}

/// The one answer for a session that does not exist, has ended, or belongs to someone else.
fn unknown_session() -> Response<McpBody> {
    super::plain(
        StatusCode::NOT_FOUND,
        "unknown or ended session: initialize a new one",
    )
}

/// How a POST may be answered, from its `Accept` header.
#[derive(Debug, Clone, Copy)]
struct Answer {
    sse_ok: bool,
    json_ok: bool,
}

impl Answer {
    /// Whether `req` is answered on an SSE stream: it asked for progress and takes SSE, or it
    /// does not take JSON.
    fn stream(&self, req: &crate::jsonrpc::JsonRpcRequest) -> bool {
        self.sse_ok && (!self.json_ok || has_progress_token(req))
    }
    /// One finished answer, as JSON or as a one-event stream.
    fn single(&self, frame: Bytes) -> Response<McpBody> {
        if self.json_ok {
            json(StatusCode::OK, frame)
        } else {
            one_event(frame)
        }
    }
}

/// Feeds one session's GET stream and forgets it when the stream ends.
async fn feed_stream(
    hs: Arc<HttpSession>,
    tx: mpsc::Sender<Outbound>,
    notifications: Option<broadcast::Receiver<Outbound>>,
    keep_alive: Duration,
    cut: CancellationToken,
) {
    let touch = hs.clone();
    super::feed(
        &tx,
        notifications,
        hs.session.info().serial(),
        keep_alive,
        hs.session.closed(),
        move || touch.touch(),
    )
    .await;
    // Gone, ended, or too far behind: in every case nothing more should be queued for it.
    cut.cancel();
    let mut stream = hs.stream.lock();
    if stream
        .as_ref()
        .is_some_and(|(cur, _)| cur.same_channel(&tx))
    {
        stream.take();
    }
}

async fn reap_idle(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let idle = inner.options.session_idle_timeout;
        let expired: Vec<Arc<HttpSession>> = {
            let mut s = inner.sessions.lock();
            let ids: Vec<Arc<str>> = s
                .iter()
                .filter(|(_, hs)| hs.last_seen.lock().elapsed() > idle)
                .map(|(k, _)| k.clone())
                .collect();
            ids.iter().filter_map(|k| s.remove(k)).collect()
        };
        for hs in expired {
            hs.session.close();
        }
    }
}
