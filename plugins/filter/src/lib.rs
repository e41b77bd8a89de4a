//! The tool filter for toolgate's MCP plane: allow and deny tools by glob per server, hide
//! them from lists, and rename them.
//!
//! [`ToolFilterLayer`] (`use: tool_filter`) sits above the aggregate and works on exposed names
//! (`{server}__{tool}`), resolving each to its server and original name:
//!
//! - **allow / deny** (globs on the server's own tool names): a tool that is not admitted is
//!   absent from `tools/list`, and calling it is answered exactly like an unknown tool
//!   (`-32602 unknown tool: NAME`).
//! - **hide**: absent from `tools/list`, still callable by name.
//! - **rename** (`{echo: say}`): listed as `demo__say`, called as `demo__say` (mapped back to
//!   `demo__echo` on the way up); the old name answers `-32602`.
//!
//! Prompts and resources are not filtered here. See `docs/policies/tool-filter.md`.

mod error;
mod factory;
mod future;
mod layer;
mod policy;
mod service;
mod settings;

pub use error::{Error, ErrorKind};
pub use factory::ToolFilterFactory;
pub use future::ResponseFuture;
pub use layer::{ToolFilterLayer, ToolFilterPolicy};
pub use service::ToolFilter;
pub use settings::{ServerRules, ToolFilterSettings};

use tower::ServiceBuilder;
use tower::layer::util::Stack;

/// Adds [`ToolFilterLayer`] to a [`ServiceBuilder`] (`use toolgate_filter::ToolFilterBuilderExt as _`).
pub trait ToolFilterBuilderExt<L>: sealed::Sealed {
    /// Adds a [`ToolFilterLayer`].
    fn mcp_tool_filter(self, layer: ToolFilterLayer) -> ServiceBuilder<Stack<ToolFilterLayer, L>>;
}

impl<L> ToolFilterBuilderExt<L> for ServiceBuilder<L> {
    fn mcp_tool_filter(self, layer: ToolFilterLayer) -> ServiceBuilder<Stack<ToolFilterLayer, L>> {
        self.layer(layer)
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

#[cfg(test)]
mod tests;

/// The examples of `docs/policies/tool-filter.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/tool-filter.md")]
struct DocsPage;
