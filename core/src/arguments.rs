//! Tool arguments checked against the tool's `inputSchema` before a call leaves the gateway.
//!
//! Each schema is compiled once, when its upstream's tool list is fetched; a schema that does
//! not compile (or points at remote `$ref`s, which are never fetched) is logged and its tool is
//! called unchecked. `arguments` that is not an object is a malformed request (-32602) in every
//! protocol version; arguments that break the schema are -32602 up to 2025-06-18 and, from
//! 2025-11-25 on (SEP-1303), a tool result with `isError: true`, so that a model sees what to fix.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::ProtocolVersion;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::McpError;

/// Most schema violations listed in one answer.
const MAX_REPORTED: usize = 5;

/// What a tool's `inputSchema` asks of its arguments.
#[derive(Debug)]
pub(crate) enum ArgumentCheck {
    /// Any object (`{"type": "object"}` and nothing else): no tree is built to check it.
    AnyObject,
    /// A compiled schema.
    Schema(Box<jsonschema::Validator>),
}

/// Why arguments were refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The request itself is malformed: a protocol error in every version.
    Malformed(McpError),
    /// The arguments break the schema: what is wrong, one line per problem.
    Invalid(String),
}

impl ArgumentCheck {
    /// Compiles `schema` (a tool's `inputSchema`); `None` when it cannot be used (logged).
    pub(crate) fn compile(server: &str, tool: &str, schema: &Value) -> Option<ArgumentCheck> {
        if is_any_object(schema) {
            return Some(ArgumentCheck::AnyObject);
        }
        match jsonschema::validator_for(schema) {
            Ok(v) => Some(ArgumentCheck::Schema(Box::new(v))),
            Err(e) => {
                tracing::warn!(upstream = server, tool, error = %e, "inputSchema does not compile; the tool's arguments are not checked");
                None
            }
        }
    }

    /// Checks the `arguments` member of raw `tools/call` params (absent means `{}`).
    pub(crate) fn check(&self, params: Option<&RawValue>) -> Result<(), Refusal> {
        #[derive(Deserialize)]
        struct Call<'a> {
            #[serde(borrow, default)]
            arguments: Option<&'a RawValue>,
        }
        let text = params.map_or("{}", RawValue::get);
        let call: Call<'_> = serde_json::from_str(text).map_err(|e| {
            Refusal::Malformed(McpError::invalid_params(format!("invalid params: {e}")))
        })?;
        let raw = call.arguments.map_or("{}", RawValue::get);
        if !raw.starts_with('{') {
            return Err(Refusal::Malformed(McpError::invalid_params(format!(
                "`arguments` must be an object, not {}",
                kind_of(raw)
            ))));
        }
        let ArgumentCheck::Schema(validator) = self else {
            return Ok(());
        };
        let value: Value = serde_json::from_str(raw).map_err(|e| {
            Refusal::Malformed(McpError::invalid_params(format!("invalid arguments: {e}")))
        })?;
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .take(MAX_REPORTED + 1)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("at {at}: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        let mut text = problems
            .iter()
            .take(MAX_REPORTED)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if problems.len() > MAX_REPORTED {
            text.push_str("; …");
        }
        Err(Refusal::Invalid(text))
    }
}

impl Refusal {
    /// The answer for a client that negotiated `version` (`None`: no session, such as REST).
    pub(crate) fn answer(self, tool: &str, version: Option<&ProtocolVersion>) -> Answer {
        match self {
            Refusal::Malformed(e) => Answer::Error(e),
            Refusal::Invalid(why) => {
                let message = format!("invalid arguments for tool {tool}: {why}");
                // ProtocolVersion orders by date: 2025-11-25 moved these into tool results.
                if version.is_some_and(|v| *v >= ProtocolVersion::V_2025_11_25) {
                    Answer::ToolError(message)
                } else {
                    Answer::Error(McpError::invalid_params(message))
                }
            }
        }
    }
}

/// How a refusal reaches the client.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A JSON-RPC error.
    Error(McpError),
    /// A tool result with `isError: true` and this text.
    ToolError(String),
}

/// Compiles the argument checks of one upstream's tools, by original name.
pub(crate) fn compile_all(
    server: &str,
    tools: &[Map<String, Value>],
) -> HashMap<String, Arc<ArgumentCheck>> {
    tools
        .iter()
        .filter_map(|tool| {
            let name = tool.get("name")?.as_str()?;
            let schema = tool.get("inputSchema")?;
            let check = ArgumentCheck::compile(server, name, schema)?;
            Some((name.to_string(), Arc::new(check)))
        })
        .collect()
}

/// `{"type": "object"}`, perhaps with `$schema`, `title`, `description` or empty `properties`.
fn is_any_object(schema: &Value) -> bool {
    let Some(map) = schema.as_object() else {
        return false;
    };
    map.get("type").and_then(Value::as_str) == Some("object")
        && map.iter().all(|(k, v)| match k.as_str() {
            "type" | "$schema" | "title" | "description" => true,
            "properties" => v.as_object().is_some_and(Map::is_empty),
            "additionalProperties" => v == &Value::Bool(true),
            _ => false,
        })
}

fn kind_of(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).expect("raw")
    }

    fn check(schema: Value) -> ArgumentCheck {
        ArgumentCheck::compile("s", "t", &schema).expect("compiles")
    }

    #[test]
    fn arguments_must_be_an_object() {
        let c = check(json!({"type": "object"}));
        assert!(matches!(c, ArgumentCheck::AnyObject));
        assert!(c.check(Some(&raw(json!({"name": "t"})))).is_ok());
        match c.check(Some(&raw(json!({"name": "t", "arguments": "text"})))) {
            Err(Refusal::Malformed(e)) => {
                assert_eq!(e.code(), -32602);
                assert!(e.message().contains("must be an object, not a string"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schema_violations_say_what_is_wrong() {
        let c = check(json!({
            "type": "object",
            "properties": {"message": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["message"]
        }));
        let why = |args: Value| match c.check(Some(&raw(json!({"name": "t", "arguments": args})))) {
            Err(Refusal::Invalid(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(why(json!({})).contains("message"), "{}", why(json!({})));
        assert!(why(json!({"message": "x", "n": "1"})).contains("/n"));
        assert!(
            c.check(Some(&raw(
                json!({"name": "t", "arguments": {"message": "hi"}})
            )))
            .is_ok()
        );
    }

    #[test]
    fn the_answer_depends_on_the_protocol_version() {
        let old = Refusal::Invalid("x".into()).answer("t", Some(&ProtocolVersion::V_2025_06_18));
        assert!(matches!(old, Answer::Error(e) if e.code() == -32602));
        let new = Refusal::Invalid("x".into()).answer("t", Some(&ProtocolVersion::V_2025_11_25));
        assert!(matches!(new, Answer::ToolError(t) if t.contains("invalid arguments for tool t")));
        let none = Refusal::Invalid("x".into()).answer("t", None);
        assert!(matches!(none, Answer::Error(_)));
    }

    #[test]
    fn a_schema_that_does_not_compile_is_not_checked() {
        assert!(ArgumentCheck::compile("s", "t", &json!({"type": 12})).is_none());
    }
}
