//! Aggregation: many upstreams behind one namespace.
//!
//! [`Aggregate`] is the leaf of the MCP-plane stack. It answers the list methods from a merged
//! catalog (`{server}{separator}{name}`) and hands `tools/call`, `prompts/get`,
//! `resources/read` and `completion/complete` to the stack of the upstream that owns the name
//! (`serve.rs`) — by table lookup, never by splitting the name — rewriting only `params.name`.
//! Which upstream that is was decided once, before any policy ran, by [`Routing`] in front of
//! the MCP plane (`routing.rs`). A refresher task per upstream re-lists on status changes and
//! `notifications/*/list_changed`, and the aggregate tells every downstream session when a
//! merged list changed (`refresh.rs`).

mod catalog;
mod refresh;
mod routing;
mod serve;
mod subscriptions;

#[cfg(test)]
pub(crate) use serve::rename;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;
use tokio::sync::broadcast;

pub use catalog::ToolFilter;
use catalog::{Catalog, UpstreamLists};
pub use routing::{Routing, RoutingLayer};

use crate::envelope::McpService;
use crate::health::{Check, UpstreamCheck};
use crate::jsonrpc::Method;
use crate::outbound::Outbound;
pub use crate::route::{Resolve, Route};
use crate::upstream::{Upstream, UpstreamStatus};

/// Most pages fetched from one upstream for one list (a guard against endless cursors).
const MAX_PAGES: usize = 100;
/// How long after the aggregate starts a request may wait for upstreams that are still on
/// their first start (see [`Aggregate::with_startup_grace`]).
pub const DEFAULT_STARTUP_GRACE: Duration = Duration::from_secs(3);

/// One upstream as the aggregate sees it.
#[derive(Debug, Clone)]
pub struct Member {
    /// The upstream (its connection).
    pub upstream: Upstream,
    /// The stack routed requests for it go through, ending in `upstream` (see
    /// `GatewayBuilder`'s per-upstream layers); by default the connection itself.
    pub service: McpService,
    /// Which of its tools are exposed.
    pub filter: ToolFilter,
    /// Whether `tools/call` arguments are checked against the tool's `inputSchema` before
    /// they are forwarded (the config's `validate_arguments`, on by default).
    pub validate_arguments: bool,
    /// What its tool and prompt names are exposed under: `{prefix}{separator}{name}`, or the
    /// names as they are when empty (the config's `prefix`; default the upstream's name).
    pub prefix: Arc<str>,
    /// Its per-session connections, when each client session gets its own
    /// (`session_mode: per_session`); `None`: every session shares `upstream`.
    pub per_session: Option<crate::upstream::PerSession>,
}

impl Member {
    /// A member exposing every tool under its upstream's name, with argument checks on.
    pub fn new(upstream: Upstream) -> Self {
        Member {
            service: McpService::new(upstream.clone()),
            prefix: upstream.shared_name().clone(),
            upstream,
            filter: ToolFilter::default(),
            validate_arguments: true,
            per_session: None,
        }
    }
}

impl Resolve for Aggregate {
    fn resolve(&self, method: &Method, target: &str) -> Option<Route> {
        Aggregate::resolve(self, method, target)
    }
}

/// Health of one upstream, for `/readyz` and logs.
#[derive(Debug, Clone)]
pub struct MemberHealth {
    /// Configured name.
    pub name: String,
    /// Ready, starting or down (with the reason).
    pub status: UpstreamStatus,
    /// Tools currently exposed from it.
    pub tools: usize,
    /// Requests in flight on its connection.
    pub inflight: usize,
    /// When it was started.
    pub started: Instant,
    /// What the layers' health checks say about it (a circuit breaker's state).
    pub checks: Vec<Check>,
    /// Its replicas and where each stands, when it has several.
    pub replicas: Vec<crate::upstream::ReplicaState>,
    /// `stdio`, `http` or `sse`.
    pub transport: &'static str,
    /// Times it became ready again after having been ready (restarts, reconnections).
    pub restarts: u64,
}

impl MemberHealth {
    /// Connected, and no check fails: it should get requests.
    pub fn is_ready(&self) -> bool {
        self.status.is_ready() && self.checks.iter().all(|c| c.passing)
    }
}

