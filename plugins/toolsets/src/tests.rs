//! Unit tests of the layer over an inner service that lists a catalog and echoes calls.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{Identity, McpContext, McpError, McpRequest, McpResponse, McpService};
use tower::{Layer, ServiceExt};

use super::*;

/// Lists three tools (with a cursor); answers a call with the tool's name; a prompt too.
fn upstream() -> McpService {
    McpService::new(tower::service_fn(|req: McpRequest| async move {
        match req.method() {
            Method::ToolsList => McpResponse::from_typed(&json!({
                "tools": [
                    {"name": "github__search_issues", "inputSchema": {"type": "object"}},
                    {"name": "github__create_issue", "inputSchema": {"type": "object"}},
                    {"name": "wiki__lookup", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}}
                ],
                "nextCursor": "2"
            })),
            Method::ToolsCall => McpResponse::from_typed(&json!({
                "content": [{"type": "text", "text": format!("called {}", req.target().unwrap_or(""))}]
            })),
            Method::PromptsGet => McpResponse::from_typed(&json!({"messages": []})),
            _ => Err(McpError::method_not_found(req.method().as_str())),
        }
    }))
}

fn request(method: &str, params: Value, caller: Option<&str>) -> McpRequest {
    McpRequest::new(
        JsonRpcRequest::new(
            RequestId::Number(1),
            Method::parse(method),
            toolgate::jsonrpc::to_raw(&params).ok(),
        ),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: caller.map(|subject| Identity {
                subject: subject.to_owned(),
                attributes: Vec::new(),
            }),
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    )
}

async fn send(
    svc: &McpService,
    method: &str,
    params: Value,
    caller: Option<&str>,
) -> Result<Value, McpError> {
    svc.clone()
        .oneshot(request(method, params, caller))
        .await?
        .result_as()
}

fn names(list: &Value) -> Vec<&str> {
    list["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default()
}

fn research() -> Toolset {
    Toolset::new("research", ["github__search_*", "wiki__lookup"]).expect("valid toolset")
}

#[tokio::test]
async fn an_endpoint_lists_and_calls_its_toolset_only() {
    let svc = McpService::new(ToolsetLayer::serving(research()).layer(upstream()));
    let list = send(&svc, "tools/list", json!({}), None)
        .await
        .expect("listed");
    assert_eq!(names(&list), ["github__search_issues", "wiki__lookup"]);
    // The rest of the answer and of each tool is kept as written.
    assert_eq!(list["nextCursor"], "2");
    assert_eq!(list["tools"][1]["annotations"]["readOnlyHint"], true);

    let called = send(&svc, "tools/call", json!({"name": "wiki__lookup"}), None)
        .await
        .expect("called");
    assert_eq!(called["content"][0]["text"], "called wiki__lookup");
    let refused = send(
        &svc,
        "tools/call",
        json!({"name": "github__create_issue"}),
        None,
    )
    .await
    .expect_err("outside the toolset");
    assert_eq!(refused.code(), -32602);
    assert_eq!(refused.message(), "unknown tool: github__create_issue");
    // Prompts pass.
    send(&svc, "prompts/get", json!({"name": "p"}), None)
        .await
        .expect("prompts pass");
}

#[tokio::test]
async fn a_bound_caller_sees_its_toolset_and_others_see_everything() {
    let svc = McpService::new(
        ToolsetLayer::by_caller([("ci-bot", research())])
            .expect("one binding")
            .layer(upstream()),
    );
    let bot = send(&svc, "tools/list", json!({}), Some("ci-bot"))
        .await
        .expect("listed");
    assert_eq!(names(&bot), ["github__search_issues", "wiki__lookup"]);
    let refused = send(
        &svc,
        "tools/call",
        json!({"name": "github__create_issue"}),
        Some("ci-bot"),
    )
    .await
    .expect_err("outside its toolset");
    assert_eq!(refused.code(), -32602);
    for caller in [Some("alice"), None] {
        let all = send(&svc, "tools/list", json!({}), caller)
            .await
            .expect("listed");
        assert_eq!(names(&all).len(), 3, "{caller:?}");
        send(
            &svc,
            "tools/call",
            json!({"name": "github__create_issue"}),
            caller,
        )
        .await
        .expect("unbound callers call anything");
    }
}

#[test]
fn settings_that_cannot_work_say_what_to_fix() {
    let e = Toolset::new("a/b", ["x"]).expect_err("bad name");
    assert!(e.to_string().contains("letters, digits"), "{e}");
    let e = Toolset::new("a", Vec::<String>::new()).expect_err("empty");
    assert!(e.to_string().contains("toolsets.a.tools is empty"), "{e}");
    let e = Toolset::new("a", ["ok", "bad[glob"]).expect_err("bad glob");
    assert!(e.to_string().contains("toolsets.a.tools[1]"), "{e}");
    let other = Toolset::new("other", ["x"]).expect("valid");
    let e = ToolsetLayer::by_caller([("bot", research()), ("bot", other)]).expect_err("twice");
    assert!(
        e.to_string()
            .contains("bound to toolsets 'research' and 'other'"),
        "{e}"
    );
}
