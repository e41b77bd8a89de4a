//! [`ToolFilterLayer`]: builds [`ToolFilter`] services.

use std::fmt;
use std::sync::Arc;

use toolgate::aggregate::Resolve;
use tower::Layer;

use crate::error::Error;
use crate::policy::Policy;
use crate::service::{Shared, ToolFilter};
use crate::settings::ToolFilterSettings;

/// Filters, hides and renames tools.
///
/// ```
/// use toolgate::aggregate::Resolved;
/// use toolgate::jsonrpc::Method;
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
/// // In a gateway the resolver is the aggregate (`GatewayBuilder::layer_with`).
/// let resolver = |_: &Method, name: &str| {
///     let (server, tool) = name.split_once("__")?;
///     Some(Resolved { server: server.into(), original: tool.into() })
/// };
/// let layer = ToolFilterLayer::new(&settings, resolver)?;
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

impl ToolFilterLayer {
    /// A layer applying `settings`, resolving exposed tool names with `resolver` (the gateway's
    /// `Aggregate`).
    pub fn new(settings: &ToolFilterSettings, resolver: impl Resolve) -> Result<Self, Error> {
        Ok(Self::from_policy(
            Policy::new(settings)?,
            Arc::new(resolver),
        ))
    }
    pub(crate) fn from_policy(policy: Policy, resolver: Arc<dyn Resolve>) -> Self {
        ToolFilterLayer {
            shared: Arc::new(Shared { policy, resolver }),
        }
    }
}

impl<S> Layer<S> for ToolFilterLayer {
    type Service = ToolFilter<S>;

    fn layer(&self, inner: S) -> ToolFilter<S> {
        ToolFilter::from_parts(inner, self.shared.clone())
    }
}
