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

/// Issue 11: a sessionless upstream (no `Mcp-Session-Id`) that answers `GET` with 404 simply
/// has no GET stream. It used to be taken for a lost session: the gateway re-initialized it
/// ten times a second, with no tools.
#[tokio::test]
async fn a_sessionless_upstream_answering_get_with_404_is_served() -> anyhow::Result<()> {
    let demo =
        DemoServer::start_http_with("sessionless", &["--stateless", "--get-not-found"]).await?;
    let config = GatewayConfig::new().server("plain", Upstream::http(demo.url()));
    let (gateway, session) = gateway_with_tools(&config, &["plain__whoami"]).await?;
    let result = session.call_tool_ok("plain__whoami", json!({})).await?;
    assert_eq!(text_of(&result), "sessionless");
    // Give a re-initialize loop time to show itself.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let result = session
        .call_tool_ok("plain__echo", json!({"message": "still"}))
        .await?;
    assert_eq!(text_of(&result), "still");
    let log = gateway.output();
    assert_eq!(
        log.matches("upstream ready").count(),
        1,
        "the upstream was initialized once:\n{log}"
    );
    assert!(log.contains("no GET stream (404)"), "{log}");
    Ok(())
}

/// Issue 11, SEP-1699: an upstream that closes a call's answer stream after its priming event
/// and serves the response on `GET` with `Last-Event-ID`: the gateway resumes after the
/// `retry:` delay and the caller gets the answer, once.
///
/// (The conformance suite's reference server has such a tool, `test_reconnection`, but the
/// TypeScript SDK under it drops a response produced while the stream is closed, so only a
/// client that reconnects within its 100 ms — ignoring the 5 s `retry:` it announces — gets
/// an answer. This upstream of our own keeps the answer until it is fetched.)
#[tokio::test]
async fn an_answer_stream_closed_early_is_resumed_with_last_event_id() -> anyhow::Result<()> {
    let upstream = toolgate_tests::resumable::ResumableServer::start(200).await?;
    let config = GatewayConfig::new().server("polling", Upstream::http(upstream.url()));
    let tool = format!("polling__{}", toolgate_tests::resumable::TOOL);
    let (_gateway, session) = gateway_with_tools(&config, &[&tool]).await?;
    for i in 0..2 {
        let message = format!("answer {i}");
        let result = session
            .call_tool_ok(&tool, json!({"message": message}))
            .await?;
        assert_eq!(text_of(&result), format!("resumed: {message}"));
    }
    assert_eq!(upstream.calls(), 2);
    assert_eq!(upstream.resumes(), 2, "one resumption per call");
    Ok(())
}
