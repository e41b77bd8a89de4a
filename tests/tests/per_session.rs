//! `session_mode: per_session` (issue 12.1): each client session gets its own connection to the
//! upstream — here its own child process (the fault-server's `pid` tool says which) — made on
//! the session's first call, kept for the session, stopped when the session ends, and bounded
//! by `max_sessions`. What the upstream sends during a call then reaches its own client even
//! from a stdio server: sampling and elicitation from server-everything on stdio are answered
//! by the Python SDK's callbacks.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use toolgate_tests::{
    GatewayConfig, Upstream, error_code, gateway_with_tools, procfs, run_python, text_of,
};

fn per_session(config: GatewayConfig, server: &str, max: Option<u32>) -> GatewayConfig {
    let config = config.server_key(server, "session_mode", "per_session");
    match max {
        Some(max) => config.server_key(server, "max_sessions", max.to_string()),
        None => config,
    }
}

async fn pid_of(session: &toolgate_tests::McpSession) -> anyhow::Result<u32> {
    text_of(&session.call_tool_ok("faulty__pid", json!({})).await?)
        .parse()
        .context("faulty__pid answers a number")
}

#[tokio::test]
async fn each_session_gets_its_own_child_for_as_long_as_it_lasts() -> anyhow::Result<()> {
    let config = per_session(
        GatewayConfig::new().server("faulty", Upstream::fault(Vec::<String>::new())?),
        "faulty",
        None,
    );
    let (gateway, first) = gateway_with_tools(&config, &["faulty__pid"]).await?;
    let second = gateway.session().await?;

    let a = pid_of(&first).await?;
    assert_eq!(pid_of(&first).await?, a, "a session keeps its connection");
    let b = pid_of(&second).await?;
    assert_ne!(a, b, "two sessions, two children");

    first.delete().await?;
    let left = procfs::wait_gone(&[a], Duration::from_secs(10)).await;
    assert!(
        left.is_empty(),
        "the child of the ended session (pid {a}) still runs"
    );
    assert_eq!(
        pid_of(&second).await?,
        b,
        "the other session's child is untouched"
    );
    Ok(())
}

#[tokio::test]
async fn past_max_sessions_a_new_session_is_told_busy_at_once() -> anyhow::Result<()> {
    let config = per_session(
        GatewayConfig::new().server("faulty", Upstream::fault(Vec::<String>::new())?),
        "faulty",
        Some(1),
    );
    let (gateway, first) = gateway_with_tools(&config, &["faulty__pid"]).await?;
    let a = pid_of(&first).await?;

    let second = gateway.session().await?;
    let busy = second.call_tool("faulty__pid", json!({})).await?;
    assert_eq!(error_code(&busy), Some(-31000), "{busy}");
    let message = busy["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("busy") && message.contains("max_sessions"),
        "the refusal says why: {message}"
    );

    first.delete().await?;
    procfs::wait_gone(&[a], Duration::from_secs(10)).await;
    // The slot is free again once the first session's connection is gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = second.call_tool("faulty__pid", json!({})).await?;
        if response.get("result").is_some() {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the second session never got a connection: {response}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// server-everything on stdio, one child per session: its sampling and elicitation requests
/// reach the Python client whose call caused them.
#[tokio::test]
async fn a_stdio_servers_sampling_reaches_its_client_per_session() -> anyhow::Result<()> {
    let config = per_session(
        GatewayConfig::new().server("everything", Upstream::everything()?),
        "everything",
        None,
    );
    let (gateway, _session) = gateway_with_tools(
        &config,
        &[
            "everything__trigger-sampling-request",
            "everything__trigger-elicitation-request",
        ],
    )
    .await?;
    run_python(
        "server_requests.py",
        [gateway.url(), "--transport", "http"],
        Duration::from_secs(60),
    )
    .await?;
    Ok(())
}
