//! Attribute and metric names from the OpenTelemetry semantic conventions for MCP
//! (`docs/gen-ai/mcp.md` in open-telemetry/semantic-conventions-genai), plus toolgate's own.

/// The JSON-RPC method: `tools/call`, `resources/read`, …
pub const MCP_METHOD_NAME: &str = "mcp.method.name";
/// The downstream session (`Mcp-Session-Id`).
pub const MCP_SESSION_ID: &str = "mcp.session.id";
/// The negotiated MCP protocol version.
pub const MCP_PROTOCOL_VERSION: &str = "mcp.protocol.version";
/// The resource URI of `resources/read`, `resources/subscribe`, `resources/unsubscribe`.
pub const MCP_RESOURCE_URI: &str = "mcp.resource.uri";
/// The client's JSON-RPC request id.
pub const JSONRPC_REQUEST_ID: &str = "jsonrpc.request.id";
/// The tool of `tools/call`.
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// The prompt of `prompts/get`.
pub const GEN_AI_PROMPT_NAME: &str = "gen_ai.prompt.name";
/// `execute_tool` on `tools/call` spans.
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// The JSON-RPC error code of a failed request.
pub const RPC_RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";
/// The error class: the JSON-RPC error code, `tool_error` for a result with `isError: true`,
/// `cancelled` for a request the client cancelled.
pub const ERROR_TYPE: &str = "error.type";
/// `tcp` for HTTP transports, `pipe` for stdio.
pub const NETWORK_TRANSPORT: &str = "network.transport";
/// `http` for HTTP transports.
pub const NETWORK_PROTOCOL_NAME: &str = "network.protocol.name";
/// toolgate: the upstream server (its configured name) a request was forwarded to.
pub const TOOLGATE_UPSTREAM: &str = "toolgate.upstream";

/// `error.type` of a tool result with `isError: true`.
pub const TOOL_ERROR: &str = "tool_error";
/// `error.type` of a request the client cancelled.
pub const CANCELLED: &str = "cancelled";
