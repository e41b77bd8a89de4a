//! [`McpTraceLayer`]: applies [`McpTrace`] to a service.

use opentelemetry_sdk::trace::SdkTracer;
use tower::Layer;

use super::McpTrace;

/// Traces every request of the wrapped MCP-plane service; see [`McpTrace`].
#[derive(Clone, Debug)]
pub struct McpTraceLayer {
    tracer: SdkTracer,
}

impl McpTraceLayer {
    /// Spans come from `tracer` (from
    /// [`SdkTracerProvider::tracer`](opentelemetry_sdk::trace::SdkTracerProvider)).
    pub fn new(tracer: SdkTracer) -> Self {
        McpTraceLayer { tracer }
    }
}

impl<S> Layer<S> for McpTraceLayer {
    type Service = McpTrace<S>;

    fn layer(&self, inner: S) -> McpTrace<S> {
        McpTrace::new(inner, self.tracer.clone())
    }
}
