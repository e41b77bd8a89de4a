//! Access logging for toolgate's MCP plane: one structured `tracing` event per request.
//!
//! [`LoggingLayer`] (`use: logging`) emits, when a request ends, one event with target
//! `toolgate::access` and the fields `method`, `name` (tool or prompt name as called) or `uri`,
//! `server` and `tool` (resolved through the aggregate), `identity`, `session` (the first 8
//! characters of the session id), `request_id`, `status` (`ok`, `tool_error`, `error`,
//! `cancelled`, `dropped`), `code` (the JSON-RPC error code), `error`, `duration_ms`, and —
//! when enabled — `params`. Secrets never reach the log: see [`Redactor`].
//!
//! Whether the event is printed as JSON or for humans is the subscriber's business
//! (`toolgate --log-format json`); place the layer outermost to see what every other layer
//! decided (rate limits, timeouts, filters).
//!
//! ```
//! use tower::ServiceBuilder;
//! use toolgate_logging::{LoggingBuilderExt as _, LoggingLayer};
//!
//! let stack = ServiceBuilder::new().mcp_logging(LoggingLayer::default());
//! # let _ = stack;
//! ```
//!
//! See `docs/policies/logging.md`.

mod factory;
mod future;
mod layer;
mod record;
mod redact;
mod service;
mod settings;

pub use factory::LoggingFactory;
pub use future::ResponseFuture;
pub use layer::LoggingLayer;
pub use record::TARGET;
pub use redact::{REDACTED, Redactor};
pub use service::Logging;
pub use settings::{DEFAULT_MAX_PARAMS_BYTES, Level, LoggingSettings};

use tower::ServiceBuilder;
use tower::layer::util::Stack;

/// Adds [`LoggingLayer`] to a [`ServiceBuilder`] (`use toolgate_logging::LoggingBuilderExt as _`).
pub trait LoggingBuilderExt<L>: sealed::Sealed {
    /// Adds a [`LoggingLayer`].
    fn mcp_logging(self, layer: LoggingLayer) -> ServiceBuilder<Stack<LoggingLayer, L>>;
}

impl<L> LoggingBuilderExt<L> for ServiceBuilder<L> {
    fn mcp_logging(self, layer: LoggingLayer) -> ServiceBuilder<Stack<LoggingLayer, L>> {
        self.layer(layer)
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

#[cfg(test)]
mod tests;

/// The examples of `docs/policies/logging.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/logging.md")]
struct DocsPage;
