//! MCP `Tool` → OpenAI function tool, one at a time ([`mcp_tool_to_openai`]) or for a whole
//! list with the name map kept for the way back ([`OpenAiTools`]).

use std::collections::HashMap;

use rmcp::model::{CallToolRequestParams, Tool};
use serde::{Deserialize, Serialize};

use super::call::{ToolCall, parse_arguments};
use super::name::NameMap;
use super::schema::{JsonObject, normalize_schema, strip_optional_nulls};
use crate::error::{Error, ErrorKind};

/// Longest function description OpenAI accepts.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// An OpenAI tool of type `function`: `{"type": "function", "function": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAiTool {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionDefinition,
}

/// The `function` member of an [`OpenAiTool`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    /// Matches `^[a-zA-Z0-9_-]{1,64}$`.
    pub name: String,
    /// What the tool does (at most [`MAX_DESCRIPTION_CHARS`] characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema of type `object`.
    pub parameters: JsonObject,
    /// `true` when `parameters` follows OpenAI's strict (Structured Outputs) subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// How tools are converted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConvertOptions {
    /// Produce `strict: true` schemas (see [`make_strict`](super::make_strict)). A tool whose
    /// schema has no strict form is converted without `strict` by [`OpenAiTools`], and is an
    /// error for [`mcp_tool_to_openai`].
    pub strict: bool,
}

impl ConvertOptions {
    /// Strict mode on or off.
    pub fn strict(strict: bool) -> Self {
        ConvertOptions { strict }
    }
}

/// Converts one MCP tool, giving it `name` (from a [`NameMap`], or
/// [`openai_name`](super::openai_name)). Errors name the tool.
pub fn mcp_tool_to_openai(
    tool: &Tool,
    name: &str,
    options: ConvertOptions,
) -> Result<OpenAiTool, Error> {
    let parameters = normalize_schema(&tool.input_schema, options.strict)
        .map_err(|e| e.context(format_args!("tool '{}'", tool.name)))?;
    Ok(OpenAiTool {
        kind: "function".into(),
        function: FunctionDefinition {
            name: name.to_string(),
            description: description_of(tool),
            parameters,
            strict: options.strict.then_some(true),
        },
    })
}

/// The description, else the title: cut to [`MAX_DESCRIPTION_CHARS`].
fn description_of(tool: &Tool) -> Option<String> {
    let text = tool
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .or(tool.title.as_deref())
        .or(tool.annotations.as_ref().and_then(|a| a.title.as_deref()))?;
    if text.chars().count() <= MAX_DESCRIPTION_CHARS {
        return Some(text.to_string());
    }
    let mut cut: String = text.chars().take(MAX_DESCRIPTION_CHARS - 1).collect();
    cut.push('…');
    Some(cut)
}

/// A tool that could not be converted, and why.
#[derive(Debug)]
pub struct SkippedTool {
    /// The MCP tool name.
    pub name: String,
    /// Why (a schema cycle, an unresolved `$ref`, …).
    pub error: Error,
}

/// MCP tools converted for OpenAI, with what is needed to bring calls back: the [`NameMap`]
/// and each tool's normalised schema.
///
/// Tools whose schema cannot be converted are left out and listed in [`skipped`](Self::skipped)
/// (one broken tool does not cost the model every other tool). In strict mode, a tool without a
/// strict form is converted non-strict and a warning is logged.
///
/// ```
/// use rmcp::model::Tool;
/// use std::sync::Arc;
/// use toolgate_openai::convert::{ConvertOptions, OpenAiTools, ToolCall};
///
/// let schema = serde_json::json!({"type": "object", "properties": {"q": {"type": "string"}}});
/// let schema = Arc::new(schema.as_object().cloned().unwrap_or_default());
/// let tools = OpenAiTools::new(&[Tool::new("search.web", "Search the web", schema)], ConvertOptions::default());
/// let name = &tools.tools()[0].function.name;
/// assert!(name.starts_with("search_web_"));
///
/// let call = ToolCall::new("call_1", name.clone(), r#"{"q": "rust"}"#);
/// let params = tools.to_mcp_call(&call).expect("a listed tool");
/// assert_eq!(params.name, "search.web");
/// ```
#[derive(Debug, Default)]
pub struct OpenAiTools {
    tools: Vec<OpenAiTool>,
    names: NameMap,
    schemas: HashMap<String, JsonObject>,
    skipped: Vec<SkippedTool>,
}

