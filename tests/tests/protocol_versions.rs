//! Protocol versions: `initialize` negotiation for 2024-11-05 … 2025-11-25, and stateless
//! 2026-07-28 clients that send `MCP-Protocol-Version` on every request and never initialize.

use std::time::Duration;

use anyhow::{Context, ensure};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use toolgate_tests::gateway::demo_gateway;
use toolgate_tests::http::{error_code, post, send, text_of};

fn initialize(version: &str) -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    })
    .to_string()
}

#[tokio::test]
async fn initialize_negotiates_every_version_with_a_handshake() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    for (asked, answered) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        // 2026-07-28 has no initialize; a client asking for it gets the newest that has one.
        ("2026-07-28", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let resp = post(gateway.url(), None, &[], initialize(asked)).await?;
        ensure!(
            resp.status == StatusCode::OK,
            "{asked}: {}",
            resp.describe()
        );
        ensure!(resp.session_id().is_some(), "{asked}: no session id");
        let v = resp.json()?;
        ensure!(
            v["result"]["protocolVersion"] == answered,
            "asked {asked}, expected {answered}, got {v}"
        );
        ensure!(v["result"]["serverInfo"]["name"] == "toolgate", "{v}");
    }
    Ok(())
}

const V2026: (&str, &str) = ("MCP-Protocol-Version", "2026-07-28");

/// `params` with the `_meta` every 2026-07-28 request carries (SEP-2575).
fn with_meta(mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    params
}

async fn stateless(
    url: &str,
    extra: &[(&str, &str)],
    body: Value,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut headers = vec![V2026];
    headers.extend_from_slice(extra);
    let resp = post(url, None, &headers, body.to_string()).await?;
    let status = resp.status;
    let value = resp.json().with_context(|| resp.describe())?;
    Ok((status, value))
}

#[tokio::test]
async fn stateless_2026_client_lists_and_calls_without_initialize() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let (status, discover) = stateless(
        gateway.url(),
        &[("Mcp-Method", "server/discover")],
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": with_meta(json!({}))}),
    )
    .await?;
    ensure!(status == StatusCode::OK, "{discover}");
    let versions = discover["result"]["supportedVersions"]
        .as_array()
        .context("supportedVersions")?;
    ensure!(versions.contains(&json!("2026-07-28")), "{discover}");
    ensure!(versions.contains(&json!("2024-11-05")), "{discover}");

    let (status, list) = stateless(
        gateway.url(),
        &[],
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": with_meta(json!({}))}),
    )
    .await?;
    ensure!(status == StatusCode::OK, "{list}");
    // What 2026-07-28 requires of results, stamped on the upstream's 2025-era answer.
    ensure!(list["result"]["resultType"] == "complete", "{list}");
    ensure!(list["result"]["ttlMs"] == 0, "{list}");
    ensure!(list["result"]["cacheScope"] == "private", "{list}");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .context("tools")?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    ensure!(names.contains(&"demo__echo"), "{list}");

    let (status, call) = stateless(
        gateway.url(),
        &[("Mcp-Method", "tools/call")],
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": with_meta(json!({"name": "demo__echo", "arguments": {"message": "stateless"}}))}),
    )
    .await?;
    ensure!(status == StatusCode::OK, "{call}");
    ensure!(text_of(&call["result"]) == "stateless", "{call}");
    ensure!(call["result"]["resultType"] == "complete", "{call}");
    ensure!(
        call["result"].get("ttlMs").is_none(),
        "tools/call is not cacheable: {call}"
    );
    Ok(())
}

/// SEP-2575: a 2026-07-28 request without its `_meta` is 400/-32602; one whose `_meta` names
/// another version than its header is 400/-32020; the methods 2026-07-28 removed, and unknown
/// ones, are 404/-32601; an unknown resource is -32602 (SEP-2164).
#[tokio::test]
async fn requests_2026_are_held_to_what_that_version_requires() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let (status, v) = stateless(
        gateway.url(),
        &[],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    )
    .await?;
    ensure!(status == StatusCode::BAD_REQUEST, "{status} {v}");
    ensure!(error_code(&v) == Some(-32602), "{v}");
    ensure!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("_meta")),
        "the message says what is missing: {v}"
    );

    let mut params = with_meta(json!({}));
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
    let (status, v) = stateless(
        gateway.url(),
        &[],
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": params}),
    )
    .await?;
    ensure!(status == StatusCode::BAD_REQUEST, "{status} {v}");
    ensure!(error_code(&v) == Some(-32020), "{v}");

    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "no/such",
    ] {
        let (status, v) = stateless(
            gateway.url(),
            &[],
            json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": with_meta(json!({}))}),
        )
        .await?;
        ensure!(status == StatusCode::NOT_FOUND, "{method}: {status} {v}");
        ensure!(error_code(&v) == Some(-32601), "{method}: {v}");
    }

    let (status, v) = stateless(
        gateway.url(),
        &[],
        json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read",
               "params": with_meta(json!({"uri": "nowhere://x"}))}),
    )
    .await?;
    ensure!(status == StatusCode::OK, "{status} {v}");
    ensure!(error_code(&v) == Some(-32602), "{v}");
    ensure!(v["error"]["data"]["uri"] == "nowhere://x", "{v}");
    Ok(())
}

