//! OpenAI-compatible chat completions in front of the models of `model_list`.
//!
//! - `POST /v1/chat/completions`, `POST /chat/completions`: the request goes to the model named
//!   by `model` (its `model_name`), with the upstream model name, the model's API key and its
//!   request defaults; the answer — JSON, SSE stream, or error with its status — comes back as
//!   the model sent it. An unknown model is 404 `model_not_found`, in OpenAI's error shape.
//! - A request tool `{"type": "mcp", …}` makes the gateway offer its MCP tools and run the
//!   model's calls of them itself (see `docs/openai.md`).
//! - `GET /v1/models`, `GET /models`: the configured models.

pub mod models;
mod stream;
mod tools;
mod upstream;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};
use toolgate::gateway::GatewayParts;
use toolgate::server::{HttpRequest, McpBody};
use tower::Service;

pub use models::{Model, Models};

use crate::OpenAiOptions;
use crate::convert::ToolCall;
use crate::http::{
    bytes_response, json_response, method_not_allowed, openai_error, read_body, status_of,
    with_retry_after,
};
use crate::plane::{Endpoint, Plane};
use tools::{Offered, add_usage, execute, take_mcp_tools};
use upstream::{LlmClient, is_event_stream, read_all, relay, stream_through};

/// The paths of the chat-completions route.
pub const CHAT_PATHS: [&str; 2] = ["/v1/chat/completions", "/chat/completions"];
/// Most tools OpenAI accepts in one request (other providers may take more, so it is only
/// logged).
const OPENAI_MAX_TOOLS: usize = 128;
/// The paths of the model list.
pub const MODELS_PATHS: [&str; 2] = ["/v1/models", "/models"];

#[derive(Debug)]
struct State {
    plane: Plane,
    models: Arc<Models>,
    client: LlmClient,
    options: OpenAiOptions,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone)]
pub struct ChatService {
    state: Arc<State>,
}

impl ChatService {
    /// Chat completions for `models`, running MCP tools through `parts`' MCP plane.
    pub fn new(parts: &GatewayParts, models: Arc<Models>, options: &OpenAiOptions) -> Self {
        ChatService {
            state: Arc::new(State {
                plane: Plane::new(parts),
                models,
                client: LlmClient::new(),
                options: options.clone(),
            }),
        }
    }
}

impl Service<HttpRequest> for ChatService {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move { Ok(chat(&state, req).await) })
    }
}

fn bad_request(param: Option<&str>, message: impl Into<String>) -> Response<McpBody> {
    openai_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        param,
        message,
    )
}

async fn chat(state: &State, req: HttpRequest) -> Response<McpBody> {
    if req.method() != http::Method::POST {
        return method_not_allowed("POST", req.uri().path());
    }
    let (parts, bytes) = match read_body(req, state.options.max_body_bytes).await {
        Ok(x) => x,
        Err(e) => {
            return openai_error(e.status(), "invalid_request_error", None, None, e.message());
        }
    };
    let mut body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return bad_request(None, "the request body must be a JSON object"),
        Err(e) => return bad_request(None, format!("the request body is not valid JSON: {e}")),
    };
    let name = match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => {
            return bad_request(
                Some("model"),
                "you must provide a model parameter (a string)",
            );
        }
    };
    let Some(model) = state.models.get(&name) else {
        if let Some(why) = state.models.broken(&name) {
            return openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                Some("model_misconfigured"),
                Some("model"),
                why,
            );
        }
        let known = state.models.names();
        return openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            Some("model"),
            if known.is_empty() {
                format!("The model '{name}' does not exist: this gateway has no model_list")
            } else {
                format!(
                    "The model '{name}' does not exist; this gateway serves: {}",
                    known.join(", ")
                )
            },
        );
    };
    let stream = body.get("stream") == Some(&Value::Bool(true));
    let specs = match take_mcp_tools(&mut body, &state.plane) {
        Ok(s) => s,
        Err(message) => return bad_request(Some("tools"), message),
    };
    if specs.is_empty() {
        return forward(state, model, body, stream).await;
    }
    let ctx = state.plane.context(&parts, Endpoint::ChatCompletions);
    let listed = match state.plane.list_tools(&ctx).await {
        Ok(l) => l,
        Err(e) => {
            let r = openai_error(
                status_of(&e),
                "mcp_error",
                None,
                Some("tools"),
                format!("could not list the gateway's MCP tools: {}", e.message()),
            );
            return with_retry_after(r, &e);
        }
    };
    let offered = Offered::new(listed, &specs, &state.plane, state.options.strict);
    run_tools(state, &ctx, model, body, offered, stream).await
}

