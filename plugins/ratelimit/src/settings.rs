//! The settings of `use: rate_limit` and `use: concurrency_limit`, as config files write them
//! and as Rust code builds them.
//!
//! ```yaml
//! layers:
//!   - use: rate_limit
//!     rules:
//!       - {rate: 100/min, per: identity}             # each caller, everything together
//!       - {rate: 20/s, per: server}                  # each upstream server, all callers
//!       - {rate: 2/s, per: [identity, tool], server: demo}
//!       - {rate: 1/s, server: demo, tool: sleep}     # one budget for this tool
//!   - use: concurrency_limit
//!     rules:
//!       - {max: 4, per: identity}                    # calls in flight per caller
//! ```

use serde::Deserialize;

use crate::rate::Rate;
use crate::rules::{Dimension, Per};

/// `use: rate_limit`: every rule that applies to a request must have budget left.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// The rules, checked in order; a request passes when every rule that applies has budget.
    /// A rejected request still counts against the rules checked before the one that refused it.
    pub rules: Vec<RateRule>,
    /// Where the budgets are kept: `local` (default: in this process) or `redis` (in the
    /// config's `redis:`, shared by every gateway replica using it).
    #[serde(default)]
    pub store: Store,
    /// With `store: redis`, what a request gets when Redis cannot be reached in time:
    /// `fail_closed` (default: refused, -31002 with `reason: limit_store_unavailable`) or
    /// `fail_open` (let through). Logged either way.
    #[serde(default)]
    pub on_store_error: Option<OnStoreError>,
}

/// Where rate-limit budgets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    /// In this process.
    #[default]
    Local,
    /// In the shared Redis (`redis:` at the top of the config).
    Redis,
}

/// What a request gets when the shared store cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    /// Refused: no budget can be proven.
    #[default]
    FailClosed,
    /// Let through: availability over the limit.
    FailOpen,
}

/// One rate limit.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRule {
    /// Requests per period: `10/s`, `100/min`, `5000/h`, `20000/day` (a burst of N at once).
    pub rate: Rate,
    /// What gets its own budget: `identity`, `server`, `tool`, or a list of them; absent means
    /// one budget for every request the rule applies to.
    #[serde(default)]
    pub per: Per,
    /// Apply only to requests for this upstream server.
    #[serde(default)]
    pub server: Option<String>,
    /// Apply only to calls of this tool (its name on the server, without the prefix).
    #[serde(default)]
    pub tool: Option<String>,
}

impl RateRule {
    /// A rule with one budget for all requests.
    pub fn new(rate: Rate) -> Self {
        RateRule {
            rate,
            per: Per::default(),
            server: None,
            tool: None,
        }
    }
    /// Adds a dimension that gets its own budget.
    #[must_use]
    pub fn per(mut self, d: Dimension) -> Self {
        self.per = add(self.per, d);
        self
    }
    /// Limits the rule to requests for `server`.
    #[must_use]
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }
    /// Limits the rule to calls of `tool` (the server's own name for it).
    #[must_use]
    pub fn tool(mut self, tool: impl Into<String>) -> Self {
        self.tool = Some(tool.into());
        self
    }
}

/// `use: concurrency_limit`: requests in flight beyond a cap are refused at once ("busy"),
/// never queued.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyLimitSettings {
    /// The caps; a request runs when every cap that applies to it has room.
    pub rules: Vec<ConcurrencyRule>,
}

/// One concurrency cap.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyRule {
    /// Most requests in flight at once (at least 1).
    pub max: u32,
    /// What gets its own cap: `identity`, `server`, `tool`, or a list; absent means one cap for
    /// every request the rule applies to.
    #[serde(default)]
    pub per: Per,
    /// Apply only to requests for this upstream server.
    #[serde(default)]
    pub server: Option<String>,
    /// Apply only to calls of this tool (its name on the server, without the prefix).
    #[serde(default)]
    pub tool: Option<String>,
}

impl ConcurrencyRule {
    /// A cap of `max` requests in flight, shared by all requests.
    pub fn new(max: u32) -> Self {
        ConcurrencyRule {
            max,
            per: Per::default(),
            server: None,
            tool: None,
        }
    }
    /// Adds a dimension that gets its own cap.
    #[must_use]
    pub fn per(mut self, d: Dimension) -> Self {
        self.per = add(self.per, d);
        self
    }
    /// Limits the cap to requests for `server`.
    #[must_use]
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }
    /// Limits the cap to calls of `tool` (the server's own name for it).
    #[must_use]
    pub fn tool(mut self, tool: impl Into<String>) -> Self {
        self.tool = Some(tool.into());
        self
    }
}

fn add(per: Per, d: Dimension) -> Per {
    let mut v = match per {
        Per::One(x) => vec![x],
        Per::Many(v) => v,
    };
    if !v.contains(&d) {
        v.push(d);
    }
    Per::Many(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_form_parses() {
        let s: RateLimitSettings = serde_json::from_value(serde_json::json!({
            "rules": [
                {"rate": "100/min", "per": "identity"},
                {"rate": "2/s", "per": ["identity", "tool"], "server": "demo"},
                {"rate": "1/s", "server": "demo", "tool": "sleep"},
            ]
        }))
        .expect("parses");
        assert_eq!(s.rules[0].per, Per::One(Dimension::Identity));
        assert_eq!(
            s.rules[1].per,
            Per::Many(vec![Dimension::Identity, Dimension::Tool])
        );
        assert_eq!(s.rules[2].per, Per::default());
    }

    #[test]
    fn unknown_keys_and_dimensions_are_refused() {
        let e = serde_json::from_value::<RateLimitSettings>(serde_json::json!({
            "rules": [{"rate": "1/s", "pre": "identity"}]
        }))
        .expect_err("typo");
        assert!(e.to_string().contains("pre"), "{e}");
        let e = serde_json::from_value::<RateLimitSettings>(serde_json::json!({
            "rules": [{"rate": "1/s", "per": "user"}]
        }))
        .expect_err("bad dimension");
        assert!(e.to_string().contains("'user'"), "{e}");
        assert!(e.to_string().contains("identity, server or tool"), "{e}");
        let e = serde_json::from_value::<RateLimitSettings>(serde_json::json!({
            "rules": [{"rate": "fast"}]
        }))
        .expect_err("bad rate");
        assert!(e.to_string().contains("N/s"), "{e}");
    }
}
