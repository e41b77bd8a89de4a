//! Remote upstreams (`url` + `transport`): servers the gateway reaches over Streamable HTTP and
//! legacy HTTP+SSE instead of starting them.

use serde_json::json;
use toolgate_tests::{
    DemoServer, GatewayConfig, ServerEverything, Upstream, gateway_with_tools, text_of,
};

#[tokio::test]
async fn demo_server_over_streamable_http_is_an_upstream() -> anyhow::Result<()> {
    let demo = DemoServer::start_http("remote").await?;
    let config = GatewayConfig::new().server("remote", Upstream::http(demo.url()));
    let (_gateway, session) = gateway_with_tools(&config, &["remote__whoami"]).await?;
    let result = session.call_tool_ok("remote__whoami", json!({})).await?;
    assert_eq!(text_of(&result), "remote");
    Ok(())
}

#[tokio::test]
async fn server_everything_over_streamable_http_is_an_upstream() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let config = GatewayConfig::new().server("everything", Upstream::http(everything.url()));
    let (_gateway, session) = gateway_with_tools(&config, &["everything__echo"]).await?;
    let result = session
        .call_tool_ok("everything__echo", json!({"message": "over http"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: over http");
    Ok(())
}

#[tokio::test]
async fn server_everything_over_legacy_sse_is_an_upstream() -> anyhow::Result<()> {
    let everything = ServerEverything::start_sse().await?;
    let config = GatewayConfig::new().server("everything", Upstream::sse(everything.url()));
    let (_gateway, session) = gateway_with_tools(&config, &["everything__echo"]).await?;
    let result = session
        .call_tool_ok("everything__echo", json!({"message": "over sse"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: over sse");
    Ok(())
}
