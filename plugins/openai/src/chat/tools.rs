//! Server-side MCP tools in chat completions.
//!
//! A request tool `{"type": "mcp", …}` (the Responses API's shape, or LiteLLM's
//! `{"type": "mcp", "server_url": "litellm_proxy", …}`) is replaced by the gateway's MCP tools in
//! OpenAI form; the gateway then runs the model's calls of those tools itself, through the MCP
//! plane, and loops until the model answers without tool calls.
//!
//! | key | meaning |
//! |---|---|
//! | `server_url` | absent, `litellm_proxy` (every server), or `litellm_proxy/mcp/NAME` (one server); any other URL is refused: the gateway runs only its own servers |
//! | `server_label` | a label; when it is the name of one of the gateway's servers, only that server's tools are offered |
//! | `allowed_tools` | `["name", …]` or `{"tool_names": [...]}`: exposed (`demo__echo`), server-own (`echo`) or OpenAI names |
//! | `require_approval` | `"never"` (the gateway runs the calls), `"always"` (the default, as in the Responses API: the calls go back to the client), or `{"never": {"tool_names": [...]}, "always": {...}}` |
//! | `server_description`, `headers`, `authorization` | accepted and not used (the gateway calls its servers with their configured credentials) |
//!
//! A round runs only when every tool call in it is an MCP tool that needs no approval; otherwise
//! the model's answer goes back to the client as it is, tool calls unexecuted (the client runs
//! them — e.g. with `POST /mcp-rest/tools/call`, which takes the OpenAI names too — and asks
//! again). A call with bad arguments, or a tool that fails, is reported to the model as the tool
//! message, so it can correct itself. After `max_tool_rounds` rounds the request fails with a
//! clear error rather than looping on. Rounds are not streamed; with `stream: true` the final
//! answer is sent as SSE chunks (see [`super::stream`]).

use serde_json::{Map, Value, json};

use crate::convert::{ConvertOptions, OpenAiTools, ToolCall, ToolMessage, tool_message_from_json};
use crate::plane::Plane;

/// Keys an `mcp` tool entry may have.
const KEYS: &[&str] = &[
    "type",
    "server_label",
    "server_url",
    "server_description",
    "allowed_tools",
    "require_approval",
    "headers",
    "authorization",
    "connector_id",
];

/// Whether calls need the client's approval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Approval {
    /// The gateway runs every call.
    Never,
    /// Every call goes back to the client (the Responses API's default).
    #[default]
    Always,
    /// Per tool: these run, those go back; unlisted ones go back.
    Some {
        never: Vec<String>,
        always: Vec<String>,
    },
}

impl Approval {
    fn required(&self, names: &[&str]) -> bool {
        match self {
            Approval::Never => false,
            Approval::Always => true,
            Approval::Some { never, always } => {
                names.iter().any(|n| always.iter().any(|a| a == n))
                    || !names.iter().any(|n| never.iter().any(|a| a == n))
            }
        }
    }
}

/// One `{"type": "mcp"}` entry of a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct McpToolSpec {
    server: Option<String>,
    allowed: Option<Vec<String>>,
    approval: Approval,
}

impl McpToolSpec {
    /// Whether this entry offers the tool (exposed name, its server, its names).
    fn selects(&self, server: Option<&str>, names: &[&str]) -> bool {
        if let Some(s) = &self.server
            && server != Some(s.as_str())
        {
            return false;
        }
        match &self.allowed {
            None => true,
            Some(allowed) => names.iter().any(|n| allowed.iter().any(|a| a == n)),
        }
    }
}

/// Takes the `mcp` entries out of `body.tools` (function tools stay). `Err` is a message for a
/// 400 naming the entry.
pub(crate) fn take_mcp_tools(
    body: &mut Map<String, Value>,
    plane: &Plane,
) -> Result<Vec<McpToolSpec>, String> {
    let Some(tools) = body.get_mut("tools") else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = tools else {
        return Err("tools must be a list".into());
    };
    let mut specs = Vec::new();
    let mut kept = Vec::with_capacity(list.len());
    for (i, tool) in std::mem::take(list).into_iter().enumerate() {
        if tool.get("type").and_then(Value::as_str) == Some("mcp") {
            specs.push(parse_spec(i, &tool, plane)?);
        } else {
            kept.push(tool);
        }
    }
    if kept.is_empty() {
        body.remove("tools");
    } else {
        body.insert("tools".into(), Value::Array(kept));
    }
    Ok(specs)
}

