//! [`HedgeLayer`] and [`Hedge`]: tower's hedge middleware, one per upstream (each with its own
//! latency histogram), for the requests that are safe to send twice.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;
use toolgate::jsonrpc::Method;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::{Layer, Service};

use crate::error::Error;

/// `use: hedge`. Every key is optional.
///
/// ```yaml
/// layers:
///   - use: hedge
///     percentile: 0.9        # send the second try after the p90 latency
///     min_samples: 20        # once the upstream has this many recent requests
///     window: 60s            # latencies of the last minute (or so)
///     tools: [search]        # tools/call of these is hedged too
///     trust_annotations: true
/// ```
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HedgeSettings {
    /// The latency percentile after which the second try goes, above 0 and below 1 (default
    /// 0.9).
    #[serde(default)]
    pub percentile: Option<f32>,
    /// How many recent requests an upstream needs before any is hedged (default 20).
    #[serde(default)]
    pub min_samples: Option<u64>,
    /// How long latencies count (default 60s; the histogram rotates in halves).
    #[serde(default, deserialize_with = "crate::duration::positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub window: Option<Duration>,
    /// Tools (the server's own names) whose calls are hedged.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Whether calls of tools annotated `readOnlyHint: true` are hedged (default true).
    #[serde(default)]
    pub trust_annotations: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
struct Policy {
    percentile: f32,
    min_samples: u64,
    window: Duration,
    tools: Vec<String>,
    trust_annotations: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            percentile: 0.9,
            min_samples: 20,
            window: Duration::from_secs(60),
            tools: Vec::new(),
            trust_annotations: true,
        }
    }
}

impl Policy {
    fn from_settings(s: &HedgeSettings) -> Result<Policy, Error> {
        let d = Policy::default();
        let policy = Policy {
            percentile: s.percentile.unwrap_or(d.percentile),
            min_samples: s.min_samples.unwrap_or(d.min_samples),
            window: s.window.unwrap_or(d.window),
            tools: s.tools.clone(),
            trust_annotations: s.trust_annotations.unwrap_or(d.trust_annotations),
        };
        if !(policy.percentile > 0.0 && policy.percentile < 1.0) {
            return Err(Error::new(format!(
                "percentile {} is not a share: write a number between 0 and 1, such as 0.9",
                policy.percentile
            )));
        }
        Ok(policy)
    }

    /// Whether `req` may be sent twice: reads, and tools that change nothing.
    fn hedges(&self, req: &McpRequest) -> bool {
        match req.method() {
            Method::ResourcesRead | Method::PromptsGet | Method::CompletionComplete => true,
            Method::ToolsCall => req.route().is_some_and(|route| {
                self.tools.iter().any(|t| *t == *route.original)
                    || (self.trust_annotations && route.is_read_only())
            }),
            _ => false,
        }
    }
}

/// Which requests tower's hedge may copy.
#[derive(Clone)]
struct Copies(Arc<Policy>);

impl tower::hedge::Policy<McpRequest> for Copies {
    fn clone_request(&self, req: &McpRequest) -> Option<McpRequest> {
        self.0.hedges(req).then(|| req.clone())
    }
    fn can_retry(&self, req: &McpRequest) -> bool {
        !req.ctx.cancel.is_cancelled()
    }
}

/// Sends a second copy of a read-only request when the first has not been answered after the
/// upstream's `percentile` latency; the first answer wins and the other is dropped.
///
/// ```
/// use std::time::Duration;
/// use toolgate_resilience::HedgeLayer;
///
/// let layer = HedgeLayer::new().percentile(0.95).min_samples(50).tool("search");
/// # let _ = layer;
/// ```
///
/// Each upstream (read from the request's route) has its own latency histogram (tower's
/// `hedge`, `hdrhistogram`, millisecond resolution). Hedged: `resources/read`, `prompts/get`,
/// `completion/complete`, and `tools/call` of tools annotated `readOnlyHint: true` or named.
/// Nothing is hedged until an upstream has `min_samples` recent requests.
#[derive(Clone)]
pub struct HedgeLayer {
    policy: Arc<Policy>,
}

