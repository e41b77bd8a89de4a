//! The example binaries for Rust users, run as real processes: `custom-stack` (a proxy composed
//! in code: API key, rate limit, tracing) and `embed-hyper` / `embed-axum` (an app that keeps its
//! own routes and mounts toolgate's MCP endpoint beside them).

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use toolgate_tests::gateway::UPSTREAM_READY_TIMEOUT;
use toolgate_tests::http::{PROTOCOL_VERSION, post, send, text_of};
use toolgate_tests::otlp::{Collector, KIND_CLIENT, KIND_SERVER};
use toolgate_tests::process::ChildProcess;
use toolgate_tests::{McpSession, STARTUP_TIMEOUT, paths};

const KEY: &str = "k3y-for-tests";

/// Starts example `name` on a free loopback port, exporting spans to `collector`; returns the
/// process and the URL it printed.
async fn start(
    name: &str,
    args: &[&str],
    collector: &Collector,
) -> anyhow::Result<(ChildProcess, String)> {
    let mut command = Command::new(paths::binary(name)?);
    command
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("OTEL_SERVICE_NAME", name);
    let mut process = ChildProcess::spawn(name, command)?;
    let url = process
        .wait_for_listening(&format!("{name} listening on "), STARTUP_TIMEOUT)
        .await?;
    Ok((process, url))
}

/// `initialize` + `notifications/initialized` with `headers`; returns the session id.
async fn connect_with(url: &str, headers: &[(&str, &str)]) -> anyhow::Result<String> {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
        "clientInfo": {"name": "toolgate-tests", "version": "1"}}});
    let resp = post(url, None, headers, init.to_string()).await?;
    anyhow::ensure!(resp.status == StatusCode::OK, "{}", resp.describe());
    let id = resp.session_id().context("no session id")?.to_owned();
    let ack = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let mut all = vec![("mcp-protocol-version", PROTOCOL_VERSION)];
    all.extend_from_slice(headers);
    let resp = post(url, Some(&id), &all, ack.to_string()).await?;
    anyhow::ensure!(resp.status == StatusCode::ACCEPTED, "{}", resp.describe());
    Ok(id)
}

/// `tools/call` of `demo__echo` in session `id` with `headers`; returns the JSON-RPC response.
async fn echo(url: &str, id: &str, headers: &[(&str, &str)], n: i64) -> anyhow::Result<Value> {
    let body = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
        "params": {"name": "demo__echo", "arguments": {"message": format!("call {n}")}}});
    let mut all = vec![("mcp-protocol-version", PROTOCOL_VERSION)];
    all.extend_from_slice(headers);
    let resp = post(url, Some(id), &all, body.to_string()).await?;
    anyhow::ensure!(resp.status == StatusCode::OK, "{}", resp.describe());
    resp.json()
}

#[tokio::test]
async fn custom_stack_requires_the_key_limits_calls_and_traces() -> anyhow::Result<()> {
    let collector = Collector::start().await?;
    let (process, url) = start(
        "custom-stack",
        &["--api-key", KEY, "--calls-per-minute", "2"],
        &collector,
    )
    .await?;

    // No key, or a wrong one: 401 with a challenge, before any MCP.
    for headers in [vec![], vec![("x-api-key", "wrong")]] {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}});
        let resp = post(&url, None, &headers, init.to_string()).await?;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{}", resp.describe());
        let challenge = resp.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer realm=\"toolgate\""),
            "{}",
            resp.describe()
        );
    }

    // With the key (either header): MCP works, up to two calls a minute.
    let auth = format!("Bearer {KEY}");
    let id = connect_with(&url, &[("authorization", &auth)]).await?;
    let with_key = [("x-api-key", KEY)];
    let first = echo(&url, &id, &with_key, 1).await?;
    assert_eq!(text_of(&first["result"]), "call 1", "{first}");
    let second = echo(&url, &id, &with_key, 2).await?;
    assert_eq!(text_of(&second["result"]), "call 2", "{second}");
    let third = echo(&url, &id, &with_key, 3).await?;
    assert_eq!(third["error"]["code"], -31002, "{third}");
    // 2/min: the next call is up to 30 s away.
    assert!(
        third["error"]["data"]["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| (1..=30_000).contains(&ms)),
        "{third}"
    );
    assert_eq!(third["error"]["data"]["limit"], "2/min", "{third}");

    // Every call was traced, the rejected one as an error, each forwarded one with a child.
    let spans = collector
        .wait_for("three server spans", Duration::from_secs(15), |spans| {
            spans
                .iter()
                .filter(|s| s.kind == KIND_SERVER && s.name == "tools/call demo__echo")
                .count()
                >= 3
        })
        .await
        .with_context(|| process.output())?;
    assert!(spans.iter().all(|s| s.service == "custom-stack"));
    let limited: Vec<_> = spans
        .iter()
        .filter(|s| s.attr("error.type") == Some("-31002"))
        .collect();
    assert_eq!(limited.len(), 1, "{spans:#?}");
    for server in spans
        .iter()
        .filter(|s| s.kind == KIND_SERVER && s.attr("error.type").is_none())
    {
        assert!(
            spans
                .iter()
                .any(|c| c.kind == KIND_CLIENT && c.parent_span_id == server.span_id),
            "no upstream span under {server:?}"
        );
    }
    Ok(())
}