fn parse_spec(i: usize, tool: &Value, plane: &Plane) -> Result<McpToolSpec, String> {
    let Some(map) = tool.as_object() else {
        return Err(format!("tools[{i}] must be an object"));
    };
    if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "tools[{i}]: unknown key '{key}' in an mcp tool; expected one of {}",
            KEYS.join(", ")
        ));
    }
    if map.contains_key("connector_id") {
        return Err(format!(
            "tools[{i}]: connector_id is not supported; the gateway offers its own MCP servers"
        ));
    }
    for key in ["headers", "authorization"] {
        if map.contains_key(key) {
            tracing::warn!(
                "tools[{i}].{key} ignored: the gateway calls its MCP servers with their configured credentials"
            );
        }
    }
    let string = |key: &str| -> Result<Option<&str>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(format!("tools[{i}].{key} must be a string, found {other}")),
        }
    };
    let unknown_server = |s: &str| {
        format!(
            "tools[{i}]: no MCP server '{s}' on this gateway; its servers: {}",
            plane.server_names().join(", ")
        )
    };
    let mut spec = McpToolSpec::default();
    match string("server_url")? {
        None | Some("litellm_proxy") | Some("litellm_proxy/mcp") => {}
        Some(url) => match url.strip_prefix("litellm_proxy/mcp/") {
            Some(name) if plane.has_server(name) => spec.server = Some(name.to_string()),
            Some(name) => return Err(unknown_server(name)),
            None => {
                return Err(format!(
                    "tools[{i}].server_url '{url}': this gateway runs only its own MCP servers; omit server_url, or use \"litellm_proxy\" or \"litellm_proxy/mcp/SERVER\""
                ));
            }
        },
    }
    if spec.server.is_none()
        && let Some(label) = string("server_label")?
        && plane.has_server(label)
    {
        spec.server = Some(label.to_string());
    }
    spec.allowed = match map.get("allowed_tools") {
        None | Some(Value::Null) => None,
        Some(v) => Some(names(v).ok_or_else(|| {
            format!(
                "tools[{i}].allowed_tools must be a list of tool names or {{\"tool_names\": [...]}}, found {v}"
            )
        })?),
    };
    spec.approval = match map.get("require_approval") {
        None | Some(Value::Null) => Approval::Always,
        Some(Value::String(s)) if s == "never" => Approval::Never,
        Some(Value::String(s)) if s == "always" => Approval::Always,
        Some(Value::Object(o))
            if o.keys().all(|k| k == "never" || k == "always")
                && o.values().all(|v| names(v).is_some()) =>
        {
            Approval::Some {
                never: o.get("never").and_then(names).unwrap_or_default(),
                always: o.get("always").and_then(names).unwrap_or_default(),
            }
        }
        Some(other) => {
            return Err(format!(
                "tools[{i}].require_approval must be \"never\", \"always\" or {{\"never\": {{\"tool_names\": [...]}}}}, found {other}"
            ));
        }
    };
    Ok(spec)
}

