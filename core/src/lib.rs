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
pub mod jsonrpc;
mod lines;
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
pub use envelope::{Identity, McpContext, McpRequest, McpResponse, McpService};
pub use error::{ErrorKind, McpError};
pub use outbound::Outbound;
