//! tower-test unit tests of both layers over a mock inner service.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::error::code::RATE_LIMITED;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{Identity, McpContext, McpError, McpRequest, McpResponse};
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_test::mock;

use super::*;

type Handle = mock::Handle<McpRequest, McpResponse>;

/// A request as the gateway's routing step hands it on (routed with [`resolver`]).
fn request(method: &str, params: Option<&str>, caller: Option<&str>) -> McpRequest {
    let params = params.map(|p| RawValue::from_string(p.to_owned()).expect("valid JSON"));
    let mut req = McpRequest::new(
        JsonRpcRequest::new(RequestId::Number(1), Method::parse(method), params),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: caller.map(|s| Identity {
                subject: s.to_owned(),
                attributes: Vec::new(),
            }),
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    );
    req.route_with(Arc::new(resolver()));
    req
}

fn call(tool: &str, caller: Option<&str>) -> McpRequest {
    request(
        "tools/call",
        Some(&format!(r#"{{"name":"{tool}","arguments":{{}}}}"#)),
        caller,
    )
}

fn ok() -> McpResponse {
    McpResponse::new(RawValue::from_string("{}".into()).expect("raw"))
}

/// `demo__x` → server `demo`, tool `x`; `other__x` → server `other`.
fn resolver() -> impl toolgate::aggregate::Resolve {
    |_: &Method, target: &str| {
        let (server, original) = target.split_once("__")?;
        Some(Route::new(server, original))
    }
}

/// The layer over a mock whose errors are `McpError`s.
fn stack<L>(
    layer: L,
) -> (
    impl Service<McpRequest, Response = McpResponse, Error = McpError> + Clone,
    Handle,
)
where
    L: Layer<tower::util::MapErr<mock::Mock<McpRequest, McpResponse>, fn(BoxError) -> McpError>>,
    L::Service: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone,
{
    let (mock, handle) = mock::pair::<McpRequest, McpResponse>();
    let to_mcp: fn(BoxError) -> McpError = |e| McpError::internal(e.to_string());
    (layer.layer(mock.map_err(to_mcp)), handle)
}

/// Sends `req` through `svc`, answering it from the mock if it gets there. Returns the outcome
/// and whether the inner service saw the request.
async fn run<S>(svc: &mut S, handle: &mut Handle, req: McpRequest) -> (Result<(), McpError>, bool)
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    handle.allow(1);
    let fut = svc.ready().await.expect("ready").call(req);
    tokio::pin!(fut);
    tokio::select! {
        out = &mut fut => (out.map(|_| ()), false),
        got = handle.next_request() => {
            let (_req, send) = got.expect("request reached the inner service");
            send.send_response(ok());
            (fut.await.map(|_| ()), true)
        }
    }
}

fn retry_after_ms(e: &McpError) -> u64 {
    e.data()
        .and_then(|d| d["retry_after_ms"].as_u64())
        .expect("retry_after_ms is an integer")
}

#[tokio::test]
async fn burst_past_the_limit_is_rejected_with_retry_after() {
    let layer = RateLimitLayer::new([
        RateRule::new(Rate::per_hour(2).expect("rate")).per(Dimension::Identity)
    ])
    .expect("layer");
    let (mut svc, mut handle) = stack(layer);
    for _ in 0..2 {
        let (out, reached) = run(&mut svc, &mut handle, call("demo__echo", None)).await;
        assert!(out.is_ok() && reached, "within the burst: {out:?}");
    }
    let (out, reached) = run(&mut svc, &mut handle, call("demo__echo", None)).await;
    assert!(!reached, "a rejected request never reaches the upstream");
    let e = out.expect_err("third call in the hour is over the limit");
    assert_eq!(e.code(), RATE_LIMITED);
    let data = e.data().expect("data");
    assert_eq!(data["reason"], "rate_limited");
    assert_eq!(data["limit"], "2/h");
    assert_eq!(data["per"], serde_json::json!(["identity"]));
    assert!(
        e.message().contains("caller 'anonymous'"),
        "message names the budget: {}",
        e.message()
    );
    // 2/h: one call back every 30 minutes.
    let ms = retry_after_ms(&e);
    assert!(
        (29 * 60_000..=30 * 60_000).contains(&ms),
        "retry after ~30 min, got {ms} ms"
    );
}

#[tokio::test]
async fn each_caller_has_its_own_budget() {
    let layer = RateLimitLayer::new([
        RateRule::new(Rate::per_hour(1).expect("rate")).per(Dimension::Identity)
    ])
    .expect("layer");
    let (mut svc, mut handle) = stack(layer);
    let alice = run(&mut svc, &mut handle, call("demo__echo", Some("alice"))).await;
    assert!(alice.0.is_ok());
    let alice = run(&mut svc, &mut handle, call("demo__echo", Some("alice"))).await;
    assert!(alice.0.is_err(), "alice spent her budget");
    let bob = run(&mut svc, &mut handle, call("demo__echo", Some("bob"))).await;
    assert!(bob.0.is_ok(), "bob's budget is his own: {:?}", bob.0);
}

#[tokio::test]
async fn a_per_tool_limit_does_not_affect_another_tool() {
    let layer =
        RateLimitLayer::new([RateRule::new(Rate::per_hour(1).expect("rate")).per(Dimension::Tool)])
            .expect("layer");
    let (mut svc, mut handle) = stack(layer);
    assert!(
        run(&mut svc, &mut handle, call("demo__sleep", None))
            .await
            .0
            .is_ok()
    );
    let e = run(&mut svc, &mut handle, call("demo__sleep", None))
        .await
        .0
        .expect_err("sleep is spent");
    assert_eq!(e.data().expect("data")["upstream"], "demo");
    assert!(e.message().contains("tool 'sleep'"), "{}", e.message());
    assert!(
        run(&mut svc, &mut handle, call("demo__echo", None))
            .await
            .0
            .is_ok(),
        "echo has its own budget"
    );
    assert!(
        run(&mut svc, &mut handle, call("other__sleep", None))
            .await
            .0
            .is_ok(),
        "the same tool name on another server has its own budget"
    );
    // `tools/list` has no tool: a per-tool rule does not apply to it.
    for _ in 0..3 {
        let (out, reached) = run(&mut svc, &mut handle, request("tools/list", None, None)).await;
        assert!(out.is_ok() && reached);
    }
}

#[tokio::test]
async fn a_scoped_rule_leaves_other_servers_and_tools_alone() {
    let layer = RateLimitLayer::new([RateRule::new(Rate::per_hour(1).expect("rate"))
        .server("demo")
        .tool("sleep")])
    .expect("layer");
    let (mut svc, mut handle) = stack(layer);
    for tool in ["demo__echo", "other__sleep", "demo__echo", "other__sleep"] {
        assert!(run(&mut svc, &mut handle, call(tool, None)).await.0.is_ok());
    }
    assert!(
        run(&mut svc, &mut handle, call("demo__sleep", Some("a")))
            .await
            .0
            .is_ok()
    );
    assert!(
        run(&mut svc, &mut handle, call("demo__sleep", Some("b")))
            .await
            .0
            .is_err(),
        "one budget for the tool, whoever calls"
    );
}

#[tokio::test]
async fn budget_comes_back_after_retry_after() {
    let layer =
        RateLimitLayer::new([RateRule::new(Rate::per_second(20).expect("rate"))]).expect("layer");
    let (mut svc, mut handle) = stack(layer);
    let mut rejected = None;
    // The burst is 20; a few more than that must hit the limit even on a slow machine.
    for _ in 0..40 {
        if let Err(e) = run(&mut svc, &mut handle, call("demo__echo", None)).await.0 {
            rejected = Some(e);
            break;
        }
    }
    let e = rejected.expect("the burst ends");
    let wait = retry_after_ms(&e);
    assert!(
        wait <= 50,
        "20/s gives one back every 50 ms, told {wait} ms"
    );
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let (out, reached) = run(&mut svc, &mut handle, call("demo__echo", None)).await;
    assert!(out.is_ok() && reached, "after retry_after_ms: {out:?}");
}

#[tokio::test]
async fn rules_are_checked_in_order_and_all_must_pass() {
    let layer = RateLimitLayer::new([
        RateRule::new(Rate::per_hour(100).expect("rate")),
        RateRule::new(Rate::per_hour(1).expect("rate")).per(Dimension::Identity),
    ])
    .expect("layer");
    let (mut svc, mut handle) = stack(layer);
    assert!(
        run(&mut svc, &mut handle, call("a", Some("x")))
            .await
            .0
            .is_ok()
    );
    let e = run(&mut svc, &mut handle, call("a", Some("x")))
        .await
        .0
        .expect_err("the second rule refuses");
    assert_eq!(e.data().expect("data")["limit"], "1/h");
}

#[test]
fn empty_rules_and_empty_scopes_are_refused() {
    let e = RateLimitLayer::new([]).expect_err("no rules");
    assert!(e.to_string().contains("rules"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Settings);
    let e = RateLimitLayer::new([RateRule::new(Rate::per_second(1).expect("rate")).server(" ")])
        .expect_err("blank server");
    assert!(e.to_string().contains("server"), "{e}");
    let e = ConcurrencyLimitLayer::new([ConcurrencyRule::new(0)]).expect_err("max 0");
    assert!(e.to_string().contains("max"), "{e}");
}

/// Starts a call and waits until the inner service holds it; returns the caller's future and
/// the mock's responder.
async fn hold<S>(
    svc: &mut S,
    handle: &mut Handle,
    req: McpRequest,
) -> (S::Future, tower_test::mock::SendResponse<McpResponse>)
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    handle.allow(1);
    let fut = svc.ready().await.expect("ready").call(req);
    let (_req, send) = handle
        .next_request()
        .await
        .expect("the call reaches the inner service");
    (fut, send)
}

#[tokio::test]
async fn a_full_cap_answers_busy_at_once() {
    let layer = ConcurrencyLimitLayer::new([ConcurrencyRule::new(1).per(Dimension::Identity)])
        .expect("layer");
    let (mut svc, mut handle) = stack(layer.clone());
    let (first, send) = hold(&mut svc, &mut handle, call("demo__sleep", Some("a"))).await;

    // The second call by the same caller does not wait for the first.
    let busy = tokio::time::timeout(
        Duration::from_secs(5),
        run(&mut svc, &mut handle, call("demo__echo", Some("a"))),
    )
    .await
    .expect("answered at once, not queued");
    assert!(!busy.1, "a busy call never reaches the upstream");
    let e = busy.0.expect_err("busy");
    assert_eq!(e.code(), RATE_LIMITED);
    let data = e.data().expect("data");
    assert_eq!(data["reason"], "busy");
    assert_eq!(data["busy"], true);
    assert!(data["retry_after_ms"].as_u64().is_some());

    // Another caller has its own cap.
    let other = run(&mut svc, &mut handle, call("demo__echo", Some("b"))).await;
    assert!(other.0.is_ok() && other.1);

    send.send_response(ok());
    first.await.expect("the first call finishes");
    let again = run(&mut svc, &mut handle, call("demo__echo", Some("a"))).await;
    assert!(
        again.0.is_ok(),
        "the slot is free once the answer is there: {:?}",
        again.0
    );
    assert_eq!(layer.caps().inflight_keys(), 0, "idle keys are forgotten");
}

#[tokio::test]
async fn a_dropped_call_frees_its_slot() {
    let layer = ConcurrencyLimitLayer::new([ConcurrencyRule::new(1)]).expect("layer");
    let (mut svc, mut handle) = stack(layer.clone());
    let (first, _send) = hold(&mut svc, &mut handle, call("x", None)).await;
    assert!(run(&mut svc, &mut handle, call("x", None)).await.0.is_err());
    drop(first);
    assert!(run(&mut svc, &mut handle, call("x", None)).await.0.is_ok());
    assert_eq!(layer.caps().inflight_keys(), 0);
}

#[tokio::test]
async fn a_busy_answer_gives_back_slots_taken_from_other_caps() {
    let layer = ConcurrencyLimitLayer::new([
        ConcurrencyRule::new(2),
        ConcurrencyRule::new(1).per(Dimension::Identity),
    ])
    .expect("layer");
    let (mut svc, mut handle) = stack(layer);
    let (_a1, _s1) = hold(&mut svc, &mut handle, call("x", Some("a"))).await;
    // Refused by the per-caller cap after the shared cap counted it: the shared slot must come
    // back, or b would find the shared cap (2) full.
    assert!(
        run(&mut svc, &mut handle, call("x", Some("a")))
            .await
            .0
            .is_err()
    );
    let b = run(&mut svc, &mut handle, call("x", Some("b"))).await;
    assert!(b.0.is_ok(), "{:?}", b.0);
}

#[tokio::test]
async fn builder_extension_stacks_both_layers() {
    let builder = tower::ServiceBuilder::new()
        .mcp_rate_limit(
            RateLimitLayer::new([RateRule::new(Rate::per_hour(1).expect("rate"))]).expect("layer"),
        )
        .mcp_concurrency_limit(
            ConcurrencyLimitLayer::new([ConcurrencyRule::new(1)]).expect("layer"),
        );
    let (mut svc, mut handle) = stack(builder.into_inner());
    assert!(run(&mut svc, &mut handle, call("x", None)).await.0.is_ok());
    let e = run(&mut svc, &mut handle, call("x", None))
        .await
        .0
        .expect_err("rate limited");
    assert_eq!(e.data().expect("data")["reason"], "rate_limited");
}

#[test]
fn factories_check_settings_and_server_names() {
    use toolgate::gateway::GatewayBuilder;
    use toolgate::registry::LayerFactory;
    use toolgate::upstream::StdioSpec;

    let builder = || {
        GatewayBuilder::new().stdio(
            "demo",
            StdioSpec {
                command: "demo-server".into(),
                ..Default::default()
            },
        )
    };
    let ok = RateLimitFactory.apply(
        serde_json::json!({"rules": [{"rate": "1/s", "server": "demo"}]}),
        builder(),
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = RateLimitFactory
        .apply(
            serde_json::json!({"rules": [{"rate": "1/s", "server": "dmeo"}]}),
            builder(),
        )
        .expect_err("unknown server");
    assert_eq!(e.layer(), "rate_limit");
    assert!(e.to_string().contains("'dmeo'"), "{e}");
    let e = ConcurrencyLimitFactory
        .apply(
            serde_json::json!({"rules": [{"max": 2, "pre": "tool"}]}),
            builder(),
        )
        .expect_err("typo");
    assert!(e.to_string().contains("pre"), "{e}");
    let schema = RateLimitFactory.config_schema();
    assert!(schema["properties"]["rules"].is_object(), "{schema}");

    // `store: redis` needs the top-level `redis:`; `on_store_error` needs `store: redis`.
    let e = RateLimitFactory
        .apply(
            serde_json::json!({"store": "redis", "rules": [{"rate": "1/s"}]}),
            builder(),
        )
        .expect_err("no redis");
    assert!(e.to_string().contains("add `redis: {url:"), "{e}");
    let e = RateLimitFactory
        .apply(
            serde_json::json!({"on_store_error": "fail_open", "rules": [{"rate": "1/s"}]}),
            builder(),
        )
        .expect_err("local store");
    assert!(e.to_string().contains("applies to `store: redis`"), "{e}");
    let shared = RateLimitFactory.apply(
        serde_json::json!({"store": "redis", "on_store_error": "fail_open", "rules": [{"rate": "1/s"}]}),
        builder().redis(toolgate::config::RedisSettings::new("redis://127.0.0.1:1")),
    );
    assert!(shared.is_ok(), "{shared:?}");
}
