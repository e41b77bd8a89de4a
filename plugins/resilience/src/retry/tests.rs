//! Unit tests of the retry policy over a scripted inner service, on tokio's paused clock.

use std::time::Duration;

use toolgate::{McpError, McpRequest, McpResponse};
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::CircuitBreakerLayer;
use crate::testing::{Scripted, Step, call, request};

async fn send<S>(svc: &mut S, req: McpRequest) -> Result<McpResponse, McpError>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    svc.ready().await?.call(req).await
}

const IDEMPOTENT: &str = r#"{"name":"x","annotations":{"idempotentHint":true}}"#;
const READ_ONLY: &str = r#"{"name":"x","annotations":{"readOnlyHint":true}}"#;
const PLAIN: &str = r#"{"name":"x","inputSchema":{"type":"object"}}"#;

#[tokio::test(start_paused = true)]
async fn a_safe_request_is_sent_again_after_the_upstream_failed() {
    for req in [
        || request("resources/read", "demo__file:///a", None),
        || request("prompts/get", "demo__p", None),
        || request("tools/call", "demo__x", Some(IDEMPOTENT)),
        || request("tools/call", "demo__x", Some(READ_ONLY)),
    ] {
        let upstream = Scripted::new([Step::Unavailable, Step::Unavailable]);
        let mut svc = RetryLayer::new().max_retries(2).layer(upstream.clone());
        let started = tokio::time::Instant::now();
        assert!(send(&mut svc, req()).await.is_ok());
        assert_eq!(upstream.calls(), 3);
        // Backed off 50 ms, then 100 ms, plus jitter.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert!(waited <= Duration::from_millis(225), "{waited:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn tool_calls_that_may_not_be_repeated_are_not() {
    let upstream = Scripted::new([Step::Unavailable]);
    let mut svc = RetryLayer::new().layer(upstream.clone());
    assert!(
        send(&mut svc, request("tools/call", "demo__x", Some(PLAIN)))
            .await
            .is_err()
    );
    assert_eq!(upstream.calls(), 1);
    // Unless the settings name the tool …
    let upstream = Scripted::new([Step::Unavailable]);
    let mut svc = RetryLayer::new()
        .idempotent_tool("x")
        .layer(upstream.clone());
    assert!(send(&mut svc, call("demo__x")).await.is_ok());
    assert_eq!(upstream.calls(), 2);
    // … and hints count only when trusted.
    let upstream = Scripted::new([Step::Unavailable]);
    let mut svc = RetryLayer::new()
        .trust_annotations(false)
        .layer(upstream.clone());
    assert!(
        send(&mut svc, request("tools/call", "demo__x", Some(READ_ONLY)))
            .await
            .is_err()
    );
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn only_failures_that_may_pass_are_retried() {
    // The upstream's own error, and a timeout (it may still be running): not retried.
    for step in [Step::UpstreamError, Step::Timeout] {
        let upstream = Scripted::new([step]);
        let mut svc = RetryLayer::new().layer(upstream.clone());
        assert!(
            send(&mut svc, request("resources/read", "demo__r", None))
                .await
                .is_err()
        );
        assert_eq!(upstream.calls(), 1);
    }
    // Timeouts when asked.
    let upstream = Scripted::new([Step::Timeout]);
    let mut svc = RetryLayer::new()
        .retry_timeouts(true)
        .layer(upstream.clone());
    assert!(
        send(&mut svc, request("resources/read", "demo__r", None))
            .await
            .is_ok()
    );
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_retries_with_the_last_error() {
    let upstream = Scripted::new((0..10).map(|_| Step::Unavailable));
    let mut svc = RetryLayer::new().max_retries(3).layer(upstream.clone());
    let e = send(&mut svc, request("prompts/get", "demo__p", None))
        .await
        .expect_err("still failing");
    assert_eq!(upstream.calls(), 4);
    assert!(e.message().contains("exited mid-call"), "{}", e.message());
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_retries_in_an_outage() {
    // No floor, 10 % of requests: 100 failing requests may add about 10 retries, not 200.
    let upstream = Scripted::new((0..1000).map(|_| Step::Unavailable));
    let mut svc = RetryLayer::new()
        .max_retries(2)
        .budget(0.1, 0)
        .layer(upstream.clone());
    for _ in 0..100 {
        let _ = send(&mut svc, request("resources/read", "demo__r", None)).await;
    }
    let retries = upstream.calls() - 100;
    assert!(retries <= 11, "{retries} retries for 100 requests");
    assert!(retries >= 5, "the budget allows some: {retries}");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_caller_is_not_retried_for() {
    let upstream = Scripted::new([Step::Unavailable]);
    let mut svc = RetryLayer::new().layer(upstream.clone());
    let req = request("resources/read", "demo__r", None);
    req.ctx.cancel.cancel();
    assert!(send(&mut svc, req).await.is_err());
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_is_not_retried_into() {
    let upstream = Scripted::new((0..10).map(|_| Step::Unavailable));
    let breaker = CircuitBreakerLayer::new().consecutive_failures(1);
    let mut svc = RetryLayer::new()
        .max_retries(5)
        .layer(breaker.layer(upstream.clone()));
    let e = send(&mut svc, request("resources/read", "demo__r", None))
        .await
        .expect_err("open");
    assert_eq!(upstream.calls(), 1, "the first failure opened the circuit");
    assert_eq!(
        e.data().map(|d| d["reason"].clone()),
        Some("circuit_open".into())
    );
}

#[test]
fn settings_say_what_to_write() {
    let parse = |v: serde_json::Value| {
        serde_json::from_value::<RetrySettings>(v)
            .map_err(|e| e.to_string())
            .and_then(|s| RetryLayer::from_settings(&s).map_err(|e| e.to_string()))
    };
    assert!(parse(serde_json::json!({})).is_ok());
    assert!(parse(serde_json::json!({"max_retries": 3, "initial_backoff": "100ms", "budget": {"ratio": 0.1, "window": "30s"}, "idempotent_tools": ["search"]})).is_ok());
    for (bad, says) in [
        (
            serde_json::json!({"initial_backoff": "2s", "max_backoff": "1s"}),
            "max_backoff",
        ),
        (serde_json::json!({"jitter": 2}), "from 0 to 1"),
        (serde_json::json!({"budget": {"ratio": -1}}), "budget.ratio"),
        (serde_json::json!({"budget": {"window": "2m"}}), "1s to 60s"),
        (serde_json::json!({"max_retries": -1}), "expected u32"),
        (serde_json::json!({"retries": 2}), "retries"),
    ] {
        let e = parse(bad.clone()).expect_err("refused");
        assert!(e.contains(says), "{bad}: {e}");
    }
}
