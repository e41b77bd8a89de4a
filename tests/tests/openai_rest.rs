//! The REST tool endpoints (`/mcp-rest/tools/…` and `/mcp/tools/…`, LiteLLM's shapes) on a
//! running gateway with demo-server upstreams.

use anyhow::Context as _;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use toolgate_tests::gateway::gateway_with_tools;
use toolgate_tests::http::{HttpResponse, post, send};
use toolgate_tests::{Gateway, GatewayConfig, Upstream, demo_gateway};

fn base(gateway: &Gateway) -> String {
    format!("http://{}", gateway.addr())
}

async fn get(url: &str) -> anyhow::Result<HttpResponse> {
    send(Method::GET, url, None, &[], "").await
}

fn tool<'a>(tools: &'a Value, name: &str) -> anyhow::Result<&'a Value> {
    tools
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|t| t["name"] == name || t["function"]["name"] == name)
        })
        .with_context(|| format!("no tool {name} in {tools}"))
}

#[tokio::test]
async fn rest_list_shows_mcp_tools_with_their_server() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    for prefix in ["/mcp-rest", "/mcp"] {
        let resp = get(&format!("{}{prefix}/tools/list", base(&gateway))).await?;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
        let body = resp.json()?;
        assert_eq!(body["error"], Value::Null);
        assert_eq!(body["message"], "Successfully retrieved tools");
        let echo = tool(&body["tools"], "demo__echo")?;
        assert_eq!(
            echo["mcp_info"],
            json!({"server_name": "demo", "original_name": "echo"})
        );
        assert_eq!(
            echo["inputSchema"]["properties"]["message"]["type"],
            "string"
        );
    }
    Ok(())
}

#[tokio::test]
async fn rest_list_in_openai_format_gives_function_tools() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let resp = get(&format!(
        "{}/mcp-rest/tools/list?format=openai",
        base(&gateway)
    ))
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    let body = resp.json()?;
    let echo = tool(&body["tools"], "demo__echo")?;
    assert_eq!(echo["type"], "function");
    assert_eq!(echo["function"]["parameters"]["type"], "object");
    assert_eq!(
        echo["function"]["parameters"]["properties"]["message"]["type"],
        "string"
    );
    assert!(echo.get("mcp_info").is_none(), "{echo}");
    Ok(())
}

#[tokio::test]
async fn rest_list_filters_by_server_id() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .server("other", Upstream::demo("other")?);
    let (gateway, _session) = gateway_with_tools(&config, &["demo__echo", "other__echo"]).await?;
    let resp = get(&format!(
        "{}/mcp-rest/tools/list?server_id=other",
        base(&gateway)
    ))
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    let names: Vec<String> = resp.json()?["tools"]
        .as_array()
        .context("tools")?
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert!(names.contains(&"other__echo".to_owned()), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("other__")), "{names:?}");

    let resp = get(&format!(
        "{}/mcp-rest/tools/list?server_id=nope",
        base(&gateway)
    ))
    .await?;
    assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.describe());
    let body = resp.json()?;
    assert_eq!(body["error"], "server_not_found");
    assert_eq!(body["tools"], json!([]));
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("demo, other"), "{message}");
    Ok(())
}

#[tokio::test]
async fn rest_call_runs_a_tool_under_both_prefixes() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    for prefix in ["/mcp-rest", "/mcp"] {
        let body = json!({"name": "demo__echo", "arguments": {"message": format!("via {prefix}")}});
        let resp = post(
            &format!("{}{prefix}/tools/call", base(&gateway)),
            None,
            &[],
            body.to_string(),
        )
        .await?;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
        let result = resp.json()?;
        assert_eq!(result["content"][0]["text"], format!("via {prefix}"));
    }
    Ok(())
}

#[tokio::test]
async fn rest_call_takes_the_server_id_and_the_servers_own_tool_name() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let body = json!({"server_id": "demo", "name": "add", "arguments": {"a": 2, "b": 3}});
    let resp = post(
        &format!("{}/mcp-rest/tools/call", base(&gateway)),
        None,
        &[],
        body.to_string(),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    assert_eq!(resp.json()?["content"][0]["text"], "5");
    Ok(())
}

#[tokio::test]
async fn rest_call_keeps_tool_errors_as_results() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let body = json!({"name": "demo__fail", "arguments": {"message": "it broke"}});
    let resp = post(
        &format!("{}/mcp-rest/tools/call", base(&gateway)),
        None,
        &[],
        body.to_string(),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    let result = resp.json()?;
    assert_eq!(result["isError"], true);
    assert_eq!(result["content"][0]["text"], "it broke");
    Ok(())
}

