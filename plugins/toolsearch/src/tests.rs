//! Unit tests of the layer over an inner service that lists a catalog and echoes calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse, McpService};
use tower::{Layer, ServiceExt};

use super::*;

fn catalog() -> Value {
    json!([
        {"name": "github__create_issue", "description": "Open a new issue in a GitHub repository.",
         "inputSchema": {"type": "object", "properties": {"repo": {"type": "string"}, "title": {"type": "string"}}}},
        {"name": "weather__forecast", "description": "Tomorrow's weather for a city.",
         "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "files__read_file", "description": "Read a file from disk.",
         "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}}
    ])
}

/// Lists the catalog in pages of two; answers a call with the name and arguments it got.
fn upstream() -> (McpService, Arc<AtomicUsize>) {
    let lists = Arc::new(AtomicUsize::new(0));
    let counted = lists.clone();
    let svc = McpService::new(tower::service_fn(move |req: McpRequest| {
        let counted = counted.clone();
        async move {
            match req.method() {
                Method::ToolsList => {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let tools = catalog();
                    let all = tools.as_array().cloned().unwrap_or_default();
                    let cursor: usize = req
                        .params_map()
                        .ok()
                        .and_then(|p| p.get("cursor")?.as_str()?.parse().ok())
                        .unwrap_or(0);
                    let page: Vec<Value> = all.iter().skip(cursor).take(2).cloned().collect();
                    let mut result = json!({"tools": page});
                    if cursor + 2 < all.len() {
                        result["nextCursor"] = json!((cursor + 2).to_string());
                    }
                    McpResponse::from_typed(&result)
                }
                Method::ToolsCall => {
                    let routed = req.route().map(|r| r.server.to_string());
                    McpResponse::from_typed(&json!({
                        "content": [{"type": "text", "text": format!("called {}", req.target().unwrap_or(""))}],
                        "params": req.params_map()?,
                        "routed_to": routed,
                    }))
                }
                _ => Err(McpError::method_not_found("x")),
            }
        }
    }));
    (svc, lists)
}

fn request(method: &str, params: Value) -> McpRequest {
    let mut req = McpRequest::new(
        JsonRpcRequest::new(
            RequestId::Number(1),
            Method::parse(method),
            toolgate::jsonrpc::to_raw(&params).ok(),
        ),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: None,
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    );
    req.route_with(Arc::new(|_: &Method, target: &str| {
        let (server, tool) = target.split_once("__")?;
        Some(Route::new(server, tool))
    }));
    req
}

async fn result(svc: &McpService, method: &str, params: Value) -> Result<Value, McpError> {
    let response = svc.clone().oneshot(request(method, params)).await?;
    response.result_as()
}

#[tokio::test]
async fn the_list_is_the_two_meta_tools_and_what_is_always_exposed() {
    let (inner, _) = upstream();
    let svc = McpService::new(
        ToolSearchLayer::new()
            .always_expose("files__read_file")
            .layer(inner),
    );
    let list = result(&svc, "tools/list", json!({})).await.expect("listed");
    let names: Vec<&str> = list["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["search_tools", "call_tool", "files__read_file"]);
}

#[tokio::test]
async fn a_search_finds_tools_across_pages_and_reuses_its_index() {
    let (inner, lists) = upstream();
    let svc = McpService::new(ToolSearchLayer::new().layer(inner));
    let found = result(
        &svc,
        "tools/call",
        json!({"name": "search_tools", "arguments": {"query": "weather in Paris", "limit": 2}}),
    )
    .await
    .expect("searched");
    let tools = &found["structuredContent"]["tools"];
    assert_eq!(tools[0]["name"], "weather__forecast", "{found}");
    assert_eq!(
        tools[0]["inputSchema"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(found["structuredContent"]["catalog_size"], 3);
    assert_eq!(lists.load(Ordering::SeqCst), 2, "two pages listed");
    let again = result(
        &svc,
        "tools/call",
        json!({"name": "search_tools", "arguments": {"query": "open an issue"}}),
    )
    .await
    .expect("searched");
    assert_eq!(
        again["structuredContent"]["tools"][0]["name"],
        "github__create_issue"
    );
    assert_eq!(lists.load(Ordering::SeqCst), 2, "the index was kept");
    let none = result(
        &svc,
        "tools/call",
        json!({"name": "search_tools", "arguments": {"query": "zebra"}}),
    )
    .await
    .expect("searched");
    assert!(
        none["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("No tool matches")),
        "{none}"
    );
}

#[tokio::test]
async fn call_tool_calls_the_named_tool_routed_like_a_direct_call() {
    let (inner, _) = upstream();
    let svc = McpService::new(ToolSearchLayer::new().layer(inner));
    let called = result(
        &svc,
        "tools/call",
        json!({"name": "call_tool", "arguments": {"name": "weather__forecast", "arguments": {"city": "Paris"}},
               "_meta": {"progressToken": 5}}),
    )
    .await
    .expect("called");
    assert_eq!(called["routed_to"], "weather");
    assert_eq!(called["params"]["name"], "weather__forecast");
    assert_eq!(called["params"]["arguments"], json!({"city": "Paris"}));
    assert_eq!(called["params"]["_meta"], json!({"progressToken": 5}));
    // A direct call of a catalog name passes through.
    let direct = result(
        &svc,
        "tools/call",
        json!({"name": "files__read_file", "arguments": {"path": "/x"}}),
    )
    .await
    .expect("called");
    assert_eq!(direct["routed_to"], "files");
}

#[tokio::test]
async fn bad_meta_calls_say_what_to_send() {
    let (inner, _) = upstream();
    let svc = McpService::new(ToolSearchLayer::new().layer(inner));
    for (params, says) in [
        (
            json!({"name": "search_tools", "arguments": {}}),
            "arguments.query",
        ),
        (
            json!({"name": "search_tools", "arguments": {"query": "x", "limit": 0}}),
            "arguments.limit",
        ),
        (
            json!({"name": "call_tool", "arguments": {}}),
            "arguments.name",
        ),
        (
            json!({"name": "call_tool", "arguments": {"name": "call_tool"}}),
            "catalog tools",
        ),
        (
            json!({"name": "call_tool", "arguments": "nope"}),
            "must be an object",
        ),
    ] {
        let e = result(&svc, "tools/call", params.clone())
            .await
            .expect_err("refused");
        assert_eq!(e.code(), -32602, "{params}");
        assert!(e.message().contains(says), "{params}: {}", e.message());
    }
}

#[test]
fn settings_say_what_to_write() {
    let parse = |v: Value| {
        serde_json::from_value::<ToolSearchSettings>(v)
            .map_err(|e| e.to_string())
            .and_then(|s| ToolSearchLayer::from_settings(&s).map_err(|e| e.to_string()))
    };
    assert!(parse(json!({"limit": 5, "always_expose": ["a__b"]})).is_ok());
    for (bad, says) in [
        (json!({"limit": 0}), "at least 1"),
        (json!({"limit": 20, "max_limit": 10}), "max_limit"),
        (json!({"search_tool": "x", "call_tool": "x"}), "different"),
        (json!({"limt": 3}), "limt"),
    ] {
        let e = parse(bad.clone()).expect_err("refused");
        assert!(e.contains(says), "{bad}: {e}");
    }
}
