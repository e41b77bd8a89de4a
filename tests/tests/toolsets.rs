//! `use: toolsets` (issue 13.6) in a gateway process over two demo-server upstreams, with
//! `use: auth` API keys: each toolset is a Streamable HTTP endpoint of its own at
//! `/mcp/toolsets/NAME` that lists and calls its tools only, a caller bound to a toolset sees
//! only it at `/mcp` too, and the toolset endpoints sit behind the same authentication.

use std::time::Duration;

use anyhow::ensure;
use serde_json::json;
use toolgate_tests::http::{McpSession, error_code, send, text_of};
use toolgate_tests::{Gateway, GatewayConfig, Upstream};

const ADMIN: &str = "admin-key-0123456789";
const BOT: &str = "bot-key-0123456789";

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

async fn session(url: &str, key: &str) -> anyhow::Result<McpSession> {
    McpSession::connect_with(url, &[("Authorization", &bearer(key))]).await
}

#[tokio::test]
async fn each_toolset_is_an_endpoint_and_a_bound_caller_sees_only_its_own() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("calc", Upstream::demo("calc")?)
        .server("text", Upstream::demo("text")?)
        .section(format!(
            "layers:
  - use: auth
    api_keys:
      - {{name: admin, key: {ADMIN}}}
      - {{name: bot, key: {BOT}}}
  - use: toolsets
    toolsets:
      math:
        description: adding and echoing
        tools: [calc__add, \"text__e*\"]
        callers: [bot]
      names:
        tools: [\"*__whoami\"]
"
        ));
    let gateway = Gateway::start_config(&config).await?;
    let base = gateway.url().trim_end_matches('/').to_owned();

    // The admin is bound to no toolset: everything at /mcp.
    let admin = session(&base, ADMIN).await?;
    let all = admin
        .wait_for_tools(
            &["calc__add", "calc__whoami", "text__echo", "text__whoami"],
            Duration::from_secs(20),
        )
        .await?;
    ensure!(all.iter().any(|t| t == "calc__sleep"), "{all:?}");

    // A toolset's own endpoint: its tools only, from both servers.
    let names = session(&format!("{base}/toolsets/names"), ADMIN).await?;
    let mut listed = names.tool_names().await?;
    listed.sort();
    ensure!(listed == ["calc__whoami", "text__whoami"], "{listed:?}");
    let who = names.call_tool_ok("text__whoami", json!({})).await?;
    ensure!(text_of(&who) == "text", "{who}");
    let outside = names
        .call_tool("calc__add", json!({"a": 1, "b": 2}))
        .await?;
    ensure!(
        error_code(&outside) == Some(-32602)
            && outside["error"]["message"] == "unknown tool: calc__add",
        "{outside}"
    );

    // The bot is bound to `math`: at /mcp it sees and calls only that.
    let bot = session(&base, BOT).await?;
    let mut listed = bot.tool_names().await?;
    listed.sort();
    ensure!(listed == ["calc__add", "text__echo"], "{listed:?}");
    let sum = bot
        .call_tool_ok("calc__add", json!({"a": 2, "b": 3}))
        .await?;
    ensure!(text_of(&sum) == "5", "{sum}");
    let refused = bot.call_tool("calc__whoami", json!({})).await?;
    ensure!(error_code(&refused) == Some(-32602), "{refused}");
    // … and another toolset's endpoint shows it what both allow: nothing.
    let both = session(&format!("{base}/toolsets/names"), BOT).await?;
    ensure!(
        both.tool_names().await?.is_empty(),
        "bound caller at another toolset"
    );

    // The toolset endpoints are behind authentication, and unknown ones are not there.
    let anonymous = send(
        http::Method::POST,
        &format!("{base}/toolsets/math"),
        None,
        &[],
        bytes::Bytes::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}})
            .to_string(),
        ),
    )
    .await?;
    ensure!(anonymous.status == 401, "{}", anonymous.describe());
    let missing = McpSession::connect_with(
        &format!("{base}/toolsets/nope"),
        &[("Authorization", &bearer(ADMIN))],
    )
    .await;
    ensure!(missing.is_err(), "an unknown toolset is not an endpoint");
    Ok(())
}