/// The body sent upstream: the upstream model name and the model's defaults.
fn upstream_body(model: &Model, body: &Map<String, Value>) -> Bytes {
    let mut body = body.clone();
    body.insert("model".into(), Value::String(model.upstream_model.clone()));
    for (k, v) in &model.defaults {
        body.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Bytes::from(Value::Object(body).to_string())
}

/// Plain forwarding: the model's answer as it comes.
async fn forward(
    state: &State,
    model: &Model,
    body: Map<String, Value>,
    stream: bool,
) -> Response<McpBody> {
    let resp = match state
        .client
        .send(model, upstream_body(model, &body), stream)
        .await
    {
        Ok(r) => r,
        Err(e) => return e.response(model),
    };
    if stream && resp.status().is_success() && is_event_stream(&resp) {
        return stream_through(model, resp);
    }
    match read_all(model, resp).await {
        Ok(answer) => relay(model, answer),
        Err(e) => e.response(model),
    }
}

/// The server-side tool loop (see [`tools`]).
async fn run_tools(
    state: &State,
    ctx: &toolgate::McpContext,
    model: &Model,
    mut body: Map<String, Value>,
    offered: Offered,
    stream: bool,
) -> Response<McpBody> {
    let mut tools: Vec<Value> = match body.remove("tools") {
        Some(Value::Array(t)) => t,
        _ => Vec::new(),
    };
    for t in &tools {
        if let Some(name) = t.pointer("/function/name").and_then(Value::as_str)
            && offered.tools.contains(name)
        {
            return bad_request(
                Some("tools"),
                format!(
                    "the function tool '{name}' has the name of one of the gateway's MCP tools; rename it"
                ),
            );
        }
    }
    tools.extend(offered.as_json());
    if tools.len() > OPENAI_MAX_TOOLS {
        tracing::warn!(
            model = %model.name,
            tools = tools.len(),
            "more tools than OpenAI accepts in one request ({OPENAI_MAX_TOOLS}); narrow them with allowed_tools or server_label"
        );
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if !matches!(body.get("messages"), Some(Value::Array(_))) {
        return bad_request(Some("messages"), "messages must be a list of chat messages");
    }
    let include_usage = body
        .remove("stream_options")
        .is_some_and(|o| o.get("include_usage") == Some(&Value::Bool(true)));
    body.insert("stream".into(), Value::Bool(false));
    let mut usage: Option<Value> = None;
    let max_rounds = state.options.max_tool_rounds;
    for round in 0..=max_rounds {
        let resp = match state
            .client
            .send(model, upstream_body(model, &body), false)
            .await
        {
            Ok(r) => r,
            Err(e) => return e.response(model),
        };
        let answer = match read_all(model, resp).await {
            Ok(a) => a,
            Err(e) => return e.response(model),
        };
        if !answer.status.is_success() {
            return relay(model, answer);
        }
        let Ok(mut completion) = serde_json::from_slice::<Value>(&answer.body) else {
            return relay(model, answer);
        };
        add_usage(&mut usage, completion.get("usage"));
        let message = completion
            .pointer("/choices/0/message")
            .cloned()
            .unwrap_or(Value::Null);
        // Tool calls the gateway cannot read (another tool type) are the client's to handle.
        let calls: Option<Vec<ToolCall>> = match message.get("tool_calls") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(v) => serde_json::from_value(v.clone()).ok(),
        };
        let runnable = calls.filter(|c| !c.is_empty() && c.iter().all(|c| offered.runs(c)));
        let Some(calls) = runnable else {
            if round > 0
                && let Some(u) = &usage
            {
                completion["usage"] = u.clone();
            }
            return finish(&completion, stream, include_usage);
        };
        if round == max_rounds {
            break;
        }
        let Some(Value::Array(messages)) = body.get_mut("messages") else {
            return bad_request(Some("messages"), "messages must be a list of chat messages");
        };
        messages.push(message);
        let results = futures_util::future::join_all(
            calls
                .iter()
                .map(|c| execute(&state.plane, ctx, &offered, c)),
        )
        .await;
        messages.extend(
            results
                .into_iter()
                .filter_map(|m| serde_json::to_value(m).ok()),
        );
        // A forced tool choice would force a call every round: from now on the model decides.
        if matches!(
            body.get("tool_choice"),
            Some(Value::Object(_)) | Some(Value::String(_))
        ) && body.get("tool_choice") != Some(&json!("none"))
        {
            body.insert("tool_choice".into(), json!("auto"));
        }
    }
    openai_error(
        StatusCode::BAD_GATEWAY,
        "upstream_error",
        Some("tool_rounds_exceeded"),
        None,
        format!(
            "model '{}' still asked for tools after {max_rounds} rounds of MCP tool calls; the gateway stops there (--chat-max-tool-rounds)",
            model.name
        ),
    )
}

/// The final answer, as JSON or as a stream.
fn finish(completion: &Value, stream: bool, include_usage: bool) -> Response<McpBody> {
    if stream {
        let mut r = bytes_response(
            StatusCode::OK,
            "text/event-stream",
            stream::completion_to_sse(completion, include_usage),
        );
        r.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-cache"),
        );
        r
    } else {
        json_response(StatusCode::OK, completion)
    }
}

