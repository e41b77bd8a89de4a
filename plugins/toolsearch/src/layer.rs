//! [`ToolSearchLayer`]: builds [`ToolSearch`] services that share the settings and the
//! per-caller indexes, and learns from the gateway's notifications when to rebuild them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::broadcast;
use toolgate::Outbound;
use tower::Layer;

use crate::error::Error;
use crate::index::Index;
use crate::service::ToolSearch;
use crate::settings::{Policy, ToolSearchSettings};

/// How many callers' indexes are kept; the oldest goes first.
const MAX_INDEXES: usize = 64;

/// How long an index serves when no notification says the list changed (a layer nobody
/// [watches](ToolSearchLayer::watch) for).
const UNWATCHED_MAX_AGE: Duration = Duration::from_secs(30);

/// What every service of one layer shares.
pub(crate) struct Shared {
    pub(crate) policy: Policy,
    /// Bumped by each `notifications/tools/list_changed`.
    generation: AtomicU64,
    watched: std::sync::atomic::AtomicBool,
    indexes: Mutex<HashMap<Arc<str>, Built>>,
}

struct Built {
    generation: u64,
    at: Instant,
    index: Arc<Index>,
}

impl Shared {
    /// The caller's index if it is still current.
    pub(crate) fn current(&self, caller: &str) -> Option<Arc<Index>> {
        let generation = self.generation.load(Ordering::Acquire);
        let watched = self.watched.load(Ordering::Relaxed);
        let indexes = self.indexes.lock();
        let built = indexes.get(caller)?;
        let fresh =
            built.generation == generation && (watched || built.at.elapsed() < UNWATCHED_MAX_AGE);
        fresh.then(|| built.index.clone())
    }

    /// The generation an index built now from a fresh list belongs to.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `index` for `caller`, built from a list read at `generation`.
    pub(crate) fn keep(&self, caller: Arc<str>, generation: u64, index: Arc<Index>) {
        let mut indexes = self.indexes.lock();
        if indexes.len() >= MAX_INDEXES
            && !indexes.contains_key(&caller)
            && let Some(oldest) = indexes
                .iter()
                .min_by_key(|(_, b)| b.at)
                .map(|(k, _)| k.clone())
        {
            indexes.remove(&oldest);
        }
        indexes.insert(
            caller,
            Built {
                generation,
                at: Instant::now(),
                index,
            },
        );
    }
}

/// Replaces the tool list with a search meta-tool and a call meta-tool.
///
/// ```
/// use toolgate_toolsearch::ToolSearchLayer;
///
/// let layer = ToolSearchLayer::new()
///     .limit(8)
///     .always_expose("files__read_file")
///     .names("find_tools", "run_tool");
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct ToolSearchLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for ToolSearchLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolSearchLayer")
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

impl Default for ToolSearchLayer {
    fn default() -> Self {
        Self::with_policy(Policy::default())
    }
}

impl ToolSearchLayer {
    /// Search with the defaults: `search_tools` (10 matches, at most 50) and `call_tool`.
    pub fn new() -> Self {
        Self::default()
    }

    /// From config-file settings.
    pub fn from_settings(settings: &ToolSearchSettings) -> Result<Self, Error> {
        Ok(Self::with_policy(Policy::from_settings(settings)?))
    }

    fn with_policy(policy: Policy) -> Self {
        ToolSearchLayer {
            shared: Arc::new(Shared {
                policy,
                generation: AtomicU64::new(0),
                watched: std::sync::atomic::AtomicBool::new(false),
                indexes: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Policy)) -> Self {
        let mut policy = self.shared.policy.clone();
        f(&mut policy);
        policy.limit = policy.limit.max(1);
        policy.max_limit = policy.max_limit.max(policy.limit);
        Self::with_policy(policy)
    }

    /// How many matches a search returns when it does not say.
    #[must_use]
    pub fn limit(self, n: usize) -> Self {
        self.edit(|p| p.limit = n)
    }

    /// Lists `tool` (as `tools/list` names it) besides the meta-tools.
    #[must_use]
    pub fn always_expose(self, tool: impl Into<String>) -> Self {
        let tool = tool.into();
        self.edit(|p| p.always_expose.push(tool))
    }

    /// The meta-tools' names.
    #[must_use]
    pub fn names(self, search: impl Into<String>, call: impl Into<String>) -> Self {
        let (search, call) = (search.into(), call.into());
        self.edit(|p| {
            p.search_tool = search;
            p.call_tool = call;
        })
    }

    /// Rebuilds the indexes when the gateway's notifications (from
    /// [`Aggregate::subscribe`](toolgate::aggregate::Aggregate::subscribe)) say the tool list
    /// changed; without it an index serves for 30 s. Spawns a task that ends with the layer
    /// or the gateway.
    pub fn watch(&self, notifications: broadcast::Receiver<Outbound>) {
        self.shared.watched.store(true, Ordering::Relaxed);
        toolgate::outbound::watch(
            notifications,
            Arc::downgrade(&self.shared),
            |shared, message| {
                let changed = match message {
                    Some(Outbound::Notification { method, .. }) => {
                        &**method == "notifications/tools/list_changed"
                    }
                    Some(_) => false,
                    // Missed messages: one of them may have been a change.
                    None => true,
                };
                if changed {
                    shared.generation.fetch_add(1, Ordering::AcqRel);
                }
            },
        );
    }
}

impl<S> Layer<S> for ToolSearchLayer {
    type Service = ToolSearch<S>;

    fn layer(&self, inner: S) -> ToolSearch<S> {
        ToolSearch::from_parts(inner, self.shared.clone())
    }
}