/// `["a", "b"]` or `{"tool_names": ["a", "b"], …}`.
fn names(v: &Value) -> Option<Vec<String>> {
    let list = match v {
        Value::Array(l) => l,
        Value::Object(o) => o.get("tool_names")?.as_array()?,
        _ => return None,
    };
    list.iter()
        .map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// The MCP tools offered to the model for one request.
#[derive(Debug)]
pub(crate) struct Offered {
    /// The converted tools (names are the gateway's exposed names, mapped for OpenAI).
    pub(crate) tools: OpenAiTools,
    /// OpenAI names whose calls need the client's approval.
    approval: Vec<String>,
}

impl Offered {
    /// Selects and converts the listed tools (`listed`: the MCP plane's `tools/list` items).
    pub(crate) fn new(
        listed: Vec<Map<String, Value>>,
        specs: &[McpToolSpec],
        plane: &Plane,
        strict: bool,
    ) -> Offered {
        let mut selected = Vec::new();
        let mut approvals = Vec::new();
        for item in listed {
            let Some(name) = item.get("name").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            let resolved = plane.resolve_tool(&name);
            let openai = crate::convert::openai_name(&name).into_owned();
            let mut names = vec![name.as_str(), openai.as_str()];
            if let Some(r) = &resolved {
                names.push(&*r.original);
            }
            let server = resolved.as_ref().map(|r| &*r.server);
            let Some(spec) = specs.iter().find(|s| s.selects(server, &names)) else {
                continue;
            };
            let needs = spec.approval.required(&names);
            match serde_json::from_value::<rmcp::model::Tool>(Value::Object(item)) {
                Ok(tool) => {
                    selected.push(tool);
                    approvals.push((name, needs));
                }
                Err(e) => {
                    tracing::warn!(tool = %name, error = %e, "tool not offered: not a valid MCP tool")
                }
            }
        }
        let tools = OpenAiTools::new(&selected, ConvertOptions::strict(strict));
        let approval = approvals
            .into_iter()
            .filter(|(_, needs)| *needs)
            .filter_map(|(n, _)| tools.names().to_openai(&n).map(str::to_string))
            .collect();
        Offered { tools, approval }
    }

    /// Whether the gateway may run this call itself.
    pub(crate) fn runs(&self, call: &ToolCall) -> bool {
        self.tools.contains(&call.function.name)
            && !self.approval.iter().any(|a| a == &call.function.name)
    }

    /// The tools as JSON for the request.
    pub(crate) fn as_json(&self) -> Vec<Value> {
        self.tools
            .tools()
            .iter()
            .filter_map(|t| serde_json::to_value(t).ok())
            .collect()
    }
}

/// Runs one tool call through the MCP plane; the tool message for the model (failures
/// included, as text the model can act on).
pub(crate) async fn execute(
    plane: &Plane,
    ctx: &toolgate::McpContext,
    offered: &Offered,
    call: &ToolCall,
) -> ToolMessage {
    let params = match offered.tools.to_mcp_call(call) {
        Ok(p) => p,
        Err(e) => return ToolMessage::new(&call.id, format!("Error: {e}")),
    };
    tracing::info!(tool = %params.name, call = %call.id, "running a model's tool call");
    match plane.call_tool(ctx, &params.name, params.arguments).await {
        Ok(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(v) => tool_message_from_json(&call.id, &v),
            Err(e) => ToolMessage::new(&call.id, format!("Error: unreadable tool result: {e}")),
        },
        Err(e) => ToolMessage::new(
            &call.id,
            format!(
                "Error: the gateway could not run tool '{}': {}",
                call.function.name,
                e.message()
            ),
        ),
    }
}

/// Sums two `usage` objects member by member (numbers only, nested objects too).
pub(crate) fn add_usage(total: &mut Option<Value>, usage: Option<&Value>) {
    let Some(usage) = usage.filter(|u| u.is_object()) else {
        return;
    };
    match total {
        None => *total = Some(usage.clone()),
        Some(t) => add_into(t, usage),
    }
}

fn add_into(total: &mut Value, add: &Value) {
    let (Value::Object(t), Value::Object(a)) = (total, add) else {
        return;
    };
    for (k, v) in a {
        match (t.get_mut(k), v) {
            (Some(Value::Number(x)), Value::Number(y)) => {
                if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                    t.insert(k.clone(), json!(x + y));
                }
            }
            (Some(x @ Value::Object(_)), y @ Value::Object(_)) => add_into(x, y),
            (None, y) => {
                t.insert(k.clone(), y.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_forms() {
        assert!(!Approval::Never.required(&["a"]));
        assert!(Approval::Always.required(&["a"]));
        let some = Approval::Some {
            never: vec!["echo".into()],
            always: vec!["rm".into()],
        };
        assert!(!some.required(&["demo__echo", "echo"]));
        assert!(some.required(&["demo__rm", "rm"]));
        assert!(some.required(&["other"]));
    }

    #[test]
    fn usage_is_summed() {
        let mut total = None;
        add_usage(
            &mut total,
            Some(
                &json!({"prompt_tokens": 3, "completion_tokens": 1, "completion_tokens_details": {"reasoning_tokens": 1}}),
            ),
        );
        add_usage(
            &mut total,
            Some(
                &json!({"prompt_tokens": 5, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 2}}),
            ),
        );
        add_usage(&mut total, None);
        assert_eq!(
            total,
            Some(
                json!({"prompt_tokens": 8, "completion_tokens": 3, "completion_tokens_details": {"reasoning_tokens": 3}})
            )
        );
    }
}