/// `GET /v1/models`.
#[derive(Debug, Clone)]
pub struct ModelsService {
    models: Arc<Models>,
    created: u64,
}

impl ModelsService {
    /// The list of `models`.
    pub fn new(models: Arc<Models>) -> Self {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        ModelsService { models, created }
    }
}

impl Service<HttpRequest> for ModelsService {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<McpBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        if req.method() != http::Method::GET {
            return std::future::ready(Ok(method_not_allowed("GET", req.uri().path())));
        }
        let data: Vec<Value> = self
            .models
            .iter()
            .map(|m| json!({"id": m.name, "object": "model", "created": self.created, "owned_by": "toolgate"}))
            .collect();
        std::future::ready(Ok(json_response(
            StatusCode::OK,
            &json!({"object": "list", "data": data}),
        )))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use toolgate::config::ModelEntry;
    use toolgate::jsonrpc::Method;
    use toolgate::{Identity, McpError};
    use tower::ServiceExt;

    use super::*;
    use crate::test_util::{fake_llm, json_of, mock_parts, request, result};

    fn models(base: &str) -> Arc<Models> {
        let entry = ModelEntry {
            model_name: "gpt".into(),
            model: "openai/fake".into(),
            api_base: Some(base.into()),
            api_key: None,
            extra: Map::new(),
        };
        Arc::new(Models::from_config(&[entry]).expect("a valid model"))
    }

