//! [`MirrorLayer`] and [`Mirror`]: copies a share of a server's calls to another server, in
//! the background, answers discarded.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Aggregate;
use toolgate::jsonrpc::Method;
use toolgate::session::Downstream;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::{Layer, Service, ServiceExt};

use crate::split::EvenShare;

struct Route {
    from: String,
    to: String,
    share: f64,
    picker: EvenShare,
}

struct Shared {
    routes: Vec<Route>,
    aggregate: OnceLock<Aggregate>,
    mirrored: AtomicU64,
    failed: AtomicU64,
}

/// Copies a share of the `tools/call` and `prompts/get` requests for one server to another
/// server's item of the same name. The copy runs in the background with no client to notify
/// and its own cancellation (it is bounded by `server.request_timeout`); its answer is
/// dropped and its failures are counted ([`MirrorLayer::failed`]) and logged at debug level.
/// An item `to` does not list is not copied.
///
/// ```
/// use toolgate_traffic::MirrorLayer;
///
/// let mirror = MirrorLayer::new().route("search", "search-next", 0.5);
/// # let _ = mirror;
/// ```
#[derive(Clone)]
pub struct MirrorLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for MirrorLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<_> = self
            .shared
            .routes
            .iter()
            .map(|r| (&r.from, &r.to, r.share))
            .collect();
        f.debug_struct("MirrorLayer")
            .field("routes", &routes)
            .finish()
    }
}

impl Default for MirrorLayer {
    fn default() -> Self {
        MirrorLayer {
            shared: Arc::new(Shared {
                routes: Vec::new(),
                aggregate: OnceLock::new(),
                mirrored: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }
}

impl MirrorLayer {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies `share` (0–1) of `from`'s calls to `to`.
    #[must_use]
    pub fn route(self, from: impl Into<String>, to: impl Into<String>, share: f64) -> Self {
        let mut routes: Vec<Route> = self
            .shared
            .routes
            .iter()
            .map(|r| Route {
                from: r.from.clone(),
                to: r.to.clone(),
                share: r.share,
                picker: EvenShare::default(),
            })
            .collect();
        routes.push(Route {
            from: from.into(),
            to: to.into(),
            share: share.clamp(0.0, 1.0),
            picker: EvenShare::default(),
        });
        MirrorLayer {
            shared: Arc::new(Shared {
                routes,
                aggregate: OnceLock::new(),
                mirrored: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// The gateway's aggregate, whose catalog names `to`'s items (done by `use: mirror`).
    pub fn bind(&self, aggregate: &Aggregate) {
        let _ = self.shared.aggregate.set(aggregate.clone());
    }

    /// Copies sent so far.
    pub fn mirrored(&self) -> u64 {
        self.shared.mirrored.load(Ordering::Relaxed)
    }

    /// Copies that failed so far.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }
}

impl<S> Layer<S> for MirrorLayer {
    type Service = Mirror<S>;

    fn layer(&self, inner: S) -> Mirror<S> {
        Mirror {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The mirror over an inner MCP service. Made by [`MirrorLayer`].
#[derive(Clone)]
pub struct Mirror<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for Mirror<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror").finish_non_exhaustive()
    }
}

impl<S> Mirror<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    /// The copy of `req` for the mirror, if this one is to be copied.
    fn copy_of(&self, req: &McpRequest) -> Option<McpRequest> {
        if !matches!(req.method(), Method::ToolsCall | Method::PromptsGet) {
            return None;
        }
        let route = req.route()?;
        let rule = self
            .shared
            .routes
            .iter()
            .find(|r| *r.from == *route.server)?;
        if !rule.picker.pick(rule.share) {
            return None;
        }
        let aggregate = self.shared.aggregate.get()?;
        let name = aggregate.exposed_name(req.method(), &rule.to, &route.original)?;
        let mut copy = req.clone();
        copy.ctx.downstream = Downstream::none();
        copy.ctx.cancel = CancellationToken::new();
        copy.retarget(&name).ok()?;
        Some(copy)
    }
}

impl<S> Service<McpRequest> for Mirror<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> S::Future {
        if let Some(copy) = self.copy_of(&req) {
            let inner = self.inner.clone();
            let shared = self.shared.clone();
            shared.mirrored.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                if let Err(e) = inner.oneshot(copy).await {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e.message(), "mirrored request failed");
                }
            });
        }
        self.inner.call(req)
    }
}
