//! Server-to-client requests through the gateway (issue 12.2), with third-party peers on both
//! sides: `@modelcontextprotocol/server-everything` as the upstream asks for sampling and
//! elicitation in the middle of a tool call, and the official Python SDK as the client answers
//! them with its callbacks — over Streamable HTTP and over legacy SSE into the gateway.

use std::time::Duration;

use serde_json::json;
use toolgate_tests::{GatewayConfig, ServerEverything, Upstream, gateway_with_tools, run_python};

const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);
const TOOLS: [&str; 2] = [
    "everything__trigger-sampling-request",
    "everything__trigger-elicitation-request",
];

#[tokio::test]
async fn sampling_and_elicitation_reach_the_python_client_over_streamable_http()
-> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let config = GatewayConfig::new().server("everything", Upstream::http(everything.url()));
    let (gateway, _session) = gateway_with_tools(&config, &TOOLS).await?;
    run_python(
        "server_requests.py",
        [gateway.url(), "--transport", "http"],
        PYTHON_TIMEOUT,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn sampling_and_elicitation_reach_the_python_client_over_legacy_sse() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let config = GatewayConfig::new().server("everything", Upstream::http(everything.url()));
    let (gateway, _session) = gateway_with_tools(&config, &TOOLS).await?;
    let sse = format!("http://{}/sse", gateway.addr());
    run_python(
        "server_requests.py",
        [sse.as_str(), "--transport", "sse"],
        PYTHON_TIMEOUT,
    )
    .await?;
    Ok(())
}

/// A client that did not declare sampling is not asked: the upstream gets -32601 with the
/// reason, and the tool reports the failure to its caller.
#[tokio::test]
async fn a_client_without_the_capability_is_not_asked() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let config = GatewayConfig::new().server("everything", Upstream::http(everything.url()));
    let (_gateway, session) = gateway_with_tools(&config, &TOOLS).await?;
    // The test client's initialize declares no capabilities.
    let response = session
        .call_tool(
            "everything__trigger-sampling-request",
            json!({"prompt": "x"}),
        )
        .await?;
    let text = response.to_string();
    anyhow::ensure!(
        text.contains("sampling") && (text.contains("-32601") || text.contains("capability")),
        "the caller learns that sampling was refused: {response}"
    );
    Ok(())
}