/// Checks an embedding app: its own route, MCP through the mounted endpoint, the metrics
/// route, its own 404, and spans.
async fn check_embedding(name: &str, hello: &str) -> anyhow::Result<()> {
    let collector = Collector::start().await?;
    let (process, base) = start(name, &[], &collector).await?;
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move { send(Method::GET, &url, None, &[], Bytes::new()).await }
    };

    let own = get("/hello").await?;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.text(), hello);

    let session = McpSession::connect(&format!("{base}/mcp"))
        .await
        .with_context(|| process.output())?;
    session
        .wait_for_tools(&["demo__echo"], UPSTREAM_READY_TIMEOUT)
        .await?;
    let result = session
        .call_tool_ok("demo__echo", json!({"message": "through the app"}))
        .await?;
    assert_eq!(text_of(&result), "through the app");

    let metrics = get("/metrics").await?;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.describe());
    assert!(
        metrics.text().contains(
            r#"mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="demo__echo",mcp_method_name="tools/call",server="demo"} 1"#
        ),
        "{}",
        metrics.text()
    );

    assert_eq!(get("/elsewhere").await?.status, StatusCode::NOT_FOUND);

    collector
        .wait_for("the tool call's span", Duration::from_secs(15), |spans| {
            spans
                .iter()
                .any(|s| s.service == name && s.name == "tools/call demo__echo")
        })
        .await
        .with_context(|| process.output())?;
    Ok(())
}

#[tokio::test]
async fn embed_hyper_keeps_its_routes_and_serves_mcp() -> anyhow::Result<()> {
    check_embedding("embed-hyper", "hello from the hyper app\n").await
}

#[tokio::test]
async fn embed_axum_keeps_its_routes_and_serves_mcp() -> anyhow::Result<()> {
    check_embedding("embed-axum", "hello from the axum app\n").await
}

#[tokio::test]
async fn embed_axum_nests_the_gateway_and_streams_large_answers() -> anyhow::Result<()> {
    let collector = Collector::start().await?;
    let (process, base) = start("embed-axum", &[], &collector).await?;
    // Mounted under /gw: every route is relative to the mount point.
    let session = McpSession::connect(&format!("{base}/gw/mcp"))
        .await
        .with_context(|| process.output())?;
    session
        .wait_for_tools(&["demo__echo"], UPSTREAM_READY_TIMEOUT)
        .await?;
    // A 1 MiB request body streams in and its answer streams out as SSE (a progress token
    // asks for a stream), through axum's own body types, nothing buffered by the app.
    let big = "x".repeat(1024 * 1024);
    let exchange = session
        .call_tool_with_progress("demo__echo", json!({"message": big}), json!("big"))
        .await?;
    assert!(exchange.http.is_sse(), "{}", exchange.http.status);
    assert_eq!(text_of(exchange.result()?).len(), big.len());
    // Legacy SSE under the mount names its POST URL relative to the stream.
    let mut legacy = toolgate_tests::LegacySession::open(&format!("{base}/gw/sse")).await?;
    assert!(
        legacy.endpoint().contains("/gw/messages?session_id="),
        "{}",
        legacy.endpoint()
    );
    legacy.initialize().await?;
    let listed = legacy.request("tools/list", None).await?;
    assert!(
        toolgate_tests::result_of(&listed)?["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "tools through the nested legacy endpoint: {listed}"
    );
    let metrics = send(
        Method::GET,
        &format!("{base}/gw/metrics"),
        None,
        &[],
        Bytes::new(),
    )
    .await?;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.describe());
    Ok(())
}