impl OpenAiTools {
    /// Converts `tools`, in order.
    pub fn new(tools: &[Tool], options: ConvertOptions) -> Self {
        let names = NameMap::new(tools.iter().map(|t| t.name.as_ref()));
        let mut out = OpenAiTools {
            tools: Vec::with_capacity(tools.len()),
            names,
            schemas: HashMap::with_capacity(tools.len()),
            skipped: Vec::new(),
        };
        for tool in tools {
            let Some(name) = out.names.to_openai(&tool.name).map(str::to_string) else {
                continue;
            };
            if out.schemas.contains_key(&name) {
                // The same MCP name listed twice: the first one stands.
                continue;
            }
            let converted = match mcp_tool_to_openai(tool, &name, options) {
                Err(e) if e.kind() == ErrorKind::NotStrict => {
                    tracing::warn!(tool = %tool.name, error = %e, "tool offered without strict mode");
                    mcp_tool_to_openai(tool, &name, ConvertOptions::default())
                }
                other => other,
            };
            match converted {
                Ok(t) => {
                    if let Ok(schema) = normalize_schema(&tool.input_schema, false) {
                        out.schemas.insert(name.clone(), schema);
                    }
                    out.tools.push(t);
                }
                Err(error) => {
                    tracing::warn!(tool = %tool.name, %error, "tool left out of the OpenAI tool list");
                    out.skipped.push(SkippedTool {
                        name: tool.name.to_string(),
                        error,
                    });
                }
            }
        }
        out
    }

    /// The converted tools, in list order.
    pub fn tools(&self) -> &[OpenAiTool] {
        &self.tools
    }

    /// The name map (every listed tool, converted or skipped).
    pub fn names(&self) -> &NameMap {
        &self.names
    }

    /// Tools left out, and why.
    pub fn skipped(&self) -> &[SkippedTool] {
        &self.skipped
    }

    /// Whether `openai_name` is one of the converted tools.
    pub fn contains(&self, openai_name: &str) -> bool {
        self.schemas.contains_key(openai_name)
    }

    /// The MCP tool an OpenAI function name stands for.
    pub fn mcp_name(&self, openai_name: &str) -> Option<&str> {
        self.names.to_mcp(openai_name)
    }

