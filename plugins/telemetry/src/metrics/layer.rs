//! [`McpMetricsLayer`]: applies [`McpMetrics`] to a service.

use tower::Layer;

use super::{McpMetrics, Metrics};

/// Records every request of the wrapped MCP-plane service; see [`McpMetrics`].
#[derive(Clone, Debug)]
pub struct McpMetricsLayer {
    metrics: Metrics,
}

impl McpMetricsLayer {
    /// Records into `metrics`, labelled by each request's route.
    pub fn new(metrics: Metrics) -> Self {
        McpMetricsLayer { metrics }
    }
}

impl<S> Layer<S> for McpMetricsLayer {
    type Service = McpMetrics<S>;

    fn layer(&self, inner: S) -> McpMetrics<S> {
        McpMetrics::new(inner, self.metrics.clone())
    }
}
