//! The configuration file format as plain structs, for the JSON Schema.
//!
//! Parsing does not go through these structs (see `de.rs`, which reads the same
//! keys while tracking key paths and lines); they exist so that schemars can
//! describe the format. A unit test checks that the keys listed here and the keys
//! the parser accepts are the same.

// The structs only describe the format: they are never built.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// A toolgate configuration file (YAML or JSON).
///
/// Upstream servers go under `mcp_servers` (LiteLLM's form) or `mcpServers` (Claude
/// Desktop's form), not both. Every string value may reference environment variables
/// as `${NAME}` or `${NAME:-default}` (`$$` is a literal `$`), or be LiteLLM's
/// `os.environ/NAME`.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "toolgate configuration")]
pub(crate) struct FileSchema {
    /// Upstream MCP servers in LiteLLM's form: server name to server settings. Server
    /// names (letters, digits, `_`, `-`) become the prefix of the server's tool names.
    #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z0-9_-]+$" }))]
    mcp_servers: Option<BTreeMap<String, ServerSchema>>,
    /// Upstream MCP servers in Claude Desktop's form (same entries as `mcp_servers`).
    #[serde(rename = "mcpServers")]
    #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z0-9_-]+$" }))]
    mcp_servers_claude: Option<BTreeMap<String, ServerSchema>>,
    /// The gateway's own listener settings.
    server: Option<SettingsSchema>,
    /// The policy stack, outermost first: `- use: NAME` plus that layer's settings, or
    /// `- dylib: PATH` with optional `sha256:` and `config:`.
    layers: Option<Vec<serde_json::Value>>,
    /// Models for `/v1/chat/completions`, LiteLLM's form:
    /// `{model_name, litellm_params: {model, api_base, api_key}}`.
    model_list: Option<Vec<serde_json::Value>>,
    /// Directories native plugins (`dylib:` layers) may be loaded from.
    plugin_dirs: Option<Vec<String>>,
}

/// One upstream MCP server. A server with `command` is a local stdio server; one
/// with `url` is remote (Streamable HTTP, or SSE when `transport`/`type` says so or
/// the URL path ends in `/sse`).
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename = "Server")]
pub(crate) struct ServerSchema {
    /// Program to run as a stdio MCP server.
    command: Option<String>,
    /// Arguments for `command`.
    args: Option<Vec<String>>,
    /// Extra environment variables for `command`.
    env: Option<BTreeMap<String, String>>,
    /// Working directory for `command`.
    cwd: Option<String>,
    /// URL of a remote MCP server (http:// or https://).
    url: Option<String>,
    /// Transport (LiteLLM): inferred when absent.
    transport: Option<TransportName>,
    /// Transport (Claude Desktop): inferred when absent.
    #[serde(rename = "type")]
    kind: Option<TypeName>,
    /// HTTP headers sent to a remote server.
    headers: Option<BTreeMap<String, String>>,
    /// More HTTP headers sent to a remote server (LiteLLM), merged with `headers`.
    static_headers: Option<BTreeMap<String, String>>,
    /// LiteLLM: names of client headers to forward. Accepted for compatibility and
    /// ignored (with a warning): toolgate does not forward client headers.
    extra_headers: Option<Vec<String>>,
    /// How `authentication_token` is sent (LiteLLM).
    auth_type: Option<AuthTypeName>,
    /// Credential sent to a remote server as described by `auth_type`.
    authentication_token: Option<String>,
    /// Human-readable description of the server.
    description: Option<String>,
    /// Only these tools (by the server's own tool names) are exposed.
    allowed_tools: Option<Vec<String>>,
    /// These tools (by the server's own tool names) are hidden.
    disallowed_tools: Option<Vec<String>>,
    /// Check `tools/call` arguments against each tool's `inputSchema` before forwarding
    /// (default true; false for servers whose schemas are wrong).
    validate_arguments: Option<bool>,
    /// Whether all gateway clients share one upstream session, or each gets its own.
    session_mode: Option<SessionModeName>,
}

/// LiteLLM transport names (`streamable-http` is also accepted).
#[derive(Debug, JsonSchema)]
#[serde(rename = "Transport")]
enum TransportName {
    #[serde(rename = "sse")]
    Sse,
    #[serde(rename = "http")]
    Http,
    #[serde(rename = "streamable_http")]
    StreamableHttp,
    #[serde(rename = "stdio")]
    Stdio,
}

