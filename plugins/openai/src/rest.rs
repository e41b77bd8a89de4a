//! REST tool endpoints, in LiteLLM's shapes, at `/mcp-rest/tools/…` and the older
//! `/mcp/tools/…`.
//!
//! ```text
//! GET  /mcp-rest/tools/list[?server_id=NAME][&format=openai]
//!   200 {"tools": [...], "error": null, "message": "Successfully retrieved tools"}
//!       MCP tools with "mcp_info": {"server_name", "original_name"}, or with format=openai
//!       OpenAI function tools (and "skipped": [{"name", "error"}] for tools that cannot convert)
//! POST /mcp-rest/tools/call  {"name": "...", "arguments": {...}, "server_id"?: "..."}
//!   200 the MCP CallToolResult ({"content": [...], "isError"?, "structuredContent"?})
//! ```
//!
//! `name` may be the exposed name (`demo__echo`), the server's own name with `server_id`
//! (`echo` + `demo`), or the OpenAI name a tool got in `format=openai` (for names that had to be
//! mapped). Failures answer with a status and `{"error": CODE, "message": WHAT TO FIX}` (list
//! answers keep `"tools": []`); an MCP-plane error also carries the JSON-RPC error object as
//! `jsonrpc_error`. Both routes call the MCP plane, so every MCP-plane policy applies, with the
//! caller's [`Identity`](toolgate::Identity) from the HTTP plane.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use toolgate::gateway::GatewayParts;
use toolgate::server::{HttpRequest, McpBody};
use toolgate::{ErrorKind as McpErrorKind, McpError};
use tower::Service;

use crate::OpenAiOptions;
use crate::convert::{ConvertOptions, NameMap, OpenAiTools};
use crate::http::{
    code_of, json_response, mcp_error_response, method_not_allowed, query_param, read_body,
};
use crate::plane::{Endpoint, Plane};

/// The paths served, list then call, for each prefix.
pub const PATHS: [(&str, &str); 2] = [
    ("/mcp-rest/tools/list", "/mcp-rest/tools/call"),
    ("/mcp/tools/list", "/mcp/tools/call"),
];

#[derive(Debug)]
struct State {
    plane: Plane,
    max_body_bytes: usize,
    strict: bool,
}

#[derive(Debug, Clone, Copy)]
enum Route {
    List,
    Call,
}

/// One REST route: `tools/list` or `tools/call`.
#[derive(Debug, Clone)]
pub struct RestService {
    state: Arc<State>,
    route: Route,
}

impl RestService {
    /// `GET …/tools/list` over the gateway's MCP plane.
    pub fn list(parts: &GatewayParts, options: &OpenAiOptions) -> Self {
        Self::new(parts, options, Route::List)
    }

    /// `POST …/tools/call` over the gateway's MCP plane.
    pub fn call(parts: &GatewayParts, options: &OpenAiOptions) -> Self {
        Self::new(parts, options, Route::Call)
    }

    fn new(parts: &GatewayParts, options: &OpenAiOptions, route: Route) -> Self {
        RestService {
            state: Arc::new(State {
                plane: Plane::new(parts),
                max_body_bytes: options.max_body_bytes,
                strict: options.strict,
            }),
            route,
        }
    }
}

impl Service<HttpRequest> for RestService {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let state = self.state.clone();
        let route = self.route;
        Box::pin(async move {
            Ok(match route {
                Route::List => list(&state, req).await,
                Route::Call => call(&state, req).await,
            })
        })
    }
}

fn list_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<McpBody> {
    json_response(
        status,
        &json!({"tools": [], "error": code, "message": message.into()}),
    )
}

fn call_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<McpBody> {
    json_response(status, &json!({"error": code, "message": message.into()}))
}

fn plane_error(e: &McpError, list: bool) -> Response<McpBody> {
    let mut body =
        json!({"error": code_of(e), "message": e.message(), "jsonrpc_error": e.to_error_object()});
    if list {
        body["tools"] = json!([]);
    }
    mcp_error_response(e, &body)
}

