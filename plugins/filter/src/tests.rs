//! tower-test unit tests of the tool filter over a mock aggregate.

use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::error::code::INVALID_PARAMS;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse};
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_test::mock;

use super::*;

type Handle = mock::Handle<McpRequest, McpResponse>;

/// The tools the mock aggregate exposes.
const EXPOSED: [&str; 5] = [
    "demo__echo",
    "demo__sleep",
    "demo__crash",
    "demo__whoami",
    "other__echo",
];

fn resolver() -> impl toolgate::aggregate::Resolve {
    |_: &Method, name: &str| {
        if !EXPOSED.contains(&name) {
            return None;
        }
        let (server, original) = name.split_once("__")?;
        Some(Route::new(server, original))
    }
}

/// A request as the gateway's routing step hands it on (routed with [`resolver`]).
fn request(method: &str, params: Option<Value>) -> McpRequest {
    let params = params.map(|p| RawValue::from_string(p.to_string()).expect("raw"));
    let mut req = McpRequest::new(
        JsonRpcRequest::new(RequestId::Number(1), Method::parse(method), params),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: None,
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    );
    req.route_with(Arc::new(resolver()));
    req
}

fn call(name: &str) -> McpRequest {
    request(
        "tools/call",
        Some(serde_json::json!({"name": name, "arguments": {"message": "hi"}})),
    )
}

/// What the aggregate answers `tools/list` with.
fn list_result() -> Value {
    let tools: Vec<Value> = EXPOSED
        .iter()
        .map(|n| serde_json::json!({"name": n, "description": format!("the {n} tool"), "inputSchema": {"type": "object"}}))
        .collect();
    serde_json::json!({"tools": tools, "nextCursor": "5"})
}

fn layer(settings: Value) -> ToolFilterLayer {
    let settings: ToolFilterSettings = serde_json::from_value(settings).expect("settings");
    ToolFilterLayer::new(&settings).expect("layer")
}

fn stack(
    layer: ToolFilterLayer,
) -> (
    impl Service<McpRequest, Response = McpResponse, Error = McpError>,
    Handle,
) {
    let (mock, handle) = mock::pair::<McpRequest, McpResponse>();
    let to_mcp: fn(BoxError) -> McpError = |e| McpError::internal(e.to_string());
    (layer.layer(mock.map_err(to_mcp)), handle)
}

/// Sends `req`; if it reaches the mock, answers with `answer`. Returns the outcome and the
/// request as the mock saw it.
async fn run<S>(
    svc: &mut S,
    handle: &mut Handle,
    req: McpRequest,
    answer: Value,
) -> (Result<Value, McpError>, Option<McpRequest>)
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    handle.allow(1);
    let fut = svc.ready().await.expect("ready").call(req);
    tokio::pin!(fut);
    let parse = |r: Result<McpResponse, McpError>| {
        r.map(|resp| serde_json::from_str::<Value>(resp.result.get()).expect("result is JSON"))
    };
    tokio::select! {
        out = &mut fut => (parse(out), None),
        got = handle.next_request() => {
            let (seen, send) = got.expect("forwarded");
            send.send_response(McpResponse::new(RawValue::from_string(answer.to_string()).expect("raw")));
            (parse(fut.await), Some(seen))
        }
    }
}

