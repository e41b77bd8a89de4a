//! A model's tool call (`{"id", "type": "function", "function": {"name", "arguments"}}`, the
//! arguments a JSON *string*) → MCP `tools/call` params.

use rmcp::model::CallToolRequestParams;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema::JsonObject;
use crate::error::{Error, ErrorKind};

/// One entry of an assistant message's `tool_calls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, echoed as `tool_call_id` by the tool message that answers it.
    pub id: String,
    /// Always `"function"`.
    #[serde(rename = "type", default = "function")]
    pub kind: String,
    /// Which function, with which arguments.
    pub function: FunctionCall,
}

fn function() -> String {
    "function".into()
}

/// The `function` member of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The OpenAI function name.
    pub name: String,
    /// The arguments, as a JSON text (OpenAI sends a string, not an object).
    #[serde(default)]
    pub arguments: String,
}

impl ToolCall {
    /// A function tool call.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            id: id.into(),
            kind: function(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// The arguments of `call` as a JSON object. An empty string means no arguments (`{}`); anything
/// but an object is [`ErrorKind::InvalidArguments`], naming the call and the tool.
pub fn parse_arguments(call: &ToolCall) -> Result<JsonObject, Error> {
    let text = call.function.arguments.trim();
    if text.is_empty() {
        return Ok(JsonObject::new());
    }
    let invalid = |what: String| {
        Error::new(
            ErrorKind::InvalidArguments,
            format!(
                "tool call '{}' to '{}': function.arguments {what}; it must be a JSON object such as {{\"key\": \"value\"}}",
                call.id, call.function.name
            ),
        )
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(invalid(format!("is {}", kind_of(&other)))),
        Err(e) => Err(invalid(format!("is not valid JSON ({e})"))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `tools/call` params for `call`, calling the MCP tool `mcp_name` (the function name itself
/// when it was not mapped; see [`NameMap`](super::NameMap)).
pub fn tool_call_to_mcp(call: &ToolCall, mcp_name: &str) -> Result<CallToolRequestParams, Error> {
    let arguments = parse_arguments(call)?;
    let mut params = CallToolRequestParams::new(mcp_name.to_string());
    params.arguments = Some(arguments);
    Ok(params)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_call_becomes_tools_call_params() {
        let call: ToolCall = serde_json::from_value(json!({
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
        }))
        .expect("shape");
        let p = tool_call_to_mcp(&call, "weather.get").expect("ok");
        assert_eq!(p.name, "weather.get");
        assert_eq!(
            Value::Object(p.arguments.expect("arguments")),
            json!({"city": "Paris"})
        );
    }

    #[test]
    fn empty_arguments_are_no_arguments() {
        let p = tool_call_to_mcp(&ToolCall::new("c", "t", "  "), "t").expect("ok");
        assert_eq!(p.arguments, Some(JsonObject::new()));
    }

    #[test]
    fn non_object_arguments_name_the_tool() {
        for (args, what) in [
            ("[1, 2]", "is an array"),
            ("\"x\"", "is a string"),
            ("null", "is null"),
            ("42", "is a number"),
            ("{\"city\": ", "is not valid JSON"),
        ] {
            let e = tool_call_to_mcp(&ToolCall::new("call_9", "get_weather", args), "w")
                .expect_err("not an object");
            assert_eq!(e.kind(), ErrorKind::InvalidArguments);
            assert!(e.message().contains("'get_weather'"), "{}", e.message());
            assert!(e.message().contains("'call_9'"), "{}", e.message());
            assert!(e.message().contains(what), "{}", e.message());
        }
    }
}
