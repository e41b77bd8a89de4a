//! The settings of `use: tool_search`, as config files write them.
//!
//! ```yaml
//! layers:
//!   - use: tool_search
//!     limit: 10                          # matches a search returns unless it asks for fewer
//!     max_limit: 50                      # the most a search may ask for
//!     always_expose: [github__create_issue]   # listed besides the two meta-tools
//!     search_tool: search_tools          # the meta-tools' names
//!     call_tool: call_tool
//! ```

use serde::Deserialize;

use crate::error::Error;

/// `use: tool_search`. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSearchSettings {
    /// How many matches a search returns when it does not say (default 10).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The most matches a search may ask for (default 50).
    #[serde(default)]
    pub max_limit: Option<usize>,
    /// Tools (as `tools/list` names them) listed besides the meta-tools.
    #[serde(default)]
    pub always_expose: Vec<String>,
    /// The search meta-tool's name (default `search_tools`).
    #[serde(default)]
    pub search_tool: Option<String>,
    /// The call meta-tool's name (default `call_tool`).
    #[serde(default)]
    pub call_tool: Option<String>,
}

/// The settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Policy {
    pub(crate) limit: usize,
    pub(crate) max_limit: usize,
    pub(crate) always_expose: Vec<String>,
    pub(crate) search_tool: String,
    pub(crate) call_tool: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            limit: 10,
            max_limit: 50,
            always_expose: Vec::new(),
            search_tool: "search_tools".into(),
            call_tool: "call_tool".into(),
        }
    }
}

impl Policy {
    pub(crate) fn from_settings(s: &ToolSearchSettings) -> Result<Policy, Error> {
        let d = Policy::default();
        let policy = Policy {
            limit: s.limit.unwrap_or(d.limit),
            max_limit: s.max_limit.unwrap_or(d.max_limit.max(s.limit.unwrap_or(0))),
            always_expose: s.always_expose.clone(),
            search_tool: s.search_tool.clone().unwrap_or(d.search_tool),
            call_tool: s.call_tool.clone().unwrap_or(d.call_tool),
        };
        if policy.limit == 0 || policy.max_limit < policy.limit {
            return Err(Error::new(format!(
                "limit {} must be at least 1 and at most max_limit ({})",
                policy.limit, policy.max_limit
            )));
        }
        if policy.search_tool.is_empty()
            || policy.call_tool.is_empty()
            || policy.search_tool == policy.call_tool
        {
            return Err(Error::new(format!(
                "search_tool ('{}') and call_tool ('{}') must be two different, non-empty names",
                policy.search_tool, policy.call_tool
            )));
        }
        Ok(policy)
    }
}