impl fmt::Debug for HedgeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Default for HedgeLayer {
    fn default() -> Self {
        HedgeLayer {
            policy: Arc::new(Policy::default()),
        }
    }
}

impl HedgeLayer {
    /// Hedging after the p90 latency, once an upstream has 20 requests in the last minute.
    pub fn new() -> Self {
        Self::default()
    }

    /// From config-file settings.
    pub fn from_settings(settings: &HedgeSettings) -> Result<Self, Error> {
        Ok(HedgeLayer {
            policy: Arc::new(Policy::from_settings(settings)?),
        })
    }

    fn edit(mut self, f: impl FnOnce(&mut Policy)) -> Self {
        f(Arc::make_mut(&mut self.policy));
        self
    }

    /// The latency percentile after which the second copy goes (0–1, exclusive).
    #[must_use]
    pub fn percentile(self, p: f32) -> Self {
        self.edit(|s| s.percentile = p.clamp(0.01, 0.999))
    }

    /// Recent requests an upstream needs before any is hedged.
    #[must_use]
    pub fn min_samples(self, n: u64) -> Self {
        self.edit(|s| s.min_samples = n)
    }

    /// How long latencies count.
    #[must_use]
    pub fn window(self, d: Duration) -> Self {
        self.edit(|s| s.window = d)
    }

    /// Calls of `tool` (the server's own name) are hedged.
    #[must_use]
    pub fn tool(self, tool: impl Into<String>) -> Self {
        let tool = tool.into();
        self.edit(|s| s.tools.push(tool))
    }
}

impl<S> Layer<S> for HedgeLayer
where
    S: Clone,
{
    type Service = Hedge<S>;

    fn layer(&self, inner: S) -> Hedge<S> {
        Hedge {
            inner,
            policy: self.policy.clone(),
            per_upstream: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

type Hedged<S> = tower::hedge::Hedge<S, Copies>;

/// Each upstream's hedge, by name, made on its first hedged request.
type PerUpstream<S> = Arc<Mutex<HashMap<Arc<str>, Arc<Mutex<Hedged<S>>>>>>;

/// The hedge over an inner MCP service. Made by [`HedgeLayer`].
#[derive(Clone)]
pub struct Hedge<S> {
    inner: S,
    policy: Arc<Policy>,
    per_upstream: PerUpstream<S>,
}

impl<S> fmt::Debug for Hedge<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Service<McpRequest> for Hedge<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let server = match req.route() {
            Some(route) if self.policy.hedges(&req) => route.server.clone(),
            // Not hedged: straight through, no latency recorded.
            _ => return Box::pin(self.inner.call(req)),
        };
        let hedged = self
            .per_upstream
            .lock()
            .entry(server)
            .or_insert_with(|| {
                Arc::new(Mutex::new(tower::hedge::Hedge::new::<McpRequest>(
                    self.inner.clone(),
                    Copies(self.policy.clone()),
                    self.policy.min_samples,
                    self.policy.percentile,
                    self.policy.window / 2,
                )))
            })
            .clone();
        // tower's hedge is one service per upstream (it owns the latency histogram), not a
        // clone per request: it is driven under a lock, ready at once or not used. The stacks
        // under it answer `poll_ready` at once; if one ever does not, the request goes
        // straight through, unhedged.
        let fut = {
            let mut hedged = hedged.lock();
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match hedged.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => hedged.call(req),
                _ => {
                    drop(hedged);
                    return Box::pin(self.inner.call(req));
                }
            }
        };
        Box::pin(async move { fut.await.map_err(into_mcp) })
    }
}

/// tower's hedge boxes errors: an `McpError` comes back as itself.
fn into_mcp(e: tower::BoxError) -> McpError {
    match e.downcast::<McpError>() {
        Ok(e) => *e,
        Err(other) => McpError::internal(format!("hedge: {other}")),
    }
}
