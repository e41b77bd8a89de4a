//! One OpenTelemetry span per MCP request, following the MCP semantic conventions, and a child
//! span per call forwarded upstream.
//!
//! [`McpTrace`] starts a `SERVER` span named `{mcp.method.name} {target}` (target: the tool of
//! `tools/call` or the prompt of `prompts/get`; no target otherwise) with `mcp.method.name`,
//! `mcp.session.id`, `mcp.protocol.version`, `jsonrpc.request.id`, `gen_ai.tool.name` /
//! `gen_ai.prompt.name` / `mcp.resource.uri`, and on failure `error.type` and
//! `rpc.response.status_code` with an error status. Its parent is the W3C trace context in the
//! request's `params._meta` (`traceparent`, `tracestate`) or else the HTTP request's
//! `traceparent` header, which [`HttpTraceContextLayer`] stashes on the HTTP plane; when both are
//! present, `_meta` is the parent and the HTTP context is linked.
//!
//! For every call the aggregate forwards upstream on the request's behalf, a `CLIENT` span is
//! started as a child by [`UpstreamSpanLayer`], a layer in each upstream's own stack (the
//! request's span reaches it as a [`RequestSpan`] in the extensions), and its context goes
//! upstream in `params._meta.traceparent` and, on HTTP upstreams, in the `traceparent` header.
//! Params are rewritten only when this layer is in the stack.

mod future;
mod layer;
mod propagation;
mod upstream;

use std::task::{Context as TaskContext, Poll};

use opentelemetry::trace::{Link, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use serde_json::value::RawValue;
use toolgate::jsonrpc::Method;
use toolgate::session::TransportKind;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

use crate::semconv::*;

pub use future::ResponseFuture;
pub use layer::McpTraceLayer;
pub use propagation::{HttpTraceContext, HttpTraceContextLayer, HttpTraceContextService};
pub use upstream::{RequestSpan, UpstreamSpan, UpstreamSpanLayer};

/// Records a span per request; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct McpTrace<S> {
    inner: S,
    tracer: SdkTracer,
}

impl<S> McpTrace<S> {
    /// Traces `inner` with spans from `tracer`.
    pub fn new(inner: S, tracer: SdkTracer) -> Self {
        McpTrace { inner, tracer }
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

impl<S> Service<McpRequest> for McpTrace<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: McpRequest) -> Self::Future {
        let cx = server_span(&self.tracer, &req);
        req.ctx.extensions.insert(RequestSpan(cx.clone()));
        let tool_call = *req.method() == Method::ToolsCall;
        ResponseFuture::new(self.inner.call(req), cx, tool_call)
    }
}

/// Starts the request's `SERVER` span; returns the context that holds it.
fn server_span(tracer: &SdkTracer, req: &McpRequest) -> Context {
    let method = req.method();
    let target = match method {
        Method::ToolsCall | Method::PromptsGet => req.target(),
        _ => None,
    };
    let name = match target {
        Some(t) => format!("{} {t}", method.as_str()),
        None => method.as_str().to_string(),
    };
    let mut attributes = Vec::with_capacity(10);
    attributes.push(KeyValue::new(MCP_METHOD_NAME, method.as_str().to_string()));
    attributes.push(KeyValue::new(
        JSONRPC_REQUEST_ID,
        request_id(&req.message.id),
    ));
    let session = &req.ctx.session;
    if let Some(id) = session.id() {
        attributes.push(KeyValue::new(MCP_SESSION_ID, id.to_string()));
    }
    if let Some(v) = session.protocol_version() {
        attributes.push(KeyValue::new(MCP_PROTOCOL_VERSION, v.to_string()));
    }
    match session.transport() {
        TransportKind::Stdio => attributes.push(KeyValue::new(NETWORK_TRANSPORT, "pipe")),
        _ => {
            attributes.push(KeyValue::new(NETWORK_TRANSPORT, "tcp"));
            attributes.push(KeyValue::new(NETWORK_PROTOCOL_NAME, "http"));
        }
    }
    match method {
        Method::ToolsCall => {
            if let Some(t) = target {
                attributes.push(KeyValue::new(GEN_AI_TOOL_NAME, t.to_string()));
            }
            attributes.push(KeyValue::new(GEN_AI_OPERATION_NAME, "execute_tool"));
        }
        Method::PromptsGet => {
            if let Some(t) = target {
                attributes.push(KeyValue::new(GEN_AI_PROMPT_NAME, t.to_string()));
            }
        }
        Method::ResourcesRead | Method::ResourcesSubscribe | Method::ResourcesUnsubscribe => {
            if let Some(uri) = req.target() {
                attributes.push(KeyValue::new(MCP_RESOURCE_URI, uri.to_string()));
            }
        }
        _ => {}
    }
    let from_meta = propagation::from_meta(req.message.params.as_deref());
    let from_http = req
        .ctx
        .extensions
        .get::<HttpTraceContext>()
        .map(|h| h.context().clone());
    let (parent, links) = match (from_meta, from_http) {
        (Some(meta), Some(http)) => {
            let link = Link::with_context(http.span().span_context().clone());
            (meta, vec![link])
        }
        (Some(meta), None) => (meta, Vec::new()),
        (None, Some(http)) => (http, Vec::new()),
        (None, None) => (Context::new(), Vec::new()),
    };
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .with_links(links)
        .start_with_context(tracer, &parent);
    parent.with_span(span)
}

fn request_id(id: &toolgate::jsonrpc::RequestId) -> String {
    match id {
        toolgate::jsonrpc::RequestId::Number(n) => n.to_string(),
        toolgate::jsonrpc::RequestId::String(s) => s.to_string(),
    }
}

/// Sets `error.type`, `rpc.response.status_code` and the status of the span in `cx` from the
/// outcome, and ends it.
pub(crate) fn finish(cx: &Context, outcome: Result<&RawValue, &McpError>, tool_call: bool) {
    let span = cx.span();
    match outcome {
        Err(e) if e.is_cancelled() => {
            span.set_attribute(KeyValue::new(ERROR_TYPE, CANCELLED));
            span.set_status(Status::error("cancelled by the client"));
        }
        Err(e) => {
            let code = e.code().to_string();
            span.set_attribute(KeyValue::new(ERROR_TYPE, code.clone()));
            span.set_attribute(KeyValue::new(RPC_RESPONSE_STATUS_CODE, code));
            span.set_status(Status::error(e.message().to_string()));
        }
        Ok(result) if tool_call && is_tool_error(result) => {
            span.set_attribute(KeyValue::new(ERROR_TYPE, TOOL_ERROR));
            span.set_status(Status::error("the tool returned isError: true"));
        }
        Ok(_) => {}
    }
    span.end();
}

/// Whether a `tools/call` result says `isError: true`. Parses only results that mention it.
pub(crate) fn is_tool_error(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct ToolResult {
        #[serde(rename = "isError")]
        is_error: Option<bool>,
    }
    result.get().contains("\"isError\"")
        && serde_json::from_str::<ToolResult>(result.get())
            .ok()
            .and_then(|r| r.is_error)
            .unwrap_or(false)
}

#[cfg(test)]
mod tests;
