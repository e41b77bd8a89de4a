//! Upstreams: MCP servers behind the gateway, each over a connection toolgate owns.
//!
//! An [`Upstream`] is a leaf [`McpService`](crate::McpService): it forwards a request to its
//! server and returns the raw result. Every request gets a fresh numeric id from the upstream's
//! request table, so two downstream clients that both send `id: 0` never
//! cross; the caller's id is restored by the dispatcher. Progress tokens are rewritten the same
//! way. A supervisor task per upstream (one file per transport) connects, runs the `initialize`
//! handshake with rmcp types, reconnects with backoff, and publishes [`UpstreamStatus`].

mod callers;
mod credentials;
mod deadline;
mod handshake;
mod link;
mod per_session;
pub mod remote;
mod replicas;
pub mod sse;
pub mod stdio;
pub mod streamable_http;
pub(crate) mod table;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rmcp::model::{Implementation, ProtocolVersion, ServerCapabilities};
use serde_json::value::RawValue;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::envelope::{McpRequest, McpResponse};
use crate::error::{ErrorKind, McpError};
use crate::session::Downstream;
use link::Link;
use table::RequestTable;

pub use credentials::{ActForCaller, ActForCallerLayer, UpstreamAuth, UpstreamCaller};
pub use deadline::{Deadline, DeadlineLayer};
pub use per_session::{DEFAULT_MAX_SESSIONS, PerSession};
pub use remote::{HttpSpec, check_spec};
pub use replicas::{MAX_REPLICAS, OutlierDetection, ReplicaState};
pub use stdio::StdioSpec;

/// How to reach one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamSpec {
    /// A child process on stdio.
    Stdio(StdioSpec),
    /// A remote server on Streamable HTTP (falls back to legacy SSE when the URL answers
    /// the first POST with 400, 404 or 405).
    StreamableHttp(HttpSpec),
    /// A remote server on legacy HTTP+SSE (2024-11-05).
    Sse(HttpSpec),
}

/// What an upstream negotiated in its `initialize` handshake.
#[derive(Debug, Clone)]
pub struct ReadyInfo {
    /// The protocol version the upstream agreed to.
    pub protocol_version: ProtocolVersion,
    /// The upstream's `serverInfo`.
    pub server_info: Implementation,
    /// The upstream's capabilities.
    pub capabilities: ServerCapabilities,
    /// The upstream's `instructions`.
    pub instructions: Option<String>,
    /// When it became ready.
    pub since: Instant,
}

/// Where an upstream stands.
#[derive(Debug, Clone)]
pub enum UpstreamStatus {
    /// Connecting or handshaking.
    Starting,
    /// Connected and initialized.
    Ready(Arc<ReadyInfo>),
    /// Not connected; `reason` says why. The supervisor keeps retrying with backoff.
    Down {
        /// Why it is down, for health output and errors.
        reason: String,
    },
}

impl UpstreamStatus {
    /// True when calls can be forwarded.
    pub fn is_ready(&self) -> bool {
        matches!(self, UpstreamStatus::Ready(_))
    }
}

/// Something an upstream tells the aggregate.
#[derive(Debug, Clone)]
pub enum UpstreamEvent {
    /// The upstream became ready, or went down: re-list everything.
    StatusChanged(Arc<str>),
    /// `notifications/tools/list_changed` and friends: re-list that kind.
    ListChanged(Arc<str>, ListKind),
    /// `notifications/resources/updated` with its params, passed on to clients as is.
    ResourceUpdated(Arc<str>, Option<Arc<serde_json::value::RawValue>>),
}

/// Which list changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// tools
    Tools,
    /// prompts
    Prompts,
    /// resources and resource templates
    Resources,
}

/// Extra HTTP headers for the request that carries one call to an HTTP upstream (trace context,
/// say): a layer in the upstream's stack puts them into
/// [`McpContext::extensions`](crate::McpContext::extensions); stdio upstreams ignore them.
#[derive(Debug, Clone, Default)]
pub struct UpstreamHeaders(pub http::HeaderMap);

/// Settings shared by every upstream transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamOptions {
    /// How long a forwarded request may take before it is cancelled upstream (the
    /// [`Deadline`] in each upstream's stack, and the gateway's own listing calls).
    pub request_timeout: Duration,
    /// How long the `initialize` handshake may take.
    pub connect_timeout: Duration,
    /// First reconnect delay; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// One upstream MCP server: a leaf `McpService`.
