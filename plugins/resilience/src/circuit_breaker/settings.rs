//! The settings of `use: circuit_breaker`, as config files write them.
//!
//! ```yaml
//! layers:
//!   - use: circuit_breaker
//!     consecutive_failures: 5     # open after 5 failures in a row
//!     failure_rate: 0.5           # or when half the requests of the last 30 s failed …
//!     window: 30s
//!     min_requests: 20            # … once there were at least 20
//!     open_for: 5s                # first opening; each failed probe doubles it …
//!     max_open_for: 1m            # … up to a minute
//!     probes: 1                   # requests let through at once when half-open
//!     per_tool: false             # true: one circuit per tool for tools/call
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;

/// `use: circuit_breaker`. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerSettings {
    /// Open the circuit after this many failures in a row (default 5).
    #[serde(default)]
    pub consecutive_failures: Option<u32>,
    /// Also open it when at least this share of the requests in `window` failed, a number
    /// above 0 and at most 1 (default: off).
    #[serde(default)]
    pub failure_rate: Option<f64>,
    /// The window `failure_rate` looks at (default 30s).
    #[serde(default, deserialize_with = "crate::duration::positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub window: Option<Duration>,
    /// The fewest requests in the window before `failure_rate` applies (default 20).
    #[serde(default)]
    pub min_requests: Option<u32>,
    /// How long the circuit stays open the first time (default 5s).
    #[serde(default, deserialize_with = "crate::duration::positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub open_for: Option<Duration>,
    /// Each failed probe doubles the open interval, up to this (default 60s).
    #[serde(default, deserialize_with = "crate::duration::positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub max_open_for: Option<Duration>,
    /// Requests let through at once to probe a half-open circuit (default 1).
    #[serde(default)]
    pub probes: Option<u32>,
    /// One circuit per tool for `tools/call` (other requests keep the server's circuit);
    /// default false: one circuit per upstream server.
    #[serde(default)]
    pub per_tool: bool,
}

/// The breaker's policy, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Policy {
    pub(crate) consecutive_failures: u32,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) window: Duration,
    pub(crate) min_requests: u32,
    pub(crate) open_for: Duration,
    pub(crate) max_open_for: Duration,
    pub(crate) probes: u32,
    pub(crate) per_tool: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            consecutive_failures: 5,
            failure_rate: None,
            window: Duration::from_secs(30),
            min_requests: 20,
            open_for: Duration::from_secs(5),
            max_open_for: Duration::from_secs(60),
            probes: 1,
            per_tool: false,
        }
    }
}

impl Policy {
    pub(crate) fn from_settings(s: &BreakerSettings) -> Result<Policy, Error> {
        let d = Policy::default();
        let policy = Policy {
            consecutive_failures: s.consecutive_failures.unwrap_or(d.consecutive_failures),
            failure_rate: s.failure_rate,
            window: s.window.unwrap_or(d.window),
            min_requests: s.min_requests.unwrap_or(d.min_requests),
            open_for: s.open_for.unwrap_or(d.open_for),
            max_open_for: s
                .max_open_for
                .unwrap_or(d.max_open_for.max(s.open_for.unwrap_or_default())),
            probes: s.probes.unwrap_or(d.probes),
            per_tool: s.per_tool,
        };
        policy.check()?;
        Ok(policy)
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.consecutive_failures == 0 {
            return Err(Error::new(
                "consecutive_failures must be at least 1 (5 opens the circuit after five failures in a row)",
            ));
        }
        if let Some(rate) = self.failure_rate
            && !(rate > 0.0 && rate <= 1.0)
        {
            return Err(Error::new(format!(
                "failure_rate {rate} is not a share: write a number above 0 and at most 1, such as 0.5"
            )));
        }
        if self.min_requests == 0 {
            return Err(Error::new(
                "min_requests must be at least 1 (20 waits for twenty requests in the window)",
            ));
        }
        if self.probes == 0 {
            return Err(Error::new(
                "probes must be at least 1: a half-open circuit needs a request to test the upstream",
            ));
        }
        if self.max_open_for < self.open_for {
            return Err(Error::new(format!(
                "max_open_for ({:?}) is shorter than open_for ({:?}); make it at least as long",
                self.max_open_for, self.open_for
            )));
        }
        Ok(())
    }
}
