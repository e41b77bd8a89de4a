//! The assembled gateway: upstreams → aggregate → MCP-plane stack → dispatcher → transports.
//!
//! [`GatewayBuilder`] is the Rust API (the `toolgate` binary builds one from the config file);
//! [`Gateway::router`] is the HTTP service to mount, [`Gateway::serve`] runs it on a listener,
//! [`Gateway::serve_stdio`] on stdin/stdout. [`Gateway::reload`] swaps in the layers, routes and
//! Host/Origin policy of a new builder while serving: sessions and upstreams stay as they are.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service, ServiceExt};

use crate::aggregate::{Aggregate, Member, ToolFilter};
use crate::dispatcher::Dispatcher;
use crate::envelope::McpService;
use crate::server::{
    BoxError, HttpOptions, HttpRequest, HttpService, McpBody, OriginGuardLayer, OriginPolicy,
    SseService, StreamableHttpService, box_request,
};
use crate::upstream::{HttpSpec, StdioSpec, Upstream, UpstreamOptions, UpstreamStatus};

pub use crate::upstream::UpstreamSpec;

type StackFn = Box<dyn FnOnce(McpService, &Aggregate) -> McpService + Send>;
type HttpStackFn = Box<dyn FnOnce(HttpService) -> HttpService + Send>;
type RouteFn = Box<dyn FnOnce(&GatewayParts) -> HttpService + Send>;

/// What extra routes are built from: the assembled MCP-plane stack and its pieces.
#[derive(Clone, Debug)]
pub struct GatewayParts {
    /// The whole MCP-plane stack (every layer, then the aggregate).
    pub service: McpService,
    /// The aggregate (upstreams, merged catalog, notifications).
    pub aggregate: Aggregate,
    /// The dispatcher (answers `initialize`, `ping`, … and calls `service`).
    pub dispatcher: Dispatcher,
    /// The Streamable HTTP endpoint (sessions open: `session_count`).
    pub streamable: StreamableHttpService,
    /// The legacy HTTP+SSE endpoint (sessions open: `session_count`).
    pub sse: SseService,
}

/// Builds a [`Gateway`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use toolgate::gateway::GatewayBuilder;
/// use toolgate::upstream::StdioSpec;
///
/// let gateway = GatewayBuilder::new()
///     .stdio("demo", StdioSpec { command: "demo-server".into(), ..Default::default() })
///     .build();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
/// gateway.serve(listener).await
/// # }
/// ```
pub struct GatewayBuilder {
    upstreams: Vec<UpstreamEntry>,
    separator: Option<String>,
    page_size: usize,
    startup_grace: Duration,
    mcp_path: String,
    http: HttpOptions,
    origin: OriginPolicy,
    upstream_options: UpstreamOptions,
    stack: Vec<StackFn>,
    http_stack: Vec<HttpStackFn>,
    routes: Vec<(String, RouteFn)>,
}

