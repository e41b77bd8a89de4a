//! Calls from the REST and chat routes into the gateway's MCP plane.
//!
//! Every call goes through the whole MCP-plane stack ([`GatewayParts::service`]), so every
//! policy that guards `/mcp` (authorization, rate limits, tool filters, logging, tracing)
//! guards these routes too. Each HTTP request gets a synthetic session (no id, transport
//! Streamable HTTP: it did arrive over HTTP) carrying the request's [`Identity`] and extensions
//! from the HTTP plane, plus an [`Endpoint`] extension saying which route made the call.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::{Aggregate, Route};
use toolgate::gateway::GatewayParts;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId, to_raw};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{Identity, McpContext, McpError, McpRequest, McpService};
use tower::ServiceExt;

/// Most pages followed when listing tools through the plane.
const MAX_PAGES: usize = 100;

/// Which route of this crate made an MCP-plane call: found in [`McpContext::extensions`], for
/// policies that treat them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/mcp/tools/…` or `/mcp-rest/tools/…`.
    Rest,
    /// `/v1/chat/completions` or `/chat/completions`, running tools for a model.
    ChatCompletions,
}

/// The MCP plane as the routes see it.
#[derive(Clone, Debug)]
pub(crate) struct Plane {
    service: McpService,
    aggregate: Aggregate,
    ids: Arc<AtomicI64>,
}

impl Plane {
    pub(crate) fn new(parts: &GatewayParts) -> Self {
        Plane {
            service: parts.service.clone(),
            aggregate: parts.aggregate.clone(),
            ids: Arc::new(AtomicI64::new(1)),
        }
    }

    /// A context for the calls made on behalf of one HTTP request.
    pub(crate) fn context(&self, parts: &http::request::Parts, endpoint: Endpoint) -> McpContext {
        let mut extensions = parts.extensions.clone();
        extensions.insert(endpoint);
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::StreamableHttp)),
            identity: parts.extensions.get::<Identity>().cloned(),
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions,
        }
    }

    /// One request through the stack.
    pub(crate) async fn request(
        &self,
        ctx: &McpContext,
        method: Method,
        params: Option<Box<RawValue>>,
    ) -> Result<Box<RawValue>, McpError> {
        let id = RequestId::Number(self.ids.fetch_add(1, Ordering::Relaxed));
        let req = McpRequest::new(JsonRpcRequest::new(id, method, params), ctx.clone());
        let resp = self.service.clone().oneshot(req).await?;
        Ok(resp.result)
    }

    /// Every tool the caller may see (all pages), as JSON objects.
    pub(crate) async fn list_tools(
        &self,
        ctx: &McpContext,
    ) -> Result<Vec<Map<String, Value>>, McpError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            tools: Vec<Value>,
            next_cursor: Option<String>,
        }
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => Some(to_raw(&serde_json::json!({"cursor": c}))?),
                None => None,
            };
            let raw = self.request(ctx, Method::ToolsList, params).await?;
            let page: Page = serde_json::from_str(raw.get())
                .map_err(|e| McpError::internal(format!("tools/list answered oddly: {e}")))?;
            tools.extend(page.tools.into_iter().filter_map(|t| match t {
                Value::Object(m) => Some(m),
                _ => None,
            }));
            match page.next_cursor {
                Some(c) if !c.is_empty() && Some(&c) != cursor.as_ref() => cursor = Some(c),
                _ => break,
            }
        }
        Ok(tools)
    }

    /// `tools/call` of the exposed tool `name`; the raw result.
    pub(crate) async fn call_tool(
        &self,
        ctx: &McpContext,
        name: &str,
        arguments: Option<Map<String, Value>>,
    ) -> Result<Box<RawValue>, McpError> {
        let mut params = Map::new();
        params.insert("name".into(), Value::String(name.to_string()));
        if let Some(args) = arguments {
            params.insert("arguments".into(), Value::Object(args));
        }
        self.request(ctx, Method::ToolsCall, Some(to_raw(&params)?))
            .await
    }

    /// Which upstream serves the exposed tool `name`, under which name.
    pub(crate) fn resolve_tool(&self, name: &str) -> Option<Route> {
        self.aggregate.resolve(&Method::ToolsCall, name)
    }

    /// The exposed name of upstream `server`'s tool `original`.
    pub(crate) fn exposed_name(&self, server: &str, original: &str) -> Option<String> {
        self.aggregate.tool_names().into_iter().find(|n| {
            self.resolve_tool(n)
                .is_some_and(|r| &*r.server == server && &*r.original == original)
        })
    }

    /// Whether an upstream is configured under `server`.
    pub(crate) fn has_server(&self, server: &str) -> bool {
        self.aggregate
            .members()
            .iter()
            .any(|m| m.upstream.name() == server)
    }

    /// Names of the configured upstreams.
    pub(crate) fn server_names(&self) -> Vec<String> {
        self.aggregate
            .members()
            .iter()
            .map(|m| m.upstream.name().to_string())
            .collect()
    }
}
