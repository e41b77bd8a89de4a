//! toolgate: a framework and gateway for the Model Context Protocol.
//!
//! Upstream MCP servers ([`upstream`]) are merged by an [`Aggregate`](aggregate::Aggregate)
//! behind one namespace; the MCP-plane stack ([`McpService`]) is reached through the
//! [`Dispatcher`] from every inbound transport ([`server`]). [`config`] reads the gateway's
//! YAML/JSON file and [`gateway`] assembles everything. See `docs/architecture.md`.

pub mod aggregate;
mod arguments;
pub mod config;
pub mod dispatcher;
pub mod envelope;
pub mod error;
pub mod gateway;
pub mod health;
pub mod http;
mod input_required;
pub mod jsonrpc;
mod lines;
pub mod oauth;
pub mod outbound;
pub mod params;
pub mod plugin_host;
#[cfg(test)]
mod proptests;
pub mod registry;
pub mod route;
pub mod server;
pub mod session;
pub mod upstream;

pub use dispatcher::Dispatcher;

/// What a Rust user composing a gateway needs in scope: `use toolgate::prelude::*;`.
///
/// Every policy is a plain `tower::Layer` ([`GatewayBuilder::layer`](gateway::GatewayBuilder::layer),
/// [`ServiceBuilder::layer`](tower::ServiceBuilder::layer)); components made of several layers
/// and routes (authentication, tracing, metrics, the OpenAI adapter) implement
/// [`Install`](gateway::Install) and go in with
/// [`GatewayBuilder::with`](gateway::GatewayBuilder::with). No extension trait is needed.
pub mod prelude {
    pub use crate::envelope::{Identity, McpContext, McpRequest, McpResponse, McpService};
    pub use crate::error::{ErrorKind, McpError};
    pub use crate::gateway::{Gateway, GatewayBuilder, Install, UpstreamTarget};
    pub use crate::outbound::Outbound;
    pub use crate::route::Route;
    pub use crate::upstream::{HttpSpec, StdioSpec, UpstreamSpec};
    pub use tower::{Layer, Service, ServiceBuilder, ServiceExt};
}
pub use envelope::{Identity, McpContext, McpRequest, McpResponse, McpService, PeerAddr};
pub use error::{ErrorKind, McpError};
pub use outbound::Outbound;