impl std::fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("upstreams", &self.upstreams)
            .field("separator", &self.separator)
            .field("mcp_path", &self.mcp_path)
            .field("layers", &self.stack.len())
            .field("http_layers", &self.http_stack.len())
            .field(
                "routes",
                &self.routes.iter().map(|r| &r.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for GatewayBuilder {
    fn default() -> Self {
        GatewayBuilder {
            upstreams: Vec::new(),
            separator: Some("__".into()),
            page_size: 0,
            startup_grace: crate::aggregate::DEFAULT_STARTUP_GRACE,
            mcp_path: "/mcp".into(),
            http: HttpOptions::default(),
            origin: OriginPolicy::default(),
            upstream_options: UpstreamOptions::default(),
            stack: Vec::new(),
            http_stack: Vec::new(),
            routes: Vec::new(),
        }
    }
}

impl GatewayBuilder {
    /// An empty gateway with safe defaults (loopback Host/Origin only, 4 MiB bodies).
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an upstream.
    #[must_use]
    pub fn upstream(
        mut self,
        name: impl Into<String>,
        spec: UpstreamSpec,
        filter: ToolFilter,
    ) -> Self {
        self.upstreams.push(UpstreamEntry {
            name: name.into(),
            spec,
            filter,
            validate_arguments: true,
        });
        self
    }
    /// Turns the check of `tools/call` arguments against each tool's `inputSchema` on or off
    /// for the upstream `server` added earlier (on by default; off for servers whose schemas
    /// are wrong).
    #[must_use]
    pub fn validate_arguments(mut self, server: &str, on: bool) -> Self {
        for u in self.upstreams.iter_mut().filter(|u| u.name == server) {
            u.validate_arguments = on;
        }
        self
    }
    /// How long after start a request may wait for upstreams still on their first start
    /// (default 3 s; zero: never). After it, lists answer with what is ready and calls to a
    /// starting upstream fail at once with -31000.
    #[must_use]
    pub fn startup_grace(mut self, grace: Duration) -> Self {
        self.startup_grace = grace;
        self
    }
    /// Adds a stdio upstream exposing all its tools.
    #[must_use]
    pub fn stdio(self, name: impl Into<String>, spec: StdioSpec) -> Self {
        self.upstream(name, UpstreamSpec::Stdio(spec), ToolFilter::default())
    }
    /// Adds a Streamable HTTP upstream exposing all its tools.
    #[must_use]
    pub fn streamable_http(self, name: impl Into<String>, spec: HttpSpec) -> Self {
        self.upstream(
            name,
            UpstreamSpec::StreamableHttp(spec),
            ToolFilter::default(),
        )
    }
    /// The separator between server and item names (default `__`).
    #[must_use]
    pub fn separator(mut self, sep: impl Into<String>) -> Self {
        self.separator = Some(sep.into());
        self
    }
    /// Exposes names unchanged, without the server prefix: for a single upstream (a bridge).
    /// With several upstreams, a name two of them share is served by the first.
    #[must_use]
    pub fn unprefixed(mut self) -> Self {
        self.separator = None;
        self
    }
    /// Page size of merged lists (0: whole lists, the default).
    #[must_use]
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }
    /// The MCP endpoint's path (default `/mcp`; `/mcp/` is served too).
    #[must_use]
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.mcp_path = path.into();
        self
    }
    /// Limits of the HTTP endpoint.
    #[must_use]
    pub fn http_options(mut self, o: HttpOptions) -> Self {
        self.http = o;
        self
    }
    /// Which `Host`/`Origin` values are accepted.
    #[must_use]
    pub fn origin_policy(mut self, p: OriginPolicy) -> Self {
        self.origin = p;
        self
    }
    /// Timeouts and backoff of upstream connections.
    #[must_use]
    pub fn upstream_options(mut self, o: UpstreamOptions) -> Self {
        self.upstream_options = o;
        self
    }
    /// Wraps the MCP-plane stack in `layer`; the first layer added is the outermost.
    #[must_use]
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<McpService> + Send + 'static,
        L::Service: Service<crate::McpRequest, Response = crate::McpResponse, Error = crate::McpError>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<crate::McpRequest>>::Future: Send + 'static,
    {
        self.stack.push(Box::new(move |inner, _| {
            McpService::new(layer.layer(inner))
        }));
        self
    }

    /// Like [`GatewayBuilder::layer`], for a layer that needs the [`Aggregate`] (to resolve a
    /// request's target to its upstream server, or to look at the catalog): `make` runs once,
    /// when the gateway is built.
    #[must_use]
    pub fn layer_with<L, F>(mut self, make: F) -> Self
    where
        F: FnOnce(&Aggregate) -> L + Send + 'static,
        L: Layer<McpService>,
        L::Service: Service<crate::McpRequest, Response = crate::McpResponse, Error = crate::McpError>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<crate::McpRequest>>::Future: Send + 'static,
    {
        self.stack.push(Box::new(move |inner, aggregate| {
            McpService::new(make(aggregate).layer(inner))
        }));
        self
    }

    /// The names of the upstreams added so far, in order (for layers that check the server
    /// names their settings mention).
    pub fn upstream_names(&self) -> impl Iterator<Item = &str> {
        self.upstreams.iter().map(|u| u.name.as_str())
    }

    /// The time limit of one upstream request ([`UpstreamOptions::request_timeout`]): the
    /// ceiling of any deadline a layer sets.
    pub fn upstream_request_timeout(&self) -> Duration {
        self.upstream_options.request_timeout
    }

    /// Wraps the HTTP plane (every MCP, REST and extra route, after the Host/Origin guard) in
    /// `layer`; the first added is the outermost. HTTP-plane layers answer with a status
    /// instead of failing, and may put an [`Identity`](crate::Identity) in the request
    /// extensions for the MCP plane.
    #[must_use]
    pub fn http_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<HttpService> + Send + 'static,
        L::Service: Service<HttpRequest, Response = Response<McpBody>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<HttpRequest>>::Future: Send + 'static,
    {
        self.http_stack
            .push(Box::new(move |inner| HttpService::new(layer.layer(inner))));
        self
    }

    /// Serves `path` (exact match) with the service `make` builds from the assembled gateway;
    /// the route sits behind the Host/Origin guard and the HTTP-plane layers.
    #[must_use]
    pub fn route(
        mut self,
        path: impl Into<String>,
        make: impl FnOnce(&GatewayParts) -> HttpService + Send + 'static,
    ) -> Self {
        self.routes.push((path.into(), Box::new(make)));
        self
    }

    /// Starts the upstreams and assembles the stack. Must run inside a tokio runtime.
    pub fn build(self) -> Gateway {
        let shutdown = CancellationToken::new();
        let settings = RestartSettings::of(&self);
        let members: Vec<Member> = self
            .upstreams
            .into_iter()
            .map(|u| {
                let upstream = Upstream::start(
                    &u.name,
                    u.spec,
                    self.upstream_options.clone(),
                    shutdown.child_token(),
                );
                Member {
                    upstream,
                    filter: u.filter,
                    validate_arguments: u.validate_arguments,
                }
            })
            .collect();
        let aggregate = Aggregate::new(members, self.separator, self.page_size)
            .with_startup_grace(self.startup_grace);
        let service = mcp_plane(self.stack, &aggregate);
        let dispatcher = Dispatcher::new(service.clone());
        let streamable = StreamableHttpService::new(
            dispatcher.clone(),
            self.http.clone(),
            Some(aggregate.notification_sender()),
        );
        let sse = SseService::new(
            dispatcher.clone(),
            self.http,
            "/messages",
            Some(aggregate.notification_sender()),
        );
        let parts = GatewayParts {
            service,
            aggregate: aggregate.clone(),
            dispatcher,
            streamable,
            sse,
        };
        let guarded = http_plane(
            &parts,
            &self.mcp_path,
            self.routes,
            self.http_stack,
            self.origin,
        );
        Gateway {
            inner: Arc::new(GatewayInner {
                router: Router {
                    guarded: Arc::new(ArcSwap::from_pointee(guarded)),
                    aggregate,
                },
                parts,
                settings,
                shutdown,
            }),
        }
    }
}