/// Claude Desktop transport types (`streamable_http` is also accepted).
#[derive(Debug, JsonSchema)]
#[serde(rename = "Type")]
enum TypeName {
    #[serde(rename = "stdio")]
    Stdio,
    #[serde(rename = "http")]
    Http,
    #[serde(rename = "sse")]
    Sse,
    #[serde(rename = "streamable-http")]
    StreamableHttp,
}

/// LiteLLM authentication types.
#[derive(Debug, JsonSchema)]
#[serde(rename = "AuthType")]
enum AuthTypeName {
    /// No credential.
    #[serde(rename = "none")]
    None,
    /// Header `X-API-Key: <token>`.
    #[serde(rename = "api_key")]
    ApiKey,
    /// Header `Authorization: Bearer <token>`.
    #[serde(rename = "bearer_token")]
    BearerToken,
    /// Header `Authorization: Basic <token>` (the token is already base64).
    #[serde(rename = "basic")]
    Basic,
    /// Header `Authorization: <token>`.
    #[serde(rename = "authorization")]
    Authorization,
}

/// Upstream session sharing (`per-session` is also accepted).
#[derive(Debug, JsonSchema)]
#[serde(rename = "SessionMode")]
enum SessionModeName {
    /// One upstream session shared by all gateway clients.
    #[serde(rename = "shared")]
    Shared,
    /// One upstream session per gateway client session.
    #[serde(rename = "per_session")]
    PerSession,
}

/// The gateway's own listener settings; every key is optional.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields, rename = "ServerSettings")]
pub(crate) struct SettingsSchema {
    /// Address to listen on, such as `127.0.0.1:4000` (the default).
    listen: Option<String>,
    /// HTTP path of the MCP endpoint (default `/mcp`).
    mcp_path: Option<String>,
    /// Separator between server name and tool name in exposed tool names (default
    /// `__`); letters, digits, `_`, `.`, `-`.
    separator: Option<String>,
    /// Allowed `Host` header values, port ignored; `*` allows any (default:
    /// `localhost`, `127.0.0.1`, `[::1]`).
    allowed_hosts: Option<Vec<String>>,
    /// Allowed `Origin` header values as `scheme://host[:port]` (without a port, any
    /// port matches); `*` allows any (default: http and https on localhost,
    /// `127.0.0.1` and `[::1]`).
    allowed_origins: Option<Vec<String>>,
    /// Largest accepted request body in bytes (default 4194304); a string may use
    /// `KiB`, `MiB` or `GiB`.
    max_body_bytes: Option<SizeValue>,
    /// Idle time after which a client session is closed (default 30 minutes):
    /// seconds, or a string such as `30s`, `5m`, `1h`.
    session_idle_timeout: Option<DurationValue>,
    /// Time limit for one upstream request (default 60 seconds): seconds, or a string
    /// such as `30s`, `5m`, `1h`.
    request_timeout: Option<DurationValue>,
    /// Interval of keep-alive comments on idle SSE streams (default 15 seconds): seconds, or a
    /// string such as `15s`.
    keep_alive: Option<DurationValue>,
    /// How long after start-up a request may wait for upstreams still on their first start
    /// (default 3 seconds); after it, lists answer with what is ready.
    startup_grace: Option<DurationValue>,
    /// Allow listening on a non-loopback address without an `auth` layer (default false:
    /// the gateway refuses to start). Say `true` only behind something else that authenticates.
    allow_unauthenticated: Option<bool>,
}

/// A duration: whole seconds, or a string such as `30s`, `5m`, `1h`, `1h30m`, `500ms`.
#[derive(Debug)]
struct DurationValue;

impl JsonSchema for DurationValue {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Whole seconds, or a string such as \"30s\", \"5m\", \"1h\", \"1h30m\" or \"500ms\".",
            "anyOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string" }
            ]
        })
    }
}

/// A size in bytes: a whole number, or a string such as `512KiB`, `4MiB`, `1GiB`.
#[derive(Debug)]
struct SizeValue;

impl JsonSchema for SizeValue {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes, or a string such as \"512KiB\", \"4MiB\" or \"1GiB\".",
            "anyOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string" }
            ]
        })
    }
}
