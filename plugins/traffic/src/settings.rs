//! The settings of `use: mirror` and `use: canary`, as config files write them.
//!
//! ```yaml
//! layers:
//!   - use: mirror
//!     routes:
//!       - {from: search, to: search-next, share: 0.25}   # a quarter of search's calls, copied
//!   - use: canary
//!     routes:
//!       - {from: billing, to: billing-v2, weight: 0.1}   # a tenth of the sessions on v2
//! ```

use serde::Deserialize;

use crate::error::Error;

/// `use: mirror`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MirrorSettings {
    /// Which server's calls are copied where.
    pub routes: Vec<MirrorRoute>,
}

/// One mirrored server.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MirrorRoute {
    /// The server whose calls are copied (its name in `mcp_servers`).
    pub from: String,
    /// The server the copies go to.
    pub to: String,
    /// The share of calls copied, 0–1 (default 1: all).
    #[serde(default)]
    pub share: Option<f64>,
}

/// `use: canary`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanarySettings {
    /// Which server's calls are shared with which.
    pub routes: Vec<CanaryRoute>,
}

/// One canary.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryRoute {
    /// The server whose calls are shared (its name in `mcp_servers`).
    pub from: String,
    /// The other version, which serves `weight` of them.
    pub to: String,
    /// The share served by `to`, 0–1.
    pub weight: f64,
    /// Whether the choice is made once per client session (default true) or per call.
    #[serde(default)]
    pub sticky: Option<bool>,
}

/// Checks a route's servers and share against the configured upstreams.
pub(crate) fn check_route(
    from: &str,
    to: &str,
    share: f64,
    what: &str,
    known: &[&str],
) -> Result<(), Error> {
    for name in [from, to] {
        if !known.contains(&name) {
            return Err(Error::new(format!(
                "no upstream server is named '{name}'; configured servers: {}",
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    if from == to {
        return Err(Error::new(format!(
            "'{from}' is both from and to: name two different servers"
        )));
    }
    if !(0.0..=1.0).contains(&share) {
        return Err(Error::new(format!(
            "{what} {share} is not a share: write a number from 0 to 1, such as 0.1"
        )));
    }
    Ok(())
}
