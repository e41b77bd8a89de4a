//! [`McpMetricsLayer`]: applies [`McpMetrics`] to a service.

use toolgate::aggregate::Aggregate;
use tower::Layer;

use super::{McpMetrics, Metrics};

/// Records every request of the wrapped MCP-plane service; see [`McpMetrics`].
#[derive(Clone, Debug)]
pub struct McpMetricsLayer {
    metrics: Metrics,
    aggregate: Aggregate,
}

impl McpMetricsLayer {
    /// Records into `metrics`; `aggregate` resolves server and tool names (in a
    /// [`GatewayBuilder`](toolgate::gateway::GatewayBuilder), use `layer_with`).
    pub fn new(metrics: Metrics, aggregate: Aggregate) -> Self {
        McpMetricsLayer { metrics, aggregate }
    }
}

impl<S> Layer<S> for McpMetricsLayer {
    type Service = McpMetrics<S>;

    fn layer(&self, inner: S) -> McpMetrics<S> {
        McpMetrics::new(inner, self.metrics.clone(), self.aggregate.clone())
    }
}
