//! [`CacheLayer`]: builds [`Cache`] services that share one store, and drops entries when
//! the gateway's notifications say they may be stale.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::broadcast;
use toolgate::Outbound;
use tower::Layer;

use crate::error::Error;
use crate::key::Kind;
use crate::remote::Remote;
use crate::service::Cache;
use crate::settings::{CacheSettings, Policy};
use crate::store::{Store, store};

/// Counters of what the cache did.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) hits: AtomicU64,
    pub(crate) upstream: AtomicU64,
}

/// What every service of one layer shares.
pub(crate) struct Shared {
    pub(crate) policy: Policy,
    pub(crate) store: Store,
    pub(crate) stats: Stats,
    /// The shared Redis, with `store: redis`.
    pub(crate) remote: Option<Arc<Remote>>,
}

/// Answers repeated reads, prompts and read-only tool calls from a cache, and coalesces
/// identical requests in flight into one upstream call.
///
/// ```
/// use std::time::Duration;
/// use toolgate_cache::CacheLayer;
///
/// let layer = CacheLayer::new()
///     .ttl(Duration::from_secs(60))
///     .max_ttl(Duration::from_secs(3600))
///     .tool("get_forecast")
///     .shared(true);
/// # let _ = layer;
/// ```
///
/// Clones share the store. A gateway built from config (`use: cache`) also feeds the layer its
/// notifications ([`CacheLayer::watch`]): list changes and resource updates drop the entries
/// they may have made stale.
#[derive(Clone)]
pub struct CacheLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

impl Default for CacheLayer {
    fn default() -> Self {
        Self::with_policy(Policy::default())
    }
}

impl CacheLayer {
    /// A cache with the defaults: 30 s per entry (an upstream's `ttlMs` up to 10 min), 10,000
    /// entries, `resources/read`, `prompts/get` and read-only tools, per caller.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache from config-file settings.
    pub fn from_settings(settings: &CacheSettings) -> Result<Self, Error> {
        Ok(Self::with_policy(Policy::from_settings(settings)?))
    }

    fn with_policy(policy: Policy) -> Self {
        Self::with_parts(policy, None)
    }

    fn with_parts(policy: Policy, remote: Option<Arc<Remote>>) -> Self {
        CacheLayer {
            shared: Arc::new(Shared {
                store: store(&policy),
                policy,
                stats: Stats::default(),
                remote,
            }),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Policy)) -> Self {
        let mut policy = self.shared.policy.clone();
        f(&mut policy);
        policy.max_ttl = policy.max_ttl.max(policy.ttl);
        policy.max_entries = policy.max_entries.max(1);
        Self::with_parts(policy, self.shared.remote.clone())
    }

    /// Also keeps answers in the shared Redis of `redis`, so that every gateway replica with
    /// the same Redis answers with what one of them kept (connects on first use; while Redis
    /// is away the cache works in this process only).
    pub fn store_in_redis(self, redis: &toolgate::config::RedisSettings) -> Result<Self, Error> {
        let remote = Arc::new(Remote::new(redis)?);
        Ok(Self::with_parts(self.shared.policy.clone(), Some(remote)))
    }

    /// How long an entry lives when the upstream gives no `ttlMs`.
    #[must_use]
    pub fn ttl(self, ttl: Duration) -> Self {
        self.edit(|p| p.ttl = ttl)
    }

    /// The longest an entry lives, whatever the upstream's `ttlMs`.
    #[must_use]
    pub fn max_ttl(self, max: Duration) -> Self {
        self.edit(|p| p.max_ttl = max)
    }

    /// The most entries kept.
    #[must_use]
    pub fn max_entries(self, n: u64) -> Self {
        self.edit(|p| p.max_entries = n)
    }

    /// Calls of `tool` (the server's own name) are cached.
    #[must_use]
    pub fn tool(self, tool: impl Into<String>) -> Self {
        let tool = tool.into();
        self.edit(|p| p.tools.push(tool))
    }

    /// Whether results the upstream says nothing about are shared by every caller.
    #[must_use]
    pub fn shared(self, on: bool) -> Self {
        self.edit(|p| p.shared = on)
    }

    /// Requests answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.shared.stats.hits.load(Ordering::Relaxed)
    }

    /// Requests the cache sent upstream so far (one per coalesced burst).
    pub fn upstream_calls(&self) -> u64 {
        self.shared.stats.upstream.load(Ordering::Relaxed)
    }

    /// Drops the entries a notification may have made stale: `tools/list_changed` the tool
    /// calls', `prompts/list_changed` the prompts', `resources/list_changed` every read, and
    /// `resources/updated` the reads of its URI.
    pub fn invalidate(&self, method: &str, params: Option<&RawValue>) {
        let uri = (method == "notifications/resources/updated")
            .then(|| {
                params
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok())
                    .and_then(|v| v.get("uri")?.as_str().map(Arc::<str>::from))
            })
            .flatten();
        let kind = match method {
            "notifications/tools/list_changed" => Kind::Tool,
            "notifications/prompts/list_changed" => Kind::Prompt,
            "notifications/resources/list_changed" => Kind::Read,
            "notifications/resources/updated" if uri.is_some() => Kind::Read,
            _ => return,
        };
        if let Some(remote) = &self.shared.remote {
            remote.invalidate(kind, uri.as_deref());
        }
        let dropped = self.shared.store.invalidate_entries_if(move |key, _| {
            key.kind == kind && uri.as_ref().is_none_or(|u| *u == key.item)
        });
        if let Err(e) = dropped {
            tracing::warn!(error = %e, "cache: could not drop stale entries; clearing it");
            self.shared.store.invalidate_all();
        }
    }

    /// Feeds the layer the gateway's notifications (from
    /// [`Aggregate::subscribe`](toolgate::aggregate::Aggregate::subscribe)) until the layer is
    /// dropped or the gateway stops: spawns a task. A receiver that falls behind clears the
    /// cache rather than miss an invalidation.
    pub fn watch(&self, notifications: broadcast::Receiver<Outbound>) {
        toolgate::outbound::watch(
            notifications,
            Arc::downgrade(&self.shared),
            |shared, message| {
                let layer = CacheLayer { shared };
                match message {
                    Some(message) => layer.on(message),
                    None => layer.shared.store.invalidate_all(),
                }
            },
        );
    }

    fn on(&self, message: &Outbound) {
        match message {
            Outbound::Notification { method, params } => self.invalidate(method, params.as_deref()),
            Outbound::Addressed { message, .. } => self.on(message),
            _ => {}
        }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Cache<S> {
        Cache::from_parts(inner, self.shared.clone())
    }
}
