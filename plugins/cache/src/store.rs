//! The store: moka's concurrent cache with each entry's own time to live, and what an
//! answer says about how it may be kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::key::Key;
use crate::settings::Policy;

/// One kept answer.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) result: Box<RawValue>,
    pub(crate) ttl: Duration,
}

/// Each entry expires after its own `ttl`.
pub(crate) struct PerEntry;

impl Expiry<Key, Arc<Entry>> for PerEntry {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Arc<Entry>,
        _at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub(crate) type Store = moka::future::Cache<Key, Arc<Entry>>;

pub(crate) fn store(policy: &Policy) -> Store {
    moka::future::Cache::builder()
        .max_capacity(policy.max_entries)
        .expire_after(PerEntry)
        .support_invalidation_closures()
        .build()
}

/// How an answer may be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Not at all: a tool error, or `ttlMs: 0`.
    No,
    /// For the caller who asked, this long.
    PerCaller(Duration),
    /// For every caller, this long.
    Shared(Duration),
}

/// Reads the answer's own hints (`isError`, `ttlMs`, `cacheScope`) against the policy.
pub(crate) fn keep(result: &RawValue, policy: &Policy) -> Keep {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Hints {
        #[serde(default)]
        is_error: Option<bool>,
        #[serde(default)]
        ttl_ms: Option<u64>,
        #[serde(default)]
        cache_scope: Option<String>,
    }
    let text = result.get();
    let hints = if text.contains("\"isError\"")
        || text.contains("\"ttlMs\"")
        || text.contains("\"cacheScope\"")
    {
        match serde_json::from_str::<Hints>(text) {
            Ok(h) => h,
            Err(_) => return Keep::No,
        }
    } else {
        Hints {
            is_error: None,
            ttl_ms: None,
            cache_scope: None,
        }
    };
    if hints.is_error == Some(true) {
        return Keep::No;
    }
    let ttl = match hints.ttl_ms {
        Some(0) => return Keep::No,
        Some(ms) => Duration::from_millis(ms).min(policy.max_ttl),
        None => policy.ttl,
    };
    match hints.cache_scope.as_deref() {
        Some("public") => Keep::Shared(ttl),
        Some(_) => Keep::PerCaller(ttl),
        None if policy.shared => Keep::Shared(ttl),
        None => Keep::PerCaller(ttl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn the_answer_says_how_long_and_for_whom() {
        let p = Policy::default();
        assert_eq!(keep(&raw(r#"{"contents":[]}"#), &p), Keep::PerCaller(p.ttl));
        assert_eq!(
            keep(
                &raw(r#"{"contents":[],"ttlMs":5000,"cacheScope":"public"}"#),
                &p
            ),
            Keep::Shared(Duration::from_secs(5))
        );
        assert_eq!(keep(&raw(r#"{"contents":[],"ttlMs":0}"#), &p), Keep::No);
        assert_eq!(
            keep(&raw(r#"{"contents":[],"ttlMs":99999999}"#), &p),
            Keep::PerCaller(p.max_ttl)
        );
        assert_eq!(keep(&raw(r#"{"content":[],"isError":true}"#), &p), Keep::No);
        let shared = Policy {
            shared: true,
            ..Policy::default()
        };
        assert_eq!(
            keep(&raw(r#"{"content":[]}"#), &shared),
            Keep::Shared(shared.ttl)
        );
        assert_eq!(
            keep(&raw(r#"{"content":[],"cacheScope":"private"}"#), &shared),
            Keep::PerCaller(shared.ttl)
        );
    }
}
