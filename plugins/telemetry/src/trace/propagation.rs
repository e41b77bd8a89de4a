//! W3C trace context in and out: `params._meta` (`traceparent`, `tracestate`) on the MCP plane,
//! the `traceparent` header on the HTTP plane ([`HttpTraceContextLayer`]).

use std::collections::HashMap;
use std::task::{Context as TaskContext, Poll};

use http::Request;
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::value::RawValue;
use tower::{Layer, Service};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The remote parent in `params._meta`, if it carries a valid `traceparent`.
pub(crate) fn from_meta(params: Option<&RawValue>) -> Option<Context> {
    let params = params?;
    if !params.get().contains(TRACEPARENT) {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Params {
        #[serde(rename = "_meta")]
        meta: Option<Meta>,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        traceparent: Option<String>,
        tracestate: Option<String>,
    }
    let meta = serde_json::from_str::<Params>(params.get()).ok()?.meta?;
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert(TRACEPARENT.to_string(), meta.traceparent?);
    if let Some(state) = meta.tracestate {
        carrier.insert(TRACESTATE.to_string(), state);
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// The W3C headers (`traceparent`, and `tracestate` when not empty) for the span in `cx`.
pub(crate) fn inject(cx: &Context) -> Vec<(&'static str, String)> {
    let mut carrier: HashMap<String, String> = HashMap::with_capacity(2);
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    let mut out = Vec::with_capacity(2);
    for key in [TRACEPARENT, TRACESTATE] {
        if let Some(v) = carrier.remove(key).filter(|v| !v.is_empty()) {
            out.push((key, v));
        }
    }
    out
}

/// The trace context of the HTTP request that carried an MCP message (its `traceparent` and
/// `tracestate` headers), put into the request extensions by [`HttpTraceContextLayer`]; the
/// transports hand it to the MCP plane in `McpContext::extensions`.
#[derive(Clone, Debug)]
pub struct HttpTraceContext {
    context: Context,
}

impl HttpTraceContext {
    /// The remote context.
    pub fn context(&self) -> &Context {
        &self.context
    }
}

/// HTTP-plane layer: reads the W3C `traceparent`/`tracestate` headers into an
/// [`HttpTraceContext`] request extension. Requests without a valid `traceparent` pass as they
/// are.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpTraceContextLayer {
    _private: (),
}

impl HttpTraceContextLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for HttpTraceContextLayer {
    type Service = HttpTraceContextService<S>;

    fn layer(&self, inner: S) -> HttpTraceContextService<S> {
        HttpTraceContextService::new(inner)
    }
}

/// The service [`HttpTraceContextLayer`] makes.
#[derive(Clone, Debug)]
pub struct HttpTraceContextService<S> {
    inner: S,
}

impl<S> HttpTraceContextService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        HttpTraceContextService { inner }
    }
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for HttpTraceContextService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        if req.headers().contains_key(TRACEPARENT) {
            let context = TraceContextPropagator::new().extract(&HeaderExtractor(req.headers()));
            if context.span().span_context().is_valid() {
                req.extensions_mut().insert(HttpTraceContext { context });
            }
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).expect("valid JSON")
    }

    #[test]
    fn an_invalid_traceparent_is_no_parent() {
        let p = raw(r#"{"_meta":{"traceparent":"not-a-traceparent"}}"#);
        assert!(from_meta(Some(&p)).is_none());
        let p = raw(
            r#"{"_meta":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#,
        );
        let cx = from_meta(Some(&p)).expect("valid");
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
}