async fn list(state: &State, req: HttpRequest) -> Response<McpBody> {
    if req.method() != http::Method::GET {
        return method_not_allowed("GET", req.uri().path());
    }
    let openai = match query_param(req.uri(), "format").as_deref() {
        None | Some("") | Some("mcp") => false,
        Some("openai") => true,
        Some(other) => {
            return list_error(
                StatusCode::BAD_REQUEST,
                "unsupported_format",
                format!("format must be 'mcp' (the default) or 'openai', not '{other}'"),
            );
        }
    };
    let server = query_param(req.uri(), "server_id")
        .or_else(|| query_param(req.uri(), "server_name"))
        .filter(|s| !s.is_empty());
    if let Some(s) = &server
        && !state.plane.has_server(s)
    {
        return list_error(
            StatusCode::NOT_FOUND,
            "server_not_found",
            format!(
                "no MCP server '{s}'; configured servers: {}",
                state.plane.server_names().join(", ")
            ),
        );
    }
    let (parts, _body) = req.into_parts();
    let ctx = state.plane.context(&parts, Endpoint::Rest);
    let tools = match state.plane.list_tools(&ctx).await {
        Ok(t) => t,
        Err(e) => return plane_error(&e, true),
    };
    let tools: Vec<(Map<String, Value>, Option<toolgate::aggregate::Route>)> = tools
        .into_iter()
        .map(|t| {
            let resolved = t
                .get("name")
                .and_then(Value::as_str)
                .and_then(|n| state.plane.resolve_tool(n));
            (t, resolved)
        })
        .filter(|(_, r)| match &server {
            Some(s) => r.as_ref().is_some_and(|r| *r.server == **s),
            None => true,
        })
        .collect();
    let mut body = json!({"error": null, "message": "Successfully retrieved tools"});
    if openai {
        let mut skipped = Vec::new();
        let parsed: Vec<rmcp::model::Tool> = tools
            .into_iter()
            .filter_map(|(t, _)| {
                let name = t
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match serde_json::from_value(Value::Object(t)) {
                    Ok(tool) => Some(tool),
                    Err(e) => {
                        skipped.push(
                            json!({"name": name, "error": format!("not a valid MCP tool: {e}")}),
                        );
                        None
                    }
                }
            })
            .collect();
        let set = OpenAiTools::new(&parsed, ConvertOptions::strict(state.strict));
        skipped.extend(
            set.skipped()
                .iter()
                .map(|s| json!({"name": s.name, "error": s.error.message()})),
        );
        body["tools"] = json!(set.tools());
        if !skipped.is_empty() {
            body["skipped"] = Value::Array(skipped);
        }
    } else {
        body["tools"] = Value::Array(
            tools
                .into_iter()
                .map(|(mut t, r)| {
                    if let Some(r) = r {
                        t.insert(
                            "mcp_info".into(),
                            json!({"server_name": r.server, "original_name": r.original}),
                        );
                    }
                    Value::Object(t)
                })
                .collect(),
        );
    }
    json_response(StatusCode::OK, &body)
}

/// The body of `POST …/tools/call`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    server_id: Option<String>,
    #[serde(default)]
    server_name: Option<String>,
}

async fn call(state: &State, req: HttpRequest) -> Response<McpBody> {
    if req.method() != http::Method::POST {
        return method_not_allowed("POST", req.uri().path());
    }
    let (parts, bytes) = match read_body(req, state.max_body_bytes).await {
        Ok(x) => x,
        Err(e) => return call_error(e.status(), "invalid_request", e.message()),
    };
    let body: CallBody = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return call_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!(
                    "the body must be {{\"name\": TOOL, \"arguments\": {{…}}, \"server_id\"?: SERVER}}: {e}"
                ),
            );
        }
    };
    let arguments = match body.arguments {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(other) => {
            return call_error(
                StatusCode::BAD_REQUEST,
                "invalid_arguments",
                format!(
                    "arguments of '{}' must be a JSON object, found {other}",
                    body.name
                ),
            );
        }
    };
    let server = body
        .server_id
        .or(body.server_name)
        .filter(|s| !s.is_empty());
    let ctx = state.plane.context(&parts, Endpoint::Rest);
    let name = match resolve_name(state, &ctx, &body.name, server.as_deref()).await {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    match state.plane.call_tool(&ctx, &name, arguments).await {
        Ok(raw) => crate::http::bytes_response(
            StatusCode::OK,
            "application/json",
            bytes::Bytes::from(raw.get().to_string()),
        ),
        Err(e)
            if e.kind() == McpErrorKind::InvalidParams
                && state.plane.resolve_tool(&name).is_none() =>
        {
            call_error(
                StatusCode::NOT_FOUND,
                "unknown_tool",
                format!(
                    "unknown tool '{}'; GET /mcp-rest/tools/list lists the tools ({})",
                    body.name,
                    e.message()
                ),
            )
        }
        Err(e) => plane_error(&e, false),
    }
}