#[derive(Clone, Debug)]
pub struct Upstream {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) table: RequestTable,
    pub(crate) status: watch::Sender<UpstreamStatus>,
    pub(crate) link: parking_lot::RwLock<Option<Link>>,
    pub(crate) events: broadcast::Sender<UpstreamEvent>,
    pub(crate) options: UpstreamOptions,
    pub(crate) shutdown: CancellationToken,
    pub(crate) created: Instant,
    /// What a remote upstream is shown besides its static headers (nothing for stdio).
    pub(crate) credentials: Arc<credentials::Credentials>,
    /// A connection of one client session (`session_mode: per_session`): whatever it sends
    /// belongs to that client.
    pub(crate) dedicated: bool,
    /// For an upstream of several replicas: them, balanced (it has no connection of its own).
    pub(crate) pool: Option<replicas::Pool>,
    /// How it is reached: `stdio`, `http` or `sse`.
    pub(crate) transport: &'static str,
    /// Times it became ready again after having been ready (restarts and reconnections).
    pub(crate) restarts: std::sync::atomic::AtomicU64,
    pub(crate) was_ready: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn set_status(&self, status: UpstreamStatus) {
        use std::sync::atomic::Ordering;
        if status.is_ready()
            && !self.status.borrow().is_ready()
            && self.was_ready.swap(true, Ordering::Relaxed)
        {
            self.restarts.fetch_add(1, Ordering::Relaxed);
        }
        let changed = {
            let old = self.status.borrow();
            old.is_ready() != status.is_ready()
                || matches!(
                    (&*old, &status),
                    (UpstreamStatus::Ready(_), UpstreamStatus::Ready(_))
                )
        };
        self.status.send_replace(status);
        if changed {
            let _ = self
                .events
                .send(UpstreamEvent::StatusChanged(self.name.clone()));
        }
    }

    pub(crate) fn set_link(&self, link: Option<Link>) {
        *self.link.write() = link;
    }

    /// The connection is gone: fail every call in flight at once, publish `Down`, and wait out
    /// the backoff. Returns `false` if the gateway started shutting down meanwhile.
    pub(crate) async fn went_down(&self, reason: String, backoff: &mut Backoff) -> bool {
        tracing::warn!(upstream = %self.name, %reason, "upstream down");
        self.set_link(None);
        self.table
            .fail_all(&unavailable(self, format_args!("is down: {reason}")));
        self.set_status(UpstreamStatus::Down { reason });
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }

    /// The supervisor is done: the gateway is shutting down.
    pub(crate) fn stopped(&self) {
        self.set_link(None);
        self.table
            .fail_all(&unavailable(self, "is shutting down with the gateway"));
        self.set_status(UpstreamStatus::Down {
            reason: STOPPED.into(),
        });
    }
}

/// The `Down` reason of an upstream stopped with the gateway.
pub const STOPPED: &str = "gateway shutting down";

impl Upstream {
    fn new(
        name: &str,
        transport: &'static str,
        options: UpstreamOptions,
        shutdown: CancellationToken,
        credentials: credentials::Credentials,
        dedicated: bool,
    ) -> Upstream {
        Self::with_pool(
            name,
            transport,
            options,
            shutdown,
            credentials,
            dedicated,
            None,
        )
    }

    /// The one upstream in front of replicas (see [`Upstream::start_replicas`]).
    fn new_front(
        name: &str,
        transport: &'static str,
        options: UpstreamOptions,
        shutdown: CancellationToken,
        credentials: credentials::Credentials,
        pool: replicas::Pool,
    ) -> Upstream {
        Self::with_pool(
            name,
            transport,
            options,
            shutdown,
            credentials,
            false,
            Some(pool),
        )
    }

