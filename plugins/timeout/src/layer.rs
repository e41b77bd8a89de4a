//! [`TimeoutLayer`]: builds [`Timeout`] services.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

use crate::error::Error;
use crate::policy::{Deadline, Policy};
use crate::service::Timeout;
use crate::settings::TimeoutSettings;

/// Gives requests deadlines: per tool, else per server, else a default.
///
/// ```
/// use std::time::Duration;
/// use toolgate_timeout::{Deadline, TimeoutLayer};
///
/// let layer = TimeoutLayer::new()
///     .default_deadline(Deadline::new(Duration::from_secs(30)))
///     .server("search", Deadline::new(Duration::from_secs(10)))
///     .tool(
///         "demo",
///         "sleep",
///         Deadline::new(Duration::from_secs(1)).extend_on_progress(Duration::from_secs(5)),
///     );
/// # let _ = layer;
/// ```
///
/// Server and tool deadlines read which upstream serves a request from its route
/// ([`McpRequest::route`](toolgate::McpRequest::route)). Every upstream request is also bounded by the gateway's
/// `server.request_timeout`; deadlines longer than that end there.
#[derive(Clone, Default)]
pub struct TimeoutLayer {
    policy: Arc<Policy>,
}

impl fmt::Debug for TimeoutLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutLayer")
            .field("policy", &self.policy)
            .finish()
    }
}

impl TimeoutLayer {
    /// A layer with no deadlines yet: requests pass through untimed.
    pub fn new() -> Self {
        Self::default()
    }
    /// A layer from config-file settings.
    pub fn from_settings(settings: &TimeoutSettings) -> Result<Self, Error> {
        Ok(TimeoutLayer {
            policy: Arc::new(Policy::from_settings(settings)?),
        })
    }
    /// The deadline of requests no server or tool entry covers.
    #[must_use]
    pub fn default_deadline(mut self, deadline: Deadline) -> Self {
        Arc::make_mut(&mut self.policy).default = Some(deadline);
        self
    }
    /// The deadline of requests for `server`.
    #[must_use]
    pub fn server(mut self, server: impl Into<String>, deadline: Deadline) -> Self {
        Arc::make_mut(&mut self.policy)
            .servers
            .entry(server.into())
            .or_default()
            .deadline = Some(deadline);
        self
    }
    /// The deadline of calls of `tool` (the server's own name for it) on `server`.
    #[must_use]
    pub fn tool(
        mut self,
        server: impl Into<String>,
        tool: impl Into<String>,
        deadline: Deadline,
    ) -> Self {
        Arc::make_mut(&mut self.policy)
            .servers
            .entry(server.into())
            .or_default()
            .tools
            .insert(tool.into(), deadline);
        self
    }
    /// The servers with entries (to check them against the configured upstreams).
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.policy.servers.keys().map(String::as_str)
    }
    /// The longest time any request may take under this layer, and the setting that allows it.
    pub fn longest(&self) -> Option<(Duration, String)> {
        self.policy.longest()
    }
    pub(crate) fn wrap<S>(&self, inner: S) -> Timeout<S> {
        Timeout::from_parts(inner, self.policy.clone())
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        self.wrap(inner)
    }
}