    /// The `tools/call` params for a model's tool call: the MCP name, and the arguments parsed
    /// (strict mode's `null`s for optional properties removed). Fails with
    /// [`ErrorKind::UnknownTool`] for a name that was not listed and
    /// [`ErrorKind::InvalidArguments`] for arguments that are not a JSON object.
    pub fn to_mcp_call(&self, call: &ToolCall) -> Result<CallToolRequestParams, Error> {
        let openai = call.function.name.as_str();
        let mcp = self
            .names
            .to_mcp(openai)
            .filter(|_| self.contains(openai))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::UnknownTool,
                    format!(
                        "tool call '{}' names '{openai}', which is not one of the listed tools",
                        call.id
                    ),
                )
            })?;
        let mut arguments = parse_arguments(call)?;
        if let Some(schema) = self.schemas.get(openai) {
            strip_optional_nulls(&mut arguments, schema);
        }
        let mut params = CallToolRequestParams::new(mcp.to_string());
        params.arguments = Some(arguments);
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;

    fn tool(name: &str, schema: Value) -> Tool {
        let schema = match schema {
            Value::Object(m) => m,
            _ => JsonObject::new(),
        };
        Tool::new(
            name.to_string(),
            format!("the {name} tool"),
            Arc::new(schema),
        )
    }

    #[test]
    fn a_tool_becomes_a_function() {
        let t = tool(
            "demo__echo",
            json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
        );
        let out = mcp_tool_to_openai(&t, "demo__echo", ConvertOptions::default()).expect("ok");
        assert_eq!(
            serde_json::to_value(&out).expect("json"),
            json!({"type": "function", "function": {
                "name": "demo__echo",
                "description": "the demo__echo tool",
                "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
            }})
        );
    }

    #[test]
    fn strict_tools_say_so() {
        let t = tool("t", json!({"properties": {"a": {"type": "string"}}}));
        let out = mcp_tool_to_openai(&t, "t", ConvertOptions::strict(true)).expect("ok");
        assert_eq!(out.function.strict, Some(true));
        assert_eq!(out.function.parameters["additionalProperties"], false);
    }

    #[test]
    fn schema_errors_name_the_tool() {
        let t = tool(
            "tree.walk",
            json!({"properties": {"n": {"$ref": "#/$defs/N"}}, "$defs": {"N": {"properties": {"c": {"$ref": "#/$defs/N"}}}}}),
        );
        let e = mcp_tool_to_openai(&t, "x", ConvertOptions::default()).expect_err("cycle");
        assert_eq!(e.kind(), ErrorKind::SchemaCycle);
        assert!(
            e.message().starts_with("tool 'tree.walk': "),
            "{}",
            e.message()
        );
    }

    #[test]
    fn long_descriptions_are_cut() {
        let mut t = tool("t", json!({}));
        t.description = Some("d".repeat(5000).into());
        let out = mcp_tool_to_openai(&t, "t", ConvertOptions::default()).expect("ok");
        let d = out.function.description.expect("description");
        assert_eq!(d.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(d.ends_with('…'));
    }

    #[test]
    fn a_list_skips_broken_tools_and_keeps_the_rest() {
        let tools = [
            tool("ok.tool", json!({"properties": {"a": {"type": "string"}}})),
            tool(
                "broken",
                json!({"properties": {"a": {"$ref": "#/$defs/missing"}}}),
            ),
        ];
        let set = OpenAiTools::new(&tools, ConvertOptions::default());
        assert_eq!(set.tools().len(), 1);
        assert_eq!(set.skipped().len(), 1);
        assert_eq!(set.skipped()[0].name, "broken");
        assert_eq!(set.skipped()[0].error.kind(), ErrorKind::UnresolvedRef);
        let name = set.tools()[0].function.name.clone();
        assert_eq!(set.mcp_name(&name), Some("ok.tool"));
        // The skipped tool cannot be called through the set.
        let broken = set.names().to_openai("broken").expect("mapped").to_string();
        let e = set
            .to_mcp_call(&ToolCall::new("c1", broken, "{}"))
            .expect_err("skipped");
        assert_eq!(e.kind(), ErrorKind::UnknownTool);
    }

    #[test]
    fn strict_lists_fall_back_per_tool() {
        let tools = [
            tool("free", json!({"properties": {"meta": {"type": "object"}}})),
            tool("closed", json!({"properties": {"a": {"type": "string"}}})),
        ];
        let set = OpenAiTools::new(&tools, ConvertOptions::strict(true));
        assert_eq!(set.tools().len(), 2);
        assert_eq!(set.tools()[0].function.strict, None);
        assert_eq!(set.tools()[1].function.strict, Some(true));
    }

    #[test]
    fn strict_calls_lose_the_nulls_of_optional_arguments() {
        let tools = [tool(
            "w",
            json!({"properties": {"city": {"type": "string"}, "units": {"type": "string"}}, "required": ["city"]}),
        )];
        let set = OpenAiTools::new(&tools, ConvertOptions::strict(true));
        let params = set
            .to_mcp_call(&ToolCall::new(
                "c",
                "w",
                r#"{"city": "Oslo", "units": null}"#,
            ))
            .expect("ok");
        assert_eq!(
            Value::Object(params.arguments.expect("arguments")),
            json!({"city": "Oslo"})
        );
    }
}
