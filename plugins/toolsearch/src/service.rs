//! [`ToolSearch`]: answers `tools/list` with the meta-tools, runs searches, and turns
//! `call_tool` into the call it names.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use toolgate::jsonrpc::{JsonRpcRequest, Method};
use toolgate::{McpError, McpRequest, McpResponse};
use tower::{Service, ServiceExt};

use crate::index::Index;
use crate::layer::Shared;
use crate::settings::Policy;

/// The tool search over an inner MCP service. Made by
/// [`ToolSearchLayer`](crate::ToolSearchLayer).
#[derive(Clone)]
pub struct ToolSearch<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for ToolSearch<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolSearch")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> ToolSearch<S> {
    pub(crate) fn from_parts(inner: S, shared: Arc<Shared>) -> Self {
        ToolSearch { inner, shared }
    }
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

impl<S> Service<McpRequest> for ToolSearch<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> BoxFuture {
        let policy = &self.shared.policy;
        let meta = match req.method() {
            Method::ToolsList => Some(Meta::List),
            Method::ToolsCall => match req.target() {
                Some(t) if t == policy.search_tool => Some(Meta::Search),
                Some(t) if t == policy.call_tool => Some(Meta::Call),
                _ => None,
            },
            _ => None,
        };
        let Some(meta) = meta else {
            return Box::pin(self.inner.call(req));
        };
        let inner = self.inner.clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            match meta {
                Meta::List => list(inner, &shared, req).await,
                Meta::Search => search(inner, &shared, req).await,
                Meta::Call => call_named(inner, &shared.policy, req).await,
            }
        })
    }
}

enum Meta {
    List,
    Search,
    Call,
}

/// Every tool the caller could list through the layers inside this one, all pages.
async fn visible_tools<S>(inner: S, req: &McpRequest) -> Result<Vec<Value>, McpError>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone,
{
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        #[serde(default)]
        tools: Vec<Value>,
        next_cursor: Option<String>,
    }
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    // A bound on pages, against an inner service that never stops paging.
    for _ in 0..10_000 {
        let params = cursor
            .as_ref()
            .map(|c| toolgate::jsonrpc::to_raw(&json!({"cursor": c})))
            .transpose()?;
        let mut list = McpRequest::new(
            JsonRpcRequest::new(req.message.id.clone(), Method::ToolsList, params),
            req.ctx.clone(),
        );
        if let Some(routes) = req.routes() {
            list.route_with(routes);
        }
        let page: Page = inner.clone().oneshot(list).await?.result_as()?;
        tools.extend(page.tools);
        match page.next_cursor {
            Some(next) if !next.is_empty() => cursor = Some(next),
            _ => return Ok(tools),
        }
    }
    Err(McpError::internal(
        "tools/list kept returning a next cursor",
    ))
}

fn meta_tools(policy: &Policy) -> [Value; 2] {
    [
        json!({
            "name": policy.search_tool,
            "title": "Search tools",
            "description": format!(
                "Find tools by what they do: describe the task in a few words. Returns the best \
                 matches with their names, descriptions and input schemas; call one with {}.",
                policy.call_tool
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What you want to do, in words"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": policy.max_limit,
                              "description": format!("How many matches (default {})", policy.limit)}
                },
                "required": ["query"]
            },
            "annotations": {"readOnlyHint": true}
        }),
        json!({
            "name": policy.call_tool,
            "title": "Call a tool",
            "description": format!(
                "Call a tool found with {} by its name, with arguments that match its input schema.",
                policy.search_tool
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The tool's name, as the search returned it"},
                    "arguments": {"type": "object", "description": "The tool's arguments"}
                },
                "required": ["name"]
            }
        }),
    ]
}

