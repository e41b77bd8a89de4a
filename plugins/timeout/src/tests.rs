//! tower-test unit tests of the timeout layer over a mock inner service, on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::error::code::UPSTREAM_TIMEOUT;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse};
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_test::mock;

use super::*;

type Handle = mock::Handle<McpRequest, McpResponse>;

fn call(tool: &str, cancel: CancellationToken) -> McpRequest {
    let params = RawValue::from_string(format!(r#"{{"name":"{tool}","arguments":{{}}}}"#))
        .expect("valid JSON");
    let mut req = McpRequest::new(
        JsonRpcRequest::new(RequestId::Number(1), Method::ToolsCall, Some(params)),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: None,
            downstream: Downstream::none(),
            cancel,
            extensions: Default::default(),
        },
    );
    // As the gateway's routing step hands it on.
    req.route_with(Arc::new(resolver()));
    req
}

fn ok() -> McpResponse {
    McpResponse::new(RawValue::from_string("{}".into()).expect("raw"))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn stack(
    layer: TimeoutLayer,
) -> (
    impl Service<McpRequest, Response = McpResponse, Error = McpError>,
    Handle,
) {
    let (mock, handle) = mock::pair::<McpRequest, McpResponse>();
    let to_mcp: fn(BoxError) -> McpError = |e| McpError::internal(e.to_string());
    (layer.layer(mock.map_err(to_mcp)), handle)
}

/// `demo__x` → server `demo`, tool `x`.
fn resolver() -> impl toolgate::aggregate::Resolve {
    |_: &Method, target: &str| {
        let (server, original) = target.split_once("__")?;
        Some(Route::new(server, original))
    }
}

fn progress(downstream: &Downstream, n: u32) {
    let raw =
        RawValue::from_string(format!(r#"{{"progressToken":"t","progress":{n}}}"#)).expect("raw");
    downstream.notify("notifications/progress", Some(&raw));
}

/// Polls `fut` once: `Some` if it finished.
async fn now_or_never<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = fut => Some(out),
        () = std::future::ready(()) => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_times_out_with_31001_and_is_cancelled() {
    let layer = TimeoutLayer::new().default_deadline(Deadline::new(secs(1.0)));
    let (mut svc, mut handle) = stack(layer);
    let client = CancellationToken::new();
    handle.allow(1);
    let start = Instant::now();
    let fut = svc
        .ready()
        .await
        .expect("ready")
        .call(call("demo__sleep", client.clone()));
    let (seen, _send) = handle.next_request().await.expect("forwarded");
    assert!(!seen.ctx.cancel.is_cancelled());

    let e = fut.await.expect_err("times out");
    assert_eq!(Instant::now() - start, secs(1.0), "at the deadline exactly");
    assert_eq!(e.code(), UPSTREAM_TIMEOUT);
    assert_eq!(e.kind(), toolgate::ErrorKind::Timeout);
    let data = e.data().expect("data");
    assert_eq!(data["source"], "gateway");
    assert_eq!(data["retryable"], true);
    assert_eq!(data["timeout_ms"], 1000);
    assert!(
        e.message().contains("tools/call demo__sleep"),
        "{}",
        e.message()
    );
    assert!(
        seen.ctx.cancel.is_cancelled(),
        "the upstream side sees the cancellation (and sends notifications/cancelled)"
    );
    assert!(
        !client.is_cancelled(),
        "the client's own token is not touched: only the child the layer owns"
    );
}

#[tokio::test(start_paused = true)]
async fn an_answer_in_time_passes_through() {
    let layer = TimeoutLayer::new().default_deadline(Deadline::new(secs(1.0)));
    let (mut svc, mut handle) = stack(layer);
    handle.allow(1);
    let fut = svc
        .ready()
        .await
        .expect("ready")
        .call(call("demo__echo", CancellationToken::new()));
    let (seen, send) = handle.next_request().await.expect("forwarded");
    tokio::time::sleep(secs(0.9)).await;
    send.send_response(ok());
    assert!(fut.await.is_ok());
    assert!(!seen.ctx.cancel.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn progress_extends_the_deadline_up_to_the_cap() {
    let layer = TimeoutLayer::new()
        .default_deadline(Deadline::new(secs(1.0)).extend_on_progress(secs(3.0)));
    let (mut svc, mut handle) = stack(layer);
    handle.allow(1);
    let start = Instant::now();
    let fut = svc
        .ready()
        .await
        .expect("ready")
        .call(call("demo__sleep", CancellationToken::new()));
    let (seen, _send) = handle.next_request().await.expect("forwarded");
    let mut fut = Box::pin(fut);
    for (n, at) in [(1, 0.8), (2, 1.6), (3, 2.4)] {
        tokio::time::sleep_until(start + secs(at)).await;
        assert!(
            now_or_never(&mut fut).await.is_none(),
            "still running at {at}s"
        );
        progress(&seen.ctx.downstream, n);
    }
    // Without the cap it would run until 3.4 s; the cap ends it at 3 s.
    let e = fut.await.expect_err("capped");
    assert_eq!(Instant::now() - start, secs(3.0));
    assert_eq!(e.code(), UPSTREAM_TIMEOUT);
    assert!(e.message().contains("total limit"), "{}", e.message());
    assert_eq!(e.data().expect("data")["max_total_timeout_ms"], 3000);
    assert!(seen.ctx.cancel.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn progress_that_stops_lets_the_timeout_run_out() {
    let layer = TimeoutLayer::new()
        .default_deadline(Deadline::new(secs(1.0)).extend_on_progress(secs(10.0)));
    let (mut svc, mut handle) = stack(layer);
    handle.allow(1);
    let start = Instant::now();
    let fut = svc
        .ready()
        .await
        .expect("ready")
        .call(call("demo__sleep", CancellationToken::new()));
    let (seen, _send) = handle.next_request().await.expect("forwarded");
    tokio::time::sleep(secs(0.5)).await;
    progress(&seen.ctx.downstream, 1);
    let e = fut
        .await
        .expect_err("times out a second after the last progress");
    assert_eq!(Instant::now() - start, secs(1.5));
    assert!(
        e.message().contains("without an answer or progress"),
        "{}",
        e.message()
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_cap_progress_does_not_extend() {
    let layer = TimeoutLayer::new().default_deadline(Deadline::new(secs(1.0)));
    let (mut svc, mut handle) = stack(layer);
    handle.allow(1);
    let start = Instant::now();
    let fut = svc
        .ready()
        .await
        .expect("ready")
        .call(call("demo__sleep", CancellationToken::new()));
    let (seen, _send) = handle.next_request().await.expect("forwarded");
    tokio::time::sleep(secs(0.9)).await;
    progress(&seen.ctx.downstream, 1);
    assert!(fut.await.is_err());
    assert_eq!(Instant::now() - start, secs(1.0));
}

#[tokio::test(start_paused = true)]
async fn the_clients_cancellation_still_reaches_the_upstream() {
    let layer = TimeoutLayer::new().default_deadline(Deadline::new(secs(60.0)));
    let (mut svc, mut handle) = stack(layer);
    let client = CancellationToken::new();
    handle.allow(1);
    let _fut = svc
        .ready()
        .await
        .expect("ready")
        .call(call("demo__sleep", client.clone()));
    let (seen, _send) = handle.next_request().await.expect("forwarded");
    client.cancel();
    assert!(seen.ctx.cancel.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn tool_deadlines_beat_server_deadlines_and_others_run_untimed() {
    let layer = TimeoutLayer::new()
        .server("demo", Deadline::new(secs(5.0)))
        .tool("demo", "sleep", Deadline::new(secs(1.0)));
    let (mut svc, mut handle) = stack(layer);

    for (tool, expected) in [("demo__sleep", 1.0), ("demo__echo", 5.0)] {
        handle.allow(1);
        let start = Instant::now();
        let fut = svc
            .ready()
            .await
            .expect("ready")
            .call(call(tool, CancellationToken::new()));
        let (_seen, _send) = handle.next_request().await.expect("forwarded");
        let e = fut.await.expect_err("times out");
        assert_eq!(Instant::now() - start, secs(expected), "{tool}");
        assert_eq!(e.data().expect("data")["upstream"], "demo");
        assert!(e.message().contains("upstream 'demo'"), "{}", e.message());
    }

    // Another server has no deadline here: an hour later it is still running.
    handle.allow(1);
    let fut = svc
        .ready()
        .await
        .expect("ready")
        .call(call("other__sleep", CancellationToken::new()));
    let (seen, send) = handle.next_request().await.expect("forwarded");
    let mut fut = Box::pin(fut);
    tokio::time::sleep(secs(3600.0)).await;
    assert!(now_or_never(&mut fut).await.is_none());
    send.send_response(ok());
    assert!(fut.await.is_ok());
    assert!(!seen.ctx.cancel.is_cancelled());
}

#[test]
fn the_factory_checks_servers_and_the_request_timeout_ceiling() {
    use toolgate::gateway::GatewayBuilder;
    use toolgate::registry::LayerFactory;
    use toolgate::upstream::{StdioSpec, UpstreamOptions};

    let builder = || {
        GatewayBuilder::new()
            .stdio(
                "demo",
                StdioSpec {
                    command: "demo-server".into(),
                    ..Default::default()
                },
            )
            .upstream_options(UpstreamOptions {
                request_timeout: Duration::from_secs(60),
                ..Default::default()
            })
    };
    let ok = TimeoutFactory.apply(
        serde_json::json!({"servers": {"demo": {"timeout": "10s", "max_total_timeout": "1m"}}}),
        builder(),
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = TimeoutFactory
        .apply(
            serde_json::json!({"servers": {"dmeo": {"timeout": "10s"}}}),
            builder(),
        )
        .expect_err("unknown server");
    assert!(e.to_string().contains("'dmeo'"), "{e}");
    let e = TimeoutFactory
        .apply(
            serde_json::json!({"timeout": "10s", "max_total_timeout": "5m"}),
            builder(),
        )
        .expect_err("beyond the ceiling");
    assert!(e.to_string().contains("server.request_timeout"), "{e}");
    let e = TimeoutFactory
        .apply(serde_json::json!({"timeuot": "10s"}), builder())
        .expect_err("typo");
    assert!(e.to_string().contains("timeuot"), "{e}");
}

#[tokio::test]
async fn builder_extension_adds_the_layer() {
    let builder = tower::ServiceBuilder::new()
        .mcp_timeout(TimeoutLayer::new().default_deadline(Deadline::new(secs(0.05))));
    let (mock, mut handle) = mock::pair::<McpRequest, McpResponse>();
    let to_mcp: fn(BoxError) -> McpError = |e| McpError::internal(e.to_string());
    let mut svc = builder.service(mock.map_err(to_mcp));
    handle.allow(1);
    let fut = svc
        .ready()
        .await
        .expect("ready")
        .call(call("x", CancellationToken::new()));
    let (_seen, _send) = handle.next_request().await.expect("forwarded");
    assert_eq!(fut.await.expect_err("times out").code(), UPSTREAM_TIMEOUT);
}
