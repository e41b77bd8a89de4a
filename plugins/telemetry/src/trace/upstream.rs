//! The `CLIENT` span of each call leaving the gateway, and the trace context sent with it: a
//! layer in every upstream's stack ([`UpstreamSpanLayer`]). Its parent is the request's
//! `SERVER` span, which [`McpTrace`](super::McpTrace) leaves in the request's extensions as a
//! [`RequestSpan`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use toolgate::jsonrpc::Method;
use toolgate::params::{RawParams, json_text};
use toolgate::upstream::UpstreamHeaders;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::{Layer, Service};

use super::propagation;
use crate::semconv::*;

/// The request's `SERVER` span, for the spans of the calls made on its behalf.
#[derive(Clone, Debug)]
pub struct RequestSpan(pub Context);

/// Starts a `CLIENT` span per call to one upstream and sends its context along, in
/// `params._meta` (`traceparent`, `tracestate`) and, on HTTP upstreams, in headers.
#[derive(Clone, Debug)]
pub struct UpstreamSpanLayer {
    tracer: SdkTracer,
    server: Arc<str>,
}

impl UpstreamSpanLayer {
    /// Spans from `tracer` for the calls to upstream `server`.
    pub fn new(tracer: SdkTracer, server: impl Into<Arc<str>>) -> Self {
        UpstreamSpanLayer {
            tracer,
            server: server.into(),
        }
    }
}

impl<S> Layer<S> for UpstreamSpanLayer {
    type Service = UpstreamSpan<S>;
    fn layer(&self, inner: S) -> UpstreamSpan<S> {
        UpstreamSpan {
            inner,
            tracer: self.tracer.clone(),
            server: self.server.clone(),
        }
    }
}

/// See [`UpstreamSpanLayer`].
#[derive(Clone, Debug)]
pub struct UpstreamSpan<S> {
    inner: S,
    tracer: SdkTracer,
    server: Arc<str>,
}

impl<S> UpstreamSpan<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<McpRequest> for UpstreamSpan<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: McpRequest) -> Self::Future {
        // Without a traced request there is no parent: nothing to add (no cost).
        let Some(RequestSpan(parent)) = req.ctx.extensions.get::<RequestSpan>().cloned() else {
            return Box::pin(self.inner.call(req));
        };
        parent
            .span()
            .set_attribute(KeyValue::new(TOOLGATE_UPSTREAM, self.server.to_string()));
        let cx = parent.with_span(client_span(&self.tracer, &self.server, &req, &parent));
        let fields = propagation::inject(&cx);
        let mut headers = HeaderMap::with_capacity(fields.len());
        for (key, value) in &fields {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(key), v);
            }
        }
        req.ctx.extensions.insert(UpstreamHeaders(headers));
        if let Some(params) = with_fields(&req, &fields) {
            req.replace_params(Some(params));
        }
        let tool_call = *req.method() == Method::ToolsCall;
        let call = self.inner.call(req);
        Box::pin(async move {
            let out = call.await;
            super::finish(&cx, out.as_ref().map(|r| &*r.result), tool_call);
            out
        })
    }
}

fn client_span(
    tracer: &SdkTracer,
    server: &str,
    req: &McpRequest,
    parent: &Context,
) -> opentelemetry_sdk::trace::Span {
    let method = req.method().as_str();
    // The params already carry the upstream's own name.
    let target = match req.method() {
        Method::ToolsCall | Method::PromptsGet => req.target(),
        _ => None,
    };
    let name = match target {
        Some(t) => format!("{method} {t}"),
        None => method.to_string(),
    };
    let mut attributes = vec![
        KeyValue::new(MCP_METHOD_NAME, method.to_string()),
        KeyValue::new(TOOLGATE_UPSTREAM, server.to_string()),
    ];
    match (req.method(), target) {
        (Method::ToolsCall, Some(t)) => {
            attributes.push(KeyValue::new(GEN_AI_TOOL_NAME, t.to_string()));
            attributes.push(KeyValue::new(GEN_AI_OPERATION_NAME, "execute_tool"));
        }
        (Method::PromptsGet, Some(t)) => {
            attributes.push(KeyValue::new(GEN_AI_PROMPT_NAME, t.to_string()))
        }
        _ => {}
    }
    tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attributes)
        .start_with_context(tracer, parent)
}

/// The request's params with the trace `fields` set in `_meta` (created if absent), every other
/// byte kept; `None` when the params cannot carry them (then they go upstream unchanged).
fn with_fields(
    req: &McpRequest,
    fields: &[(&'static str, String)],
) -> Option<Box<serde_json::value::RawValue>> {
    let mut params: Option<Box<serde_json::value::RawValue>> = None;
    for (key, value) in fields {
        let current = params.as_deref().or(req.message.params.as_deref());
        let edited = RawParams::parse_opt(current)
            .ok()?
            .with_meta(key, &json_text(value).ok()?)
            .ok()?;
        params = Some(edited);
    }
    params
}
