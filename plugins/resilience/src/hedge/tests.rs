//! Unit tests of hedging over an inner service whose latency is scripted per call, on tokio's
//! paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::value::RawValue;
use toolgate::{McpError, McpRequest, McpResponse, McpService};
use tower::{Layer, ServiceExt};

use super::*;
use crate::testing::{call, request};

/// Call number `slow` takes 10 s, the others 10 ms; each answers with its number.
fn upstream(slow: usize) -> (McpService, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let svc = McpService::new(tower::service_fn(move |_req: McpRequest| {
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let ms = if n == slow { 10_000 } else { 10 };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            RawValue::from_string(format!("{n}"))
                .map(McpResponse::new)
                .map_err(|e| McpError::internal(e.to_string()))
        }
    }));
    (svc, calls)
}

const READ_ONLY: &str = r#"{"name":"x","annotations":{"readOnlyHint":true}}"#;

async fn answer(svc: &McpService, req: McpRequest) -> String {
    svc.clone()
        .oneshot(req)
        .await
        .map(|r| r.result.get().to_owned())
        .unwrap_or_else(|e| e.message().to_owned())
}

fn layer() -> HedgeLayer {
    HedgeLayer::new()
        .min_samples(20)
        .window(Duration::from_secs(2))
}

#[tokio::test(start_paused = true)]
async fn a_slow_read_is_answered_by_its_hedge() {
    let (inner, calls) = upstream(21);
    let svc = McpService::new(layer().layer(inner));
    for _ in 0..20 {
        let _ = answer(&svc, request("resources/read", "demo__file:///a", None)).await;
    }
    // The latencies of the last full period decide: let the window turn.
    tokio::time::advance(Duration::from_millis(1001)).await;
    let started = tokio::time::Instant::now();
    let got = answer(&svc, request("resources/read", "demo__file:///a", None)).await;
    assert_eq!(got, "22", "the second copy answered");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 22);
    // A read-only tool call is hedged too.
    let (inner, _) = upstream(21);
    let svc = McpService::new(layer().layer(inner));
    for _ in 0..20 {
        let _ = answer(&svc, request("tools/call", "demo__x", Some(READ_ONLY))).await;
    }
    tokio::time::advance(Duration::from_millis(1001)).await;
    assert_eq!(
        answer(&svc, request("tools/call", "demo__x", Some(READ_ONLY))).await,
        "22"
    );
}

#[tokio::test(start_paused = true)]
async fn calls_that_may_change_something_are_never_sent_twice() {
    let (inner, calls) = upstream(21);
    let svc = McpService::new(layer().layer(inner));
    for _ in 0..20 {
        let _ = answer(&svc, call("demo__x")).await;
    }
    tokio::time::advance(Duration::from_millis(1001)).await;
    assert_eq!(
        answer(&svc, call("demo__x")).await,
        "21",
        "waited for the slow one"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 21);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_hedged_before_there_are_enough_samples() {
    let (inner, calls) = upstream(5);
    let svc = McpService::new(layer().layer(inner));
    for _ in 0..4 {
        let _ = answer(&svc, request("resources/read", "demo__file:///a", None)).await;
    }
    tokio::time::advance(Duration::from_millis(1001)).await;
    assert_eq!(
        answer(&svc, request("resources/read", "demo__file:///a", None)).await,
        "5"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn each_upstream_has_its_own_latencies() {
    let (inner, calls) = upstream(21);
    let svc = McpService::new(layer().layer(inner));
    // Twenty fast reads of another upstream do not arm the hedge for `demo`.
    for _ in 0..20 {
        let _ = answer(&svc, request("resources/read", "other__file:///a", None)).await;
    }
    tokio::time::advance(Duration::from_millis(1001)).await;
    assert_eq!(
        answer(&svc, request("resources/read", "demo__file:///a", None)).await,
        "21"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 21);
}

#[test]
fn settings_say_what_to_write() {
    let parse = |v: serde_json::Value| {
        serde_json::from_value::<HedgeSettings>(v)
            .map_err(|e| e.to_string())
            .and_then(|s| HedgeLayer::from_settings(&s).map_err(|e| e.to_string()))
    };
    assert!(
        parse(serde_json::json!({"percentile": 0.95, "window": "30s", "tools": ["search"]}))
            .is_ok()
    );
    for (bad, says) in [
        (serde_json::json!({"percentile": 1.5}), "between 0 and 1"),
        (serde_json::json!({"window": "0s"}), "30s"),
        (serde_json::json!({"percentil": 0.9}), "percentil"),
    ] {
        let e = parse(bad.clone()).expect_err("refused");
        assert!(e.contains(says), "{bad}: {e}");
    }
}