#[tokio::test]
async fn rest_call_bad_requests_say_what_to_fix() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let url = format!("{}/mcp-rest/tools/call", base(&gateway));
    let cases = [
        (
            json!({"name": "demo__nope", "arguments": {}}).to_string(),
            StatusCode::NOT_FOUND,
            "unknown_tool",
        ),
        (
            json!({"name": "echo", "server_id": "ghost"}).to_string(),
            StatusCode::NOT_FOUND,
            "server_not_found",
        ),
        (
            json!({"name": "demo__echo", "arguments": "message=hi"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_arguments",
        ),
        (
            json!({"tool": "demo__echo"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        ("{".to_owned(), StatusCode::BAD_REQUEST, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let resp = post(&url, None, &[], body.clone()).await?;
        assert_eq!(resp.status, status, "{body}: {}", resp.describe());
        let out = resp.json()?;
        assert_eq!(out["error"], code, "{body}: {out}");
        assert!(
            out["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{out}"
        );
    }
    let resp = get(&url).await?;
    assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.header("allow"), Some("POST"));
    Ok(())
}

#[tokio::test]
async fn rest_call_takes_the_openai_name_of_a_mapped_tool() -> anyhow::Result<()> {
    // With "." as separator the exposed names (demo.echo) are not valid OpenAI names.
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .separator(".");
    let (gateway, _session) = gateway_with_tools(&config, &["demo.echo"]).await?;
    let resp = get(&format!(
        "{}/mcp-rest/tools/list?format=openai",
        base(&gateway)
    ))
    .await?;
    let body = resp.json()?;
    let mapped = body["tools"]
        .as_array()
        .context("tools")?
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .find(|n| n.starts_with("demo_echo_"))
        .with_context(|| format!("no mapped echo tool in {body}"))?
        .to_owned();
    assert!(
        mapped.len() <= 64
            && mapped
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{mapped}"
    );
    let call = json!({"name": mapped, "arguments": {"message": "mapped back"}});
    let resp = post(
        &format!("{}/mcp-rest/tools/call", base(&gateway)),
        None,
        &[],
        call.to_string(),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    assert_eq!(resp.json()?["content"][0]["text"], "mapped back");
    Ok(())
}

#[tokio::test]
async fn rest_routes_sit_behind_the_host_guard() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let resp = send(
        Method::GET,
        &format!("{}/mcp-rest/tools/list", base(&gateway)),
        None,
        &[("host", "evil.example")],
        "",
    )
    .await?;
    assert_eq!(resp.status, StatusCode::FORBIDDEN, "{}", resp.describe());
    Ok(())
}

#[tokio::test]
async fn rest_call_past_a_rate_limit_is_429_with_retry_after() -> anyhow::Result<()> {
    let config = GatewayConfig::new().server("demo", Upstream::demo("demo")?);
    let yaml = config.to_yaml()
        + "layers:\n  - use: rate_limit\n    rules:\n      - {rate: 1/min, server: demo, tool: echo}\n";
    let gateway = Gateway::start(&yaml).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(
            &["demo__echo"],
            toolgate_tests::gateway::UPSTREAM_READY_TIMEOUT,
        )
        .await?;
    let call = || async {
        let body = json!({"name": "demo__echo", "arguments": {"message": "hi"}});
        post(
            &format!("{}/mcp-rest/tools/call", base(&gateway)),
            None,
            &[],
            body.to_string(),
        )
        .await
    };
    let first = call().await?;
    assert_eq!(first.status, StatusCode::OK, "{}", first.describe());
    assert_eq!(first.header("retry-after"), None);

    let second = call().await?;
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.describe()
    );
    let body = second.json()?;
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert_eq!(body["jsonrpc_error"]["code"], -31002, "{body}");
    let retry_after_ms = body["jsonrpc_error"]["data"]["retry_after_ms"]
        .as_u64()
        .with_context(|| format!("retry_after_ms in {body}"))?;
    // 1/min: the next cell is up to a minute away.
    assert!(
        (1..=60_000).contains(&retry_after_ms),
        "retry_after_ms {retry_after_ms}"
    );
    let header: u64 = second
        .header("retry-after")
        .with_context(|| format!("Retry-After in {}", second.describe()))?
        .parse()
        .context("Retry-After is whole seconds")?;
    assert_eq!(header, retry_after_ms.div_ceil(1000).max(1));
    Ok(())
}
