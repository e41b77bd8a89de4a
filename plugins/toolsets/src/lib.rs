//! Toolsets: named bundles of tools drawn from several servers.
//!
//! A platform team with hundreds of tools gives each agent the few it needs: `use: toolsets`
//! names bundles by exposed tool name or glob (`github__search_*`, `wiki__lookup`), serves
//! each at its own MCP endpoint, `{mcp_path}/toolsets/NAME` (Streamable HTTP, behind the same
//! HTTP-plane layers as `/mcp`), and binds callers — API keys or token subjects from
//! `use: auth` — to one, so that they see only its tools at `/mcp` as well.
//!
//! - [`Toolset`]: which exposed names belong to a bundle.
//! - [`ToolsetLayer`]: requests seen through one toolset, or through the caller's.
//! - [`ToolsetsFactory`]: `use: toolsets` from the config file.
//!
//! See `docs/policies/toolsets.md`.

mod error;
mod factory;
mod layer;
mod settings;
mod toolset;

pub use error::Error;
pub use factory::ToolsetsFactory;
pub use layer::{ToolsetLayer, ToolsetService};
pub use settings::{ToolsetSettings, ToolsetsSettings};
pub use toolset::Toolset;

#[cfg(test)]
mod tests;

/// The examples of `docs/policies/toolsets.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/toolsets.md")]
struct DocsPage;