/// The MCP-plane stack: the layers (the first added outermost) over the aggregate.
fn mcp_plane(stack: Vec<StackFn>, aggregate: &Aggregate) -> McpService {
    let mut service = McpService::new(aggregate.clone());
    for wrap in stack.into_iter().rev() {
        service = wrap(service, aggregate);
    }
    // Outermost: during the start-up grace, a request whose target is not routable yet (or a
    // list) waits for the upstreams still on their first start, so that every layer — not just
    // the aggregate — resolves its target against a complete catalog (a rate limit per server
    // must not miss the first calls). The grace is counted from start-up, not per request.
    McpService::new(Settled {
        inner: service,
        aggregate: aggregate.clone(),
    })
}

/// The start-up gate in front of the MCP plane. Once the upstreams have settled it only
/// forwards (no clone, no extra future).
#[derive(Clone, Debug)]
struct Settled {
    inner: McpService,
    aggregate: Aggregate,
}

impl Service<crate::McpRequest> for Settled {
    type Response = crate::McpResponse;
    type Error = crate::McpError;
    type Future = Pin<Box<dyn Future<Output = Result<crate::McpResponse, crate::McpError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), crate::McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: crate::McpRequest) -> Self::Future {
        // A call whose target is already routable never waits for another upstream's start.
        // (Asked without caching on the request: a `None` now must not stick for the layers
        // below, which resolve again after the wait.)
        let routable = || {
            req.target()
                .is_some_and(|t| self.aggregate.resolve(req.method(), t).is_some())
        };
        if self.aggregate.is_settled() || routable() {
            return self.inner.call(req);
        }
        let inner = self.inner.clone();
        let aggregate = self.aggregate.clone();
        Box::pin(async move {
            aggregate.settle().await;
            inner.oneshot(req).await
        })
    }
}

