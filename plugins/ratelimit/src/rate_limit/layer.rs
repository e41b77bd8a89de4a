//! [`RateLimitLayer`]: builds [`RateLimit`] services that share one set of budgets.

use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::{Limits, RateLimit};
use crate::error::Error;
use crate::settings::{RateLimitSettings, RateRule};

/// Applies rate limits; every service it makes (and every clone of it) shares the budgets.
///
/// ```
/// use toolgate_ratelimit::{Dimension, Rate, RateLimitLayer, RateRule};
///
/// let layer = RateLimitLayer::new([
///     RateRule::new(Rate::per_minute(100)?).per(Dimension::Identity),
///     RateRule::new(Rate::per_second(1)?).server("demo").tool("sleep"),
/// ])?;
/// # Ok::<(), toolgate_ratelimit::Error>(())
/// ```
///
/// Rules that name a server or key by server or tool read which upstream serves a request from
/// its route ([`McpRequest::route`](toolgate::McpRequest::route)), which the gateway decides
/// before any layer runs.
#[derive(Clone)]
pub struct RateLimitLayer {
    limits: Arc<Limits>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("rules", &self.limits)
            .finish()
    }
}

impl RateLimitLayer {
    /// A layer enforcing `rules` (at least one).
    pub fn new(rules: impl IntoIterator<Item = RateRule>) -> Result<Self, Error> {
        Ok(RateLimitLayer {
            limits: Arc::new(Limits::new(rules)?),
        })
    }
    /// A layer from config-file settings.
    pub fn from_settings(settings: RateLimitSettings) -> Result<Self, Error> {
        Self::new(settings.rules)
    }
    /// The servers the rules name (to check them against the configured upstreams).
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.limits.servers()
    }
    pub(crate) fn wrap<S>(&self, inner: S) -> RateLimit<S> {
        RateLimit::from_parts(inner, self.limits.clone())
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        self.wrap(inner)
    }
}
