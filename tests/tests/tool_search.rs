//! `use: tool_search` (issue 13.6) in a gateway process over two real upstreams: the list is
//! the two meta-tools, a search by words finds the right tool with its schema, `call_tool`
//! runs it through the gateway like a direct call, and the layers after `tool_search` decide
//! what can be found.

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use toolgate_tests::{GatewayConfig, Upstream, result_of, text_of};

async fn search(session: &toolgate_tests::McpSession, query: &str) -> anyhow::Result<Vec<String>> {
    let found = session
        .call_tool_ok("search_tools", json!({"query": query, "limit": 5}))
        .await?;
    Ok(found["structuredContent"]["tools"]
        .as_array()
        .context("structuredContent.tools")?
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect())
}

#[tokio::test]
async fn a_large_catalog_is_searched_and_called_through_two_meta_tools() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .server("faulty", Upstream::fault::<[&str; 0], &str>([])?)
        .section(
            "layers:\n  - use: tool_search\n  - use: tool_filter\n    servers:\n      faulty:\n        deny: [exit]\n",
        );
    let gateway = toolgate_tests::Gateway::start_config(&config).await?;
    gateway
        .wait_upstream("faulty", "ready", std::time::Duration::from_secs(20))
        .await?;
    gateway
        .wait_upstream("demo", "ready", std::time::Duration::from_secs(20))
        .await?;
    let session = gateway.session().await?;

    let names = session.tool_names().await?;
    ensure!(names == ["search_tools", "call_tool"], "{names:?}");

    let found = search(&session, "echo a message back").await?;
    ensure!(
        found.first().is_some_and(|n| n.ends_with("__echo")),
        "the echo tools come first: {found:?}"
    );
    let lookup = search(&session, "look something up").await?;
    ensure!(
        lookup.first().map(String::as_str) == Some("faulty__lookup"),
        "{lookup:?}"
    );
    // The tool filter after tool_search hides `exit`: it cannot be found.
    let exit = search(&session, "exit the process").await?;
    ensure!(!exit.iter().any(|n| n == "faulty__exit"), "{exit:?}");

    // Called through the meta-tool, governed like a direct call.
    let echoed = session
        .call_tool_ok(
            "call_tool",
            json!({"name": "faulty__echo", "arguments": {"message": "via search"}}),
        )
        .await?;
    ensure!(text_of(&echoed) == "via search", "{echoed}");
    let denied = session
        .call_tool(
            "call_tool",
            json!({"name": "faulty__exit", "arguments": {"after_ms": 0}}),
        )
        .await?;
    ensure!(
        denied["error"]["code"] == -32602,
        "a filtered tool cannot be called through call_tool either: {denied}"
    );
    let missing = session.call_tool("search_tools", json!({})).await?;
    let message = missing["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        missing["error"]["code"] == -32602 && message.contains("arguments.query"),
        "{missing}"
    );
    // A direct call of a catalog name still works.
    let direct: Value = session
        .call_tool("faulty__echo", json!({"message": "direct"}))
        .await?;
    ensure!(text_of(result_of(&direct)?) == "direct", "{direct}");
    Ok(())
}
