//! Observability for toolgate: OpenTelemetry spans per the MCP semantic conventions and
//! Prometheus metrics, as tower layers and as config-file layers.
//!
//! - [`trace`]: [`McpTraceLayer`] (MCP plane) records a `SERVER` span per request and a `CLIENT`
//!   span per upstream call, continuing the trace from `params._meta.traceparent` or the HTTP
//!   `traceparent` header ([`HttpTraceContextLayer`], HTTP plane), and passing it upstream the
//!   same two ways. [`otlp::tracer_provider`] builds an OTLP/HTTP exporter from
//!   [`TracingConfig`] or the standard `OTEL_*` variables.
//! - [`metrics`]: [`Metrics`] and [`McpMetricsLayer`]: `mcp_server_operation_duration_seconds`,
//!   errors, rate-limit rejections, upstream health and open sessions, served by
//!   [`Metrics::route`] as Prometheus text.
//! - [`factory`]: `use: tracing` and `use: metrics` for a config file's `layers:` list.
//!
//! In Rust, [`TelemetryGatewayExt`] adds both to a [`GatewayBuilder`]:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use opentelemetry::trace::TracerProvider as _;
//! use toolgate::gateway::GatewayBuilder;
//! use toolgate::upstream::StdioSpec;
//! use toolgate_telemetry::{Metrics, TelemetryGatewayExt, TracingConfig, otlp};
//!
//! let provider = otlp::tracer_provider(&TracingConfig::default())?;
//! let metrics = Metrics::new()?;
//! let gateway = GatewayBuilder::new()
//!     .stdio("demo", StdioSpec { command: "demo-server".into(), ..Default::default() })
//!     .mcp_metrics(&metrics, "/metrics") // outermost: measures everything below
//!     .mcp_tracing(provider.tracer("toolgate"))
//!     .build();
//! gateway.serve(tokio::net::TcpListener::bind("127.0.0.1:4000").await?).await?;
//! provider.shutdown()?;
//! # Ok(()) }
//! ```
//!
//! With `tower::ServiceBuilder`, [`TelemetryServiceBuilderExt`] has `.mcp_trace(..)` and
//! `.mcp_metrics(..)`.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod config;
pub mod error;
pub mod factory;
pub mod metrics;
pub mod otlp;
pub mod semconv;
pub mod trace;

use opentelemetry_sdk::trace::SdkTracer;
use toolgate::McpService;
use toolgate::gateway::GatewayBuilder;
use tower::layer::util::Stack;
use tower::{Layer, ServiceBuilder};

pub use config::{MetricsConfig, OtlpConfig, TracingConfig};
pub use error::{TelemetryError, TelemetryErrorKind};
pub use factory::{MetricsFactory, TracingFactory};
pub use metrics::{McpMetrics, McpMetricsLayer, Metrics};
pub use trace::{
    HttpTraceContext, HttpTraceContextLayer, McpTrace, McpTraceLayer, RequestSpan, UpstreamSpan,
    UpstreamSpanLayer,
};

/// Telemetry on a [`GatewayBuilder`]. Each call adds its MCP-plane layer at that point of the
/// stack (the first added is the outermost).
pub trait TelemetryGatewayExt: Sized {
    /// Spans per request and per upstream call from `tracer`; also reads the HTTP
    /// `traceparent` header on the HTTP plane ([`HttpTraceContextLayer`]).
    #[must_use]
    fn mcp_tracing(self, tracer: SdkTracer) -> Self;

    /// Records every request in `metrics` and serves them as Prometheus text at `path`.
    #[must_use]
    fn mcp_metrics(self, metrics: &Metrics, path: impl Into<String>) -> Self;
}

impl TelemetryGatewayExt for GatewayBuilder {
    fn mcp_tracing(self, tracer: SdkTracer) -> Self {
        let upstream_tracer = tracer.clone();
        self.http_layer(HttpTraceContextLayer::new())
            .layer(McpTraceLayer::new(tracer))
            .layer_per_upstream(move |target, inner| {
                McpService::new(
                    UpstreamSpanLayer::new(upstream_tracer.clone(), target.name).layer(inner),
                )
            })
    }

    fn mcp_metrics(self, metrics: &Metrics, path: impl Into<String>) -> Self {
        self.layer(McpMetricsLayer::new(metrics.clone()))
            .route(path, metrics.route())
    }
}

/// Tracing as one component, `builder.with(Tracing::new(tracer))`: the HTTP trace-context
/// layer, the per-request `SERVER` span and every upstream's `CLIENT` spans (the same as
/// [`TelemetryGatewayExt::mcp_tracing`]).
#[derive(Debug, Clone)]
pub struct Tracing {
    tracer: SdkTracer,
}

impl Tracing {
    /// Spans from `tracer`.
    pub fn new(tracer: SdkTracer) -> Self {
        Tracing { tracer }
    }
}

impl toolgate::gateway::Install for Tracing {
    fn install(self, builder: GatewayBuilder) -> GatewayBuilder {
        builder.mcp_tracing(self.tracer)
    }
}

/// Metrics as one component, `builder.with(metrics.served_at("/metrics"))`: the recording layer
/// and the Prometheus route (the same as [`TelemetryGatewayExt::mcp_metrics`]).
#[derive(Debug, Clone)]
pub struct MetricsAt {
    metrics: Metrics,
    path: String,
}

impl Metrics {
    /// These metrics, recorded by a layer and served as Prometheus text at `path`.
    pub fn served_at(&self, path: impl Into<String>) -> MetricsAt {
        MetricsAt {
            metrics: self.clone(),
            path: path.into(),
        }
    }
}

impl toolgate::gateway::Install for MetricsAt {
    fn install(self, builder: GatewayBuilder) -> GatewayBuilder {
        builder.mcp_metrics(&self.metrics, self.path)
    }
}

/// Telemetry layers on a `tower::ServiceBuilder` over an MCP-plane service.
pub trait TelemetryServiceBuilderExt<L> {
    /// Adds [`McpTraceLayer`].
    fn mcp_trace(self, tracer: SdkTracer) -> ServiceBuilder<Stack<McpTraceLayer, L>>;
    /// Adds [`McpMetricsLayer`].
    fn mcp_metrics(self, metrics: &Metrics) -> ServiceBuilder<Stack<McpMetricsLayer, L>>;
}

impl<L> TelemetryServiceBuilderExt<L> for ServiceBuilder<L> {
    fn mcp_trace(self, tracer: SdkTracer) -> ServiceBuilder<Stack<McpTraceLayer, L>> {
        self.layer(McpTraceLayer::new(tracer))
    }

    fn mcp_metrics(self, metrics: &Metrics) -> ServiceBuilder<Stack<McpMetricsLayer, L>> {
        self.layer(McpMetricsLayer::new(metrics.clone()))
    }
}

#[cfg(test)]
mod test_util;