    fn completion(message: Value) -> Value {
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "fake",
               "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    }

    fn bob() -> Identity {
        Identity {
            subject: "bob".into(),
            attributes: Vec::new(),
        }
    }

    #[tokio::test]
    async fn server_side_tool_calls_carry_the_callers_identity() {
        let call = json!({"id": "call_1", "type": "function",
                          "function": {"name": "demo__echo", "arguments": "{\"message\": \"hi\"}"}});
        let (base, seen) = fake_llm(vec![
            completion(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            completion(json!({"role": "assistant", "content": "done"})),
        ])
        .await;
        let (parts, mut handle) = mock_parts();
        let svc = ChatService::new(&parts, models(&base), &OpenAiOptions::default());
        let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "go"}],
                          "tools": [{"type": "mcp", "server_label": "x", "require_approval": "never"}]});
        let mut req = request("POST", "/v1/chat/completions", &body.to_string());
        req.extensions_mut().insert(bob());
        let chat = tokio::spawn(svc.oneshot(req));

        let (list, reply) = handle.next_request().await.expect("tools/list");
        assert_eq!(list.method(), &Method::ToolsList);
        assert_eq!(list.ctx.identity, Some(bob()));
        assert_eq!(
            list.ctx.extensions.get::<Endpoint>(),
            Some(&Endpoint::ChatCompletions)
        );
        reply.send_response(result(json!({"tools": [
            {"name": "demo__echo", "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}}}
        ]})));
        let (run, reply) = handle.next_request().await.expect("tools/call");
        assert_eq!(run.method(), &Method::ToolsCall);
        assert_eq!(run.target(), Some("demo__echo"));
        assert_eq!(run.ctx.identity, Some(bob()));
        reply.send_response(result(json!({"content": [{"type": "text", "text": "hi"}]})));

        let (status, out) = json_of(chat.await.expect("join").expect("infallible")).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        assert_eq!(out["choices"][0]["message"]["content"], "done");
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0]["model"], "fake");
        assert_eq!(seen[0]["tools"][0]["function"]["name"], "demo__echo");
        assert_eq!(
            seen[1]["messages"][2],
            json!({"role": "tool", "tool_call_id": "call_1", "content": "hi"})
        );
    }

    #[tokio::test]
    async fn failing_tools_are_reported_to_the_model() {
        let call = json!({"id": "call_1", "type": "function",
                          "function": {"name": "demo__echo", "arguments": "[1]"}});
        let call2 = json!({"id": "call_2", "type": "function",
                           "function": {"name": "demo__echo", "arguments": "{}"}});
        let (base, seen) = fake_llm(vec![
            completion(json!({"role": "assistant", "tool_calls": [call, call2]})),
            completion(json!({"role": "assistant", "content": "sorry"})),
        ])
        .await;
        let (parts, mut handle) = mock_parts();
        let svc = ChatService::new(&parts, models(&base), &OpenAiOptions::default());
        let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "go"}],
                          "tools": [{"type": "mcp", "require_approval": "never"}]});
        let chat =
            tokio::spawn(svc.oneshot(request("POST", "/v1/chat/completions", &body.to_string())));
        let (_, reply) = handle.next_request().await.expect("tools/list");
        reply.send_response(result(
            json!({"tools": [{"name": "demo__echo", "inputSchema": {}}]}),
        ));
        // call_1 never reaches the plane (its arguments are an array); call_2 fails upstream.
        let (_, reply) = handle.next_request().await.expect("tools/call");
        reply.send_error(McpError::upstream_unavailable(
            "demo",
            "upstream 'demo' is down",
        ));
        let (status, out) = json_of(chat.await.expect("join").expect("infallible")).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let messages = seen[1]["messages"].as_array().cloned().unwrap_or_default();
        let first = messages[2]["content"].as_str().unwrap_or_default();
        assert!(
            first.starts_with("Error: ") && first.contains("is an array"),
            "{first}"
        );
        let second = messages[3]["content"].as_str().unwrap_or_default();
        assert!(second.contains("upstream 'demo' is down"), "{second}");
    }
}

#[cfg(test)]
mod tls_tests {
    use serde_json::json;
    use toolgate::config::ModelEntry;
    use tower::ServiceExt;

    use super::*;
    use crate::test_util::{fake_llm, json_of, mock_parts, request};

    #[tokio::test]
    async fn https_models_go_through_tls() {
        // A plain-HTTP server behind an https:// base: the TLS handshake must be tried, and fail.
        let (base, seen) = fake_llm(vec![json!({})]).await;
        let entry = ModelEntry {
            model_name: "secure".into(),
            model: "openai/x".into(),
            api_base: Some(base.replace("http://", "https://")),
            api_key: Some("k".into()),
            extra: Map::new(),
        };
        let models = Arc::new(Models::from_config(&[entry]).expect("a valid model"));
        let (parts, _handle) = mock_parts();
        let svc = ChatService::new(&parts, models, &OpenAiOptions::default());
        let body = json!({"model": "secure", "messages": []}).to_string();
        let (status, out) = json_of(
            svc.oneshot(request("POST", "/v1/chat/completions", &body))
                .await
                .expect("infallible"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{out}");
        assert_eq!(out["error"]["code"], "model_unreachable");
        assert!(
            seen.lock().map(|s| s.is_empty()).unwrap_or(false),
            "no plain HTTP request"
        );
    }
}
