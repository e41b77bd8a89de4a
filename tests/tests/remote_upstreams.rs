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

/// Issue 16: an upstream that answers over SSE (server-everything, Express) must not cost a new
/// TCP connection per call. Dropping an SSE answer before its end closed the connection; the
/// gateway now reads it to the end in the background and the connection is reused.
#[tokio::test]
async fn sequential_calls_to_an_sse_answering_upstream_reuse_connections() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{}", everything.port()).parse()?;
    let counter = toolgate_tests::tcp_counter::TcpCounter::start(upstream).await?;
    let url = format!("http://{}/mcp", counter.addr());
    let config = GatewayConfig::new().server("everything", Upstream::http(url));
    let (_gateway, session) = gateway_with_tools(&config, &["everything__echo"]).await?;
    let before = counter.accepted();
    for i in 0..200 {
        let message = format!("call {i}");
        let result = session
            .call_tool_ok("everything__echo", json!({"message": message}))
            .await?;
        assert_eq!(text_of(&result), format!("Echo: {message}"));
    }
    let opened = counter.accepted() - before;
    eprintln!("upstream connections opened for 200 calls: {opened}");
    // A handful, not one per call: the pool keeps a few (the GET stream holds one of its own).
    assert!(
        opened <= 5,
        "the gateway opened {opened} upstream connections for 200 sequential calls"
    );
    Ok(())
}
