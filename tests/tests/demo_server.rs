//! demo-server on its own (Streamable HTTP): the peer most gateway tests stand on behaves as
//! documented, with the official Python SDK and with the raw client.

use std::time::Duration;

use anyhow::ensure;
use serde_json::json;
use toolgate_tests::{DemoServer, McpSession, result_of, run_python, text_of};

#[tokio::test]
async fn demo_server_serves_the_python_sdk_over_http() -> anyhow::Result<()> {
    let demo = DemoServer::start_http("solo").await?;
    let args = [demo.url(), "--echo-tool", "echo"];
    run_python("http_list_and_call.py", args, Duration::from_secs(60)).await?;
    Ok(())
}

#[tokio::test]
async fn demo_server_tools_behave_as_documented() -> anyhow::Result<()> {
    let demo = DemoServer::start_http("solo").await?;
    let session = McpSession::connect(demo.url()).await?;

    let names = session.tool_names().await?;
    for tool in [
        "echo",
        "add",
        "sleep",
        "fail",
        "crash",
        "toggle_extra",
        "whoami",
    ] {
        ensure!(names.iter().any(|n| n == tool), "{tool} in {names:?}");
    }

    let whoami = session.call_tool_ok("whoami", json!({})).await?;
    assert_eq!(text_of(&whoami), "solo");

    let sum = session.call_tool_ok("add", json!({"a": 2, "b": 3})).await?;
    assert_eq!(sum["structuredContent"]["sum"], 5, "{sum}");

    let failed = session
        .call_tool("fail", json!({"message": "on purpose"}))
        .await?;
    let failed = result_of(&failed)?;
    assert_eq!(failed["isError"], true, "{failed}");

    let exchange = session
        .call_tool_with_progress(
            "sleep",
            json!({"ms": 300, "steps": 3}),
            json!("demo-progress"),
        )
        .await?;
    ensure!(
        !exchange.notifications("notifications/progress").is_empty(),
        "sleep with a progressToken sends progress: {:?}",
        exchange.messages
    );
    assert_eq!(text_of(exchange.result()?), "slept 300ms");

    let prompts = session
        .list_names("prompts/list", "prompts", "name")
        .await?;
    ensure!(prompts.iter().any(|p| p == "greet"), "{prompts:?}");
    Ok(())
}
