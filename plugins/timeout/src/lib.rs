//! Deadlines for toolgate's MCP plane: per server and per tool, extended by progress up to a
//! hard cap.
//!
//! [`TimeoutLayer`] (`use: timeout`) gives each request the deadline of its tool, else of its
//! server, else the layer's default. When a deadline has a `max_total_timeout`, every
//! `notifications/progress` the upstream sends for the request restarts the timeout, but the
//! request never runs longer than the cap. On expiry the caller gets JSON-RPC error `-31001`
//! and the request's cancellation token fires: the upstream connection sends
//! `notifications/cancelled` upstream and drops the late answer.
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//! use toolgate_timeout::{Deadline, TimeoutBuilderExt as _, TimeoutLayer};
//!
//! let stack = ServiceBuilder::new().mcp_timeout(
//!     TimeoutLayer::new().default_deadline(
//!         Deadline::new(Duration::from_secs(10)).extend_on_progress(Duration::from_secs(60)),
//!     ),
//! );
//! # let _ = stack;
//! ```
//!
//! See `docs/policies/timeout.md`.

mod error;
mod factory;
mod future;
mod layer;
mod policy;
mod service;
mod settings;

pub use error::{Error, ErrorKind};
pub use factory::TimeoutFactory;
pub use future::ResponseFuture;
pub use layer::TimeoutLayer;
pub use policy::Deadline;
pub use service::Timeout;
pub use settings::{ServerTimeouts, TimeoutSettings, ToolTimeouts};

use tower::ServiceBuilder;
use tower::layer::util::Stack;

/// Adds [`TimeoutLayer`] to a [`ServiceBuilder`] (`use toolgate_timeout::TimeoutBuilderExt as _`).
pub trait TimeoutBuilderExt<L>: sealed::Sealed {
    /// Adds a [`TimeoutLayer`].
    fn mcp_timeout(self, layer: TimeoutLayer) -> ServiceBuilder<Stack<TimeoutLayer, L>>;
}

impl<L> TimeoutBuilderExt<L> for ServiceBuilder<L> {
    fn mcp_timeout(self, layer: TimeoutLayer) -> ServiceBuilder<Stack<TimeoutLayer, L>> {
        self.layer(layer)
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

#[cfg(test)]
mod tests;

/// The examples of `docs/policies/timeout.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/timeout.md")]
struct DocsPage;
