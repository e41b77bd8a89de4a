//! How the Streamable HTTP endpoint answers bad input: HTTP statuses and JSON-RPC error codes.

use anyhow::ensure;
use http::StatusCode;
use serde_json::{Value, json};
use toolgate_tests::http::{PROTOCOL_VERSION, VERSION_HEADER, post};
use toolgate_tests::{GatewayConfig, demo_gateway, demo_gateway_with, error_code, text_of};

fn tools_list() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string()
}

fn initialize() -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "toolgate-tests", "version": "0"},
        },
    })
    .to_string()
}

#[tokio::test]
async fn malformed_json_is_32700() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;
    let response = session
        .post(&[], r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/list""#)
        .await?;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.describe()
    );
    let body = response.json()?;
    assert_eq!(error_code(&body), Some(-32700), "{body}");
    assert_eq!(
        body.get("id"),
        Some(&Value::Null),
        "a parse error has id null: {body}"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_tool_is_32602() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;
    for name in ["demo__no_such_tool", "nosuchserver__echo", "echo"] {
        let body = json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": {}},
        });
        let response = session.post(&[], body.to_string()).await?;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{name}: {}",
            response.describe()
        );
        let answer = response.messages()?;
        let last = answer.last().cloned().unwrap_or_default();
        assert_eq!(error_code(&last), Some(-32602), "{name}: {last}");
        assert_eq!(last["id"], 1, "{name}: {last}");
    }
    Ok(())
}

#[tokio::test]
async fn unknown_method_is_32601() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;
    let response = session.request("no/such/method", Some(json!({}))).await?;
    assert_eq!(error_code(&response), Some(-32601), "{response}");
    Ok(())
}

#[tokio::test]
async fn unknown_session_is_404() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let headers = [(VERSION_HEADER, PROTOCOL_VERSION)];
    let response = post(
        gateway.url(),
        Some("no-such-session-0123456789"),
        &headers,
        tools_list(),
    )
    .await?;
    assert_eq!(
        response.status,
        StatusCode::NOT_FOUND,
        "{}",
        response.describe()
    );
    Ok(())
}

#[tokio::test]
async fn missing_session_is_400() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let headers = [(VERSION_HEADER, PROTOCOL_VERSION)];
    let response = post(gateway.url(), None, &headers, tools_list()).await?;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.describe()
    );
    Ok(())
}

#[tokio::test]
async fn oversized_body_is_413() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway_with(GatewayConfig::new().max_body_bytes(4096)).await?;

    // Under the limit: served.
    let small = "s".repeat(1000);
    let result = session
        .call_tool_ok("demo__echo", json!({"message": small}))
        .await?;
    assert_eq!(text_of(&result), small);

    let big = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "demo__echo", "arguments": {"message": "b".repeat(10_000)}},
    });
    let response = session.post(&[], big.to_string()).await?;
    assert_eq!(
        response.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        response.describe()
    );
    Ok(())
}

#[tokio::test]
async fn foreign_origin_is_403() -> anyhow::Result<()> {
    let (gateway, session) = demo_gateway().await?;
    let evil = [("origin", "http://evil.example")];

    let response = post(gateway.url(), None, &evil, initialize()).await?;
    assert_eq!(
        response.status,
        StatusCode::FORBIDDEN,
        "initialize: {}",
        response.describe()
    );

    let response = session.post(&evil, tools_list()).await?;
    assert_eq!(
        response.status,
        StatusCode::FORBIDDEN,
        "tools/list: {}",
        response.describe()
    );
    Ok(())
}

#[tokio::test]
async fn foreign_host_is_403() -> anyhow::Result<()> {
    let (gateway, _session) = demo_gateway().await?;
    let port = gateway.addr().port();

    let evil = format!("evil.example:{port}");
    let response = post(gateway.url(), None, &[("host", &evil)], initialize()).await?;
    assert_eq!(
        response.status,
        StatusCode::FORBIDDEN,
        "{}",
        response.describe()
    );

    // The loopback names are fine.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let response = post(gateway.url(), None, &[("host", &host)], initialize()).await?;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "Host {host}: {}",
            response.describe()
        );
    }
    Ok(())
}

#[tokio::test]
async fn posted_notifications_and_responses_are_202() -> anyhow::Result<()> {
    let (_gateway, session) = demo_gateway().await?;

    let response = session
        .notify(
            "notifications/cancelled",
            Some(json!({"requestId": 999, "reason": "test"})),
        )
        .await?;
    assert_eq!(
        response.status,
        StatusCode::ACCEPTED,
        "{}",
        response.describe()
    );
    ensure!(
        response.body.is_empty(),
        "202 has no body: {}",
        response.describe()
    );

    let answer = json!({"jsonrpc": "2.0", "id": "nobody-asked", "result": {}});
    let response = session.post(&[], answer.to_string()).await?;
    assert_eq!(
        response.status,
        StatusCode::ACCEPTED,
        "{}",
        response.describe()
    );
    Ok(())
}
