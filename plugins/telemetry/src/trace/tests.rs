//! Unit tests of the tracing layers with tower-test and the SDK's in-memory exporter.

use opentelemetry::Value;
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::value::RawValue;
use tokio_test::assert_ready_ok;
use toolgate::McpError;
use toolgate::error::ErrorKind;
use toolgate::upstream::UpstreamHeaders;
use tower::Service;

use super::*;
use crate::test_util::{request, response, spawn};

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn tracing() -> (SdkTracerProvider, InMemorySpanExporter, McpTraceLayer) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = McpTraceLayer::new(provider.tracer("test"));
    (provider, exporter, layer)
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn attr_str(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

fn finished(exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    exporter.get_finished_spans().expect("spans")
}

#[tokio::test]
async fn tool_call_span_follows_the_mcp_conventions() {
    let (_p, exporter, layer) = tracing();
    let (mut svc, mut handle) = spawn(layer);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(request(
        "tools/call",
        r#"{"name":"demo__echo","arguments":{"message":"hi"}}"#,
    ));
    let (_req, send) = handle.next_request().await.expect("forwarded");
    send.send_response(response(r#"{"content":[]}"#));
    fut.await.expect("ok");

    let spans = finished(&exporter);
    assert_eq!(spans.len(), 1, "{spans:?}");
    let s = &spans[0];
    assert_eq!(s.name, "tools/call demo__echo");
    assert_eq!(s.span_kind, SpanKind::Server);
    assert_eq!(
        attr_str(s, "mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(attr_str(s, "mcp.session.id").as_deref(), Some("sess-1"));
    assert_eq!(attr_str(s, "jsonrpc.request.id").as_deref(), Some("7"));
    assert_eq!(
        attr_str(s, "gen_ai.tool.name").as_deref(),
        Some("demo__echo")
    );
    assert_eq!(
        attr_str(s, "gen_ai.operation.name").as_deref(),
        Some("execute_tool")
    );
    assert_eq!(attr_str(s, "network.transport").as_deref(), Some("tcp"));
    assert!(attr(s, "error.type").is_none());
    assert_eq!(s.status, Status::Unset);
    assert_eq!(
        s.parent_span_id,
        opentelemetry::trace::SpanId::INVALID,
        "a root span"
    );
}

#[tokio::test]
async fn list_methods_have_no_target_in_the_name() {
    let (_p, exporter, layer) = tracing();
    let (mut svc, mut handle) = spawn(layer);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(request("tools/list", "{}"));
    let (_req, send) = handle.next_request().await.expect("forwarded");
    send.send_response(response(r#"{"tools":[]}"#));
    fut.await.expect("ok");
    let spans = finished(&exporter);
    assert_eq!(spans[0].name, "tools/list");
    assert!(attr(&spans[0], "gen_ai.tool.name").is_none());
}

#[tokio::test]
async fn meta_traceparent_is_the_remote_parent() {
    let (_p, exporter, layer) = tracing();
    let (mut svc, mut handle) = spawn(layer);
    assert_ready_ok!(svc.poll_ready());
    let params = format!(r#"{{"name":"demo__echo","_meta":{{"traceparent":"{PARENT}"}}}}"#);
    let fut = svc.call(request("tools/call", &params));
    let (_req, send) = handle.next_request().await.expect("forwarded");
    send.send_response(response("{}"));
    fut.await.expect("ok");
    let s = &finished(&exporter)[0];
    assert_eq!(
        s.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(s.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(s.parent_span_is_remote);
}

#[tokio::test]
async fn http_traceparent_is_the_parent_without_meta_and_a_link_with_it() {
    let (_p, exporter, layer) = tracing();
    let (mut svc, mut handle) = spawn(layer);
    let http_cx = {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static(
                "00-11111111111111111111111111111111-2222222222222222-01",
            ),
        );
        let mut req = http::Request::new(());
        *req.headers_mut() = headers;
        let mut inner = tower::service_fn(|r: http::Request<()>| async move {
            Ok::<_, std::convert::Infallible>(r.extensions().get::<HttpTraceContext>().cloned())
        });
        let mut with_layer = tower::Layer::layer(&HttpTraceContextLayer::new(), &mut inner);
        with_layer
            .call(req)
            .await
            .expect("infallible")
            .expect("stashed")
    };

    // HTTP context only: it is the parent.
    assert_ready_ok!(svc.poll_ready());
    let mut req = request("tools/list", "{}");
    req.ctx.extensions.insert(http_cx.clone());
    let fut = svc.call(req);
    let (_r, send) = handle.next_request().await.expect("forwarded");
    send.send_response(response("{}"));
    fut.await.expect("ok");

    // Both: `_meta` is the parent, the HTTP context a link.
    assert_ready_ok!(svc.poll_ready());
    let params = format!(r#"{{"name":"x","_meta":{{"traceparent":"{PARENT}"}}}}"#);
    let mut req = request("tools/call", &params);
    req.ctx.extensions.insert(http_cx);
    let fut = svc.call(req);
    let (_r, send) = handle.next_request().await.expect("forwarded");
    send.send_response(response("{}"));
    fut.await.expect("ok");

    let spans = finished(&exporter);
    assert_eq!(
        spans[0].span_context.trace_id().to_string(),
        "11111111111111111111111111111111"
    );
    assert_eq!(spans[0].parent_span_id.to_string(), "2222222222222222");
    assert_eq!(
        spans[1].span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    let links: Vec<_> = spans[1].links.iter().collect();
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].span_context.trace_id().to_string(),
        "11111111111111111111111111111111"
    );
}

#[tokio::test]
async fn an_invalid_http_traceparent_is_ignored() {
    let mut req = http::Request::new(());
    req.headers_mut()
        .insert("traceparent", http::HeaderValue::from_static("garbage"));
    let mut svc =
        HttpTraceContextService::new(tower::service_fn(|r: http::Request<()>| async move {
            Ok::<_, std::convert::Infallible>(r.extensions().get::<HttpTraceContext>().is_some())
        }));
    assert!(!svc.call(req).await.expect("infallible"));
}

#[tokio::test]
async fn upstream_call_is_a_child_span_and_carries_the_context_upstream() {
    let (provider, exporter, layer) = tracing();
    let (mut svc, mut handle) = spawn(layer);
    assert_ready_ok!(svc.poll_ready());
    let params = format!(r#"{{"name":"demo__echo","_meta":{{"traceparent":"{PARENT}"}}}}"#);
    let fut = svc.call(request("tools/call", &params));
    let (mut req, send) = handle.next_request().await.expect("forwarded");
    assert!(
        req.ctx.extensions.get::<RequestSpan>().is_some(),
        "the request's span goes along for the upstream stacks"
    );

    // The upstream's stack: its client span layer, then the connection (a second mock).
    let (mut upstream, mut connection) =
        spawn(UpstreamSpanLayer::new(provider.tracer("test"), "demo"));
    // As the aggregate hands it on: in the upstream's own names.
    req.replace_params(Some(
        RawValue::from_string(r#"{"name":"echo","_meta":{"progressToken":3}}"#.into())
            .expect("raw"),
    ));
    assert_ready_ok!(upstream.poll_ready());
    let call = upstream.call(req);
    let (sent, reply) = connection.next_request().await.expect("to the connection");
    let header = sent
        .ctx
        .extensions
        .get::<UpstreamHeaders>()
        .and_then(|h| h.0.get("traceparent"))
        .and_then(|v| v.to_str().ok())
        .expect("traceparent header")
        .to_string();
    let sent: serde_json::Value =
        serde_json::from_str(sent.message.params.as_ref().expect("params").get()).expect("json");
    assert_eq!(sent["_meta"]["traceparent"], header.as_str());
    assert_eq!(
        sent["_meta"]["progressToken"], 3,
        "other _meta members kept"
    );
    assert_eq!(sent["name"], "echo");
    reply.send_response(response(r#"{"content":[]}"#));
    call.await.expect("ok");
    send.send_response(response(r#"{"content":[]}"#));
    fut.await.expect("ok");

    let spans = finished(&exporter);
    assert_eq!(spans.len(), 2, "{spans:?}");
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("client span");
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .expect("server span");
    assert_eq!(client.name, "tools/call echo");
    assert_eq!(client.parent_span_id, server.span_context.span_id());
    assert_eq!(
        client.span_context.trace_id(),
        server.span_context.trace_id()
    );
    assert_eq!(
        attr_str(client, "toolgate.upstream").as_deref(),
        Some("demo")
    );
    assert_eq!(
        attr_str(client, "gen_ai.tool.name").as_deref(),
        Some("echo")
    );
    assert_eq!(
        attr_str(server, "toolgate.upstream").as_deref(),
        Some("demo")
    );
    // The upstream sees the client span as its parent, in the same trace.
    assert_eq!(
        header,
        format!(
            "00-{}-{}-01",
            client.span_context.trace_id(),
            client.span_context.span_id()
        )
    );
}

#[tokio::test]
async fn errors_set_error_type_status_code_and_status() {
    let (_p, exporter, layer) = tracing();
    let (mut svc, mut handle) = spawn(layer);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(request("tools/call", r#"{"name":"slow"}"#));
    let (_req, send) = handle.next_request().await.expect("forwarded");
    send.send_error(McpError::gateway(
        ErrorKind::Timeout,
        "demo",
        true,
        "upstream 'demo' did not answer",
    ));
    let err = fut.await.expect_err("error passes through");
    assert_eq!(err.code(), -31001);
    let s = &finished(&exporter)[0];
    assert_eq!(attr_str(s, "error.type").as_deref(), Some("-31001"));
    assert_eq!(
        attr_str(s, "rpc.response.status_code").as_deref(),
        Some("-31001")
    );
    assert_eq!(s.status, Status::error("upstream 'demo' did not answer"));
}

#[tokio::test]
async fn a_tool_error_result_is_tool_error() {
    let (_p, exporter, layer) = tracing();
    let (mut svc, mut handle) = spawn(layer);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(request("tools/call", r#"{"name":"fail"}"#));
    let (_req, send) = handle.next_request().await.expect("forwarded");
    send.send_response(response(r#"{"content":[],"isError":true}"#));
    fut.await.expect("a tool error is a result");
    let s = &finished(&exporter)[0];
    assert_eq!(attr_str(s, "error.type").as_deref(), Some("tool_error"));
    assert!(matches!(s.status, Status::Error { .. }));
}
