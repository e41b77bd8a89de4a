//! toolgate: a framework and gateway for the Model Context Protocol.

pub mod error;
pub mod envelope;
pub mod jsonrpc;
pub mod session;
pub mod upstream;

pub use envelope::{Identity, McpContext, McpRequest, McpResponse, McpService};
pub use error::{ErrorKind, McpError};
