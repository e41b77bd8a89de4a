//! `use: toolsets` settings as written in the config file.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// `use: toolsets`: named bundles of tools, each served at `{mcp_path}/toolsets/NAME`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolsetsSettings {
    /// The toolsets by name (`[A-Za-z0-9_-]+`, the last segment of its path).
    #[schemars(with = "std::collections::BTreeMap<String, ToolsetSettings>")]
    pub toolsets: IndexMap<String, ToolsetSettings>,
}

/// One toolset.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolsetSettings {
    /// The tools in it, by exposed name (`github__search_issues`) or glob over exposed names
    /// (`github__search_*`, `wiki__*`); tools of any server may be mixed.
    pub tools: Vec<String>,
    /// What the toolset is for (free text, for people reading the config).
    #[serde(default)]
    pub description: Option<String>,
    /// Callers (the `subject` of an API key or token, from `use: auth`) who get this toolset
    /// at the main MCP endpoint too: they see and may call its tools only.
    #[serde(default)]
    pub callers: Vec<String>,
}