/// Everything behind the Host/Origin guard: the HTTP-plane layers (the first added outermost)
/// over the MCP endpoint and the extra routes, built from `parts`.
fn http_plane(
    parts: &GatewayParts,
    mcp_path: &str,
    routes: Vec<(String, RouteFn)>,
    http_stack: Vec<HttpStackFn>,
    origin: OriginPolicy,
) -> HttpService {
    let extra: HashMap<String, HttpService> = routes
        .into_iter()
        .map(|(path, make)| (path, make(parts)))
        .collect();
    let routes = Routes {
        streamable: parts.streamable.clone(),
        sse: parts.sse.clone(),
        mcp_path: mcp_path.trim_end_matches('/').into(),
        extra: Arc::new(extra),
    };
    let mut http = HttpService::new(routes);
    for wrap in http_stack.into_iter().rev() {
        http = wrap(http);
    }
    HttpService::new(OriginGuardLayer::new(origin).layer(http))
}

/// One upstream as the builder keeps it.
#[derive(Debug, Clone, PartialEq)]
struct UpstreamEntry {
    name: String,
    spec: UpstreamSpec,
    filter: ToolFilter,
    validate_arguments: bool,
}

/// The settings a reload cannot change: upstreams and transport limits.
#[derive(Debug, Clone, PartialEq)]
struct RestartSettings {
    upstreams: Vec<UpstreamEntry>,
    separator: Option<String>,
    page_size: usize,
    http: HttpOptions,
    upstream_options: UpstreamOptions,
}

impl RestartSettings {
    fn of(b: &GatewayBuilder) -> Self {
        RestartSettings {
            upstreams: b.upstreams.clone(),
            separator: b.separator.clone(),
            page_size: b.page_size,
            http: b.http.clone(),
            upstream_options: b.upstream_options.clone(),
        }
    }

    /// What `new` changes, in config-file terms.
    fn changes(&self, new: &RestartSettings) -> Vec<String> {
        let mut out = Vec::new();
        for entry in &new.upstreams {
            let name = &entry.name;
            match self.upstreams.iter().find(|u| &u.name == name) {
                None => out.push(format!("mcp_servers.{name} added")),
                Some(old) if old != entry => out.push(format!("mcp_servers.{name} changed")),
                Some(_) => {}
            }
        }
        for UpstreamEntry { name, .. } in &self.upstreams {
            if !new.upstreams.iter().any(|u| &u.name == name) {
                out.push(format!("mcp_servers.{name} removed"));
            }
        }
        let (o, n) = (&self.http, &new.http);
        let (ou, nu) = (&self.upstream_options, &new.upstream_options);
        for (changed, what) in [
            (self.separator != new.separator, "server.separator"),
            (self.page_size != new.page_size, "page size"),
            (
                o.max_body_bytes != n.max_body_bytes,
                "server.max_body_bytes",
            ),
            (
                o.session_idle_timeout != n.session_idle_timeout,
                "server.session_idle_timeout",
            ),
            (o.keep_alive != n.keep_alive, "server.keep_alive"),
            (
                o.max_sessions != n.max_sessions || o.stream_queue != n.stream_queue,
                "HTTP session limits",
            ),
            (
                ou.request_timeout != nu.request_timeout,
                "server.request_timeout",
            ),
            (
                ou.connect_timeout != nu.connect_timeout
                    || ou.initial_backoff != nu.initial_backoff
                    || ou.max_backoff != nu.max_backoff,
                "upstream connection settings",
            ),
        ] {
            if changed {
                out.push(format!("{what} changed"));
            }
        }
        out
    }
}

/// What [`Gateway::reload`] did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Reloaded {
    /// Settings the new builder changes that take effect only after a restart (upstreams,
    /// transport limits), in config-file terms: `mcp_servers.github changed`.
    pub needs_restart: Vec<String>,
}

/// A running gateway.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<GatewayInner>,
}

#[derive(Debug)]
struct GatewayInner {
    /// What lives as long as the gateway (`service` is the stack it was built with).
    parts: GatewayParts,
    settings: RestartSettings,
    router: Router,
    shutdown: CancellationToken,
}

