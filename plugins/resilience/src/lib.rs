//! Upstream faults, contained: a circuit breaker per upstream (and per tool) and retries with
//! a budget, as tower layers for toolgate's MCP plane.
//!
//! - [`CircuitBreakerLayer`] (`use: circuit_breaker`) stops sending requests to an upstream
//!   that keeps failing: after enough consecutive failures (or too high a failure rate) its
//!   circuit opens and requests are answered at once with `-31000`, `retryable: true` and
//!   `retry_after_ms`; when the open interval ends, probe requests test the upstream, and one
//!   success closes the circuit (a failed probe opens it again, for twice as long). `/readyz`
//!   and the metrics show open circuits.
//! - [`RetryLayer`] (`use: retry`) sends a request again when its upstream failed in a way that
//!   may pass — only requests that are safe to repeat (lists, reads, `prompts/get`, and tool
//!   calls the tool's annotations mark idempotent or read-only, or the settings name), with
//!   exponential backoff and jitter, and a budget (tower's) so retries never multiply the load
//!   on an upstream in an outage.
//!
//! - [`HedgeLayer`] (`use: hedge`) sends a read-only request a second time when it has not
//!   been answered after its upstream's usual latency (tower's `hedge`); the first answer wins.
//!
//! All read which upstream serves a request from its route, so they work in the top-level
//! `layers:` (one circuit per upstream) and in a server's own `layers:`.
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//! use toolgate_resilience::{CircuitBreakerLayer, RetryLayer};
//!
//! let stack = ServiceBuilder::new()
//!     .layer(RetryLayer::new().max_retries(2))
//!     .layer(CircuitBreakerLayer::new().consecutive_failures(5).open_for(Duration::from_secs(5)));
//! # let _ = stack;
//! ```
//!
//! See `docs/policies/circuit-breaker.md` and `docs/policies/retry.md`.

mod circuit_breaker;
mod classify;
mod duration;
mod error;
mod hedge;
mod retry;
#[cfg(test)]
mod testing;

pub use circuit_breaker::{
    BreakerSettings, CircuitBreaker, CircuitBreakerFactory, CircuitBreakerLayer, CircuitState,
    ResponseFuture as CircuitBreakerFuture,
};
pub use error::Error;
pub use hedge::{Hedge, HedgeFactory, HedgeLayer, HedgeSettings};
pub use retry::{BudgetSettings, Retry, RetryFactory, RetryLayer, RetryPolicy, RetrySettings};

/// The examples of the policy pages are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/circuit-breaker.md")]
struct CircuitBreakerPage;

/// The examples of the policy pages are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/retry.md")]
struct RetryPage;

/// The examples of the policy pages are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/hedge.md")]
struct HedgePage;
