//! Unit tests of the metrics layer and route with tower-test.

use http_body_util::BodyExt;
use tokio_test::assert_ready_ok;
use toolgate::McpError;
use toolgate::error::ErrorKind;
use toolgate::server::HttpRequest;
use tower::{Service, ServiceExt};

use super::*;
use crate::test_util::{request, response, spawn};

fn line_value(text: &str, starts: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(starts))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn requests_are_recorded_with_bounded_labels() {
    let metrics = Metrics::new().expect("metrics");
    let (mut svc, mut handle) = spawn(metrics.layer());

    for (method, params, answer) in [
        ("tools/list", "{}", Ok(response(r#"{"tools":[]}"#))),
        (
            "tools/call",
            r#"{"name":"made__up"}"#,
            Err(McpError::new(ErrorKind::RateLimited, "slow down")),
        ),
        (
            "tools/call",
            r#"{"name":"also__made__up"}"#,
            Ok(response(r#"{"content":[],"isError":true}"#)),
        ),
        ("vendor/whatever", "{}", Ok(response("{}"))),
    ] {
        assert_ready_ok!(svc.poll_ready());
        let fut = svc.call(request(method, params));
        let (_req, send) = handle.next_request().await.expect("forwarded");
        match answer {
            Ok(r) => send.send_response(r),
            Err(e) => send.send_error(e),
        }
        let _ = fut.await;
    }

    let text = metrics.render(None);
    let count = |labels: &str| {
        line_value(
            &text,
            &format!("mcp_server_operation_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(
        count(r#"error_type="",gen_ai_tool_name="",mcp_method_name="tools/list",server="""#),
        Some(1.0),
        "{text}"
    );
    // Tool names the aggregate does not know never become label values.
    assert_eq!(
        count(r#"error_type="-31002",gen_ai_tool_name="",mcp_method_name="tools/call",server="""#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(
            r#"error_type="tool_error",gen_ai_tool_name="",mcp_method_name="tools/call",server="""#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(r#"error_type="",gen_ai_tool_name="",mcp_method_name="other",server="""#),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("made__up"), "{text}");
    assert_eq!(
        line_value(
            &text,
            r#"toolgate_rate_limited_total{gen_ai_tool_name="",mcp_method_name="tools/call",server=""}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        line_value(
            &text,
            r#"toolgate_mcp_errors_total{error_type="tool_error",mcp_method_name="tools/call",server=""}"#
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn a_cancelled_request_counts_as_cancelled() {
    let metrics = Metrics::new().expect("metrics");
    let (mut svc, mut handle) = spawn(metrics.layer());
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(request("resources/read", r#"{"uri":"file:///x"}"#));
    let (_req, send) = handle.next_request().await.expect("forwarded");
    send.send_error(McpError::cancelled());
    assert!(fut.await.is_err());
    let text = metrics.render(None);
    assert!(
        text.contains(
            r#"error_type="cancelled",gen_ai_tool_name="",mcp_method_name="resources/read""#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_route_serves_prometheus_text_and_only_get() {
    let metrics = Metrics::new().expect("metrics");
    metrics
        .inner
        .upstream_up
        .with_label_values(&["demo"])
        .set(1);
    let mut route = MetricsRoute::new(metrics.clone(), None);
    let get = HttpRequest::new(
        http_body_util::Empty::new()
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    let resp = route
        .ready()
        .await
        .expect("ready")
        .call(get)
        .await
        .expect("infallible");
    assert_eq!(resp.status(), http::StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("# TYPE toolgate_upstream_up gauge"), "{text}");
    assert!(
        text.contains(r#"toolgate_upstream_up{server="demo"} 1"#),
        "{text}"
    );

    let mut post = HttpRequest::new(
        http_body_util::Empty::new()
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *post.method_mut() = http::Method::POST;
    let resp = route.call(post).await.expect("infallible");
    assert_eq!(resp.status(), http::StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn custom_buckets_are_used() {
    let metrics = Metrics::with_buckets(vec![0.5, 1.0]).expect("metrics");
    metrics.record(
        &Labels {
            method: "ping",
            server: String::new(),
            tool: String::new(),
        },
        Duration::from_millis(700),
        "",
    );
    let text = metrics.render(None);
    assert!(text.contains(r#"le="0.5"} 0"#), "{text}");
    assert!(text.contains(r#"le="1"} 1"#), "{text}");
}
