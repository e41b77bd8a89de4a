//! What counts as the upstream failing, for the breaker and for retries.

use toolgate::McpResponse;
use toolgate::error::{ErrorKind, McpError};

/// How a request ended, from the upstream's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The upstream answered — with a result, a tool error or a JSON-RPC error of its own: it
    /// is up.
    Answered,
    /// The upstream could not be reached, died mid-call, timed out or broke the protocol.
    Failed,
    /// Says nothing about the upstream: the caller cancelled, or a limit in the gateway
    /// refused the request.
    Neither,
}

impl Outcome {
    pub(crate) fn of(result: &Result<McpResponse, McpError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Answered,
            Err(e) => Outcome::of_error(e),
        }
    }

    pub(crate) fn of_error(e: &McpError) -> Outcome {
        match e.kind() {
            ErrorKind::UpstreamUnavailable | ErrorKind::Timeout | ErrorKind::UpstreamProtocol => {
                Outcome::Failed
            }
            ErrorKind::Cancelled | ErrorKind::RateLimited => Outcome::Neither,
            _ => Outcome::Answered,
        }
    }
}
