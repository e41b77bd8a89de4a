//! Prometheus metrics for the MCP plane, served as text at `/metrics`.
//!
//! [`Metrics`] owns a Prometheus registry (one per gateway, no global state) with:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `mcp_server_operation_duration_seconds` | histogram (the semantic conventions' `mcp.server.operation.duration`) | `mcp_method_name`, `server`, `gen_ai_tool_name`, `error_type` |
//! | `toolgate_mcp_errors_total` | counter: requests answered with a JSON-RPC error or a tool error | `mcp_method_name`, `server`, `error_type` |
//! | `toolgate_rate_limited_total` | counter: requests rejected by a rate or concurrency limit (-31002) | `mcp_method_name`, `server`, `gen_ai_tool_name` |
//! | `toolgate_upstream_up` | gauge: 1 when the upstream is connected and initialized | `server` |
//! | `toolgate_upstream_tools` | gauge: tools exposed from the upstream | `server` |
//! | `toolgate_upstream_check_passing` | gauge: 1 while a layer's health check of the upstream passes (`circuit_breaker`: 0 while its circuit is open) | `server`, `check` |
//! | `toolgate_sessions_open` | gauge: downstream sessions open | `transport` (`streamable_http`, `sse`) |
//!
//! Labels stay bounded whatever clients send: `server` and `gen_ai_tool_name` are set only for
//! names the aggregate resolves, unknown methods count as `other`, and `error_type` is a
//! JSON-RPC code, `tool_error` or `cancelled`. [`McpMetrics`] records each request;
//! [`Metrics::route`] serves the text.

mod future;
mod layer;
mod route;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use toolgate::jsonrpc::Method;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

use crate::error::TelemetryError;

pub use future::ResponseFuture;
pub use layer::McpMetricsLayer;
pub use route::MetricsRoute;

/// Bucket bounds (seconds) the MCP semantic conventions recommend for operation durations.
pub const DEFAULT_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The gateway's metrics: a registry and its instruments. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Instruments>,
}

#[derive(Debug)]
struct Instruments {
    registry: Registry,
    duration: HistogramVec,
    errors: IntCounterVec,
    rate_limited: IntCounterVec,
    upstream_up: IntGaugeVec,
    upstream_tools: IntGaugeVec,
    upstream_checks: IntGaugeVec,
    sessions: IntGaugeVec,
}

impl Metrics {
    /// Metrics with the default duration buckets.
    pub fn new() -> Result<Metrics, TelemetryError> {
        Self::with_buckets(DEFAULT_BUCKETS.to_vec())
    }

