//! Inbound legacy HTTP+SSE (MCP 2024-11-05).
//!
//! `GET /sse` (or `GET /mcp` with no `Mcp-Session-Id` and `Accept: text/event-stream`, the
//! spec's backwards-compatibility rule) opens a stream whose first event is `endpoint`, naming
//! `messages?session_id=…` relative to the stream's URL. Messages POSTed there get 202 and their answers arrive on the
//! stream. Idle streams get keep-alive comments. The session lives exactly as long as its
//! stream: when the client disconnects, the session is closed and forgotten, and a POST for it
//! gets 404. The stream's queue is bounded: a client that stops reading is cut off.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method as HttpMethod, Request, Response, StatusCode};
use http_body::Body;
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc};

use super::body::McpBody;
use super::streamable_http::HttpOptions;
use super::{Owner, accepted, plain, read_body, rpc_error, sse_response_until};
use crate::dispatcher::{Dispatcher, Inbound};
use crate::envelope::Identity;
use crate::jsonrpc::Message;
use crate::outbound::Outbound;
use crate::session::{Downstream, Session, SessionInfo, TransportKind};

/// How long an answer may wait for room in a slow client's queue before the client is cut off.
const SLOW_CLIENT: Duration = Duration::from_secs(5);

/// The legacy SSE endpoints as one tower service: GET opens a stream, POST delivers a message.
#[derive(Clone, Debug)]
pub struct SseService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dispatcher: Dispatcher,
    options: HttpOptions,
    messages_path: String,
    sessions: Mutex<HashMap<Arc<str>, Arc<SseSession>>>,
    notifications: Option<broadcast::Sender<Outbound>>,
}

#[derive(Debug)]
struct SseSession {
    session: Arc<Session>,
    /// Who opened the stream: only they may post to it.
    owner: Owner,
    tx: mpsc::Sender<Outbound>,
}

impl SseService {
    /// Legacy SSE over `dispatcher`; POSTs go to `messages_path`, named in the `endpoint`
    /// event as given (usually the relative `messages`, which clients resolve against the
    /// stream's URL: `/sse` → `/messages`, `/mcp/` → `/mcp/messages`, `/gw/sse` → `/gw/messages`).
    pub fn new(
        dispatcher: Dispatcher,
        options: HttpOptions,
        messages_path: impl Into<String>,
        notifications: Option<broadcast::Sender<Outbound>>,
    ) -> Self {
        SseService {
            inner: Arc::new(Inner {
                dispatcher,
                options,
                messages_path: messages_path.into(),
                sessions: Mutex::new(HashMap::new()),
                notifications,
            }),
        }
    }

    /// Streams open right now.
    pub fn session_count(&self) -> usize {
        self.inner.sessions.lock().len()
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
}

impl<B> tower::Service<Request<B>> for SseService
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
                HttpMethod::GET => inner.open(Owner::of(req.extensions().get::<Identity>())),
                HttpMethod::POST => inner.post(req).await,
                _ => plain(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "legacy SSE: GET opens a stream, POST sends a message",
                ),
            })
        })
    }
}

impl Inner {
    fn open(self: Arc<Self>, owner: Owner) -> Response<McpBody> {
        if self.sessions.lock().len() >= self.options.max_sessions {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open sessions; try again later",
            );
        }
        let sid: Arc<str> = super::random_token().into();
        let session = Arc::new(Session::new(SessionInfo::new(
            Some(sid.clone()),
            TransportKind::Sse,
        )));
        let (tx, rx) = mpsc::channel(self.options.stream_queue);
        let endpoint = format!("{}?session_id={sid}", self.messages_path);
        if tx.try_send(Outbound::Endpoint(endpoint.into())).is_err() {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not open the stream",
            );
        }
        let entry = Arc::new(SseSession {
            session: session.clone(),
            owner,
            tx: tx.clone(),
        });
        self.sessions.lock().insert(sid.clone(), entry);
        let notifications = self
            .notifications
            .as_ref()
            .map(broadcast::Sender::subscribe);
        let inner = self.clone();
        let cut = session.closed().clone();
        tokio::spawn(async move {
            super::feed(
                &tx,
                notifications,
                session.info().serial(),
                inner.options.keep_alive,
                session.closed(),
                || {},
            )
            .await;
            inner.forget(&sid);
        });
        sse_response_until(rx, cut)
    }

    fn forget(&self, sid: &str) {
        let gone = self.sessions.lock().remove(sid);
        if let Some(s) = gone {
            s.session.close();
        }
    }

    async fn post<B>(self: Arc<Self>, req: Request<B>) -> Response<McpBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let sid = req.uri().query().and_then(|q| {
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == "session_id" || k == "sessionId").then(|| v.to_string())
            })
        });
        let Some(sid) = sid else {
            return plain(
                StatusCode::BAD_REQUEST,
                "missing session_id query parameter: open GET /sse first and POST to the endpoint it names",
            );
        };
        let owner = Owner::of(req.extensions().get::<Identity>());
        // Someone else's session is answered as if it did not exist.
        let entry = self.sessions.lock().get(sid.as_str()).cloned();
        let Some(entry) = entry.filter(|e| e.owner == owner) else {
            return plain(
                StatusCode::NOT_FOUND,
                "unknown or closed session: open a new stream with GET /sse",
            );
        };
        if !super::is_json(req.headers()) {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "POST bodies must be Content-Type: application/json",
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
        let inbound = Inbound {
            downstream: Downstream::new(entry.tx.clone()),
            identity: parts.extensions.get::<Identity>().cloned(),
            extensions: parts.extensions,
        };
        match msg {
            Message::Request(r) => {
                let dispatcher = self.dispatcher.clone();
                let inner = self.clone();
                tokio::spawn(async move {
                    let Some(frame) = dispatcher.request(&entry.session, r, inbound).await else {
                        return;
                    };
                    if entry
                        .tx
                        .send_timeout(Outbound::Response(frame), SLOW_CLIENT)
                        .await
                        .is_err()
                    {
                        tracing::info!(
                            "legacy SSE client does not read its stream; cutting it off"
                        );
                        inner.forget(&sid);
                    }
                });
            }
            other => {
                self.dispatcher.handle(&entry.session, other, inbound).await;
            }
        }
        accepted()
    }
}
