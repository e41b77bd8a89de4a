//! Unit tests of the recorder (explicit clock) and of the layer over a `service_fn` upstream.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::route::Route;
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse, McpService};
use tower::{Layer, ServiceExt};

use super::*;

const T0: u64 = 1_700_000_000_000; // a bucket boundary, in unix ms

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn tool<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == name))
        .unwrap_or(&Value::Null)
}

#[test]
fn counts_errors_and_percentiles() {
    let stats = Stats::new();
    for i in 0..100 {
        // 90 calls of ~3 ms, 10 of ~700 ms, 5 of them errors.
        let (latency, error) = if i < 90 {
            (ms(3), false)
        } else {
            (ms(700), i % 2 == 0)
        };
        stats.record_at("a", T0 + i, latency, error);
    }
    stats.record_at("b", T0, ms(1), false);
    let j = stats.json_at(T0 + 1000);
    assert_eq!(j["bucket_seconds"], 10);
    let names: Vec<&str> = j["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["a", "b"], "most called first");
    let a = tool(&j, "a");
    assert_eq!(a["calls"], 100);
    assert_eq!(a["errors"], 5);
    // p50 lies in the 2–5 ms class, p99 in the 500–1000 ms class (capped by the max, 700).
    let p50 = a["p50_ms"].as_f64().unwrap_or(-1.0);
    let p99 = a["p99_ms"].as_f64().unwrap_or(-1.0);
    assert!((2.0..=5.0).contains(&p50), "p50 {p50}");
    assert!((500.0..=700.0).contains(&p99), "p99 {p99}");
    let series = a["series"].as_array().cloned().unwrap_or_default();
    assert_eq!(series.len(), BUCKETS);
    let last = &series[BUCKETS - 1];
    assert_eq!(last["t"], T0 / 1000);
    assert_eq!(last["calls"], 100);
    assert_eq!(series[0]["calls"], 0);
    assert_eq!(series[0]["p99_ms"], Value::Null);
    assert_eq!(series[0]["t"], T0 / 1000 - 290);
}

#[test]
fn a_slow_call_beyond_the_last_bound_reads_as_its_own_latency() {
    let stats = Stats::new();
    stats.record_at("slow", T0, ms(30_000), false);
    let j = stats.json_at(T0);
    assert_eq!(tool(&j, "slow")["p99_ms"].as_f64(), Some(30_000.0));
    assert_eq!(tool(&j, "slow")["p50_ms"].as_f64(), Some(30_000.0));
}

#[test]
fn buckets_roll_over_and_leave_the_window() {
    let stats = Stats::new();
    stats.record_at("a", T0, ms(1), false);
    stats.record_at("a", T0 + 10_000, ms(1), true);
    stats.record_at("a", T0 + 10_500, ms(1), false);
    let j = stats.json_at(T0 + 10_000);
    let a = tool(&j, "a");
    assert_eq!(a["calls"], 3);
    assert_eq!(a["errors"], 1);
    let series = a["series"].as_array().cloned().unwrap_or_default();
    assert_eq!(series[BUCKETS - 2]["calls"], 1);
    assert_eq!(series[BUCKETS - 1]["calls"], 2);
    assert_eq!(series[BUCKETS - 1]["errors"], 1);

    // 300 s later the first bucket left the window, its slot is reused by a new call.
    let later = T0 + 300_000;
    let j = stats.json_at(later);
    assert_eq!(tool(&j, "a")["calls"], 2, "the first bucket is out: {j}");
    stats.record_at("a", later, ms(1), false);
    let j = stats.json_at(later);
    assert_eq!(tool(&j, "a")["calls"], 3);
    assert_eq!(tool(&j, "a")["series"][BUCKETS - 1]["calls"], 1);
    // Much later nothing is left; the tool disappears from the answer.
    let j = stats.json_at(later + 600_000);
    assert_eq!(j["tools"], json!([]));
}

#[test]
fn at_most_max_tools_are_tracked_and_the_least_recent_goes() {
    let stats = Stats::new();
    for i in 0..MAX_TOOLS as u64 {
        stats.record_at(&format!("t{i}"), T0 + i, ms(1), false);
    }
    // t0 is called again: t1 is now the least recently called.
    stats.record_at("t0", T0 + 5000, ms(1), false);
    stats.record_at("new", T0 + 6000, ms(1), false);
    assert_eq!(stats.tracked(), MAX_TOOLS);
    let j = stats.json_at(T0 + 6000);
    assert_eq!(tool(&j, "new")["calls"], 1);
    assert_eq!(tool(&j, "t0")["calls"], 2);
    assert_eq!(tool(&j, "t1"), &Value::Null, "evicted");
    assert_eq!(tool(&j, "t2")["calls"], 1);
}

#[test]
fn tool_errors_are_found_in_the_raw_result() {
    assert!(is_tool_error(r#"{"content":[],"isError":true}"#));
    assert!(is_tool_error(r#"{"content": [], "isError" : true}"#));
    assert!(!is_tool_error(r#"{"content":[],"isError":false}"#));
    assert!(!is_tool_error(
        r#"{"content":[{"type":"text","text":"\"isError\":true"}]}"#
    ));
    assert!(!is_tool_error(r#"{"content":[]}"#));
}

/// Answers `ok` normally, `fail` with a tool error, `broken` with a JSON-RPC error.
fn upstream() -> McpService {
    McpService::new(tower::service_fn(|req: McpRequest| async move {
        match req.target() {
            Some("fail") => McpResponse::from_typed(&json!({"content": [], "isError": true})),
            Some("broken") => Err(McpError::internal("broken")),
            _ => McpResponse::from_typed(&json!({"content": []})),
        }
    }))
}

fn request(method: &str, name: &str, routed: bool) -> McpRequest {
    let mut req = McpRequest::new(
        JsonRpcRequest::new(
            RequestId::Number(1),
            Method::parse(method),
            toolgate::jsonrpc::to_raw(&json!({"name": name, "arguments": {}})).ok(),
        ),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: None,
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    );
    if routed {
        req.set_route(Some(Route::new("demo", name)));
    }
    req
}

#[tokio::test]
async fn the_layer_counts_routed_tool_calls_and_their_errors() {
    let stats = Stats::new();
    let svc = StatsLayer::new(stats.clone()).layer(upstream());
    for name in ["ok", "ok", "fail", "broken"] {
        let _ = svc.clone().oneshot(request("tools/call", name, true)).await;
    }
    // Not counted: an unrouted name, and other methods.
    let _ = svc
        .clone()
        .oneshot(request("tools/call", "made-up", false))
        .await;
    let _ = svc
        .clone()
        .oneshot(request("prompts/get", "ok", true))
        .await;
    let j = stats.json();
    assert_eq!(tool(&j, "ok")["calls"], 2, "{j}");
    assert_eq!(tool(&j, "ok")["errors"], 0);
    assert_eq!(tool(&j, "fail")["errors"], 1);
    assert_eq!(tool(&j, "broken")["errors"], 1);
    assert_eq!(tool(&j, "made-up"), &Value::Null);
    assert_eq!(stats.tracked(), 3);
    assert_eq!(
        tool(&j, "ok")["p99_ms"].as_f64().map(|p| p < 1000.0),
        Some(true)
    );
}

#[tokio::test]
async fn a_dropped_call_counts_as_an_error() {
    let stats = Stats::new();
    let never = McpService::new(tower::service_fn(|_req: McpRequest| {
        std::future::pending::<Result<McpResponse, McpError>>()
    }));
    let mut svc = StatsLayer::new(stats.clone()).layer(never);
    let fut = tower::Service::call(&mut svc, request("tools/call", "hang", true));
    drop(fut);
    let j = stats.json();
    assert_eq!(tool(&j, "hang")["calls"], 1);
    assert_eq!(tool(&j, "hang")["errors"], 1);
}