    fn with_pool(
        name: &str,
        transport: &'static str,
        options: UpstreamOptions,
        shutdown: CancellationToken,
        credentials: credentials::Credentials,
        dedicated: bool,
        pool: Option<replicas::Pool>,
    ) -> Upstream {
        let (events, _) = broadcast::channel(64);
        Upstream {
            shared: Arc::new(Shared {
                name: name.into(),
                table: RequestTable::default(),
                status: watch::Sender::new(UpstreamStatus::Starting),
                link: parking_lot::RwLock::new(None),
                events,
                options,
                shutdown,
                created: Instant::now(),
                credentials: Arc::new(credentials),
                dedicated,
                pool,
                transport,
                restarts: std::sync::atomic::AtomicU64::new(0),
                was_ready: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Starts an upstream and the supervisor that keeps it connected. Spawns the supervisor
    /// task (and, for stdio, the child): must run inside a tokio runtime; `shutdown` stops it.
    /// Settings that cannot work (an unreadable CA file, say) leave it down with the reason.
    pub fn start(
        name: &str,
        spec: UpstreamSpec,
        options: UpstreamOptions,
        shutdown: CancellationToken,
    ) -> Upstream {
        Self::start_as(name, spec, options, shutdown, false)
    }

    /// [`Upstream::start`] for one client session only (`session_mode: per_session`).
    pub(crate) fn start_dedicated(
        name: &str,
        spec: UpstreamSpec,
        options: UpstreamOptions,
        shutdown: CancellationToken,
    ) -> Upstream {
        Self::start_as(name, spec, options, shutdown, true)
    }

    fn start_as(
        name: &str,
        spec: UpstreamSpec,
        options: UpstreamOptions,
        shutdown: CancellationToken,
        dedicated: bool,
    ) -> Upstream {
        let name_arc: Arc<str> = name.into();
        let credentials = match &spec {
            UpstreamSpec::StreamableHttp(s) | UpstreamSpec::Sse(s) => {
                credentials::Credentials::new(&name_arc, &s.auth, &s.tls, options.connect_timeout)
            }
            UpstreamSpec::Stdio(_) => Ok(credentials::Credentials::none(&name_arc)),
        };
        let (credentials, broken) = match credentials {
            Ok(c) => (c, None),
            Err(reason) => (credentials::Credentials::none(&name_arc), Some(reason)),
        };
        let up = Upstream::new(
            name,
            transport_name(&spec),
            options,
            shutdown,
            credentials,
            dedicated,
        );
        let shared = up.shared.clone();
        if let Some(reason) = broken {
            tracing::error!(upstream = %shared.name, %reason, "upstream cannot start: its settings are wrong");
            shared.set_status(UpstreamStatus::Down { reason });
            return up;
        }
        match spec {
            UpstreamSpec::Stdio(s) => stdio::spawn_supervisor(shared, s),
            UpstreamSpec::StreamableHttp(s) => streamable_http::spawn_supervisor(shared, s),
            UpstreamSpec::Sse(s) => sse::spawn_supervisor(shared, s),
        }
        up
    }

    /// The layer that puts callers' tokens on their calls, when this upstream acts for
    /// callers (token exchange, `forward_authorization`); see [`ActForCaller`].
    pub fn act_for_caller(&self) -> Option<ActForCallerLayer> {
        ActForCallerLayer::new(&self.shared.credentials)
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The configured name, shared (for routes, without a copy).
    pub fn shared_name(&self) -> &Arc<str> {
        &self.shared.name
    }

    /// Its timeouts and backoff.
    pub fn options(&self) -> &UpstreamOptions {
        &self.shared.options
    }

    /// The current status.
    pub fn status(&self) -> UpstreamStatus {
        self.shared.status.borrow().clone()
    }

    /// Watches status changes.
    pub fn watch_status(&self) -> watch::Receiver<UpstreamStatus> {
        self.shared.status.subscribe()
    }

    /// Subscribes to events (status and list changes).
    pub fn events(&self) -> broadcast::Receiver<UpstreamEvent> {
        self.shared.events.subscribe()
    }

    /// Waits until the upstream is ready or `timeout` passes; returns whether it is ready.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.status.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(UpstreamStatus::is_ready))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// When this upstream was started (its first connection attempt).
    pub fn started(&self) -> Instant {
        self.shared.created
    }

    /// How it is reached: `stdio`, `http` (Streamable HTTP) or `sse` (legacy HTTP+SSE).
    pub fn transport(&self) -> &'static str {
        self.shared.transport
    }

    /// Times it became ready again after having been ready once: restarts of a stdio child,
    /// reconnections of a remote one (all replicas together, if it has several).
    pub fn restarts(&self) -> u64 {
        match &self.shared.pool {
            Some(pool) => pool.restarts(),
            None => self
                .shared
                .restarts
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Requests in flight right now (on all its replicas, if it has several).
    pub fn inflight(&self) -> usize {
        match &self.shared.pool {
            Some(pool) => pool.inflight(),
            None => self.shared.table.len(),
        }
    }

    /// Forwards one request: `method` with raw `params`; notifications for the caller
    /// (progress) go to `downstream`; `cancel` aborts it (and cancels it upstream).
    pub async fn call(
        &self,
        method: &str,
        params: Option<&RawValue>,
        downstream: Downstream,
        cancel: &CancellationToken,
    ) -> Result<Box<RawValue>, McpError> {
        self.call_with_headers(method, params, downstream, cancel, &http::HeaderMap::new())
            .await
    }

    /// [`Upstream::call`] with extra `headers` on the HTTP request that carries it (HTTP
    /// upstreams only; for trace context).
    pub async fn call_with_headers(
        &self,
        method: &str,
        params: Option<&RawValue>,
        downstream: Downstream,
        cancel: &CancellationToken,
        headers: &http::HeaderMap,
    ) -> Result<Box<RawValue>, McpError> {
        self.call_for(method, params, downstream, cancel, headers, None, false)
            .await
    }

    /// [`Upstream::call_with_headers`] made for `caller` (see [`UpstreamCaller`]);
    /// `repeatable`: the request may be sent to a second replica after the first failed with
    /// it (whatever the flag, read-only methods may).
    #[allow(clippy::too_many_arguments)]
    async fn call_for(
        &self,
        method: &str,
        params: Option<&RawValue>,
        downstream: Downstream,
        cancel: &CancellationToken,
        headers: &http::HeaderMap,
        caller: Option<&UpstreamCaller>,
        repeatable: bool,
    ) -> Result<Box<RawValue>, McpError> {
        let shared = &self.shared;
        if let Some(pool) = &shared.pool {
            let repeatable = repeatable || crate::jsonrpc::Method::parse(method).is_read_only();
            return Box::pin(pool.call(
                &shared.name,
                method,
                params,
                downstream,
                cancel,
                headers,
                caller,
                repeatable,
            ))
            .await;
        }
        let link = {
            let status = shared.status.borrow();
            match &*status {
                UpstreamStatus::Ready(_) => {}
                UpstreamStatus::Starting => {
                    return Err(McpError::upstream_unavailable(
                        &shared.name,
                        format!("upstream '{}' is still starting", shared.name),
                    )
                    .unsent());
                }
                UpstreamStatus::Down { reason } => {
                    return Err(McpError::upstream_unavailable(
                        &shared.name,
                        format!("upstream '{}' is down: {reason}", shared.name),
                    )
                    .unsent());
                }
            }
            shared.link.read().clone()
        };
        let Some(link) = link else {
            return Err(McpError::upstream_unavailable(
                &shared.name,
                format!("upstream '{}' is not connected", shared.name),
            )
            .unsent());
        };
        let link = match caller {
            Some(caller) => link.for_caller(shared, caller).await?,
            None => link,
        };
        table::call(shared, &link, method, params, downstream, cancel, headers).await
    }
}

/// The connection as the innermost service of an upstream's stack: forwards the request as it
/// is (params already in the upstream's names), with the [`UpstreamHeaders`] a layer above may
/// have added.
impl tower::Service<McpRequest> for Upstream {
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let none = http::HeaderMap::new();
            let headers = req
                .ctx
                .extensions
                .get::<UpstreamHeaders>()
                .map_or(&none, |h| &h.0);
            // Only replicas ask whether a failed call may go to another one.
            let repeatable = this.shared.pool.is_some()
                && req.message.method == crate::jsonrpc::Method::ToolsCall
                && req.route().is_some_and(crate::route::Route::is_repeatable);
            let result = this
                .call_for(
                    req.message.method.as_str(),
                    req.message.params.as_deref(),
                    req.ctx.downstream.clone(),
                    &req.ctx.cancel,
                    headers,
                    req.ctx.extensions.get::<UpstreamCaller>(),
                    repeatable,
                )
                .await?;
            Ok(McpResponse::new(result))
        })
    }
}

/// The config name of a spec's transport.
pub(crate) fn transport_name(spec: &UpstreamSpec) -> &'static str {
    match spec {
        UpstreamSpec::Stdio(_) => "stdio",
        UpstreamSpec::StreamableHttp(_) => "http",
        UpstreamSpec::Sse(_) => "sse",
    }
}

/// Exponential backoff with a reset after a stable run.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    initial: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(options: &UpstreamOptions) -> Self {
        Backoff {
            next: options.initial_backoff,
            initial: options.initial_backoff,
            max: options.max_backoff,
        }
    }
    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
    /// Called after a connection that stayed up a while.
    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// Error for a request the upstream could not take.
pub(crate) fn unavailable(shared: &Shared, why: impl std::fmt::Display) -> McpError {
    McpError::gateway(
        ErrorKind::UpstreamUnavailable,
        &shared.name,
        true,
        format!("upstream '{}' {why}", shared.name),
    )
}