#[tokio::test]
async fn mcp_method_header_that_contradicts_the_body_is_400_32020() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let (status, v) = stateless(
        gateway.url(),
        &[("Mcp-Method", "tools/list")],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": with_meta(json!({"name": "demo__echo", "arguments": {"message": "x"}}))}),
    )
    .await?;
    ensure!(status == StatusCode::BAD_REQUEST, "{status} {v}");
    ensure!(error_code(&v) == Some(-32020), "{v}");
    ensure!(v["id"] == 1, "the error keeps the request id: {v}");
    Ok(())
}

#[tokio::test]
async fn unsupported_protocol_version_header_is_400_32022() -> anyhow::Result<()> {
    let (gateway, session) = demo_gateway().await?;
    let resp = post(
        gateway.url(),
        Some(session.id()),
        &[("MCP-Protocol-Version", "1999-01-01")],
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string(),
    )
    .await?;
    ensure!(
        resp.status == StatusCode::BAD_REQUEST,
        "{}",
        resp.describe()
    );
    let v = resp.json()?;
    ensure!(error_code(&v) == Some(-32022), "{v}");
    ensure!(v["error"]["data"]["requested"] == "1999-01-01", "{v}");
    ensure!(
        v["error"]["data"]["supported"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("2025-11-25"))),
        "{v}"
    );
    Ok(())
}

#[tokio::test]
async fn get_stream_does_not_exist_in_2026() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let resp = send(
        Method::GET,
        gateway.url(),
        None,
        &[V2026, ("Accept", "text/event-stream")],
        "",
    )
    .await?;
    ensure!(
        resp.status == StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        resp.describe()
    );
    Ok(())
}

/// SEP-2322 bridged: a 2026-07-28 client calls a tool of a 2025-era upstream
/// (server-everything) that asks for elicitation mid-call. The client gets an `input_required`
/// result with the upstream's request; its retry with `inputResponses` and the `requestState`
/// resumes the suspended call, whose result carries the client's answer.
#[tokio::test]
async fn a_2026_client_answers_an_upstream_elicitation_as_input_required() -> anyhow::Result<()> {
    let everything = toolgate_tests::ServerEverything::start_streamable_http().await?;
    let config = toolgate_tests::GatewayConfig::new().server(
        "everything",
        toolgate_tests::Upstream::http(everything.url()),
    );
    let (gateway, _session) =
        toolgate_tests::gateway_with_tools(&config, &["everything__trigger-elicitation-request"])
            .await?;
    let mut params = with_meta(json!({"name": "everything__trigger-elicitation-request",
                                      "arguments": {}}));
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({"elicitation": {}});
    let (status, first) = stateless(
        gateway.url(),
        &[],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}),
    )
    .await?;
    ensure!(status == StatusCode::OK, "{first}");
    let result = &first["result"];
    ensure!(result["resultType"] == "input_required", "{first}");
    let requests = result["inputRequests"]
        .as_object()
        .context("inputRequests")?;
    ensure!(requests.len() == 1, "{first}");
    let (key, request) = requests.iter().next().context("one input request")?;
    ensure!(request["method"] == "elicitation/create", "{first}");
    ensure!(
        result.get("ttlMs").is_none(),
        "an interim result carries no caching hints: {first}"
    );
    let state = result["requestState"].as_str().context("requestState")?;

    let mut retry = params.clone();
    retry["requestState"] = json!(state);
    retry["inputResponses"] = json!({key.as_str(): {"action": "accept",
                                                    "content": {"name": "Ada Lovelace", "check": true}}});
    let (status, second) = stateless(
        gateway.url(),
        &[],
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": retry.clone()}),
    )
    .await?;
    ensure!(status == StatusCode::OK, "{second}");
    ensure!(second["result"]["resultType"] == "complete", "{second}");
    ensure!(
        text_of(&second["result"]).contains("Ada Lovelace"),
        "{second}"
    );

    // The state is used up.
    let (_, again) = stateless(
        gateway.url(),
        &[],
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": retry}),
    )
    .await?;
    ensure!(error_code(&again) == Some(-32602), "{again}");
    Ok(())
}

/// `subscriptions/listen` (2026-07-28): the stream opens with
/// `notifications/subscriptions/acknowledged` (the subscription's id, the honored filter) and
/// then carries the list changes asked for, tagged with that id.
#[tokio::test]
async fn a_2026_listen_stream_carries_the_list_changes_it_asked_for() -> anyhow::Result<()> {
    let (gateway, session) = demo_gateway().await?;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen",
                      "params": with_meta(json!({"notifications": {"toolsListChanged": true}}))});
    let headers = [
        V2026,
        ("accept", "application/json, text/event-stream"),
        ("content-type", "application/json"),
    ];
    let mut stream =
        toolgate_tests::http::post_stream(gateway.url(), &headers, body.to_string()).await?;
    let ack = stream
        .wait_for_message(Duration::from_secs(5), |m| m["method"].is_string())
        .await?;
    ensure!(
        ack["method"] == "notifications/subscriptions/acknowledged",
        "the first message is the acknowledgement: {ack}"
    );
    ensure!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "7",
        "{ack}"
    );
    ensure!(
        ack["params"]["notifications"] == json!({"toolsListChanged": true}),
        "{ack}"
    );
    // A 2025-era session changes the tool list; the 2026 listener hears of it.
    session
        .call_tool_ok("demo__toggle_extra", json!({}))
        .await?;
    let changed = stream
        .wait_for_message(Duration::from_secs(10), |m| {
            m["method"] == "notifications/tools/list_changed"
        })
        .await?;
    ensure!(
        changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "7",
        "{changed}"
    );
    Ok(())
}
