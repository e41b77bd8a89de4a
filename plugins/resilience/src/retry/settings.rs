//! The settings of `use: retry`, as config files write them.
//!
//! ```yaml
//! layers:
//!   - use: retry
//!     max_retries: 2              # tries after the first
//!     initial_backoff: 50ms       # doubles per retry …
//!     max_backoff: 1s             # … up to this
//!     jitter: 0.5                 # plus up to 50 % at random
//!     budget:
//!       ratio: 0.2                # retries may add 20 % to the requests …
//!       min_per_second: 10        # … or 10 a second, whichever is more
//!       window: 10s               # over the last 10 s
//!     idempotent_tools: [search]  # tools/call of these is retried too
//!     trust_annotations: true     # and of tools whose annotations say idempotent/read-only
//!     retry_timeouts: false       # -31001 is not retried unless this is true
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;

/// `use: retry`. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// How many times a request may be sent again after its first try (default 2; 0 turns
    /// retries off).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// The wait before the first retry (default 50ms); doubles per retry.
    #[serde(default, deserialize_with = "crate::duration::positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub initial_backoff: Option<Duration>,
    /// The longest wait between tries (default 1s).
    #[serde(default, deserialize_with = "crate::duration::positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub max_backoff: Option<Duration>,
    /// Up to this share of the wait is added at random, 0–1 (default 0.5).
    #[serde(default)]
    pub jitter: Option<f64>,
    /// How many retries the layer allows in all.
    #[serde(default)]
    pub budget: Option<BudgetSettings>,
    /// Tools (the server's own names) whose calls are safe to repeat whatever their
    /// annotations say.
    #[serde(default)]
    pub idempotent_tools: Vec<String>,
    /// Whether a tool whose annotations say `readOnlyHint: true` or `idempotentHint: true` is
    /// retried (default true). The hints come from the upstream: set false for upstreams you
    /// do not trust with that.
    #[serde(default)]
    pub trust_annotations: Option<bool>,
    /// Whether a request that timed out (-31001) is sent again (default false: it may still be
    /// running upstream).
    #[serde(default)]
    pub retry_timeouts: bool,
}

/// The retry budget: retries may add `ratio` of the requests of the last `window`, plus
/// `min_per_second`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    /// Retries allowed per request sent, 0–10 (default 0.2: one retry per five requests).
    #[serde(default)]
    pub ratio: Option<f32>,
    /// Retries allowed per second whatever the traffic (default 10).
    #[serde(default)]
    pub min_per_second: Option<u32>,
    /// How far back requests count, 1s to 60s (default 10s).
    #[serde(default, deserialize_with = "crate::duration::positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub window: Option<Duration>,
}

/// The retry policy, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) jitter: f64,
    pub(crate) ratio: f32,
    pub(crate) min_per_second: u32,
    pub(crate) window: Duration,
    pub(crate) idempotent_tools: Vec<String>,
    pub(crate) trust_annotations: bool,
    pub(crate) retry_timeouts: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_retries: 2,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            jitter: 0.5,
            ratio: 0.2,
            min_per_second: 10,
            window: Duration::from_secs(10),
            idempotent_tools: Vec::new(),
            trust_annotations: true,
            retry_timeouts: false,
        }
    }
}

impl Settings {
    pub(crate) fn from_config(s: &RetrySettings) -> Result<Settings, Error> {
        let d = Settings::default();
        let budget = s.budget.clone().unwrap_or_default();
        let initial_backoff = s.initial_backoff.unwrap_or(d.initial_backoff);
        let settings = Settings {
            max_retries: s.max_retries.unwrap_or(d.max_retries),
            initial_backoff,
            max_backoff: s.max_backoff.unwrap_or(d.max_backoff.max(initial_backoff)),
            jitter: s.jitter.unwrap_or(d.jitter),
            ratio: budget.ratio.unwrap_or(d.ratio),
            min_per_second: budget.min_per_second.unwrap_or(d.min_per_second),
            window: budget.window.unwrap_or(d.window),
            idempotent_tools: s.idempotent_tools.clone(),
            trust_annotations: s.trust_annotations.unwrap_or(d.trust_annotations),
            retry_timeouts: s.retry_timeouts,
        };
        settings.check()?;
        Ok(settings)
    }

    /// What tower's budget and backoff would panic or fail on, refused with what to write.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.max_backoff < self.initial_backoff {
            return Err(Error::new(format!(
                "max_backoff ({:?}) is shorter than initial_backoff ({:?}); make it at least as long",
                self.max_backoff, self.initial_backoff
            )));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::new(format!(
                "jitter {} is not a share: write a number from 0 to 1, such as 0.5",
                self.jitter
            )));
        }
        if !(0.0..=10.0).contains(&self.ratio) || self.ratio.is_nan() {
            return Err(Error::new(format!(
                "budget.ratio {} is out of range: write retries per request from 0 to 10, such as 0.2",
                self.ratio
            )));
        }
        if self.window < Duration::from_secs(1) || self.window > Duration::from_secs(60) {
            return Err(Error::new(format!(
                "budget.window {:?} is out of range: write 1s to 60s, such as 10s",
                self.window
            )));
        }
        if self.min_per_second > 1_000_000 {
            return Err(Error::new(format!(
                "budget.min_per_second {} is too large: write at most 1000000",
                self.min_per_second
            )));
        }
        Ok(())
    }
}
