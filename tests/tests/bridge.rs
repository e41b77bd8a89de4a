//! The `bridge` binary: one stdio MCP server served over HTTP (`bridge serve`), and one remote
//! MCP server served on stdio (`bridge connect`). Tool names pass through unchanged.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use toolgate_tests::bridge::connect_args;
use toolgate_tests::recorder::Recorder;
use toolgate_tests::{BridgeConnect, BridgeServe, DemoServer, ServerEverything, run_python};

const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn bridge_serves_a_stdio_server_over_streamable_http_and_sse() -> anyhow::Result<()> {
    let bridge = BridgeServe::demo("bridged").await?;
    // Unprefixed: `echo`, not `demo__echo`.
    run_python(
        "http_list_and_call.py",
        [bridge.url(), "--echo-tool", "echo"],
        PYTHON_TIMEOUT,
    )
    .await?;
    run_python(
        "sse_list_and_call.py",
        [bridge.sse_url().as_str(), "--echo-tool", "echo"],
        PYTHON_TIMEOUT,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn bridge_connects_a_remote_server_to_stdio() -> anyhow::Result<()> {
    let demo = DemoServer::start_http("remote").await?;
    let mut args = vec!["--echo-tool".into(), "echo".into(), "--".into()];
    args.extend(connect_args(demo.url(), Vec::<String>::new())?);
    run_python("stdio_list_and_call.py", args, PYTHON_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn bridge_connects_a_legacy_sse_server_to_stdio() -> anyhow::Result<()> {
    let everything = ServerEverything::start_sse().await?;
    let mut args = vec![
        "--echo-tool".into(),
        "echo".into(),
        "--message".into(),
        "over the bridge".into(),
        "--expect".into(),
        "Echo: over the bridge".into(),
        "--".into(),
    ];
    args.extend(connect_args(&everything.url(), Vec::<String>::new())?);
    run_python("stdio_list_and_call.py", args, PYTHON_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn bridge_passes_headers_from_the_environment() -> anyhow::Result<()> {
    // A stand-in upstream that records what it is sent and refuses everything with 500 (not
    // 400/404/405, so the bridge has no reason to fall back to legacy SSE).
    let upstream = Recorder::start(StatusCode::INTERNAL_SERVER_ERROR).await?;
    let mut bridge = BridgeConnect::start(
        &upstream.url("/mcp"),
        [
            "--header",
            "Authorization: Bearer ${TOOLGATE_TEST_TOKEN}",
            "--header",
            "X-Static: plain value",
        ],
        &[("TOOLGATE_TEST_TOKEN", "s3cret-from-the-env")],
    )?;
    // In case the bridge connects only once its stdio client speaks.
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "toolgate-tests", "version": "0"}}});
    if let Err(e) = bridge.send(&initialize) {
        // It may have given up on the refusing upstream already; the recorder has the verdict.
        eprintln!("could not write to bridge connect: {e:#}");
    }
    let first = upstream
        .wait_for(Method::POST, Duration::from_secs(15))
        .await
        .map_err(|e| e.context(format!("bridge output:\n{}", bridge.output())))?;
    assert_eq!(
        first.header("authorization"),
        Some("Bearer s3cret-from-the-env"),
        "Authorization of the first POST; all requests: {:?}",
        upstream.requests()
    );
    assert_eq!(first.header("x-static"), Some("plain value"));
    // Every request carries it, none carries the unexpanded text.
    for request in upstream.requests() {
        assert_eq!(
            request.header("authorization"),
            Some("Bearer s3cret-from-the-env"),
            "{} {}",
            request.method,
            request.uri
        );
    }
    Ok(())
}