/// Many upstreams merged into one MCP server: a `tower::Service<McpRequest>`.
#[derive(Clone, Debug)]
pub struct Aggregate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    members: Vec<Member>,
    /// Each member's stack, by index; replaced whole on reload.
    stacks: ArcSwap<Vec<McpService>>,
    /// The layers' health checks; replaced with the stacks on reload.
    checks: ArcSwap<Vec<Arc<dyn UpstreamCheck>>>,
    separator: Option<String>,
    page_size: usize,
    lists: Mutex<Vec<Option<UpstreamLists>>>,
    catalog: RwLock<Arc<Catalog>>,
    notifications: broadcast::Sender<Outbound>,
    /// How many upstreams have settled: listed once after their first start, or failed it.
    settled: tokio::sync::watch::Sender<usize>,
    /// Until then, a request may wait for upstreams still on their first start; after it,
    /// nothing waits for an upstream's start.
    startup_deadline: parking_lot::Mutex<Instant>,
    created: Instant,
    /// Set once start-up is over for good (the fast path of [`Aggregate::is_settled`]).
    open: std::sync::atomic::AtomicBool,
    /// Resource subscriptions per client session.
    subscriptions: Mutex<subscriptions::Subscriptions>,
}

impl Inner {
    fn grace_over(&self) -> bool {
        Instant::now() >= *self.startup_deadline.lock()
    }
}

impl Aggregate {
    /// Merges `members` under `{name}{separator}{item}` (or unchanged names when `separator`
    /// is `None`, for a single upstream) and starts watching them. `page_size` 0 returns whole
    /// lists. Spawns one refresher task per member: must run inside a tokio runtime (the tasks
    /// stop when the aggregate is dropped).
    pub fn new(members: Vec<Member>, separator: Option<String>, page_size: usize) -> Aggregate {
        let (notifications, _) = broadcast::channel(256);
        let n = members.len();
        let stacks = ArcSwap::from_pointee(members.iter().map(|m| m.service.clone()).collect());
        let agg = Aggregate {
            inner: Arc::new(Inner {
                members,
                stacks,
                checks: ArcSwap::from_pointee(Vec::new()),
                separator,
                page_size,
                lists: Mutex::new(vec![None; n]),
                catalog: RwLock::new(Arc::new(Catalog::default())),
                notifications,
                settled: tokio::sync::watch::Sender::new(0),
                startup_deadline: parking_lot::Mutex::new(Instant::now() + DEFAULT_STARTUP_GRACE),
                created: Instant::now(),
                open: std::sync::atomic::AtomicBool::new(false),
                subscriptions: Mutex::new(Default::default()),
            }),
        };
        for idx in 0..n {
            tokio::spawn(refresh::refresher(Arc::downgrade(&agg.inner), idx));
        }
        agg
    }

    /// Replaces every member's stack (config reload: new per-upstream layers over the same
    /// connections), in member order; requests already running finish on the old ones.
    pub fn replace_stacks(&self, stacks: Vec<McpService>) {
        self.inner.stacks.store(Arc::new(stacks));
    }

    /// Replaces the health checks the layers registered (at build and on reload, with the
    /// stacks whose layers they watch).
    pub fn replace_checks(&self, checks: Vec<Arc<dyn UpstreamCheck>>) {
        self.inner.checks.store(Arc::new(checks));
    }

    /// The stack of member `idx`.
    fn stack(&self, idx: usize) -> Option<McpService> {
        self.inner.stacks.load().get(idx).cloned()
    }

    /// Notifications for every downstream session (list changes, resource updates).
    pub fn subscribe(&self) -> broadcast::Receiver<Outbound> {
        self.inner.notifications.subscribe()
    }

    /// The sender behind [`Aggregate::subscribe`], for transports that subscribe per stream.
    pub fn notification_sender(&self) -> broadcast::Sender<Outbound> {
        self.inner.notifications.clone()
    }

    /// Makes `capabilities` say no more than the upstreams do: `resources.subscribe` only
    /// when an upstream that is up supports subscriptions, `completions` only when one offers
    /// completion. While no upstream is up, `capabilities` stay as they are.
    pub fn adjust_capabilities(&self, capabilities: &mut rmcp::model::ServerCapabilities) {
        let (mut subscribe, mut completions, mut any) = (false, false, false);
        for m in &self.inner.members {
            if let UpstreamStatus::Ready(info) = m.upstream.status() {
                any = true;
                let caps = &info.capabilities;
                subscribe |= caps
                    .resources
                    .as_ref()
                    .is_some_and(|r| r.subscribe == Some(true));
                completions |= caps.completions.is_some();
            }
        }
        // Nothing is up yet (start-up): nothing to go by, the defaults stand.
        if !any {
            return;
        }
        if let Some(resources) = capabilities.resources.as_mut() {
            resources.subscribe = subscribe.then_some(true);
        }
        if !completions {
            capabilities.completions = None;
        }
    }

    /// The members, in config order.
    pub fn members(&self) -> &[Member] {
        &self.inner.members
    }

