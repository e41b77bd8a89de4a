//! The Rust client API: MCP tools for an OpenAI-compatible model, over any rmcp client peer —
//! the Rust counterpart of LiteLLM's `experimental_mcp_client`.
//!
//! | LiteLLM (Python) | here |
//! |---|---|
//! | `load_mcp_tools(session, format="mcp")` | [`load_mcp_tools`]`(peer, Format::Mcp)` |
//! | `load_mcp_tools(session, format="openai")` | [`load_mcp_tools`]`(peer, Format::OpenAi)` |
//! | `call_openai_tool(session, openai_tool)` | [`call_openai_tool`]`(peer, &tool_call)` |
//! | `transform_mcp_tool_to_openai_tool(tool)` | [`transform_mcp_tool_to_openai_tool`] |
//! | `transform_openai_tool_call_request_to_mcp_tool_call_request(call)` | [`transform_openai_tool_call_request_to_mcp_tool_call_request`] |
//!
//! The seed flow, against a gateway (or any MCP server) at `url` and a model behind an
//! OpenAI-compatible chat endpoint (`examples/src/bin/client.rs` is the runnable version):
//!
//! ```no_run
//! # async fn seed(peer: rmcp::Peer<rmcp::RoleClient>, ask: impl AsyncFn(&[serde_json::Value], &[toolgate_openai::convert::OpenAiTool]) -> serde_json::Value) -> Result<(), toolgate_openai::Error> {
//! use toolgate_openai::client::{Format, LoadedTools, load_mcp_tools};
//! use toolgate_openai::convert::{ToolCall, call_result_to_message};
//!
//! // 1. The server's tools in OpenAI form (names mapped, schemas normalised).
//! let LoadedTools::OpenAi(tools) = load_mcp_tools(&peer, Format::OpenAi).await? else {
//!     unreachable!("asked for OpenAI tools")
//! };
//! // 2. Ask the model (`ask` posts to /v1/chat/completions with `tools`).
//! let mut messages = vec![serde_json::json!({"role": "user", "content": "What is 2 + 3?"})];
//! let reply = ask(&messages, tools.tools()).await;
//! let message = &reply["choices"][0]["message"];
//! // 3. Run each tool call through MCP and send the results back.
//! messages.push(message.clone());
//! for call in message["tool_calls"].as_array().into_iter().flatten() {
//!     let call: ToolCall = serde_json::from_value(call.clone()).expect("a tool call");
//!     let result = tools.call(&peer, &call).await?;
//!     messages.push(serde_json::to_value(call_result_to_message(&call.id, &result)).expect("json"));
//! }
//! let answer = ask(&messages, tools.tools()).await;
//! println!("{}", answer["choices"][0]["message"]["content"]);
//! # Ok(()) }
//! ```

use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::{Peer, RoleClient, ServiceError};

use crate::convert::{
    ConvertOptions, OpenAiTool, OpenAiTools, ToolCall, mcp_tool_to_openai, openai_name,
    tool_call_to_mcp,
};
use crate::error::{Error, ErrorKind};

/// The format [`load_mcp_tools`] returns tools in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// MCP `Tool`s as the server lists them.
    Mcp,
    /// OpenAI function tools (names mapped, schemas normalised), with the name map.
    OpenAi,
}

/// What [`load_mcp_tools`] returns.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadedTools {
    /// The server's tools, unchanged.
    Mcp(Vec<Tool>),
    /// The tools converted for OpenAI; use [`OpenAiTools::call`] to run a model's tool call.
    OpenAi(OpenAiTools),
}

impl LoadedTools {
    /// The OpenAI tools, if that is what was loaded.
    pub fn into_openai(self) -> Option<OpenAiTools> {
        match self {
            LoadedTools::OpenAi(t) => Some(t),
            LoadedTools::Mcp(_) => None,
        }
    }
}

fn mcp_error(what: &str, e: ServiceError) -> Error {
    Error::new(ErrorKind::Mcp, format!("{what}: {e}")).with_source(e)
}

/// Lists every tool of the server behind `peer` (all pages) in `format`.
pub async fn load_mcp_tools(peer: &Peer<RoleClient>, format: Format) -> Result<LoadedTools, Error> {
    let tools = peer
        .list_all_tools()
        .await
        .map_err(|e| mcp_error("tools/list failed", e))?;
    Ok(match format {
        Format::Mcp => LoadedTools::Mcp(tools),
        Format::OpenAi => LoadedTools::OpenAi(OpenAiTools::new(&tools, ConvertOptions::default())),
    })
}

/// Lists every tool of the server behind `peer` and converts them with `options`.
pub async fn load_openai_tools(
    peer: &Peer<RoleClient>,
    options: ConvertOptions,
) -> Result<OpenAiTools, Error> {
    let tools = peer
        .list_all_tools()
        .await
        .map_err(|e| mcp_error("tools/list failed", e))?;
    Ok(OpenAiTools::new(&tools, options))
}

/// Runs a model's tool call on the server behind `peer`: lists the tools to map the function
/// name back to its MCP tool (use [`OpenAiTools::call`] with the tools you loaded to skip the
/// listing), then `tools/call`. A tool that runs and fails is an `Ok` result with
/// `is_error: Some(true)`.
pub async fn call_openai_tool(
    peer: &Peer<RoleClient>,
    tool_call: &ToolCall,
) -> Result<CallToolResult, Error> {
    let tools = load_openai_tools(peer, ConvertOptions::default()).await?;
    tools.call(peer, tool_call).await
}

impl OpenAiTools {
    /// Runs a model's tool call on the server behind `peer`, mapping the name back with these
    /// tools' name map.
    pub async fn call(
        &self,
        peer: &Peer<RoleClient>,
        tool_call: &ToolCall,
    ) -> Result<CallToolResult, Error> {
        let params = self.to_mcp_call(tool_call)?;
        peer.call_tool(params).await.map_err(|e| {
            mcp_error(
                &format!(
                    "tools/call of '{}' (tool call '{}')",
                    tool_call.function.name, tool_call.id
                ),
                e,
            )
        })
    }
}

/// One MCP tool as an OpenAI function tool; its name is mapped on its own
/// ([`openai_name`]), so use [`OpenAiTools`] when several tools share a request.
pub fn transform_mcp_tool_to_openai_tool(tool: &Tool) -> Result<OpenAiTool, Error> {
    mcp_tool_to_openai(tool, &openai_name(&tool.name), ConvertOptions::default())
}

/// A model's tool call as `tools/call` params. The function name is taken as the MCP tool name
/// (right for every tool whose name was already valid for OpenAI); for mapped names use
/// [`OpenAiTools::to_mcp_call`].
pub fn transform_openai_tool_call_request_to_mcp_tool_call_request(
    tool_call: &ToolCall,
) -> Result<CallToolRequestParams, Error> {
    tool_call_to_mcp(tool_call, &tool_call.function.name)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    #[test]
    fn transform_functions_round_trip_a_valid_name() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let tool = Tool::new(
            "calc__add",
            "add",
            Arc::new(schema.as_object().cloned().unwrap_or_default()),
        );
        let openai = transform_mcp_tool_to_openai_tool(&tool).expect("ok");
        assert_eq!(openai.function.name, "calc__add");
        let call = ToolCall::new("c1", openai.function.name, r#"{"a": 1}"#);
        let params =
            transform_openai_tool_call_request_to_mcp_tool_call_request(&call).expect("ok");
        assert_eq!(params.name, "calc__add");
        assert_eq!(
            params.arguments.map(serde_json::Value::Object),
            Some(json!({"a": 1}))
        );
    }
}
