//! tower-test unit tests of the authorization layer: lists are filtered, denied calls are
//! answered like unknown names and never reach the inner service.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse};
use tower_test::mock;

use super::*;
use crate::authn::ApiKeys;

type Handle = mock::Handle<McpRequest, McpResponse>;

/// Servers by tool/prompt prefix, resources by URI scheme: `demo__x` and `demo://…` are on
/// `demo`, `other__x` and `other://…` on `other`.
fn resolver(method: &Method, target: &str) -> Option<Route> {
    let server = match method {
        Method::ResourcesRead => target.split("://").next()?,
        _ => target.split("__").next()?,
    };
    ["demo", "other"]
        .contains(&server)
        .then(|| Route::new(server, target))
}

fn layer() -> AuthorizeLayer {
    let rules = Rules::deny_by_default()
        .rule(
            Rule::for_key("team-a")
                .allow_servers(["demo"])
                .and_then(|r| r.deny_tools(["demo__crash"]))
                .expect("globs"),
        )
        .rule(Rule::for_key("admin"));
    AuthorizeLayer::new(rules)
}

fn request(caller: Option<&str>, method: &str, params: Value) -> McpRequest {
    let ctx = McpContext {
        session: Arc::new(SessionInfo::new(None, TransportKind::StreamableHttp)),
        identity: caller.map(ApiKeys::identity),
        downstream: Downstream::none(),
        cancel: CancellationToken::new(),
        extensions: http::Extensions::new(),
    };
    let params = RawValue::from_string(params.to_string()).expect("raw");
    let mut req = McpRequest::new(
        JsonRpcRequest::new(RequestId::Number(1), Method::parse(method), Some(params)),
        ctx,
    );
    // As the gateway's routing step hands it on.
    req.route_with(Arc::new(resolver));
    req
}

fn raw(v: Value) -> McpResponse {
    McpResponse::new(RawValue::from_string(v.to_string()).expect("raw"))
}

/// Calls the service; if the inner service gets the request, answers it with `answer`.
async fn call(
    caller: Option<&str>,
    method: &str,
    params: Value,
    answer: Value,
) -> (Result<Value, McpError>, bool) {
    let (mut service, mut handle): (_, Handle) = mock::spawn_layer(layer());
    assert!(service.poll_ready().is_ready());
    let fut = service.call(request(caller, method, params));
    let inner = async {
        match tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await {
            Ok(Some((_, respond))) => {
                respond.send_response(raw(answer));
                true
            }
            _ => false,
        }
    };
    let (result, reached) = tokio::join!(fut, inner);
    let result = result
        .map(|r| serde_json::from_str::<Value>(r.result.get()).expect("json"))
        .map_err(|e| match e.downcast::<McpError>() {
            Ok(e) => *e,
            Err(other) => McpError::internal(other.to_string()),
        });
    (result, reached)
}