impl Gateway {
    /// The aggregate (health, tool names, notifications).
    pub fn aggregate(&self) -> &Aggregate {
        &self.inner.parts.aggregate
    }
    /// The dispatcher, to serve other transports.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.inner.parts.dispatcher
    }

    /// Rebuilds the MCP-plane stack, the HTTP-plane layers, the extra routes, the MCP path and
    /// the Host/Origin policy from `builder`, and swaps them in while serving: sessions stay
    /// open, requests in flight finish on the old stack, new ones take the new. Upstreams and
    /// transport limits stay as they are; where `builder` differs there, the difference is
    /// listed in [`Reloaded::needs_restart`]. Must run inside a tokio runtime.
    pub fn reload(&self, builder: GatewayBuilder) -> Reloaded {
        let needs_restart = self.inner.settings.changes(&RestartSettings::of(&builder));
        let old = &self.inner.parts;
        let service = mcp_plane(builder.stack, &old.aggregate);
        let parts = GatewayParts {
            service: service.clone(),
            ..old.clone()
        };
        let guarded = http_plane(
            &parts,
            &builder.mcp_path,
            builder.routes,
            builder.http_stack,
            builder.origin,
        );
        old.dispatcher.replace_service(service);
        self.inner.router.guarded.store(Arc::new(guarded));
        Reloaded { needs_restart }
    }
    /// The HTTP service: the MCP endpoint plus `/healthz` and `/readyz`. Mount it in a hyper or
    /// axum app, or use [`Gateway::serve`].
    pub fn router(&self) -> Router {
        self.inner.router.clone()
    }
    /// Stops serving and shuts the upstreams down (children get their stdin closed, then killed).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }
    /// Fires on shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Waits until every upstream has stopped after [`Gateway::shutdown`], at most `limit`.
    pub async fn wait_stopped(&self, limit: Duration) {
        let all = async {
            for m in self.aggregate().members() {
                let mut rx = m.upstream.watch_status();
                let _ = rx
                    .wait_for(|s| matches!(s, UpstreamStatus::Down { reason } if reason == crate::upstream::STOPPED))
                    .await;
            }
        };
        let _ = tokio::time::timeout(limit, all).await;
    }

    /// Serves HTTP on `listener` until [`Gateway::shutdown`].
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let shutdown = self.inner.shutdown.clone();
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => break,
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(self.router());
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
        Ok(())
    }

    /// Serves MCP on stdin/stdout until stdin closes or [`Gateway::shutdown`].
    pub async fn serve_stdio(&self) -> std::io::Result<()> {
        crate::server::stdio::serve_stdio(
            self.dispatcher().clone(),
            Some(self.aggregate().subscribe()),
            None,
            self.inner.shutdown.clone(),
        )
        .await
    }
}

/// The gateway's HTTP routes. `/healthz` and `/readyz` are answered directly; everything
/// else goes through the Host/Origin guard and the HTTP-plane layers to [`Routes`] — as they
/// are after the latest [`Gateway::reload`].
#[derive(Clone, Debug)]
pub struct Router {
    guarded: Arc<ArcSwap<HttpService>>,
    aggregate: Aggregate,
}

impl<B> Service<Request<B>> for Router
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let resp = match req.uri().path() {
            "/healthz" => crate::server::plain(StatusCode::OK, "ok"),
            "/readyz" => readyz(&self.aggregate),
            _ => {
                let guarded = HttpService::clone(&self.guarded.load());
                return Box::pin(guarded.oneshot(box_request(req)));
            }
        };
        Box::pin(async move { Ok(resp) })
    }
}

/// The guarded routes by path: Streamable HTTP at the MCP path (with and without a trailing
/// slash), legacy SSE at `/sse` + `/messages` and on a session-less GET of the MCP path, and the
/// extra routes layers added (REST, chat, metrics …). Anything else is 404.
#[derive(Clone, Debug)]
pub struct Routes {
    streamable: StreamableHttpService,
    sse: SseService,
    mcp_path: Arc<str>,
    extra: Arc<HashMap<String, HttpService>>,
}

impl Routes {
    /// The spec's backwards-compatibility rule: a GET of the MCP path with no session and an
    /// `Accept: text/event-stream` is a 2024-11-05 client looking for the `endpoint` event.
    fn is_legacy_get<B>(req: &Request<B>) -> bool {
        let h = req.headers();
        req.method() == http::Method::GET
            && !h.contains_key("mcp-session-id")
            && !h.contains_key("mcp-protocol-version")
            && crate::server::accepts(h, "text/event-stream")
    }
}

