//! Health checks that layers report about upstreams: a circuit breaker says an upstream's
//! circuit is open, and `/readyz` and the metrics show it.
//!
//! A layer registers an [`UpstreamCheck`] with
//! [`GatewayBuilder::upstream_check`](crate::gateway::GatewayBuilder::upstream_check); each
//! time health is read ([`Aggregate::health`](crate::aggregate::Aggregate::health)), every check
//! is asked about every upstream. A failing check makes a connected upstream not ready.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// What a check says about one upstream now.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Check {
    /// The check's name, as `/readyz` and the metrics show it (`circuit_breaker`).
    pub name: Arc<str>,
    /// Whether the upstream passes: a failing check makes it not ready.
    pub passing: bool,
    /// Why, in words (`circuit open after 5 consecutive failures; next probe in 2.4 s`).
    pub reason: String,
    /// The check's own fields for `/readyz` (`{"state": "open", "retry_after_ms": 2400}`).
    pub detail: Value,
}

impl Check {
    /// A check named `name`, passing or not, with a reason in words.
    pub fn new(name: impl Into<Arc<str>>, passing: bool, reason: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            passing,
            reason: reason.into(),
            detail: Value::Null,
        }
    }

    /// Adds the check's own fields for `/readyz`.
    #[must_use]
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Something that can tell whether an upstream should take requests, asked when health is
/// read (each `/readyz` and metrics scrape): keep it cheap.
pub trait UpstreamCheck: Send + Sync + 'static {
    /// What the check says about `upstream` (its configured name), or `None` when it does not
    /// watch that upstream.
    fn check(&self, upstream: &str) -> Option<Check>;
}

impl fmt::Debug for dyn UpstreamCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamCheck")
    }
}

impl<F> UpstreamCheck for F
where
    F: Fn(&str) -> Option<Check> + Send + Sync + 'static,
{
    fn check(&self, upstream: &str) -> Option<Check> {
        self(upstream)
    }
}
