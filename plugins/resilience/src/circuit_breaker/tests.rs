//! Unit tests of the breaker over a scripted inner service, on tokio's paused clock.

use std::time::Duration;

use toolgate::McpError;
use toolgate::error::code::UPSTREAM_UNAVAILABLE;
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::testing::{Scripted, Step, call, request};

async fn send<S>(svc: &mut S, target: &str) -> Result<(), McpError>
where
    S: Service<toolgate::McpRequest, Response = toolgate::McpResponse, Error = McpError>,
{
    svc.ready().await?.call(call(target)).await.map(|_| ())
}

fn retry_after_ms(e: &McpError) -> u64 {
    e.data()
        .and_then(|d| d["retry_after_ms"].as_u64())
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_the_circuit_and_refuse_at_once() {
    let upstream = Scripted::new([Step::Unavailable, Step::Timeout, Step::Unavailable]);
    let layer = CircuitBreakerLayer::new()
        .consecutive_failures(3)
        .open_for(Duration::from_secs(5));
    let mut svc = layer.layer(upstream.clone());

    for _ in 0..3 {
        assert!(send(&mut svc, "demo__x").await.is_err());
    }
    assert_eq!(upstream.calls(), 3);
    assert!(matches!(
        layer.state("demo", None),
        Some(CircuitState::Open { .. })
    ));

    let e = send(&mut svc, "demo__x")
        .await
        .expect_err("open circuit refuses");
    assert_eq!(
        upstream.calls(),
        3,
        "a refused request never reaches the upstream"
    );
    assert_eq!(e.code(), UPSTREAM_UNAVAILABLE);
    assert!(e.is_retryable(), "{e:?}");
    let data = e.data().cloned().unwrap_or_default();
    assert_eq!(data["reason"], "circuit_open");
    assert_eq!(data["upstream"], "demo");
    assert_eq!(retry_after_ms(&e), 5000);
    assert!(
        e.message().contains("circuit open for upstream 'demo'")
            && e.message().contains("3 failures in a row")
            && e.message().contains("exited mid-call"),
        "{}",
        e.message()
    );
    // Another upstream's circuit is its own.
    assert!(send(&mut svc, "other__x").await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn answers_of_any_kind_reset_the_count() {
    let upstream = Scripted::new([
        Step::Unavailable,
        Step::Unavailable,
        Step::UpstreamError,
        Step::Unavailable,
        Step::Unavailable,
        Step::Answer,
    ]);
    let layer = CircuitBreakerLayer::new().consecutive_failures(3);
    let mut svc = layer.layer(upstream.clone());
    for _ in 0..6 {
        let _ = send(&mut svc, "demo__x").await;
    }
    assert_eq!(layer.state("demo", None), Some(CircuitState::Closed));
    assert_eq!(upstream.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_successful_probe_closes_and_a_failed_one_doubles_the_wait() {
    let upstream = Scripted::new([Step::Unavailable, Step::Unavailable]);
    let layer = CircuitBreakerLayer::new()
        .consecutive_failures(2)
        .open_for(Duration::from_secs(1))
        .max_open_for(Duration::from_secs(3));
    let mut svc = layer.layer(upstream.clone());
    for _ in 0..2 {
        let _ = send(&mut svc, "demo__x").await;
    }
    tokio::time::advance(Duration::from_millis(1001)).await;
    // Half-open: the probe fails, the circuit opens for 2 s.
    upstream.push([Step::Unavailable]);
    assert!(send(&mut svc, "demo__x").await.is_err());
    assert_eq!(upstream.calls(), 3);
    let e = send(&mut svc, "demo__x").await.expect_err("open again");
    assert_eq!(retry_after_ms(&e), 2000);
    assert!(
        e.message().contains("a probe failed too"),
        "{}",
        e.message()
    );
    // Fails again: 3 s, the cap.
    tokio::time::advance(Duration::from_millis(2001)).await;
    upstream.push([Step::Unavailable]);
    let _ = send(&mut svc, "demo__x").await;
    let e = send(&mut svc, "demo__x").await.expect_err("open again");
    assert_eq!(retry_after_ms(&e), 3000);
    // Then a probe gets through and closes it; the next opening is back to 1 s.
    tokio::time::advance(Duration::from_millis(3001)).await;
    assert!(send(&mut svc, "demo__x").await.is_ok());
    assert_eq!(layer.state("demo", None), Some(CircuitState::Closed));
    upstream.push([Step::Unavailable, Step::Unavailable]);
    let _ = send(&mut svc, "demo__x").await;
    let _ = send(&mut svc, "demo__x").await;
    let e = send(&mut svc, "demo__x").await.expect_err("open");
    assert_eq!(retry_after_ms(&e), 1000);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_one_probe_through_and_refuses_the_rest() {
    let upstream = Scripted::new([
        Step::Unavailable,
        Step::SlowAnswer(Duration::from_millis(500)),
    ]);
    let layer = CircuitBreakerLayer::new()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(1));
    let svc = layer.layer(upstream.clone());
    let _ = send(&mut svc.clone(), "demo__x").await;
    tokio::time::advance(Duration::from_millis(1001)).await;

    let probe = tokio::spawn(svc.clone().oneshot(call("demo__x")));
    tokio::task::yield_now().await;
    let e = svc
        .clone()
        .oneshot(call("demo__x"))
        .await
        .expect_err("refused while probing");
    assert_eq!(
        e.data().map(|d| d["circuit"].clone()),
        Some("half_open".into())
    );
    assert!(probe.await.map(|r| r.is_ok()).unwrap_or(false));
    assert_eq!(layer.state("demo", None), Some(CircuitState::Closed));
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_its_slot() {
    let upstream = Scripted::new([Step::Unavailable, Step::SlowAnswer(Duration::from_secs(60))]);
    let layer = CircuitBreakerLayer::new()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(1));
    let mut svc = layer.layer(upstream.clone());
    let _ = send(&mut svc, "demo__x").await;
    tokio::time::advance(Duration::from_millis(1001)).await;
    {
        let probe = svc.ready().await.map(|s| s.call(call("demo__x")));
        drop(probe);
    }
    // The caller went away: the next request is the probe.
    assert!(send(&mut svc, "demo__x").await.is_ok());
    assert_eq!(upstream.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failure_rate_opens_it_without_a_streak() {
    // Fail, answer, fail, answer …: never two in a row, but half of them.
    let steps = (0..20).map(|i| {
        if i % 2 == 0 {
            Step::Unavailable
        } else {
            Step::Answer
        }
    });
    let upstream = Scripted::new(steps);
    let layer = CircuitBreakerLayer::new()
        .consecutive_failures(5)
        .failure_rate(0.5, Duration::from_secs(10), 10);
    let mut svc = layer.layer(upstream.clone());
    let mut refused = None;
    for i in 0..20 {
        if let Err(e) = send(&mut svc, "demo__x").await
            && e.data().is_some_and(|d| d["reason"] == "circuit_open")
        {
            refused = Some(i);
            break;
        }
    }
    // The 11th request (a failure, the 6th of 11) opens it; the 12th is refused.
    assert_eq!(refused, Some(11), "calls: {}", upstream.calls());
}

#[tokio::test(start_paused = true)]
async fn old_failures_leave_the_window() {
    let upstream = Scripted::new((0..10).map(|_| Step::Unavailable));
    let layer = CircuitBreakerLayer::new()
        .consecutive_failures(100)
        .failure_rate(0.5, Duration::from_secs(10), 10);
    let mut svc = layer.layer(upstream.clone());
    for _ in 0..9 {
        let _ = send(&mut svc, "demo__x").await;
    }
    tokio::time::advance(Duration::from_secs(11)).await;
    let _ = send(&mut svc, "demo__x").await;
    assert_eq!(layer.state("demo", None), Some(CircuitState::Closed));
}

#[tokio::test(start_paused = true)]
async fn cancelled_requests_and_limits_count_for_nothing_and_lists_pass() {
    let upstream = Scripted::new([]);
    let layer = CircuitBreakerLayer::new().consecutive_failures(1);
    let mut svc = layer.layer(tower::service_fn(|_req: toolgate::McpRequest| async {
        Err::<toolgate::McpResponse, _>(McpError::cancelled())
    }));
    assert!(send(&mut svc, "demo__x").await.is_err());
    assert_eq!(layer.state("demo", None), Some(CircuitState::Closed));
    // A request without a route (a list the aggregate answers) is not watched.
    let mut svc = layer.layer(upstream.clone());
    let list = request("tools/list", "", None);
    assert!(svc.ready().await.map(|s| s.call(list)).is_ok());
}

#[tokio::test(start_paused = true)]
async fn per_tool_circuits_leave_the_other_tools_alone() {
    let upstream = Scripted::new([Step::Unavailable, Step::Unavailable]);
    let layer = CircuitBreakerLayer::new()
        .consecutive_failures(2)
        .per_tool(true);
    let mut svc = layer.layer(upstream.clone());
    let _ = send(&mut svc, "demo__slow").await;
    let _ = send(&mut svc, "demo__slow").await;
    assert!(send(&mut svc, "demo__slow").await.is_err());
    assert!(send(&mut svc, "demo__fast").await.is_ok());
    assert!(matches!(
        layer.state("demo", Some("slow")),
        Some(CircuitState::Open { .. })
    ));
    // The upstream as a whole stays ready; the open tool is listed.
    let check = layer.check().check("demo").expect("watched");
    assert!(check.passing, "{check:?}");
    assert_eq!(check.detail["open_tools"], serde_json::json!(["slow"]));
}

#[tokio::test(start_paused = true)]
async fn the_check_says_open_with_the_reason_and_nothing_for_unseen_upstreams() {
    let upstream = Scripted::new([Step::Timeout]);
    let layer = CircuitBreakerLayer::new()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(4));
    let check = layer.check();
    assert!(check.check("demo").is_none());
    let mut svc = layer.layer(upstream);
    let _ = send(&mut svc, "demo__x").await;
    let c = check.check("demo").expect("watched");
    assert!(!c.passing);
    assert_eq!(&*c.name, "circuit_breaker");
    assert_eq!(c.detail["state"], "open");
    assert_eq!(c.detail["retry_after_ms"], 4000);
    assert!(c.reason.contains("timed out"), "{}", c.reason);
    assert!(check.check("other").is_none());
}

#[test]
fn settings_say_what_to_write() {
    let parse = |v: serde_json::Value| {
        serde_json::from_value::<BreakerSettings>(v)
            .map_err(|e| e.to_string())
            .and_then(|s| CircuitBreakerLayer::from_settings(&s).map_err(|e| e.to_string()))
    };
    assert!(parse(serde_json::json!({})).is_ok());
    assert!(parse(serde_json::json!({"consecutive_failures": 3, "open_for": "2s", "failure_rate": 0.25, "window": "1m"})).is_ok());
    for (bad, says) in [
        (serde_json::json!({"consecutive_failures": 0}), "at least 1"),
        (serde_json::json!({"failure_rate": 1.5}), "at most 1"),
        (serde_json::json!({"probes": 0}), "probe"),
        (
            serde_json::json!({"open_for": "10s", "max_open_for": "5s"}),
            "max_open_for",
        ),
        (serde_json::json!({"open_for": "soon"}), "30s"),
        (serde_json::json!({"open_fr": "1s"}), "open_fr"),
    ] {
        let e = parse(bad.clone()).expect_err("refused");
        assert!(e.contains(says), "{bad}: {e}");
    }
}
