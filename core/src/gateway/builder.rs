//! [`GatewayBuilder`]: upstreams, layers (global, per upstream, per server), HTTP-plane layers
//! and routes, then [`GatewayBuilder::build`]; [`GatewayBuilder::from_config`] fills one from a
//! config file.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::Response;
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service};

use super::router::Router;
use super::stacks::{self, UpstreamTarget};
use super::{Gateway, GatewayInner, GatewayParts, RestartSettings};
use crate::aggregate::{Aggregate, Member, ToolFilter};
use crate::dispatcher::Dispatcher;
use crate::envelope::McpService;
use crate::health::UpstreamCheck;
use crate::server::{
    HttpOptions, HttpRequest, HttpService, McpBody, OriginPolicy, SseService, StreamableHttpService,
};
use crate::upstream::{
    HttpSpec, OutlierDetection, PerSession, StdioSpec, Upstream, UpstreamOptions, UpstreamSpec,
};

pub(super) type StackFn = Box<dyn FnOnce(McpService) -> McpService + Send>;
pub(super) type HttpStackFn = Box<dyn FnOnce(HttpService) -> HttpService + Send>;
pub(super) type RouteFn = Box<dyn FnOnce(&GatewayParts) -> HttpService + Send>;
/// Wraps one upstream's stack, knowing which upstream it is.
pub(super) type PerUpstreamFn =
    Arc<dyn Fn(&UpstreamTarget<'_>, McpService) -> McpService + Send + Sync>;
/// One upstream as the builder keeps it.
pub(super) struct UpstreamEntry {
    pub(super) name: String,
    pub(super) spec: UpstreamSpec,
    pub(super) filter: ToolFilter,
    pub(super) validate_arguments: bool,
    /// What its names are exposed under (`None`: its name).
    pub(super) prefix: Option<String>,
    /// `Some(max)`: a connection per client session, at most `max`.
    pub(super) per_session: Option<usize>,
    /// More replicas of the server besides `spec`, and when one is left out.
    pub(super) replicas: Vec<UpstreamSpec>,
    pub(super) outlier: OutlierDetection,
    /// This server's own layers, outermost first.
    pub(super) layers: Vec<StackFn>,
}

impl std::fmt::Debug for UpstreamEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamEntry")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .field("replicas", &self.replicas)
            .field("filter", &self.filter)
            .field("validate_arguments", &self.validate_arguments)
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// Something that adds itself to a gateway in one go — HTTP-plane layers, MCP-plane layers,
/// per-upstream layers and routes together — such as authentication with its metadata
/// document, or tracing with its HTTP trace-context layer and its per-upstream client spans.
/// Added with [`GatewayBuilder::with`]; a closure over the builder works too.
pub trait Install {
    /// Adds everything it consists of to `builder`.
    fn install(self, builder: GatewayBuilder) -> GatewayBuilder;
}

impl<F: FnOnce(GatewayBuilder) -> GatewayBuilder> Install for F {
    fn install(self, builder: GatewayBuilder) -> GatewayBuilder {
        self(builder)
    }
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
    pub(super) upstreams: Vec<UpstreamEntry>,
    pub(super) separator: Option<String>,
    pub(super) page_size: usize,
    pub(super) startup_grace: Duration,
    pub(super) mcp_path: String,
    pub(super) http: HttpOptions,
    pub(super) origin: OriginPolicy,
    pub(super) upstream_options: UpstreamOptions,
    pub(super) stack: Vec<StackFn>,
    pub(super) per_upstream: Vec<PerUpstreamFn>,
    pub(super) http_stack: Vec<HttpStackFn>,
    pub(super) routes: Vec<(String, RouteFn)>,
    pub(super) checks: Vec<Arc<dyn UpstreamCheck>>,
    pub(super) assembled: Vec<AssembledFn>,
    pub(super) redis: Option<crate::config::RedisSettings>,
}

/// A callback run once the gateway is assembled (see [`GatewayBuilder::on_assembled`]).
pub(super) type AssembledFn = Box<dyn FnOnce(&GatewayParts) + Send>;

impl std::fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("upstreams", &self.upstreams)
            .field("separator", &self.separator)
            .field("mcp_path", &self.mcp_path)
            .field("layers", &self.stack.len())
            .field("per_upstream_layers", &self.per_upstream.len())
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
            per_upstream: Vec::new(),
            http_stack: Vec::new(),
            routes: Vec::new(),
            checks: Vec::new(),
            assembled: Vec::new(),
            redis: None,
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
            prefix: None,
            per_session: None,
            replicas: Vec::new(),
            outlier: OutlierDetection::default(),
            layers: Vec::new(),
        });
        self
    }
    /// Adds replicas of upstream `server` (added earlier): copies of its server reached by
    /// `more`, balanced with the first (power of two choices on requests in flight), a
    /// failing one ejected for a while, failed calls that cannot do anything twice sent to
    /// the next. Not with [`per_session`](Self::per_session), whose connections are each
    /// session's own.
    #[must_use]
    pub fn replicas(mut self, server: &str, more: impl IntoIterator<Item = UpstreamSpec>) -> Self {
        let more: Vec<UpstreamSpec> = more.into_iter().collect();
        for u in self.upstreams.iter_mut().filter(|u| u.name == server) {
            u.replicas.extend(more.iter().cloned());
        }
        self
    }
    /// When a replica of upstream `server` is left out of the balance (see
    /// [`replicas`](Self::replicas)); default [`OutlierDetection::default`].
    #[must_use]
    pub fn outlier_detection(mut self, server: &str, outlier: OutlierDetection) -> Self {
        for u in self.upstreams.iter_mut().filter(|u| u.name == server) {
            u.outlier = outlier;
        }
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
    /// Exposes the tool and prompt names of upstream `server` (added earlier) as
    /// `{prefix}{separator}{name}` instead of under the server's own name; an empty prefix
    /// exposes them as they are (a single-server gateway that is transparent to clients).
    #[must_use]
    pub fn prefix(mut self, server: &str, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        for u in self.upstreams.iter_mut().filter(|u| u.name == server) {
            u.prefix = Some(prefix.clone());
        }
        self
    }
    /// Gives each client session its own connection to upstream `server` (added earlier),
    /// at most `max_sessions` of them: a child process, or an HTTP session, per client. What
    /// such a connection sends (log messages, sampling, elicitation) reaches its client even
    /// from a stdio server.
    #[must_use]
    pub fn per_session(mut self, server: &str, max_sessions: usize) -> Self {
        for u in self.upstreams.iter_mut().filter(|u| u.name == server) {
            u.per_session = Some(max_sessions.max(1));
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
    /// The Redis that gateway replicas share state through (the config's `redis:`), for the
    /// layers that can keep their state there (`rate_limit` with `store: redis`).
    #[must_use]
    pub fn redis(mut self, settings: crate::config::RedisSettings) -> Self {
        self.redis = Some(settings);
        self
    }
    /// The shared Redis, if one is configured (see [`redis`](Self::redis)).
    pub fn redis_settings(&self) -> Option<&crate::config::RedisSettings> {
        self.redis.as_ref()
    }
    /// The MCP endpoint's path as set (for components that serve more endpoints beside it).
    pub fn mcp_endpoint_path(&self) -> &str {
        self.mcp_path.trim_end_matches('/')
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
    /// Adds `component` (see [`Install`]), in the order of the other calls: its layers sit where
    /// a `layer` call at this point would.
    #[must_use]
    pub fn with(self, component: impl Install) -> Self {
        component.install(self)
    }

    /// Wraps the MCP-plane stack in `layer`; the first layer added is the outermost. Every
    /// request reaches it routed: [`McpRequest::route`](crate::McpRequest::route) says which
    /// upstream serves its target.
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
        self.stack
            .push(Box::new(move |inner| McpService::new(layer.layer(inner))));
        self
    }

    /// Adds a layer to the stack of every upstream: `make` is called once per upstream with
    /// its [`UpstreamTarget`] and wraps that upstream's stack (the first added is the outermost
    /// of these). For what belongs to each call leaving the gateway, such as a client span.
    #[must_use]
    pub fn layer_per_upstream<F>(mut self, make: F) -> Self
    where
        F: Fn(&UpstreamTarget<'_>, McpService) -> McpService + Send + Sync + 'static,
    {
        self.per_upstream.push(Arc::new(make));
        self
    }

    /// Adds `layer` to the stack of the upstream `server` only (a server's own `layers:` in
    /// the config); the first added is the outermost. Unknown servers are ignored.
    #[must_use]
    pub fn server_layer<L>(self, server: &str, layer: L) -> Self
    where
        L: Layer<McpService> + Send + 'static,
        L::Service: Service<crate::McpRequest, Response = crate::McpResponse, Error = crate::McpError>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<crate::McpRequest>>::Future: Send + 'static,
    {
        self.server_stack(
            server,
            Box::new(move |inner| McpService::new(layer.layer(inner))),
        )
    }

    fn server_stack(mut self, server: &str, wrap: StackFn) -> Self {
        if let Some(u) = self.upstreams.iter_mut().find(|u| u.name == server) {
            u.layers.push(wrap);
        }
        self
    }

    /// A builder for one server's own layers: the same upstreams and settings (for layers that
    /// check the names and limits they are given), no layers yet. Layers added to it become
    /// that server's with [`GatewayBuilder::adopt_server_layers`].
    pub fn server_scope(&self) -> GatewayBuilder {
        GatewayBuilder {
            upstreams: self
                .upstreams
                .iter()
                .map(|u| UpstreamEntry {
                    name: u.name.clone(),
                    spec: u.spec.clone(),
                    filter: u.filter.clone(),
                    validate_arguments: u.validate_arguments,
                    prefix: u.prefix.clone(),
                    per_session: u.per_session,
                    replicas: u.replicas.clone(),
                    outlier: u.outlier,
                    layers: Vec::new(),
                })
                .collect(),
            separator: self.separator.clone(),
            page_size: self.page_size,
            startup_grace: self.startup_grace,
            mcp_path: self.mcp_path.clone(),
            http: self.http.clone(),
            origin: self.origin.clone(),
            upstream_options: self.upstream_options.clone(),
            redis: self.redis.clone(),
            ..GatewayBuilder::default()
        }
    }

    /// Makes the MCP-plane layers added to `scope` (see [`GatewayBuilder::server_scope`]) the
    /// next layers of upstream `server`'s own stack. Refused when `scope` got anything else
    /// (HTTP-plane layers, routes, per-upstream layers): those exist once per gateway, not per
    /// server.
    pub fn adopt_server_layers(
        self,
        server: &str,
        scope: GatewayBuilder,
    ) -> Result<Self, &'static str> {
        if !scope.http_stack.is_empty() || !scope.routes.is_empty() {
            return Err(
                "it adds HTTP-plane layers or routes, which exist once per gateway: list it in the top-level `layers:`",
            );
        }
        if !scope.per_upstream.is_empty() {
            return Err("it adds layers to every upstream: list it in the top-level `layers:`");
        }
        let mut this = scope
            .stack
            .into_iter()
            .fold(self, |b, wrap| b.server_stack(server, wrap));
        this.checks.extend(scope.checks);
        this.assembled.extend(scope.assembled);
        Ok(this)
    }

    /// Registers a health check of the upstreams (a layer's view of them, such as a circuit
    /// breaker's state): `/readyz` and the metrics show what it says, and an upstream it fails
    /// is not ready. Allowed in a server's own scope too.
    #[must_use]
    pub fn upstream_check(mut self, check: Arc<dyn UpstreamCheck>) -> Self {
        self.checks.push(check);
        self
    }

    /// Runs `f` with the assembled gateway's parts once it is built (and on each reload that
    /// uses this builder): for layers that watch the gateway, such as a cache that drops
    /// entries when the aggregate's notifications say they are stale
    /// ([`Aggregate::subscribe`](crate::aggregate::Aggregate::subscribe)). Runs inside the
    /// tokio runtime; allowed in a server's own scope too.
    #[must_use]
    pub fn on_assembled(mut self, f: impl FnOnce(&GatewayParts) + Send + 'static) -> Self {
        self.assembled.push(Box::new(f));
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

    /// Starts the upstreams and assembles the stacks. Must run inside a tokio runtime: it
    /// spawns each upstream's supervisor and the aggregate's refreshers.
    pub fn build(self) -> Gateway {
        let shutdown = CancellationToken::new();
        let settings = RestartSettings::of(&self);
        let members: Vec<Member> = self
            .upstreams
            .into_iter()
            .map(|u| {
                let upstream = Upstream::start_replicas(
                    &u.name,
                    u.spec.clone(),
                    u.replicas.clone(),
                    self.upstream_options.clone(),
                    u.outlier,
                    shutdown.child_token(),
                );
                let (filter, validate_arguments) = (u.filter.clone(), u.validate_arguments);
                let prefix: Arc<str> = u.prefix.as_deref().unwrap_or(&u.name).into();
                let per_session = u.per_session.map(|max| {
                    PerSession::new(
                        upstream.clone(),
                        u.spec.clone(),
                        self.upstream_options.clone(),
                        max,
                        shutdown.child_token(),
                    )
                });
                let service = stacks::upstream_stack(
                    &upstream,
                    per_session.as_ref(),
                    u,
                    &self.per_upstream,
                    &self.upstream_options,
                );
                Member {
                    upstream,
                    service,
                    filter,
                    validate_arguments,
                    prefix,
                    per_session,
                }
            })
            .collect();
        let aggregate = Aggregate::new(members, self.separator, self.page_size)
            .with_startup_grace(self.startup_grace);
        aggregate.replace_checks(self.checks);
        for m in aggregate.members() {
            if let Some(per_session) = &m.per_session {
                per_session.notify_through(aggregate.notification_sender());
            }
        }
        let service = stacks::mcp_plane(self.stack, &aggregate);
        let upstreams = aggregate.clone();
        let dispatcher = Dispatcher::new(service.clone())
            .with_capabilities_from(move |caps| upstreams.adjust_capabilities(caps));
        let streamable = StreamableHttpService::new(
            dispatcher.clone(),
            self.http.clone(),
            Some(aggregate.notification_sender()),
        );
        let sse = SseService::new(
            dispatcher.clone(),
            self.http,
            "messages",
            Some(aggregate.notification_sender()),
        );
        let parts = GatewayParts {
            service,
            aggregate: aggregate.clone(),
            dispatcher,
            streamable,
            sse,
        };
        let guarded = stacks::http_plane(
            &parts,
            &self.mcp_path,
            self.routes,
            self.http_stack,
            self.origin,
        );
        for f in self.assembled {
            f(&parts);
        }
        Gateway {
            inner: Arc::new(GatewayInner {
                router: Router::new(Arc::new(ArcSwap::from_pointee(guarded)), aggregate),
                parts,
                settings,
                shutdown,
            }),
        }
    }
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
}

impl GatewayBuilder {
    /// A builder with the upstreams and `server:` settings of a config file (its `layers:` need
    /// a [`Registry`](crate::registry::Registry): [`Registry::builder`](crate::registry::Registry::builder)).
    pub fn from_config(config: &crate::config::Config) -> Result<GatewayBuilder, BuildError> {
        use crate::config::SessionMode;
        let s = &config.server;
        let mut b = GatewayBuilder::new()
            .separator(s.separator.clone())
            .mcp_path(s.mcp_path.clone())
            .http_options(HttpOptions {
                max_body_bytes: s.max_body_bytes,
                session_idle_timeout: s.session_idle_timeout,
                keep_alive: s.keep_alive,
                session_seal: s.session_seal.clone(),
                ..HttpOptions::default()
            })
            .origin_policy(s.origin_policy())
            .upstream_options(UpstreamOptions {
                request_timeout: s.request_timeout,
                ..UpstreamOptions::default()
            })
            .startup_grace(s.startup_grace);
        if let Some(redis) = &config.redis {
            b = b.redis(redis.clone());
        }
        for (name, server) in &config.servers {
            let spec = spec_of(name, &server.transport, server)?;
            let replicas = (server.replicas.iter())
                .map(|t| spec_of(name, t, server))
                .collect::<Result<Vec<_>, _>>()?;
            let filter = ToolFilter {
                allowed: server.allowed_tools.clone(),
                denied: server.disallowed_tools.clone(),
            };
            b = b
                .upstream(name.clone(), spec, filter)
                .validate_arguments(name, server.validate_arguments);
            if let Some(prefix) = &server.prefix {
                b = b.prefix(name, prefix.clone());
            }
            if matches!(server.session_mode, SessionMode::PerSession) {
                b = b.per_session(name, server.max_sessions);
            }
            if !replicas.is_empty() {
                b = b
                    .replicas(name, replicas)
                    .outlier_detection(name, server.outlier_detection);
            }
        }
        Ok(b)
    }
}

/// How to reach server `name` over `transport` with its `server` settings.
fn spec_of(
    name: &str,
    transport: &crate::config::UpstreamTransport,
    server: &crate::config::ServerConfig,
) -> Result<UpstreamSpec, BuildError> {
    use crate::config::UpstreamTransport;
    Ok(match transport {
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
            let spec = headers
                .iter()
                .fold(HttpSpec::new(url.clone()), |spec, (k, v)| spec.header(k, v))
                .tls(server.tls.clone())
                .auth(server.auth.clone());
            crate::upstream::check_spec(&spec).map_err(|message| BuildError::Server {
                server: name.to_owned(),
                message,
            })?;
            if matches!(transport, UpstreamTransport::Sse { .. }) {
                UpstreamSpec::Sse(spec)
            } else {
                UpstreamSpec::StreamableHttp(spec)
            }
        }
    })
}