impl Service<HttpRequest> for Routes {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let path = req.uri().path();
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        if trimmed == "/sse" || trimmed == "/messages" {
            return self.sse.call(req);
        }
        if trimmed == &*self.mcp_path {
            if Self::is_legacy_get(&req) {
                return self.sse.call(req);
            }
            return self.streamable.call(req);
        }
        if let Some(route) = self.extra.get(path).or_else(|| self.extra.get(trimmed)) {
            return Box::pin(route.clone().oneshot(req));
        }
        let resp = crate::server::plain(
            StatusCode::NOT_FOUND,
            format!("no route for {path}; the MCP endpoint is {}", self.mcp_path),
        );
        Box::pin(async move { Ok(resp) })
    }
}

fn readyz(aggregate: &Aggregate) -> Response<McpBody> {
    let health = aggregate.health();
    let any_ready = health.iter().any(|h| h.status.is_ready());
    let upstreams: Vec<serde_json::Value> = health
        .iter()
        .map(|h| match &h.status {
            UpstreamStatus::Ready(info) => serde_json::json!({
                "name": h.name, "status": "ready", "tools": h.tools, "inflight": h.inflight,
                "server": info.server_info.name, "protocolVersion": info.protocol_version,
            }),
            UpstreamStatus::Starting => serde_json::json!({
                "name": h.name, "status": "starting",
                "reason": format!(
                    "started {:.1} s ago; no answer to initialize yet",
                    h.started.elapsed().as_secs_f64()
                ),
            }),
            UpstreamStatus::Down { reason } => {
                serde_json::json!({"name": h.name, "status": "down", "reason": reason})
            }
        })
        .collect();
    let body = serde_json::json!({"ready": any_ready, "upstreams": upstreams}).to_string();
    let mut r = Response::new(McpBody::full(body));
    *r.status_mut() = if any_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Why a config could not become a gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An upstream server's settings cannot work.
    #[error("mcp_servers.{server}: {message}")]
    Server {
        /// The server's name.
        server: String,
        /// What is wrong.
        message: String,
    },
    /// A `layers:` entry could not be built.
    #[error(transparent)]
    Layer(#[from] crate::registry::LayerError),
}

impl GatewayBuilder {
    /// A builder with everything the config file says, `layers:` resolved through `registry`.
    pub fn from_config_with(
        config: &crate::config::Config,
        registry: &crate::registry::Registry,
    ) -> Result<GatewayBuilder, BuildError> {
        let builder = Self::from_config(config)?;
        Ok(registry.apply(&config.layers, &config.plugin_dirs, builder)?)
    }

    /// A builder with the upstreams and `server:` settings of a config file (its `layers:` need
    /// [`GatewayBuilder::from_config_with`] and a registry).
    pub fn from_config(config: &crate::config::Config) -> Result<GatewayBuilder, BuildError> {
        use crate::config::{SessionMode, UpstreamTransport};
        let s = &config.server;
        let mut b = GatewayBuilder::new()
            .separator(s.separator.clone())
            .mcp_path(s.mcp_path.clone())
            .http_options(HttpOptions {
                max_body_bytes: s.max_body_bytes,
                session_idle_timeout: s.session_idle_timeout,
                keep_alive: s.keep_alive,
                ..HttpOptions::default()
            })
            .origin_policy(s.origin_policy())
            .upstream_options(UpstreamOptions {
                request_timeout: s.request_timeout,
                ..UpstreamOptions::default()
            })
            .startup_grace(s.startup_grace);
        for (name, server) in &config.servers {
            if matches!(server.session_mode, SessionMode::PerSession) {
                tracing::warn!(server = %name, "session_mode: per_session is not implemented yet; the upstream connection is shared");
            }
            let spec = match &server.transport {
                UpstreamTransport::Stdio {
                    command,
                    args,
                    env,
                    cwd,
                } => UpstreamSpec::Stdio(StdioSpec {
                    command: command.clone(),
                    args: args.clone(),
                    env: env.clone(),
                    cwd: cwd.clone(),
                }),
                UpstreamTransport::StreamableHttp { url, headers }
                | UpstreamTransport::Sse { url, headers } => {
                    let spec = HttpSpec {
                        url: url.clone(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    };
                    crate::upstream::check_spec(&spec).map_err(|message| BuildError::Server {
                        server: name.clone(),
                        message,
                    })?;
                    if matches!(server.transport, UpstreamTransport::Sse { .. }) {
                        UpstreamSpec::Sse(spec)
                    } else {
                        UpstreamSpec::StreamableHttp(spec)
                    }
                }
            };
            let filter = ToolFilter {
                allowed: server.allowed_tools.clone(),
                denied: server.disallowed_tools.clone(),
            };
            b = b
                .upstream(name.clone(), spec, filter)
                .validate_arguments(name, server.validate_arguments);
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatcher::Inbound;
    use crate::jsonrpc::{JsonRpcRequest, Method, RequestId};
    use crate::session::{Session, SessionInfo, TransportKind};
    use crate::{McpRequest, McpResponse};

    /// A layer that answers every request itself with `{"from": text}`.
    fn answering(text: &'static str) -> impl Layer<McpService, Service = McpService> + Send {
        tower::layer::layer_fn(move |_inner: McpService| {
            McpService::new(tower::service_fn(move |_req: McpRequest| async move {
                McpResponse::from_typed(&serde_json::json!({ "from": text }))
            }))
        })
    }

    async fn ask(dispatcher: &Dispatcher, session: &Arc<Session>) -> String {
        let req = JsonRpcRequest::new(RequestId::Number(1), Method::ToolsList, None);
        let frame = dispatcher
            .request(session, req, Inbound::default())
            .await
            .expect("an answer");
        String::from_utf8_lossy(&frame).into_owned()
    }

    #[tokio::test]
    async fn reload_swaps_the_stack_and_routes_for_running_sessions() {
        let gateway = GatewayBuilder::new().layer(answering("old")).build();
        let dispatcher = gateway.dispatcher().clone();
        let session = Arc::new(Session::new(SessionInfo::new(None, TransportKind::Stdio)));
        assert!(ask(&dispatcher, &session).await.contains("old"));
        let extra = |req_path: &'static str| {
            Request::get(req_path)
                .header(http::header::HOST, "localhost")
                .body(http_body_util::Empty::<Bytes>::new())
                .expect("request")
        };
        let before = gateway.router().oneshot(extra("/extra")).await;
        assert_eq!(before.map(|r| r.status()).ok(), Some(StatusCode::NOT_FOUND));

        let reloaded = gateway.reload(GatewayBuilder::new().layer(answering("new")).route(
            "/extra",
            |_| {
                HttpService::new(tower::service_fn(|_req: HttpRequest| async {
                    Ok::<_, Infallible>(crate::server::plain(StatusCode::OK, "extra"))
                }))
            },
        ));
        assert!(reloaded.needs_restart.is_empty(), "{reloaded:?}");
        // The same session and the same dispatcher clone now reach the new stack.
        assert!(ask(&dispatcher, &session).await.contains("new"));
        let after = gateway.router().oneshot(extra("/extra")).await;
        assert_eq!(after.map(|r| r.status()).ok(), Some(StatusCode::OK));
    }

    #[test]
    fn changes_that_need_a_restart_are_named() {
        let spec = |cmd: &str| StdioSpec {
            command: cmd.into(),
            ..Default::default()
        };
        let old = GatewayBuilder::new()
            .stdio("a", spec("x"))
            .stdio("b", spec("y"));
        let new = GatewayBuilder::new()
            .stdio("a", spec("x2"))
            .stdio("c", spec("z"))
            .http_options(HttpOptions {
                max_body_bytes: 1,
                ..HttpOptions::default()
            });
        let changes = RestartSettings::of(&old).changes(&RestartSettings::of(&new));
        assert_eq!(
            changes,
            [
                "mcp_servers.a changed",
                "mcp_servers.c added",
                "mcp_servers.b removed",
                "server.max_body_bytes changed"
            ]
        );
        let same = GatewayBuilder::new()
            .stdio("a", spec("x"))
            .stdio("b", spec("y"));
        assert!(
            RestartSettings::of(&old)
                .changes(&RestartSettings::of(&same))
                .is_empty()
        );
    }
}