fn names(list: &Value, key: &str, field: &str) -> Vec<String> {
    list[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn all_tools() -> Value {
    json!({"tools": [
        {"name": "demo__echo", "inputSchema": {"type": "object"}, "x-vendor": 1},
        {"name": "demo__crash", "inputSchema": {"type": "object"}},
        {"name": "other__echo", "inputSchema": {"type": "object"}}
    ], "nextCursor": "3"})
}

#[tokio::test]
async fn tools_list_shows_a_limited_key_only_its_servers_tools() {
    let (result, reached) = call(Some("team-a"), "tools/list", json!({}), all_tools()).await;
    assert!(reached);
    let list = result.expect("a list");
    assert_eq!(names(&list, "tools", "name"), ["demo__echo"]);
    assert_eq!(list["tools"][0]["x-vendor"], 1, "items stay as they were");
    assert_eq!(list["nextCursor"], "3", "other members stay");
    let (result, _) = call(Some("admin"), "tools/list", json!({}), all_tools()).await;
    assert_eq!(names(&result.expect("a list"), "tools", "name").len(), 3);
}

#[tokio::test]
async fn callers_no_rule_matches_get_the_default() {
    let (result, _) = call(Some("stranger"), "tools/list", json!({}), all_tools()).await;
    assert!(names(&result.expect("a list"), "tools", "name").is_empty());
    let (result, _) = call(None, "tools/list", json!({}), all_tools()).await;
    assert!(names(&result.expect("a list"), "tools", "name").is_empty());
}

#[tokio::test]
async fn calling_a_denied_tool_is_answered_like_an_unknown_tool() {
    for name in ["other__echo", "demo__crash"] {
        let (result, reached) = call(
            Some("team-a"),
            "tools/call",
            json!({"name": name, "arguments": {}}),
            json!({}),
        )
        .await;
        let e = result.expect_err("denied");
        assert_eq!(e.code(), -32602);
        assert_eq!(e.message(), format!("unknown tool: {name}"));
        assert!(e.data().is_none());
        assert!(!reached, "a denied call never reaches the upstream");
    }
    let (result, reached) = call(
        Some("team-a"),
        "tools/call",
        json!({"name": "demo__echo", "arguments": {}}),
        json!({"content": []}),
    )
    .await;
    assert!(result.is_ok() && reached);
}

#[tokio::test]
async fn unknown_names_of_unknown_servers_are_denied_to_limited_callers() {
    let (result, reached) = call(
        Some("team-a"),
        "tools/call",
        json!({"name": "nowhere__x"}),
        json!({}),
    )
    .await;
    assert_eq!(result.expect_err("denied").code(), -32602);
    assert!(!reached);
}

#[tokio::test]
async fn prompts_are_filtered_and_denied_the_same_way() {
    let prompts = json!({"prompts": [{"name": "demo__greet"}, {"name": "other__greet"}]});
    let (result, _) = call(Some("team-a"), "prompts/list", json!({}), prompts).await;
    assert_eq!(
        names(&result.expect("a list"), "prompts", "name"),
        ["demo__greet"]
    );
    let (result, reached) = call(
        Some("team-a"),
        "prompts/get",
        json!({"name": "other__greet"}),
        json!({}),
    )
    .await;
    let e = result.expect_err("denied");
    assert_eq!(
        (e.code(), e.message()),
        (-32602, "unknown prompt: other__greet")
    );
    assert!(!reached);
}

#[tokio::test]
async fn resources_and_templates_are_filtered_and_denied_like_missing_ones() {
    let resources = json!({"resources": [
        {"uri": "demo://readme", "name": "demo__readme"},
        {"uri": "other://secret", "name": "other__secret"}]});
    let (result, _) = call(Some("team-a"), "resources/list", json!({}), resources).await;
    assert_eq!(
        names(&result.expect("a list"), "resources", "uri"),
        ["demo://readme"]
    );
    let templates = json!({"resourceTemplates": [
        {"uriTemplate": "demo://echo/{x}", "name": "demo__echo"},
        {"uriTemplate": "other://files/{path}", "name": "other__files"}]});
    let (result, _) = call(
        Some("team-a"),
        "resources/templates/list",
        json!({}),
        templates,
    )
    .await;
    assert_eq!(
        names(&result.expect("a list"), "resourceTemplates", "uriTemplate"),
        ["demo://echo/{x}"]
    );
    for method in [
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
    ] {
        let (result, reached) = call(
            Some("team-a"),
            method,
            json!({"uri": "other://secret"}),
            json!({}),
        )
        .await;
        let e = result.expect_err("denied");
        assert_eq!(e.code(), -32002, "{method}");
        assert_eq!(e.message(), "resource not found: other://secret");
        assert_eq!(e.data(), Some(&json!({"uri": "other://secret"})));
        assert!(!reached);
    }
}

#[tokio::test]
async fn completions_for_denied_prompts_are_refused() {
    let (result, reached) = call(
        Some("team-a"),
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "other__greet"},
               "argument": {"name": "who", "value": "a"}}),
        json!({}),
    )
    .await;
    let e = result.expect_err("denied");
    assert_eq!(
        (e.code(), e.message()),
        (-32602, "unknown prompt: other__greet")
    );
    assert!(!reached);
}

#[tokio::test]
async fn other_methods_and_inner_errors_pass_through() {
    let (mut service, mut handle): (_, Handle) = mock::spawn_layer(layer());
    assert!(service.poll_ready().is_ready());
    let fut = service.call(request(
        Some("stranger"),
        "logging/setLevel",
        json!({"level": "info"}),
    ));
    let inner = async {
        let (_, respond) = handle.next_request().await.expect("passed on");
        respond.send_error(McpError::upstream_unavailable("demo", "down"));
    };
    let (result, ()) = tokio::join!(fut, inner);
    let e = result.expect_err("the inner error");
    let e = e.downcast::<McpError>().expect("an McpError");
    assert_eq!(e.code(), -31000);
}
