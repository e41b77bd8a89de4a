//! MCP ↔ OpenAI function calling, usable without the gateway.
//!
//! - [`name`]: tool names → `^[a-zA-Z0-9_-]{1,64}$`, deterministic and reversible
//!   through a [`NameMap`];
//! - [`schema`]: `inputSchema` → `parameters` (local `$ref`s inlined, cycles reported, keywords
//!   OpenAI rejects dropped, `type: object` ensured; optional strict mode);
//! - [`tool`]: a `Tool` → `{"type": "function", "function": {…}}`, and [`OpenAiTools`] for a
//!   whole list with the way back;
//! - [`call`]: a model's tool call → `tools/call` params;
//! - [`result`]: a `CallToolResult` → a `role: tool` message.
//!
//! The rules are written out in `docs/openai.md`.

pub mod call;
pub mod name;
#[cfg(test)]
mod proptests;
pub mod result;
pub mod schema;
pub mod tool;

pub use call::{FunctionCall, ToolCall, parse_arguments, tool_call_to_mcp};
pub use name::{MAX_NAME_LEN, NameMap, is_valid_openai_name, openai_name};
pub use result::{ToolMessage, call_result_text, call_result_to_message, tool_message_from_json};
pub use schema::{JsonObject, make_strict, normalize_schema, strip_optional_nulls};
pub use tool::{
    ConvertOptions, FunctionDefinition, OpenAiTool, OpenAiTools, SkippedTool, mcp_tool_to_openai,
};
