//! The MCP-plane envelope: one client request and its context, one raw result.
//!
//! Every MCP-plane policy is a `tower::Layer` over [`McpService`]; every inbound transport ends
//! in the [`Dispatcher`](crate::Dispatcher), which turns messages into [`McpRequest`]s.

use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::error::McpError;
use crate::jsonrpc::{JsonRpcRequest, Method};
use crate::route::{Resolve, Route};
use crate::session::{Downstream, SessionInfo};

/// Who is calling, as established by the HTTP plane (API key, JWT) or configured for stdio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// A stable name for the caller: key name or token subject.
    pub subject: String,
    /// Free-form attributes (claims, key labels) for authorization policies.
    pub attributes: Vec<(String, String)>,
}

/// The address an HTTP request came from, in its extensions when [`Gateway::serve`](crate::gateway::Gateway::serve)
/// accepted the connection (absent when the router is mounted in another server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The caller's bearer token as the HTTP plane validated it (a JWT checked by `use: auth`),
/// kept in the request extensions for upstreams configured to act on the caller's behalf
/// (RFC 8693 token exchange, or `forward_authorization: true`). Only validated JWTs are put
/// here — never API keys. `Debug` does not show it.
#[derive(Clone)]
pub struct CallerToken(Arc<str>);

impl CallerToken {
    /// Wraps a validated bearer token.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        CallerToken(token.into())
    }
    /// The token itself (a secret: do not log it).
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CallerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerToken(<redacted>)")
    }
}

/// The context a request travels with.
#[derive(Debug, Clone)]
pub struct McpContext {
    /// The downstream session: id, negotiated protocol version, client info, transport.
    pub session: Arc<SessionInfo>,
    /// The caller, if the HTTP plane established one.
    pub identity: Option<Identity>,
    /// A handle to notify the calling client (progress, log messages).
    pub downstream: Downstream,
    /// Fires when the client cancels the request or goes away.
    pub cancel: CancellationToken,
    /// Anything a layer wants to hand to the next.
    pub extensions: http::Extensions,
}

/// One client request on the MCP plane. A clone is the same request again — same id, context,
/// cancellation and route — for layers that send it more than once (retries).
#[derive(Debug, Clone)]
pub struct McpRequest {
    /// The message as it arrived.
    pub message: JsonRpcRequest,
    /// Its context.
    pub ctx: McpContext,
    target: OnceLock<Option<String>>,
    route: Option<Route>,
    routes: Option<Arc<dyn Resolve>>,
}

impl McpRequest {
    /// Wraps a message and its context.
    pub fn new(message: JsonRpcRequest, ctx: McpContext) -> Self {
        McpRequest {
            message,
            ctx,
            target: OnceLock::new(),
            route: None,
            routes: None,
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.message.method
    }

    /// Where the request's [target](McpRequest::target) leads — upstream server and original
    /// name — as the gateway's routing step decided it, before any policy ran. `None` for
    /// requests without a target (lists, `ping` …) and for names nothing serves. Policies that
    /// decide per server or tool read it; none of them looks anything up itself.
    pub fn route(&self) -> Option<&Route> {
        self.route.as_ref()
    }

    /// Routes the request with `routes` (the gateway's aggregate): decides [`route`](Self::route)
    /// now and keeps `routes` for [`retarget`](Self::retarget) and [`lookup`](Self::lookup).
    pub fn route_with(&mut self, routes: Arc<dyn Resolve>) {
        self.route = self
            .target()
            .and_then(|t| routes.resolve(&self.message.method, t));
        self.routes = Some(routes);
    }

    /// Sets the route by hand (custom stacks and tests that run no routing step).
    pub fn set_route(&mut self, route: Option<Route>) {
        self.route = route;
    }

    /// The table this request was routed with (`None` when it was not routed): for policies
    /// that look up other names than the request's own, such as items of a list answer.
    pub fn routes(&self) -> Option<Arc<dyn Resolve>> {
        self.routes.clone()
    }

    /// Where `name` would lead for `method`, in the table this request was routed with (`None`
    /// when it was not routed). For policies that map names, such as a tool filter's renames.
    pub fn lookup(&self, method: &Method, name: &str) -> Option<Route> {
        self.routes.as_ref()?.resolve(method, name)
    }

    /// Replaces the params; the target is read again from them, the route stays (for a request
    /// on its way to the upstream the route decided: params in the upstream's own names).
    pub fn replace_params(&mut self, params: Option<Box<RawValue>>) {
        self.message.params = params;
        self.target = OnceLock::new();
    }

    /// Replaces the params; the target is read again from them and, if the request was
    /// routed, the route is decided again for it.
    pub fn set_params(&mut self, params: Option<Box<RawValue>>) {
        self.replace_params(params);
        self.route = match &self.routes {
            Some(routes) => self
                .target()
                .and_then(|t| routes.resolve(&self.message.method, t)),
            None => None,
        };
    }

    /// Points the request at another tool or prompt: `params.name` becomes `name` (one splice
    /// of the raw params) and the route is decided again for it.
    pub fn retarget(&mut self, name: &str) -> Result<(), McpError> {
        let params = crate::params::RawParams::parse_opt(self.message.params.as_deref())?
            .with_member("name", &crate::params::json_text(name)?)?;
        self.set_params(Some(params));
        Ok(())
    }

    /// The params as a JSON object map (a typed view for code that edits them).
    pub fn params_map(&self) -> Result<serde_json::Map<String, serde_json::Value>, McpError> {
        self.message.params_as()
    }

    /// What the request is about: the tool or prompt name (`params.name`) or the resource URI
    /// (`params.uri`), read once from the raw params and cached.
    pub fn target(&self) -> Option<&str> {
        self.target
            .get_or_init(|| {
                let key = match self.message.method {
                    Method::ToolsCall | Method::PromptsGet => "name",
                    Method::ResourcesRead
                    | Method::ResourcesSubscribe
                    | Method::ResourcesUnsubscribe => "uri",
                    _ => return None,
                };
                let params = self.message.params.as_deref()?;
                target_of(params, key)
            })
            .as_deref()
    }
}

/// Reads one top-level string member of a params object without building a tree.
pub(crate) fn target_of(params: &RawValue, key: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Name {
        name: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Uri {
        uri: Option<String>,
    }
    // A struct also deserializes from an array (`["x"]` would read as name `x`).
    if !params.get().starts_with('{') {
        return None;
    }
    if key == "name" {
        serde_json::from_str::<Name>(params.get()).ok()?.name
    } else {
        serde_json::from_str::<Uri>(params.get()).ok()?.uri
    }
}

/// A successful result, raw: the `result` member of the JSON-RPC response.
#[derive(Debug)]
pub struct McpResponse {
    /// The result object.
    pub result: Box<RawValue>,
}

impl McpResponse {
    /// Wraps a raw result.
    pub fn new(result: Box<RawValue>) -> Self {
        McpResponse { result }
    }

    /// Serializes a typed result (rmcp model types).
    pub fn from_typed<T: serde::Serialize>(value: &T) -> Result<Self, McpError> {
        Ok(McpResponse {
            result: crate::jsonrpc::to_raw(value)?,
        })
    }

    /// A typed view of the result.
    pub fn result_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, McpError> {
        serde_json::from_str(self.result.get())
            .map_err(|e| McpError::internal(format!("unexpected result shape: {e}")))
    }
}

/// The boxed, cloneable MCP-plane service every layer wraps.
pub type McpService = tower::util::BoxCloneSyncService<McpRequest, McpResponse, McpError>;
