//! Downstream sessions: who the client is, what it negotiated, and how to reach it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;
use rmcp::model::{ClientCapabilities, Implementation, ProtocolVersion};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::McpError;
use crate::jsonrpc::RequestId;
use crate::outbound::Outbound;

/// Which inbound transport a session arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// The gateway's stdin/stdout.
    Stdio,
    /// Streamable HTTP (2025-03-26 and later).
    StreamableHttp,
    /// Legacy HTTP+SSE (2024-11-05).
    Sse,
}

/// What is known about a downstream session.
#[derive(Debug)]
pub struct SessionInfo {
    id: Option<Arc<str>>,
    transport: TransportKind,
    protocol_version: OnceLock<ProtocolVersion>,
    client_info: OnceLock<Implementation>,
    client_capabilities: OnceLock<ClientCapabilities>,
    /// The lowest `notifications/message` level the client wants (`logging/setLevel`), as
    /// [`level_rank`]; 0: everything.
    log_level: AtomicU8,
    created: Instant,
    /// Unique among this process's sessions (the key of what is kept per session).
    serial: u64,
    /// Fires when the session ends (set by [`Session::new`]).
    closed: OnceLock<CancellationToken>,
}

/// Numbers sessions in the order they were made.
static SESSION_SERIAL: AtomicU64 = AtomicU64::new(1);

impl SessionInfo {
    /// A new session; `id` is the `Mcp-Session-Id` (None on stdio and for stateless requests).
    pub fn new(id: Option<Arc<str>>, transport: TransportKind) -> Self {
        SessionInfo {
            id,
            transport,
            protocol_version: OnceLock::new(),
            client_info: OnceLock::new(),
            client_capabilities: OnceLock::new(),
            log_level: AtomicU8::new(0),
            created: Instant::now(),
            serial: SESSION_SERIAL.fetch_add(1, Ordering::Relaxed),
            closed: OnceLock::new(),
        }
    }

    /// A stateless (2026-07-28) request's session: no id, version fixed by the request.
    pub fn stateless(version: ProtocolVersion, transport: TransportKind) -> Self {
        let s = SessionInfo::new(None, transport);
        let _ = s.protocol_version.set(version);
        s
    }

