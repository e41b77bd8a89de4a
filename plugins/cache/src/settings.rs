//! The settings of `use: cache`, as config files write them.
//!
//! ```yaml
//! layers:
//!   - use: cache
//!     ttl: 30s                 # entries the upstream gives no ttlMs for
//!     max_ttl: 10m             # an upstream's ttlMs is capped at this
//!     max_entries: 10000
//!     tools: [get_forecast]    # tools/call of these tools is cached …
//!     trust_annotations: true  # … and of tools annotated readOnlyHint: true
//!     resources: true          # resources/read
//!     prompts: true            # prompts/get
//!     shared: false            # results without cacheScope are kept per caller
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::Error;

/// `use: cache`. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// How long an entry lives when the upstream gives no `ttlMs` (default 30s).
    #[serde(default, deserialize_with = "positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub ttl: Option<Duration>,
    /// The longest an entry lives, whatever the upstream's `ttlMs` (default 10m).
    #[serde(default, deserialize_with = "positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub max_ttl: Option<Duration>,
    /// The most entries kept; the least useful go first (default 10000).
    #[serde(default)]
    pub max_entries: Option<u64>,
    /// Tools (the server's own names) whose calls are cached.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Whether calls of tools annotated `readOnlyHint: true` are cached (default true).
    #[serde(default)]
    pub trust_annotations: Option<bool>,
    /// Whether `resources/read` is cached (default true).
    #[serde(default)]
    pub resources: Option<bool>,
    /// Whether `prompts/get` is cached (default true).
    #[serde(default)]
    pub prompts: Option<bool>,
    /// Whether a result whose upstream says nothing about its scope is shared by all callers
    /// (default false: kept per caller, as `cacheScope: "private"`).
    #[serde(default)]
    pub shared: bool,
    /// Where answers are kept: `local` (default: this process) or `redis` (this process and
    /// the config's `redis:`, so every gateway replica answers with what one of them kept).
    #[serde(default)]
    pub store: Store,
}

/// Where the cache keeps answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    /// In this process.
    #[default]
    Local,
    /// In this process and in the shared Redis.
    Redis,
}

/// The settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Policy {
    pub(crate) ttl: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) max_entries: u64,
    pub(crate) tools: Vec<String>,
    pub(crate) trust_annotations: bool,
    pub(crate) resources: bool,
    pub(crate) prompts: bool,
    pub(crate) shared: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(600),
            max_entries: 10_000,
            tools: Vec::new(),
            trust_annotations: true,
            resources: true,
            prompts: true,
            shared: false,
        }
    }
}

impl Policy {
    pub(crate) fn from_settings(s: &CacheSettings) -> Result<Policy, Error> {
        let d = Policy::default();
        let ttl = s.ttl.unwrap_or(d.ttl);
        let policy = Policy {
            ttl,
            max_ttl: s.max_ttl.unwrap_or(d.max_ttl.max(ttl)),
            max_entries: s.max_entries.unwrap_or(d.max_entries),
            tools: s.tools.clone(),
            trust_annotations: s.trust_annotations.unwrap_or(d.trust_annotations),
            resources: s.resources.unwrap_or(d.resources),
            prompts: s.prompts.unwrap_or(d.prompts),
            shared: s.shared,
        };
        if policy.max_ttl < policy.ttl {
            return Err(Error::new(format!(
                "max_ttl ({:?}) is shorter than ttl ({:?}); make it at least as long",
                policy.max_ttl, policy.ttl
            )));
        }
        if policy.max_entries == 0 {
            return Err(Error::new(
                "max_entries must be at least 1 (10000 keeps ten thousand answers)",
            ));
        }
        Ok(policy)
    }
}

/// A config duration (`30`, `"30s"`, `"500ms"`), longer than zero.
fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<toolgate::config::Duration>::deserialize(d)?
        .map(|d| d.positive().map_err(serde::de::Error::custom))
        .transpose()
}