fn names(result: &Value) -> Vec<&str> {
    result["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect()
}

fn demo_rules() -> Value {
    serde_json::json!({"servers": {"demo": {
        "deny": ["crash"], "hide": ["who*"], "rename": {"echo": "say"}
    }}})
}

#[tokio::test]
async fn lists_leave_out_denied_and_hidden_tools_and_show_new_names() {
    let (mut svc, mut handle) = stack(layer(demo_rules()));
    let (out, _) = run(
        &mut svc,
        &mut handle,
        request("tools/list", None),
        list_result(),
    )
    .await;
    let result = out.expect("listed");
    assert_eq!(names(&result), ["demo__say", "demo__sleep", "other__echo"]);
    assert_eq!(
        result["tools"][0]["description"], "the demo__echo tool",
        "a renamed item keeps its other fields"
    );
    assert_eq!(result["nextCursor"], "5", "the rest of the result is kept");
}

#[tokio::test]
async fn a_renamed_tool_is_called_by_its_new_name_and_its_old_name_is_unknown() {
    let (mut svc, mut handle) = stack(layer(demo_rules()));
    let (out, seen) = run(
        &mut svc,
        &mut handle,
        call("demo__say"),
        serde_json::json!({"content": []}),
    )
    .await;
    assert!(out.is_ok(), "{out:?}");
    let seen = seen.expect("forwarded");
    assert_eq!(
        seen.target(),
        Some("demo__echo"),
        "the aggregate routes the original"
    );
    let params: Value =
        serde_json::from_str(seen.message.params.as_deref().expect("params").get()).expect("json");
    assert_eq!(params["arguments"]["message"], "hi");

    let (out, seen) = run(&mut svc, &mut handle, call("demo__echo"), Value::Null).await;
    assert!(seen.is_none(), "the old name never reaches the upstream");
    let e = out.expect_err("old name");
    assert_eq!(e.code(), INVALID_PARAMS);
    assert_eq!(e.message(), "unknown tool: demo__echo");

    // The same tool name on another server is not renamed.
    let (out, seen) = run(
        &mut svc,
        &mut handle,
        call("other__echo"),
        serde_json::json!({}),
    )
    .await;
    assert!(out.is_ok() && seen.is_some());
}

#[tokio::test]
async fn a_denied_tool_cannot_be_told_from_an_unknown_one() {
    let (mut svc, mut handle) = stack(layer(demo_rules()));
    let (denied, seen) = run(&mut svc, &mut handle, call("demo__crash"), Value::Null).await;
    assert!(seen.is_none());
    let denied = denied.expect_err("denied");
    assert_eq!(denied.code(), INVALID_PARAMS);
    assert_eq!(denied.message(), "unknown tool: demo__crash");
    assert!(denied.data().is_none(), "no hint that the tool exists");
}

#[tokio::test]
async fn a_hidden_tool_is_still_callable() {
    let (mut svc, mut handle) = stack(layer(demo_rules()));
    let (out, seen) = run(
        &mut svc,
        &mut handle,
        call("demo__whoami"),
        serde_json::json!({"content": []}),
    )
    .await;
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(seen.expect("forwarded").target(), Some("demo__whoami"));
}

#[tokio::test]
async fn allow_globs_and_rules_for_every_server_combine() {
    let (mut svc, mut handle) = stack(layer(serde_json::json!({"servers": {
        "demo": {"allow": ["s*", "e?ho"]},
        "*": {"deny": ["echo"]}
    }})));
    let (out, _) = run(
        &mut svc,
        &mut handle,
        request("tools/list", None),
        list_result(),
    )
    .await;
    assert_eq!(names(&out.expect("listed")), ["demo__sleep"]);
    let (out, _) = run(&mut svc, &mut handle, call("other__echo"), Value::Null).await;
    assert_eq!(
        out.expect_err("denied everywhere").message(),
        "unknown tool: other__echo"
    );
}

#[tokio::test]
async fn a_rename_onto_an_existing_name_is_ignored() {
    let (mut svc, mut handle) = stack(layer(serde_json::json!({"servers": {
        "demo": {"rename": {"echo": "sleep"}}
    }})));
    let (out, _) = run(
        &mut svc,
        &mut handle,
        request("tools/list", None),
        list_result(),
    )
    .await;
    let result = out.expect("listed");
    assert_eq!(names(&result), EXPOSED, "nothing renamed, nothing lost");
    let (out, seen) = run(
        &mut svc,
        &mut handle,
        call("demo__echo"),
        serde_json::json!({}),
    )
    .await;
    assert!(out.is_ok());
    assert_eq!(seen.expect("forwarded").target(), Some("demo__echo"));
    let (out, seen) = run(
        &mut svc,
        &mut handle,
        call("demo__sleep"),
        serde_json::json!({}),
    )
    .await;
    assert!(out.is_ok());
    assert_eq!(seen.expect("forwarded").target(), Some("demo__sleep"));
}

#[tokio::test]
async fn unknown_names_and_other_methods_pass_through() {
    let (mut svc, mut handle) = stack(layer(demo_rules()));
    let (_, seen) = run(
        &mut svc,
        &mut handle,
        call("nope__x"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(
        seen.expect("the aggregate answers unknown names").target(),
        Some("nope__x")
    );
    let prompts = serde_json::json!({"prompts": [{"name": "demo__greet"}]});
    let (out, _) = run(
        &mut svc,
        &mut handle,
        request("prompts/list", None),
        prompts.clone(),
    )
    .await;
    assert_eq!(out.expect("listed"), prompts);
}

#[tokio::test]
async fn builder_extension_adds_the_layer() {
    let builder = tower::ServiceBuilder::new().mcp_tool_filter(layer(demo_rules()));
    let (mock, mut handle) = mock::pair::<McpRequest, McpResponse>();
    let to_mcp: fn(BoxError) -> McpError = |e| McpError::internal(e.to_string());
    let mut svc = builder.service(mock.map_err(to_mcp));
    let (out, _) = run(&mut svc, &mut handle, call("demo__crash"), Value::Null).await;
    assert_eq!(out.expect_err("denied").code(), INVALID_PARAMS);
}

#[test]
fn the_factory_checks_server_names_and_settings() {
    use toolgate::gateway::GatewayBuilder;
    use toolgate::registry::LayerFactory;
    use toolgate::upstream::StdioSpec;

    let builder = || {
        GatewayBuilder::new().stdio(
            "demo",
            StdioSpec {
                command: "demo-server".into(),
                ..Default::default()
            },
        )
    };
    let ok = ToolFilterFactory.apply(demo_rules(), builder());
    assert!(ok.is_ok(), "{ok:?}");
    let ok = ToolFilterFactory.apply(
        serde_json::json!({"servers": {"*": {"deny": ["x"]}}}),
        builder(),
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = ToolFilterFactory
        .apply(
            serde_json::json!({"servers": {"dmeo": {"deny": ["x"]}}}),
            builder(),
        )
        .expect_err("unknown server");
    assert!(e.to_string().contains("'dmeo'"), "{e}");
    let e = ToolFilterFactory
        .apply(
            serde_json::json!({"servers": {"demo": {"denied": ["x"]}}}),
            builder(),
        )
        .expect_err("typo");
    assert!(e.to_string().contains("denied"), "{e}");
}