    /// The session id, if the transport has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The inbound transport.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }
    /// The negotiated protocol version (None before `initialize`).
    pub fn protocol_version(&self) -> Option<&ProtocolVersion> {
        self.protocol_version.get()
    }
    /// The client's `clientInfo` from `initialize`.
    pub fn client_info(&self) -> Option<&Implementation> {
        self.client_info.get()
    }
    /// When the session started.
    pub fn created(&self) -> Instant {
        self.created
    }
    /// A number no other session of this process has: the key of what is kept per session.
    pub fn serial(&self) -> u64 {
        self.serial
    }
    /// Fires when the session ends (`None` for info not owned by a [`Session`]).
    pub fn closed(&self) -> Option<&CancellationToken> {
        self.closed.get()
    }
    /// Whether this is a 2026-07-28 request's throwaway session (no id, no lifetime beyond
    /// the request).
    pub fn is_stateless(&self) -> bool {
        self.id.is_none() && self.protocol_version.get() == Some(&ProtocolVersion::V_2026_07_28)
    }
    /// The client's capabilities from `initialize` (None before it, and for stateless
    /// requests).
    pub fn client_capabilities(&self) -> Option<&ClientCapabilities> {
        self.client_capabilities.get()
    }
    /// Records the outcome of `initialize`. Returns false if the session was already initialized.
    pub(crate) fn set_initialized(
        &self,
        version: ProtocolVersion,
        client: Implementation,
        capabilities: ClientCapabilities,
    ) -> bool {
        let fresh = self.protocol_version.set(version).is_ok();
        let _ = self.client_info.set(client);
        let _ = self.client_capabilities.set(capabilities);
        fresh
    }
    /// The capabilities a 2026-07-28 request declares in its `_meta`.
    pub(crate) fn set_client_capabilities(&self, capabilities: ClientCapabilities) {
        let _ = self.client_capabilities.set(capabilities);
    }
    /// `logging/setLevel`: log messages below `level` (`debug` … `emergency`) are not sent to
    /// this client. Returns false for a level that does not exist.
    pub fn set_log_level(&self, level: &str) -> bool {
        match level_rank(level) {
            Some(rank) => {
                self.log_level.store(rank, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
    /// Whether a `notifications/message` at `level` (its `level` param as written) is wanted.
    pub fn wants_log(&self, level: &str) -> bool {
        let floor = self.log_level.load(Ordering::Relaxed);
        floor == 0 || level_rank(level).is_none_or(|rank| rank >= floor)
    }
}

/// MCP's log levels (syslog's), lowest first.
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// A level's rank, debug 1 … emergency 8.
fn level_rank(level: &str) -> Option<u8> {
    LOG_LEVELS
        .iter()
        .position(|l| *l == level)
        .and_then(|i| u8::try_from(i + 1).ok())
}

/// The client end of a session for requests the gateway relays to it (an upstream's
/// `sampling/createMessage`, `elicitation/create`, `roots/list`, `ping`): the ids it was sent
/// and who waits for each answer. The ids are the gateway's own, so they never meet the
/// client's; an answer nobody waits for any more is dropped.
#[derive(Debug)]
pub struct ClientPeer {
    info: Arc<SessionInfo>,
    next: AtomicI64,
    waiting: Mutex<HashMap<i64, AnswerSender>>,
}

impl ClientPeer {
    fn new(info: Arc<SessionInfo>) -> Self {
        ClientPeer {
            info,
            next: AtomicI64::new(1),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    /// Delivers the client's answer to request `id`; false if nobody waits for it.
    pub(crate) fn answer(&self, id: &RequestId, outcome: Result<Box<RawValue>, McpError>) -> bool {
        let RequestId::Number(n) = id else {
            return false;
        };
        match self.waiting.lock().remove(n) {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }
}

/// Where the client's answer to one relayed request goes.
type AnswerSender = oneshot::Sender<Result<Box<RawValue>, McpError>>;

/// Removes a waiting entry when the request is over (answered, timed out or abandoned).
struct Waiting<'a> {
    peer: &'a ClientPeer,
    id: i64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.peer.waiting.lock().remove(&self.id);
    }
}

/// What a relayed request needs the client to have declared.
fn required_capability(caps: &ClientCapabilities, method: &str) -> Result<(), &'static str> {
    let ok = match method {
        "sampling/createMessage" => caps.sampling.is_some(),
        "elicitation/create" => caps.elicitation.is_some(),
        "roots/list" => caps.roots.is_some(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match method {
            "sampling/createMessage" => "sampling",
            "elicitation/create" => "elicitation",
            _ => "roots",
        })
    }
}

/// A handle to send messages to the calling client: progress, logging, list changes.
///
/// Sending never blocks: if the client does not read and its queue is full, the message is
/// dropped (notifications are advisory) and `false` returned.
#[derive(Clone, Default)]
pub struct Downstream {
    tx: Option<mpsc::Sender<Outbound>>,
    observer: Option<Observer>,
    /// For requests relayed to the client and its log level; none for the gateway's own
    /// calls.
    peer: Option<Arc<ClientPeer>>,
    /// For a 2026-07-28 client, which takes no server-to-client requests: where such a request
    /// goes instead, to come back to the client as an `input_required` result.
    input: Option<mpsc::Sender<InputRequest>>,
}

/// A request for the client that a 2026-07-28 client gets as an `input_required` result; its
/// answer comes with the client's retry (`inputResponses`).
#[derive(Debug)]
pub(crate) struct InputRequest {
    pub(crate) method: Arc<str>,
    pub(crate) params: Option<Box<RawValue>>,
    pub(crate) answer: oneshot::Sender<Result<Box<RawValue>, McpError>>,
}

/// Sees every message a [`Downstream`] sends.
type Observer = Arc<dyn Fn(&Outbound) + Send + Sync>;

impl std::fmt::Debug for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downstream")
            .field("connected", &self.tx.is_some())
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

impl Downstream {
    /// A downstream that discards everything (no channel back to the client).
    pub fn none() -> Self {
        Downstream::default()
    }
    /// A downstream writing messages into `tx`.
    pub fn new(tx: mpsc::Sender<Outbound>) -> Self {
        Downstream {
            tx: Some(tx),
            observer: None,
            peer: None,
            input: None,
        }
    }
    /// The same downstream, sending requests for the client to `input` instead (a 2026-07-28
    /// client: see [`InputRequest`]).
    #[must_use]
    pub(crate) fn with_input(mut self, input: mpsc::Sender<InputRequest>) -> Self {
        self.input = Some(input);
        self
    }
    /// The same downstream, able to carry requests to the client of `session` and to filter
    /// log messages by its level.
    #[must_use]
    pub fn with_peer(mut self, session: &Session) -> Self {
        self.peer = Some(session.peer.clone());
        self
    }
    /// The same downstream, calling `observer` with every message sent to the client first (a
    /// timeout layer uses it to see progress; a metrics layer to count notifications).
    #[must_use]
    pub fn observed(mut self, observer: impl Fn(&Outbound) + Send + Sync + 'static) -> Self {
        let previous = self.observer.take();
        self.observer = Some(match previous {
            None => Arc::new(observer),
            Some(prev) => Arc::new(move |message: &Outbound| {
                prev(message);
                observer(message);
            }),
        });
        self
    }
    /// Sends one message.
    pub fn send(&self, message: Outbound) -> bool {
        if let Some(observe) = &self.observer {
            observe(&message);
        }
        match &self.tx {
            Some(tx) => tx.try_send(message).is_ok(),
            None => false,
        }
    }
    /// Sends a notification (`notifications/progress` as [`Outbound::Progress`]). A
    /// `notifications/message` below the level the client set is left out.
    pub fn notify(&self, method: &str, params: Option<&RawValue>) -> bool {
        if self.tx.is_none() && self.observer.is_none() {
            return false;
        }
        if method == "notifications/message"
            && let (Some(peer), Some(params)) = (&self.peer, params)
            && let Ok(p) = crate::params::RawParams::parse(params)
            && let Ok(Some(level)) = p.get_str("level")
            && !peer.info.wants_log(&level)
        {
            return false;
        }
        self.send(Outbound::notification(method, params))
    }

    /// Sends the client a request (relayed from an upstream) and waits for its answer, at most
    /// `limit`. Fails at once when the client cannot be asked: no way back to it, or it did not
    /// declare the capability the method needs.
    pub async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
        limit: std::time::Duration,
    ) -> Result<Box<RawValue>, McpError> {
        if let Some(caps) = self
            .peer
            .as_ref()
            .and_then(|p| p.info.client_capabilities())
            && let Err(capability) = required_capability(caps, method)
        {
            return Err(
                McpError::method_not_found(method).with_data(serde_json::json!({
                    "source": "gateway",
                    "reason": format!("the client did not declare the {capability} capability"),
                })),
            );
        }
        if let Some(input) = &self.input {
            let (answer, rx) = oneshot::channel();
            let request = InputRequest {
                method: method.into(),
                params: params.map(RawValue::to_owned),
                answer,
            };
            if input.send(request).await.is_err() {
                return Err(McpError::internal(format!(
                    "{method}: the client's request is over"
                )));
            }
            return match tokio::time::timeout(limit, rx).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => Err(McpError::internal(format!(
                    "{method}: the client did not come back with an answer"
                ))),
                Err(_) => Err(McpError::internal(format!(
                    "the client did not answer {method} within {limit:?}"
                ))),
            };
        }
        let (Some(peer), Some(_)) = (&self.peer, &self.tx) else {
            return Err(
                McpError::method_not_found(method).with_data(serde_json::json!({
                    "source": "gateway",
                    "reason": "the request cannot be tied to a client that can answer it",
                })),
            );
        };
        let id = peer.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        peer.waiting.lock().insert(id, tx);
        let _waiting = Waiting { peer, id };
        let sent = self.send(Outbound::Request {
            id: RequestId::Number(id),
            method: method.into(),
            params: params.map(|p| Arc::from(p.to_owned())),
        });
        if !sent {
            return Err(McpError::internal(format!(
                "could not send {method} to the client: it is gone or not reading"
            )));
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(McpError::internal("the client session ended")),
            Err(_) => Err(McpError::internal(format!(
                "the client did not answer {method} within {limit:?}"
            ))),
        }
    }
    /// Whether there is a channel at all.
    pub fn is_connected(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| !t.is_closed())
    }
}

/// A live session as the dispatcher sees it: info plus the requests in flight, so that
/// `notifications/cancelled` can reach them.
#[derive(Debug)]
pub struct Session {
    info: Arc<SessionInfo>,
    inflight: Mutex<HashMap<RequestId, (u64, CancellationToken)>>,
    serial: AtomicU64,
    closed: CancellationToken,
    peer: Arc<ClientPeer>,
}

impl Session {
    /// A session around `info`.
    pub fn new(info: SessionInfo) -> Self {
        let closed = CancellationToken::new();
        let _ = info.closed.set(closed.clone());
        let info = Arc::new(info);
        Session {
            peer: Arc::new(ClientPeer::new(info.clone())),
            info,
            inflight: Mutex::new(HashMap::new()),
            serial: AtomicU64::new(0),
            closed,
        }
    }
    /// Where the client's answers to relayed requests go.
    pub(crate) fn peer(&self) -> &ClientPeer {
        &self.peer
    }
    /// The shared info.
    pub fn info(&self) -> &Arc<SessionInfo> {
        &self.info
    }
    /// Fires when the session ends.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }
    /// Ends the session: cancels everything in flight.
    pub fn close(&self) {
        self.closed.cancel();
    }
    /// Registers a request in flight and returns its guard: the entry lives exactly as long as
    /// the guard (dropped when the request ends, or when its future is dropped because the
    /// client went away). `None` when a request with the same id is already in flight in this
    /// session: ids must be unique among a requester's open requests, and a second one must
    /// not take over the first one's cancellation.
    pub(crate) fn begin(self: &Arc<Self>, id: &RequestId) -> Option<InflightEntry> {
        let token = self.closed.child_token();
        let mut map = self.inflight.lock();
        if map.contains_key(id) {
            return None;
        }
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        map.insert(id.clone(), (serial, token.clone()));
        Some(InflightEntry {
            session: self.clone(),
            id: id.clone(),
            serial,
            token,
        })
    }
    /// Cancels a request in flight; unknown or finished ids are ignored.
    pub(crate) fn cancel(&self, id: &RequestId) {
        let entry = self.inflight.lock().remove(id);
        if let Some((_, t)) = entry {
            t.cancel();
        }
    }
    /// How many requests are in flight.
    pub fn inflight(&self) -> usize {
        self.inflight.lock().len()
    }
}

/// One request in flight in a [`Session`]; dropping it forgets the request.
#[derive(Debug)]
pub(crate) struct InflightEntry {
    session: Arc<Session>,
    id: RequestId,
    serial: u64,
    token: CancellationToken,
}

impl InflightEntry {
    /// Fires when the client cancels the request or the session ends.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for InflightEntry {
    fn drop(&mut self) {
        let mut map = self.session.inflight.lock();
        // Only our own entry: after a cancel the id may already belong to a newer request.
        if map
            .get(&self.id)
            .is_some_and(|(serial, _)| *serial == self.serial)
        {
            map.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Arc<Session> {
        Arc::new(Session::new(SessionInfo::new(None, TransportKind::Stdio)))
    }

    #[test]
    fn an_id_in_flight_cannot_be_taken_twice_and_is_freed_on_drop() {
        let s = session();
        let id = RequestId::Number(5);
        let first = s.begin(&id).expect("first");
        assert!(
            s.begin(&id).is_none(),
            "a second request with id 5 is refused"
        );
        assert_eq!(s.inflight(), 1);
        drop(first);
        assert_eq!(s.inflight(), 0, "dropping the guard forgets the request");
        assert!(s.begin(&id).is_some());
    }

    #[test]
    fn cancel_reaches_the_first_request_and_a_late_drop_spares_the_next() {
        let s = session();
        let id = RequestId::String("a".into());
        let first = s.begin(&id).expect("first");
        s.cancel(&id);
        assert!(first.token().is_cancelled());
        // The id is free again while the cancelled request winds down.
        let second = s.begin(&id).expect("second");
        drop(first);
        assert_eq!(
            s.inflight(),
            1,
            "the first guard must not remove the second entry"
        );
        assert!(!second.token().is_cancelled());
        s.close();
        assert!(
            second.token().is_cancelled(),
            "closing the session cancels everything"
        );
    }
}
