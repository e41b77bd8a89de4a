//! [`CanaryLayer`] and [`Canary`]: a weighted share of a server's calls is served by another
//! version of it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use toolgate::aggregate::Aggregate;
use toolgate::jsonrpc::Method;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::{Layer, Service};

use crate::split::{EvenShare, session_point};

struct Route {
    from: String,
    to: String,
    weight: f64,
    sticky: bool,
    picker: EvenShare,
}

struct Shared {
    routes: Vec<Route>,
    aggregate: OnceLock<Aggregate>,
    diverted: AtomicU64,
}

/// Serves `weight` of the `tools/call` and `prompts/get` requests for server `from` with
/// server `to`'s item of the same name. Sticky routes (the default) decide per client session
/// — a stable hash of the session, so `weight` of the sessions use `to` for all their calls;
/// per-call routes send exactly `weight` of the calls. An item `to` does not list stays on
/// `from`.
///
/// ```
/// use toolgate_traffic::CanaryLayer;
///
/// let canary = CanaryLayer::new()
///     .route("billing", "billing-v2", 0.1)
///     .per_call_route("search", "search-next", 0.5);
/// # let _ = canary;
/// ```
#[derive(Clone)]
pub struct CanaryLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for CanaryLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<_> = self
            .shared
            .routes
            .iter()
            .map(|r| (&r.from, &r.to, r.weight, r.sticky))
            .collect();
        f.debug_struct("CanaryLayer")
            .field("routes", &routes)
            .finish()
    }
}

impl Default for CanaryLayer {
    fn default() -> Self {
        CanaryLayer {
            shared: Arc::new(Shared {
                routes: Vec::new(),
                aggregate: OnceLock::new(),
                diverted: AtomicU64::new(0),
            }),
        }
    }
}

impl CanaryLayer {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_route(self, from: String, to: String, weight: f64, sticky: bool) -> Self {
        let mut routes: Vec<Route> = self
            .shared
            .routes
            .iter()
            .map(|r| Route {
                from: r.from.clone(),
                to: r.to.clone(),
                weight: r.weight,
                sticky: r.sticky,
                picker: EvenShare::default(),
            })
            .collect();
        routes.push(Route {
            from,
            to,
            weight: weight.clamp(0.0, 1.0),
            sticky,
            picker: EvenShare::default(),
        });
        CanaryLayer {
            shared: Arc::new(Shared {
                routes,
                aggregate: OnceLock::new(),
                diverted: AtomicU64::new(0),
            }),
        }
    }

    /// `weight` (0–1) of the client sessions use `to` instead of `from`.
    #[must_use]
    pub fn route(self, from: impl Into<String>, to: impl Into<String>, weight: f64) -> Self {
        self.with_route(from.into(), to.into(), weight, true)
    }

    /// `weight` (0–1) of the calls for `from` are served by `to`, call by call.
    #[must_use]
    pub fn per_call_route(
        self,
        from: impl Into<String>,
        to: impl Into<String>,
        weight: f64,
    ) -> Self {
        self.with_route(from.into(), to.into(), weight, false)
    }

    /// The gateway's aggregate, whose catalog names `to`'s items (done by `use: canary`).
    pub fn bind(&self, aggregate: &Aggregate) {
        let _ = self.shared.aggregate.set(aggregate.clone());
    }

    /// Requests served by a canary so far.
    pub fn diverted(&self) -> u64 {
        self.shared.diverted.load(Ordering::Relaxed)
    }
}

impl<S> Layer<S> for CanaryLayer {
    type Service = Canary<S>;

    fn layer(&self, inner: S) -> Canary<S> {
        Canary {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The canary split over an inner MCP service. Made by [`CanaryLayer`].
#[derive(Clone)]
pub struct Canary<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for Canary<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canary").finish_non_exhaustive()
    }
}

impl<S> Service<McpRequest> for Canary<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: McpRequest) -> S::Future {
        if let Some(name) = self.diverted_name(&req)
            && req.retarget(&name).is_ok()
        {
            self.shared.diverted.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.call(req)
    }
}

impl<S> Canary<S> {
    /// The canary's name for `req`'s item, if `req` goes to the canary.
    fn diverted_name(&self, req: &McpRequest) -> Option<String> {
        if !matches!(req.method(), Method::ToolsCall | Method::PromptsGet) {
            return None;
        }
        let route = req.route()?;
        let rule = self
            .shared
            .routes
            .iter()
            .find(|r| *r.from == *route.server)?;
        let chosen = if rule.sticky {
            session_point(req.ctx.session.serial()) < rule.weight
        } else {
            rule.picker.pick(rule.weight)
        };
        if !chosen {
            return None;
        }
        self.shared
            .aggregate
            .get()?
            .exposed_name(req.method(), &rule.to, &route.original)
    }
}
