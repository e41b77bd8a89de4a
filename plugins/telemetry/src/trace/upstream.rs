//! The `CLIENT` span of each call forwarded upstream, and the trace context sent with it.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use serde_json::value::RawValue;
use toolgate::upstream::hook::{ObservedCall, UpstreamCall, UpstreamObserver};

use super::propagation;
use crate::semconv::*;

/// Starts a child of the request's span for each upstream call.
pub(crate) struct UpstreamSpans {
    tracer: SdkTracer,
    parent: Context,
}

impl UpstreamSpans {
    pub(crate) fn new(tracer: SdkTracer, parent: Context) -> Self {
        UpstreamSpans { tracer, parent }
    }
}

impl UpstreamObserver for UpstreamSpans {
    fn start(&self, call: &UpstreamCall<'_>) -> ObservedCall {
        self.parent
            .span()
            .set_attribute(KeyValue::new(TOOLGATE_UPSTREAM, call.server.to_string()));
        let target = match call.method {
            "tools/call" | "prompts/get" => name_of(call.params),
            _ => None,
        };
        let name = match &target {
            Some(t) => format!("{} {t}", call.method),
            None => call.method.to_string(),
        };
        let mut attributes = vec![
            KeyValue::new(MCP_METHOD_NAME, call.method.to_string()),
            KeyValue::new(TOOLGATE_UPSTREAM, call.server.to_string()),
        ];
        match (call.method, target) {
            ("tools/call", Some(t)) => {
                attributes.push(KeyValue::new(GEN_AI_TOOL_NAME, t));
                attributes.push(KeyValue::new(GEN_AI_OPERATION_NAME, "execute_tool"));
            }
            ("prompts/get", Some(t)) => attributes.push(KeyValue::new(GEN_AI_PROMPT_NAME, t)),
            _ => {}
        }
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &self.parent);
        let cx = self.parent.with_span(span);
        let fields = propagation::inject(&cx);
        let mut headers = HeaderMap::with_capacity(fields.len());
        for (key, value) in &fields {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(key), v);
            }
        }
        let params = propagation::with_meta(call.params, &fields);
        let tool_call = call.method == "tools/call";
        ObservedCall {
            params,
            headers,
            on_end: Some(Box::new(move |outcome| {
                super::finish(&cx, outcome, tool_call)
            })),
        }
    }
}

/// `params.name`, read without building a tree.
fn name_of(params: Option<&RawValue>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        name: Option<String>,
    }
    serde_json::from_str::<Named>(params?.get()).ok()?.name
}
