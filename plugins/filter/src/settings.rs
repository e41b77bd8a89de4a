//! The settings of `use: tool_filter`, as config files write them.
//!
//! ```yaml
//! layers:
//!   - use: tool_filter
//!     servers:
//!       demo:
//!         allow: ["echo", "sleep", "who*"]   # only these (globs on the server's own names)
//!         deny: ["crash"]                    # never these; deny wins over allow
//!         hide: ["whoami"]                   # not listed, still callable by name
//!         rename: {echo: say}                # listed and called as demo__say
//!       "*":                                 # every server
//!         deny: ["*delete*"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// `use: tool_filter`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolFilterSettings {
    /// Rules per upstream server (its name in `mcp_servers`); `"*"` applies to every server,
    /// together with that server's own rules (a tool must pass both).
    pub servers: BTreeMap<String, ServerRules>,
}

/// The tool rules of one server. Names are the server's own tool names (without the prefix);
/// `allow`, `deny` and `hide` take globs (`*`, `?`, `[abc]`, `{a,b}`).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerRules {
    /// Only tools matching one of these are exposed; absent means all.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Tools matching one of these are neither listed nor callable (calling one is answered
    /// like an unknown tool, -32602). Deny wins over allow.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Tools matching one of these are left out of `tools/list` but can still be called.
    #[serde(default)]
    pub hide: Vec<String>,
    /// New names: `{original: new}`. The tool is listed and called under the new name (with the
    /// server prefix); the old name is then unknown. Not allowed under `"*"`.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
}