    /// Health of every upstream.
    pub fn health(&self) -> Vec<MemberHealth> {
        let catalog = self.catalog();
        let checks = self.inner.checks.load();
        self.inner
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| MemberHealth {
                name: m.upstream.name().to_string(),
                status: m.upstream.status(),
                tools: catalog
                    .tool_routes
                    .values()
                    .filter(|r| r.upstream == i)
                    .count(),
                inflight: m.upstream.inflight(),
                replicas: m.upstream.replicas(),
                transport: m.upstream.transport(),
                restarts: m.upstream.restarts(),
                started: m.upstream.started(),
                checks: checks
                    .iter()
                    .filter_map(|c| c.check(m.upstream.name()))
                    .collect(),
            })
            .collect()
    }

    /// Which upstream serves the target of a request — the tool or prompt name of
    /// `tools/call` / `prompts/get`, or the URI of a resource request — and under which name.
    /// For policies (authorization, logging, tracing) that decide per server.
    pub fn resolve(&self, method: &Method, target: &str) -> Option<Route> {
        let catalog = self.catalog();
        let (upstream, original, arguments, definition) = match method {
            Method::ToolsCall | Method::PromptsGet => {
                let routes = if *method == Method::ToolsCall {
                    &catalog.tool_routes
                } else {
                    &catalog.prompt_routes
                };
                let r = routes.get(target)?;
                (
                    r.upstream,
                    r.original.clone(),
                    r.arguments.clone(),
                    r.definition.clone(),
                )
            }
            Method::ResourcesRead | Method::ResourcesSubscribe | Method::ResourcesUnsubscribe => (
                catalog.resource_upstream(target)?,
                target.into(),
                None,
                None,
            ),
            _ => return None,
        };
        let server = self
            .inner
            .members
            .get(upstream)?
            .upstream
            .shared_name()
            .clone();
        Some(Route {
            server,
            original,
            definition,
            leaf: Some(crate::route::Leaf {
                upstream,
                arguments,
            }),
        })
    }

    /// The exposed name of `original` — a tool (`tools/call`) or prompt (`prompts/get`) by
    /// the upstream's own name — on upstream `server`, if it is listed now: for policies that
    /// send a request to another upstream's item of the same name (mirroring, canaries).
    pub fn exposed_name(&self, method: &Method, server: &str, original: &str) -> Option<String> {
        let idx = self
            .inner
            .members
            .iter()
            .position(|m| m.upstream.name() == server)?;
        let catalog = self.catalog();
        let routes = match method {
            Method::ToolsCall => &catalog.tool_routes,
            Method::PromptsGet => &catalog.prompt_routes,
            _ => return None,
        };
        routes
            .iter()
            .find(|(_, r)| r.upstream == idx && &*r.original == original)
            .map(|(exposed, _)| exposed.clone())
    }

    /// Names of every exposed tool, in list order.
    pub fn tool_names(&self) -> Vec<String> {
        #[derive(serde::Deserialize)]
        struct N {
            name: String,
        }
        let c = self.catalog();
        c.tools
            .items
            .iter()
            .filter_map(|item| serde_json::from_str::<N>(item.get()).ok())
            .map(|n| n.name)
            .collect()
    }

    /// The definition of the exposed tool `exposed` as `tools/list` shows it now.
    pub fn tool(&self, exposed: &str) -> Option<Arc<RawValue>> {
        self.catalog().tool_routes.get(exposed)?.definition.clone()
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog.read().clone()
    }

    /// Sets how long after start-up a request may wait for upstreams that are still on their
    /// first start ([`DEFAULT_STARTUP_GRACE`]; zero: never wait). Counted from
    /// [`Aggregate::new`]; the clock is the gateway's, not the request's, so a request that
    /// arrives later waits less, and none waits once it has passed.
    #[must_use]
    pub fn with_startup_grace(self, grace: Duration) -> Self {
        *self.inner.startup_deadline.lock() = self.inner.created + grace;
        self
    }

    /// Waits until every upstream has finished its first start (listed once, or failed), or
    /// the start-up grace is over — whichever comes first. Returns at once afterwards.
    pub async fn settle(&self) {
        if self.is_settled() {
            return;
        }
        let n = self.inner.members.len();
        let deadline = *self.inner.startup_deadline.lock();
        let mut rx = self.inner.settled.subscribe();
        let _ = tokio::time::timeout_at(deadline.into(), rx.wait_for(|c| *c >= n)).await;
    }

    /// Whether requests no longer wait for start-up: every upstream has finished its first
    /// start, or the start-up grace is over (see [`Aggregate::settle`]).
    pub fn is_settled(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.inner.open.load(Ordering::Relaxed) {
            return true;
        }
        let open =
            *self.inner.settled.borrow() >= self.inner.members.len() || self.inner.grace_over();
        if open {
            self.inner.open.store(true, Ordering::Relaxed);
        }
        open
    }
}
