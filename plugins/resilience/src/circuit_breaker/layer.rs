//! [`CircuitBreakerLayer`]: builds [`CircuitBreaker`] services that share one set of circuits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

use super::service::CircuitBreaker;
use super::settings::{BreakerSettings, Policy};
use super::state::{Breakers, CircuitState, Key};
use crate::error::Error;

/// Opens an upstream's circuit when it keeps failing, and refuses its requests at once until a
/// probe finds it working again.
///
/// ```
/// use std::time::Duration;
/// use toolgate_resilience::CircuitBreakerLayer;
///
/// let layer = CircuitBreakerLayer::new()
///     .consecutive_failures(3)
///     .failure_rate(0.5, Duration::from_secs(30), 20)
///     .open_for(Duration::from_secs(2))
///     .max_open_for(Duration::from_secs(30))
///     .per_tool(true);
/// # let _ = layer;
/// ```
///
/// A failure is an upstream that could not be reached or died mid-call (`-31000`), timed out
/// (`-31001`) or broke the protocol (`-31003`); any answer of its own — a result, a tool
/// error, a JSON-RPC error — is a success. Cancelled requests and the gateway's own limits
/// count for nothing. Requests the aggregate answers itself (lists) have no route and pass.
///
/// Clones share the circuits; each layer built anew (a config reload) starts closed. The
/// circuits are registered with the gateway ([`CircuitBreakerLayer::check`]) so `/readyz` and
/// the metrics show them.
#[derive(Clone)]
pub struct CircuitBreakerLayer {
    breakers: Arc<Breakers>,
}

impl fmt::Debug for CircuitBreakerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("policy", &self.breakers.policy)
            .finish_non_exhaustive()
    }
}

impl Default for CircuitBreakerLayer {
    fn default() -> Self {
        Self::with_policy(Policy::default())
    }
}

impl CircuitBreakerLayer {
    /// A breaker with the defaults: open after 5 failures in a row, for 5 s, doubling per
    /// failed probe up to 60 s; one probe at a time; one circuit per upstream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A breaker from config-file settings.
    pub fn from_settings(settings: &BreakerSettings) -> Result<Self, Error> {
        Ok(Self::with_policy(Policy::from_settings(settings)?))
    }

    fn with_policy(policy: Policy) -> Self {
        CircuitBreakerLayer {
            breakers: Arc::new(Breakers::new(policy)),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Policy)) -> Self {
        let mut policy = self.breakers.policy.clone();
        f(&mut policy);
        self.breakers = Arc::new(Breakers::new(policy));
        self
    }

    /// Open after `n` failures in a row (at least 1).
    #[must_use]
    pub fn consecutive_failures(self, n: u32) -> Self {
        self.edit(|p| p.consecutive_failures = n.max(1))
    }

    /// Also open when at least `rate` (0–1] of the requests of the last `window` failed, once
    /// there were `min_requests`.
    #[must_use]
    pub fn failure_rate(self, rate: f64, window: Duration, min_requests: u32) -> Self {
        self.edit(|p| {
            p.failure_rate = Some(rate.clamp(f64::MIN_POSITIVE, 1.0));
            p.window = window.max(Duration::from_millis(10));
            p.min_requests = min_requests.max(1);
        })
    }

    /// How long the circuit stays open the first time.
    #[must_use]
    pub fn open_for(self, d: Duration) -> Self {
        self.edit(|p| {
            p.open_for = d;
            p.max_open_for = p.max_open_for.max(d);
        })
    }

    /// The longest the open interval grows to as probes fail.
    #[must_use]
    pub fn max_open_for(self, d: Duration) -> Self {
        self.edit(|p| p.max_open_for = d.max(p.open_for))
    }

    /// How many probe requests may test a half-open circuit at once (at least 1).
    #[must_use]
    pub fn probes(self, n: u32) -> Self {
        self.edit(|p| p.probes = n.max(1))
    }

    /// One circuit per tool for `tools/call`.
    #[must_use]
    pub fn per_tool(self, on: bool) -> Self {
        self.edit(|p| p.per_tool = on)
    }

    /// The state of `server`'s circuit (of its tool `tool`, for per-tool circuits); `None`
    /// until a request for it went through the layer.
    pub fn state(&self, server: &str, tool: Option<&str>) -> Option<CircuitState> {
        self.breakers.state(&Key {
            server: server.into(),
            tool: tool.map(Into::into),
        })
    }

    /// The circuits as a health check, for
    /// [`GatewayBuilder::upstream_check`](toolgate::gateway::GatewayBuilder::upstream_check):
    /// an upstream whose circuit is open or half-open is not ready.
    pub fn check(&self) -> Arc<dyn toolgate::health::UpstreamCheck> {
        self.breakers.clone()
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker::from_parts(inner, self.breakers.clone())
    }
}
