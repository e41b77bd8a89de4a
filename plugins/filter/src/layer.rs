//! [`ToolFilterLayer`]: builds [`ToolFilter`] services.

use std::fmt;
use std::sync::Arc;

use tower::Layer;

use crate::error::Error;
use crate::policy::Policy;
use crate::service::{Shared, ToolFilter};
use crate::settings::ToolFilterSettings;

/// Filters, hides and renames tools.
///
/// ```
/// use toolgate_filter::{ServerRules, ToolFilterLayer, ToolFilterSettings};
///
/// let mut settings = ToolFilterSettings::default();
/// settings.servers.insert(
///     "demo".into(),
///     ServerRules {
///         deny: vec!["crash".into()],
///         rename: [("echo".into(), "say".into())].into(),
///         ..Default::default()
///     },
/// );
/// // Names map to servers through each request's routing (a gateway routes every request).
/// let layer = ToolFilterLayer::new(&settings)?;
/// # let _ = layer;
/// # Ok::<(), toolgate_filter::Error>(())
/// ```
#[derive(Clone)]
pub struct ToolFilterLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for ToolFilterLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolFilterLayer")
            .field("policy", &self.shared.policy)
            .finish()
    }
}

/// Checked, compiled tool-filter settings: build them once (where errors can be reported),
/// then make layers with [`ToolFilterLayer::from_policy`].
#[derive(Clone, Debug)]
pub struct ToolFilterPolicy {
    policy: Arc<Policy>,
}

impl ToolFilterPolicy {
    /// Checks and compiles `settings` (globs, renames).
    pub fn new(settings: &ToolFilterSettings) -> Result<Self, Error> {
        Ok(ToolFilterPolicy {
            policy: Arc::new(Policy::new(settings)?),
        })
    }
    /// The servers with rules of their own (to check them against the configured upstreams).
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.policy.servers()
    }
}

impl ToolFilterLayer {
    /// A layer applying `settings`. Exposed names are mapped to servers and tools with the
    /// table each request was routed with.
    pub fn new(settings: &ToolFilterSettings) -> Result<Self, Error> {
        Ok(Self::from_policy(ToolFilterPolicy::new(settings)?))
    }
    /// A layer applying `policy`.
    pub fn from_policy(policy: ToolFilterPolicy) -> Self {
        ToolFilterLayer {
            shared: Arc::new(Shared {
                policy: policy.policy,
            }),
        }
    }
}

impl<S> Layer<S> for ToolFilterLayer {
    type Service = ToolFilter<S>;

    fn layer(&self, inner: S) -> ToolFilter<S> {
        ToolFilter::from_parts(inner, self.shared.clone())
    }
}
