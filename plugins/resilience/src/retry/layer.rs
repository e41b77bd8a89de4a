//! [`RetryLayer`]: tower's retry, with [`RetryPolicy`] deciding, and one budget for every
//! service the layer builds.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

use super::policy::{RetryPolicy, Shared};
use super::settings::{RetrySettings, Settings};
use crate::error::Error;

/// A service with retries: tower's [`Retry`](tower::retry::Retry) with a [`RetryPolicy`].
pub type Retry<S> = tower::retry::Retry<RetryPolicy, S>;

/// Sends a request again when its upstream failed in a way that may pass (`-31000` with
/// `retryable: true`: unreachable, or died mid-call; `-31001` too when asked), if the request
/// is safe to repeat and the budget allows.
///
/// ```
/// use std::time::Duration;
/// use toolgate_resilience::RetryLayer;
///
/// let layer = RetryLayer::new()
///     .max_retries(3)
///     .backoff(Duration::from_millis(100), Duration::from_secs(2))
///     .budget(0.1, 5)
///     .idempotent_tool("search");
/// # let _ = layer;
/// ```
///
/// Safe to repeat: `ping`, lists, `resources/read`, `prompts/get`, `completion/complete`, and
/// `tools/call` of a tool named with [`RetryLayer::idempotent_tool`] or whose annotations say
/// `readOnlyHint: true` or `idempotentHint: true` (unless [`RetryLayer::trust_annotations`] is
/// off). A caller that cancelled is not retried for; an open circuit is not retried into.
///
/// The budget (tower's [`TpsBudget`](tower::retry::budget::TpsBudget)) lets retries add a
/// share of the requests that went through the layer recently, plus a floor per second: in an
/// outage, the upstream sees at most that much more load, not `max_retries` times as much.
#[derive(Clone)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for RetryLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("settings", &self.shared.settings)
            .finish()
    }
}

impl Default for RetryLayer {
    fn default() -> Self {
        RetryLayer {
            shared: Arc::new(Shared::new(Settings::default())),
        }
    }
}

impl RetryLayer {
    /// Retries with the defaults: up to 2, backing off from 50 ms to 1 s with 50 % jitter,
    /// budget 20 % of requests plus 10 a second over 10 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries from config-file settings.
    pub fn from_settings(settings: &RetrySettings) -> Result<Self, Error> {
        let settings = Settings::from_config(settings)?;
        Ok(RetryLayer {
            shared: Arc::new(Shared::new(settings)),
        })
    }

    fn edit(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.shared.settings.clone();
        f(&mut settings);
        if settings.check().is_ok() {
            self.shared = Arc::new(Shared::new(settings));
        }
        self
    }

    /// How many times a request may be sent again (0: never).
    #[must_use]
    pub fn max_retries(self, n: u32) -> Self {
        self.edit(|s| s.max_retries = n)
    }

    /// The first wait, doubling per retry up to `max`.
    #[must_use]
    pub fn backoff(self, initial: Duration, max: Duration) -> Self {
        self.edit(|s| {
            s.initial_backoff = initial;
            s.max_backoff = max.max(initial);
        })
    }

    /// Up to `jitter` (0–1) of each wait is added at random.
    #[must_use]
    pub fn jitter(self, jitter: f64) -> Self {
        self.edit(|s| s.jitter = jitter.clamp(0.0, 1.0))
    }

    /// Retries may add `ratio` of the requests sent (0–10), plus `min_per_second`.
    #[must_use]
    pub fn budget(self, ratio: f32, min_per_second: u32) -> Self {
        self.edit(|s| {
            s.ratio = ratio.clamp(0.0, 10.0);
            s.min_per_second = min_per_second;
        })
    }

    /// Calls of `tool` (the server's own name) are safe to repeat.
    #[must_use]
    pub fn idempotent_tool(self, tool: impl Into<String>) -> Self {
        let tool = tool.into();
        self.edit(|s| s.idempotent_tools.push(tool))
    }

    /// Whether tool annotations (`readOnlyHint`, `idempotentHint`) make a call safe to repeat.
    #[must_use]
    pub fn trust_annotations(self, on: bool) -> Self {
        self.edit(|s| s.trust_annotations = on)
    }

    /// Whether a request that timed out (-31001) is sent again.
    #[must_use]
    pub fn retry_timeouts(self, on: bool) -> Self {
        self.edit(|s| s.retry_timeouts = on)
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        tower::retry::Retry::new(RetryPolicy::new(self.shared.clone()), inner)
    }
}