/// The exposed name `name` stands for (see the module doc); an error response for an unknown
/// `server`.
async fn resolve_name(
    state: &State,
    ctx: &toolgate::McpContext,
    name: &str,
    server: Option<&str>,
) -> Result<String, Response<McpBody>> {
    if state.plane.resolve_tool(name).is_some() {
        return Ok(name.to_string());
    }
    if let Some(s) = server {
        if !state.plane.has_server(s) {
            return Err(call_error(
                StatusCode::NOT_FOUND,
                "server_not_found",
                format!(
                    "no MCP server '{s}'; configured servers: {}",
                    state.plane.server_names().join(", ")
                ),
            ));
        }
        if let Some(exposed) = state.plane.exposed_name(s, name) {
            return Ok(exposed);
        }
    }
    // An OpenAI name from `format=openai`: map it back over the tools the caller can see.
    if let Ok(tools) = state.plane.list_tools(ctx).await {
        let names = NameMap::new(
            tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str)),
        );
        if let Some(mcp) = names.to_mcp(name) {
            return Ok(mcp.to_string());
        }
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use toolgate::jsonrpc::Method;
    use toolgate::{Identity, McpError};
    use tower::ServiceExt;

    use super::*;
    use crate::test_util::{json_of, mock_parts, request, result};

    fn alice() -> Identity {
        Identity {
            subject: "alice".into(),
            attributes: vec![("team".into(), "blue".into())],
        }
    }

    fn tools_page() -> serde_json::Value {
        json!({"tools": [
            {"name": "demo__echo", "description": "Echo", "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}}},
            {"name": "files.read", "inputSchema": {"properties": {"path": {"$ref": "#/$defs/P"}}, "$defs": {"P": {"type": "string"}}}}
        ]})
    }

    #[tokio::test]
    async fn list_goes_through_the_mcp_plane_with_the_callers_identity() {
        let (parts, mut handle) = mock_parts();
        let svc = RestService::list(&parts, &OpenAiOptions::default());
        let mut req = request("GET", "/mcp-rest/tools/list", "");
        req.extensions_mut().insert(alice());
        let call = tokio::spawn(svc.oneshot(req));
        let (mcp, reply) = handle.next_request().await.expect("a tools/list");
        assert_eq!(mcp.method(), &Method::ToolsList);
        assert_eq!(mcp.ctx.identity, Some(alice()));
        assert_eq!(mcp.ctx.extensions.get::<Endpoint>(), Some(&Endpoint::Rest));
        reply.send_response(result(tools_page()));
        let (status, body) = json_of(call.await.expect("join").expect("infallible")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["error"], Value::Null);
        assert_eq!(body["tools"][0]["name"], "demo__echo");
        assert_eq!(body["tools"].as_array().map(Vec::len), Some(2));
    }

    #[tokio::test]
    async fn list_in_openai_format_maps_names_and_inlines_refs() {
        let (parts, mut handle) = mock_parts();
        let svc = RestService::list(&parts, &OpenAiOptions::default());
        let call = tokio::spawn(svc.oneshot(request("GET", "/mcp/tools/list?format=openai", "")));
        let (_, reply) = handle.next_request().await.expect("a tools/list");
        reply.send_response(result(tools_page()));
        let (status, body) = json_of(call.await.expect("join").expect("infallible")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "demo__echo");
        let mapped = body["tools"][1]["function"]["name"].as_str().expect("name");
        assert!(mapped.starts_with("files_read_"), "{mapped}");
        assert_eq!(
            body["tools"][1]["function"]["parameters"]["properties"]["path"],
            json!({"type": "string"})
        );
    }

    #[tokio::test]
    async fn list_rejects_unknown_formats_and_servers() {
        let (parts, _handle) = mock_parts();
        let svc = RestService::list(&parts, &OpenAiOptions::default());
        let (status, body) = json_of(
            svc.clone()
                .oneshot(request("GET", "/mcp-rest/tools/list?format=xml", ""))
                .await
                .expect("infallible"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "unsupported_format");
        assert_eq!(body["tools"], json!([]));
        let (status, body) = json_of(
            svc.oneshot(request("GET", "/mcp-rest/tools/list?server_id=nope", ""))
                .await
                .expect("infallible"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "server_not_found");
    }

    #[tokio::test]
    async fn call_maps_an_openai_name_back_and_passes_the_identity() {
        let (parts, mut handle) = mock_parts();
        let svc = RestService::call(&parts, &OpenAiOptions::default());
        let mapped = crate::convert::openai_name("files.read").into_owned();
        let body = json!({"name": mapped, "arguments": {"path": "/tmp/x"}}).to_string();
        let mut req = request("POST", "/mcp-rest/tools/call", &body);
        req.extensions_mut().insert(alice());
        let call = tokio::spawn(svc.oneshot(req));
        let (list, reply) = handle.next_request().await.expect("a tools/list");
        assert_eq!(list.method(), &Method::ToolsList);
        reply.send_response(result(tools_page()));
        let (mcp, reply) = handle.next_request().await.expect("a tools/call");
        assert_eq!(mcp.method(), &Method::ToolsCall);
        assert_eq!(mcp.target(), Some("files.read"));
        assert_eq!(mcp.ctx.identity, Some(alice()));
        let params: serde_json::Value = mcp.message.params_as().expect("params");
        assert_eq!(params["arguments"], json!({"path": "/tmp/x"}));
        reply.send_response(result(
            json!({"content": [{"type": "text", "text": "data"}]}),
        ));
        let (status, body) = json_of(call.await.expect("join").expect("infallible")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"content": [{"type": "text", "text": "data"}]}));
    }

    #[tokio::test]
    async fn call_errors_keep_their_meaning_as_statuses() {
        let (parts, mut handle) = mock_parts();
        let svc = RestService::call(&parts, &OpenAiOptions::default());
        let body = json!({"name": "demo__echo", "arguments": {}}).to_string();
        let call = tokio::spawn(svc.oneshot(request("POST", "/mcp-rest/tools/call", &body)));
        let (_, reply) = handle.next_request().await.expect("a tools/list");
        reply.send_response(result(json!({"tools": []})));
        let (_, reply) = handle.next_request().await.expect("a tools/call");
        reply.send_error(McpError::upstream_unavailable(
            "demo",
            "upstream 'demo' is down",
        ));
        let (status, body) = json_of(call.await.expect("join").expect("infallible")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"], "upstream_unavailable");
        assert_eq!(body["jsonrpc_error"]["code"], -31000);
    }

    #[tokio::test]
    async fn bad_call_bodies_are_400_or_405() {
        let (parts, _handle) = mock_parts();
        let svc = RestService::call(&parts, &OpenAiOptions::default());
        for (body, needle) in [
            (
                r#"{"name": "x", "argument": {}}"#,
                "unknown field `argument`",
            ),
            (r#"{"arguments": {}}"#, "missing field `name`"),
            (
                r#"{"name": "x", "arguments": [1]}"#,
                "must be a JSON object",
            ),
            ("not json", "the body must be"),
        ] {
            let (status, out) = json_of(
                svc.clone()
                    .oneshot(request("POST", "/mcp-rest/tools/call", body))
                    .await
                    .expect("infallible"),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            let message = out["message"].as_str().unwrap_or_default();
            assert!(message.contains(needle), "{body}: {message}");
        }
        let resp = svc
            .oneshot(request("GET", "/mcp-rest/tools/call", ""))
            .await
            .expect("infallible");
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            resp.headers().get("allow").map(|v| v.as_bytes()),
            Some(&b"POST"[..])
        );
    }

    #[tokio::test]
    async fn oversized_calls_are_413() {
        let (parts, _handle) = mock_parts();
        let svc = RestService::call(&parts, &OpenAiOptions::default().max_body_bytes(64));
        let body = json!({"name": "x", "arguments": {"pad": "y".repeat(200)}}).to_string();
        let resp = svc
            .oneshot(request("POST", "/mcp-rest/tools/call", &body))
            .await
            .expect("infallible");
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
