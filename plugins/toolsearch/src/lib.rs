//! Large catalogs: instead of hundreds of tools flooding a model's context, `tools/list` shows
//! two meta-tools — one searches the catalog by words (BM25 over tool names, titles,
//! descriptions and parameter names), the other calls a tool found by name.
//!
//! [`ToolSearchLayer`] (`use: tool_search`) answers:
//! - `tools/list` with `search_tools`, `call_tool` and the tools named in `always_expose`;
//! - `tools/call` of `search_tools` (`{query, limit?}`) with the best matches among the tools
//!   the caller could list — name, description and input schema, as structured content and as
//!   JSON text;
//! - `tools/call` of `call_tool` (`{name, arguments}`) by calling `name` with `arguments`, routed
//!   and governed like a direct call (a direct call of a tool's own name works too).
//!
//! The index is built from what `tools/list` returns for the caller through the layers inside
//! this one (so `authorize` and `tool_filter` listed after it decide what can be found), kept
//! per caller, and rebuilt when the gateway says the tool list changed ([`ToolSearchLayer::watch`]).
//!
//! ```
//! use toolgate_toolsearch::ToolSearchLayer;
//!
//! let layer = ToolSearchLayer::new().limit(5).always_expose("github__create_issue");
//! # let _ = layer;
//! ```
//!
//! See `docs/policies/tool-search.md`.

mod error;
mod factory;
mod index;
mod layer;
mod service;
mod settings;

pub use error::Error;
pub use factory::ToolSearchFactory;
pub use index::Index;
pub use layer::ToolSearchLayer;
pub use service::ToolSearch;
pub use settings::ToolSearchSettings;

#[cfg(test)]
mod tests;

/// The examples of `docs/policies/tool-search.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/tool-search.md")]
struct DocsPage;