    /// Metrics whose duration histogram has these bucket bounds (seconds, ascending).
    pub fn with_buckets(buckets: Vec<f64>) -> Result<Metrics, TelemetryError> {
        let registry = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "mcp_server_operation_duration_seconds",
                "Duration of MCP requests as the gateway served them (mcp.server.operation.duration).",
            )
            .buckets(buckets),
            &["mcp_method_name", "server", "gen_ai_tool_name", "error_type"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "toolgate_mcp_errors_total",
                "MCP requests answered with a JSON-RPC error or a tool error (isError: true).",
            ),
            &["mcp_method_name", "server", "error_type"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "toolgate_rate_limited_total",
                "MCP requests rejected by a rate or concurrency limit (-31002).",
            ),
            &["mcp_method_name", "server", "gen_ai_tool_name"],
        )?;
        let upstream_up = IntGaugeVec::new(
            Opts::new(
                "toolgate_upstream_up",
                "1 when the upstream server is connected and initialized, else 0.",
            ),
            &["server"],
        )?;
        let upstream_tools = IntGaugeVec::new(
            Opts::new(
                "toolgate_upstream_tools",
                "Tools the gateway exposes from the upstream server.",
            ),
            &["server"],
        )?;
        let upstream_checks = IntGaugeVec::new(
            Opts::new(
                "toolgate_upstream_check_passing",
                "1 while a layer's health check of the upstream server passes (a circuit breaker: 0 while open), else 0.",
            ),
            &["server", "check"],
        )?;
        let sessions = IntGaugeVec::new(
            Opts::new("toolgate_sessions_open", "Downstream MCP sessions open."),
            &["transport"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(upstream_up.clone()))?;
        registry.register(Box::new(upstream_tools.clone()))?;
        registry.register(Box::new(upstream_checks.clone()))?;
        registry.register(Box::new(sessions.clone()))?;
        Ok(Metrics {
            inner: Arc::new(Instruments {
                registry,
                duration,
                errors,
                rate_limited,
                upstream_up,
                upstream_tools,
                upstream_checks,
                sessions,
            }),
        })
    }

    /// The Prometheus registry (to add metrics of your own, or to gather them elsewhere).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// An MCP-plane layer recording every request (server and tool names from its route).
    pub fn layer(&self) -> McpMetricsLayer {
        McpMetricsLayer::new(self.clone())
    }

    /// Records one finished request.
    fn record(&self, labels: &Labels, elapsed: Duration, error_type: &str) {
        let m = &self.inner;
        m.duration
            .with_label_values(&[labels.method, &labels.server, &labels.tool, error_type])
            .observe(elapsed.as_secs_f64());
        if !error_type.is_empty() {
            m.errors
                .with_label_values(&[labels.method, &labels.server, error_type])
                .inc();
        }
        if error_type == RATE_LIMITED {
            m.rate_limited
                .with_label_values(&[labels.method, &labels.server, &labels.tool])
                .inc();
        }
    }
}

const RATE_LIMITED: &str = "-31002";

/// Bounded label values of one request.
#[derive(Debug, Clone)]
pub(crate) struct Labels {
    method: &'static str,
    server: String,
    tool: String,
}

impl Labels {
    fn of(req: &McpRequest) -> Labels {
        let method = method_label(req.method());
        let (server, tool) = match (req.target(), req.route()) {
            (Some(target), Some(r)) => {
                let tool = if *req.method() == Method::ToolsCall {
                    target.to_string()
                } else {
                    String::new()
                };
                (r.server.to_string(), tool)
            }
            _ => (String::new(), String::new()),
        };
        Labels {
            method,
            server,
            tool,
        }
    }
}

/// The method as a label: the methods toolgate knows, else `other`.
fn method_label(m: &Method) -> &'static str {
    match m {
        Method::Initialize => "initialize",
        Method::Ping => "ping",
        Method::ServerDiscover => "server/discover",
        Method::ToolsList => "tools/list",
        Method::ToolsCall => "tools/call",
        Method::PromptsList => "prompts/list",
        Method::PromptsGet => "prompts/get",
        Method::ResourcesList => "resources/list",
        Method::ResourceTemplatesList => "resources/templates/list",
        Method::ResourcesRead => "resources/read",
        Method::ResourcesSubscribe => "resources/subscribe",
        Method::ResourcesUnsubscribe => "resources/unsubscribe",
        Method::CompletionComplete => "completion/complete",
        Method::LoggingSetLevel => "logging/setLevel",
        _ => "other",
    }
}

/// Records duration, errors and rejections of every request; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct McpMetrics<S> {
    inner: S,
    metrics: Metrics,
}

impl<S> McpMetrics<S> {
    /// Records requests to `inner` in `metrics` (server and tool names from each route).
    pub fn new(inner: S, metrics: Metrics) -> Self {
        McpMetrics { inner, metrics }
    }
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<McpRequest> for McpMetrics<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let labels = Labels::of(&req);
        let tool_call = *req.method() == Method::ToolsCall;
        ResponseFuture::new(
            self.inner.call(req),
            self.metrics.clone(),
            labels,
            tool_call,
        )
    }
}

#[cfg(test)]
mod tests;
