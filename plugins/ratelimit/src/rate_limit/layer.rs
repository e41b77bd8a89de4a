//! [`RateLimitLayer`]: builds [`RateLimit`] services that share one set of budgets.

use std::fmt;
use std::sync::Arc;

use toolgate::aggregate::Resolve;
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
/// Rules that name a server or key by server or tool need to know which upstream serves a
/// request: give the layer the gateway's aggregate with [`RateLimitLayer::with_resolver`]
/// (`GatewayBuilder::layer_with` hands it over).
#[derive(Clone)]
pub struct RateLimitLayer {
    limits: Arc<Limits>,
    resolver: Option<Arc<dyn Resolve>>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("rules", &self.limits)
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

impl RateLimitLayer {
    /// A layer enforcing `rules` (at least one).
    pub fn new(rules: impl IntoIterator<Item = RateRule>) -> Result<Self, Error> {
        Ok(RateLimitLayer {
            limits: Arc::new(Limits::new(rules)?),
            resolver: None,
        })
    }
    /// A layer from config-file settings.
    pub fn from_settings(settings: RateLimitSettings) -> Result<Self, Error> {
        Self::new(settings.rules)
    }
    /// Resolves requests to servers and tools with `resolver` (the gateway's `Aggregate`).
    #[must_use]
    pub fn with_resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }
    /// The servers the rules name (to check them against the configured upstreams).
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.limits.servers()
    }
    pub(crate) fn wrap<S>(&self, inner: S) -> RateLimit<S> {
        RateLimit::from_parts(inner, self.limits.clone(), self.resolver.clone())
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        self.wrap(inner)
    }
}
