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

/// `readOnlyHint: true` in a tool definition's annotations: the tool changes nothing.
pub(crate) fn read_only(definition: &str) -> bool {
    hints(definition).0
}

/// `readOnlyHint: true` or `idempotentHint: true`: calling the tool twice does no more than
/// calling it once.
pub(crate) fn safe_to_repeat(definition: &str) -> bool {
    let (read_only, idempotent) = hints(definition);
    read_only || idempotent
}

/// (`readOnlyHint`, `idempotentHint`) of a tool definition, false when absent or unreadable.
fn hints(definition: &str) -> (bool, bool) {
    // Most definitions carry no hints: skip parsing them.
    if !definition.contains("Hint") {
        return (false, false);
    }
    #[derive(serde::Deserialize)]
    struct Definition {
        #[serde(default)]
        annotations: Option<Annotations>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Annotations {
        #[serde(default)]
        read_only_hint: Option<bool>,
        #[serde(default)]
        idempotent_hint: Option<bool>,
    }
    serde_json::from_str::<Definition>(definition)
        .ok()
        .and_then(|d| d.annotations)
        .map_or((false, false), |a| {
            (
                a.read_only_hint == Some(true),
                a.idempotent_hint == Some(true),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_say_what_is_safe() {
        assert!(safe_to_repeat(
            r#"{"name":"a","annotations":{"readOnlyHint":true}}"#
        ));
        assert!(read_only(
            r#"{"name":"a","annotations":{"readOnlyHint":true}}"#
        ));
        assert!(safe_to_repeat(
            r#"{"name":"a","annotations":{"idempotentHint":true,"destructiveHint":false}}"#
        ));
        assert!(!read_only(
            r#"{"name":"a","annotations":{"idempotentHint":true}}"#
        ));
        assert!(!safe_to_repeat(
            r#"{"name":"a","annotations":{"idempotentHint":false}}"#
        ));
        assert!(!safe_to_repeat(
            r#"{"name":"a","description":"readOnlyHint: true"}"#
        ));
        assert!(!safe_to_repeat(r#"{"name":"a"}"#));
        assert!(!safe_to_repeat("not json Hint"));
    }
}
