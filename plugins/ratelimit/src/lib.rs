//! Rate limits and concurrency caps for toolgate's MCP plane.
//!
//! - [`RateLimitLayer`] (`use: rate_limit`): keyed GCRA with [`governor`] — per caller
//!   (`Identity::subject`, or `anonymous`), per upstream server, per tool, or any mix — with
//!   rates written `10/s`, `100/min`, `5000/h`. A request over a limit gets JSON-RPC error
//!   `-31002` at once, with `data.retry_after_ms`.
//! - [`ConcurrencyLimitLayer`] (`use: concurrency_limit`): at most `max` requests in flight per
//!   key; one more is refused at once as busy (`-31002`, `data.reason: "busy"`), never queued.
//!
//! ```
//! use tower::ServiceBuilder;
//! use toolgate_ratelimit::{
//!     ConcurrencyLimitLayer, ConcurrencyRule, Dimension, Rate, RateLimitBuilderExt as _,
//!     RateLimitLayer, RateRule,
//! };
//!
//! let stack = ServiceBuilder::new()
//!     .mcp_rate_limit(RateLimitLayer::new([
//!         RateRule::new(Rate::per_minute(100)?).per(Dimension::Identity),
//!     ])?)
//!     .mcp_concurrency_limit(ConcurrencyLimitLayer::new([
//!         ConcurrencyRule::new(4).per(Dimension::Identity),
//!     ])?);
//! # let _ = stack;
//! # Ok::<(), toolgate_ratelimit::Error>(())
//! ```
//!
//! Rules about servers and tools read where a request goes from its route, which the gateway
//! decides once in front of every layer (`McpRequest::route`); the config-file factories are
//! [`RateLimitFactory`] and [`ConcurrencyLimitFactory`]. See `docs/policies/rate-limit.md`.

mod concurrency;
mod error;
mod factory;
mod rate;
mod rate_limit;
mod rules;
mod settings;

pub use concurrency::{ConcurrencyLimit, ConcurrencyLimitLayer, Permit};
pub use error::{BUSY_RETRY_HINT, Error, ErrorKind};
pub use factory::{ConcurrencyLimitFactory, RateLimitFactory};
pub use rate::Rate;
pub use rate_limit::{RateLimit, RateLimitLayer, SharedRateLimit, SharedRateLimitLayer};
pub use rules::{ANONYMOUS, Dimension, Per};
pub use settings::{
    ConcurrencyLimitSettings, ConcurrencyRule, OnStoreError, RateLimitSettings, RateRule, Store,
};

/// Response futures of the services.
pub mod future {
    pub use crate::concurrency::ResponseFuture as ConcurrencyLimitFuture;
    pub use crate::rate_limit::ResponseFuture as RateLimitFuture;
}

use tower::ServiceBuilder;
use tower::layer::util::Stack;

/// Adds this crate's layers to a [`ServiceBuilder`] (`use toolgate_ratelimit::RateLimitBuilderExt as _`).
pub trait RateLimitBuilderExt<L>: sealed::Sealed {
    /// Adds a [`RateLimitLayer`].
    fn mcp_rate_limit(self, layer: RateLimitLayer) -> ServiceBuilder<Stack<RateLimitLayer, L>>;
    /// Adds a [`ConcurrencyLimitLayer`].
    fn mcp_concurrency_limit(
        self,
        layer: ConcurrencyLimitLayer,
    ) -> ServiceBuilder<Stack<ConcurrencyLimitLayer, L>>;
}

impl<L> RateLimitBuilderExt<L> for ServiceBuilder<L> {
    fn mcp_rate_limit(self, layer: RateLimitLayer) -> ServiceBuilder<Stack<RateLimitLayer, L>> {
        self.layer(layer)
    }
    fn mcp_concurrency_limit(
        self,
        layer: ConcurrencyLimitLayer,
    ) -> ServiceBuilder<Stack<ConcurrencyLimitLayer, L>> {
        self.layer(layer)
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

#[cfg(test)]
mod tests;

/// The examples of `docs/policies/rate-limit.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/rate-limit.md")]
struct DocsPage;