async fn list<S>(inner: S, shared: &Shared, req: McpRequest) -> Result<McpResponse, McpError>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone,
{
    let policy = &shared.policy;
    let mut tools: Vec<Value> = meta_tools(policy).into();
    if !policy.always_expose.is_empty() {
        let visible = visible_tools(inner, &req).await?;
        tools.extend(visible.into_iter().filter(|t| {
            t.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| policy.always_expose.iter().any(|e| e == n))
        }));
    }
    McpResponse::from_typed(&json!({ "tools": tools }))
}

/// `arguments` of a meta-tool call.
fn arguments(req: &McpRequest) -> Result<Map<String, Value>, McpError> {
    let params = req.params_map()?;
    match params.get("arguments") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(args)) => Ok(args.clone()),
        Some(_) => Err(McpError::invalid_params("arguments must be an object")),
    }
}

async fn search<S>(inner: S, shared: &Shared, req: McpRequest) -> Result<McpResponse, McpError>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone,
{
    let policy = &shared.policy;
    let args = arguments(&req)?;
    let query = match args.get("query") {
        Some(Value::String(q)) if !q.trim().is_empty() => q.clone(),
        _ => {
            return Err(McpError::invalid_params(format!(
                "{} needs arguments.query: what you want to do, in words",
                policy.search_tool
            )));
        }
    };
    let limit = match args.get("limit") {
        None | Some(Value::Null) => policy.limit,
        Some(v) => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n >= 1 => n.min(policy.max_limit),
            _ => {
                return Err(McpError::invalid_params(format!(
                    "arguments.limit must be a whole number from 1 to {}",
                    policy.max_limit
                )));
            }
        },
    };
    let caller: Arc<str> = req
        .ctx
        .identity
        .as_ref()
        .map_or_else(|| Arc::from(""), |i| Arc::from(i.subject.as_str()));
    let index = match shared.current(&caller) {
        Some(index) => index,
        None => {
            let generation = shared.generation();
            let tools = visible_tools(inner, &req).await?;
            let index = Arc::new(Index::new(tools));
            shared.keep(caller, generation, index.clone());
            index
        }
    };
    let found: Vec<Value> = index
        .search(&query, limit)
        .into_iter()
        .map(|(tool, score)| {
            let mut entry = Map::new();
            for key in ["name", "title", "description", "inputSchema"] {
                if let Some(v) = tool.get(key) {
                    entry.insert(key.into(), v.clone());
                }
            }
            entry.insert("score".into(), json!((score * 1000.0).round() / 1000.0));
            Value::Object(entry)
        })
        .collect();
    let structured = json!({"tools": found, "catalog_size": index.len()});
    let text = if found.is_empty() {
        format!(
            "No tool matches '{query}' among {} tools; try other words.",
            index.len()
        )
    } else {
        serde_json::to_string(&structured).map_err(|e| McpError::internal(e.to_string()))?
    };
    McpResponse::from_typed(&json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": structured,
    }))
}

async fn call_named<S>(
    inner: S,
    policy: &Policy,
    mut req: McpRequest,
) -> Result<McpResponse, McpError>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    let args = arguments(&req)?;
    let name = match args.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => {
            return Err(McpError::invalid_params(format!(
                "{} needs arguments.name: a tool name {} returned",
                policy.call_tool, policy.search_tool
            )));
        }
    };
    if name == policy.call_tool || name == policy.search_tool {
        return Err(McpError::invalid_params(format!(
            "{} calls catalog tools, not '{name}'",
            policy.call_tool
        )));
    }
    let mut params = Map::new();
    params.insert("name".into(), Value::String(name));
    params.insert(
        "arguments".into(),
        args.get("arguments").cloned().unwrap_or_else(|| json!({})),
    );
    if let Ok(original) = req.params_map()
        && let Some(meta) = original.get("_meta")
    {
        params.insert("_meta".into(), meta.clone());
    }
    let raw: Box<RawValue> = toolgate::jsonrpc::to_raw(&params)?;
    req.set_params(Some(raw));
    inner.oneshot(req).await
}
