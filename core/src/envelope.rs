//! The MCP-plane envelope: one client request and its context, one raw result.
//!
//! Every MCP-plane policy is a `tower::Layer` over [`McpService`]; every inbound transport ends
//! in the [`Dispatcher`](crate::Dispatcher), which turns messages into [`McpRequest`]s.

use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::aggregate::{Resolve, Resolved};
use crate::error::McpError;
use crate::jsonrpc::{JsonRpcRequest, Method};
use crate::session::{Downstream, SessionInfo};

/// Who is calling, as established by the HTTP plane (API key, JWT) or configured for stdio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// A stable name for the caller: key name or token subject.
    pub subject: String,
    /// Free-form attributes (claims, key labels) for authorization policies.
    pub attributes: Vec<(String, String)>,
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

/// One client request on the MCP plane.
#[derive(Debug)]
pub struct McpRequest {
    /// The message as it arrived.
    pub message: JsonRpcRequest,
    /// Its context.
    pub ctx: McpContext,
    target: OnceLock<Option<String>>,
    resolved: OnceLock<Option<Resolved>>,
}

impl McpRequest {
    /// Wraps a message and its context.
    pub fn new(message: JsonRpcRequest, ctx: McpContext) -> Self {
        McpRequest {
            message,
            ctx,
            target: OnceLock::new(),
            resolved: OnceLock::new(),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.message.method
    }

    /// Where the request's [target](McpRequest::target) leads — upstream server and original
    /// name — asked of `resolver` once and cached, so every policy layer that decides per server
    /// or tool reads the same answer without its own catalog lookup. (A gateway has one
    /// resolver, its `Aggregate`; the first one asked is the one that answers.)
    pub fn resolved(&self, resolver: &dyn Resolve) -> Option<&Resolved> {
        self.resolved
            .get_or_init(|| resolver.resolve(self.method(), self.target()?))
            .as_ref()
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
