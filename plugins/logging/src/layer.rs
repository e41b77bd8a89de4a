//! [`LoggingLayer`]: builds [`Logging`] services.

use std::fmt;
use std::sync::Arc;

use toolgate::aggregate::Resolve;
use tower::Layer;

use crate::record::Config;
use crate::service::Logging;
use crate::settings::LoggingSettings;

/// Logs one event per request (target `toolgate::access`).
///
/// ```
/// use toolgate_logging::{LoggingLayer, LoggingSettings};
///
/// let layer = LoggingLayer::new(&LoggingSettings { params: true, ..Default::default() });
/// # let _ = layer;
/// ```
///
/// With a resolver (the gateway's aggregate, via `GatewayBuilder::layer_with`) events also name
/// the upstream server and the tool's own name.
#[derive(Clone)]
pub struct LoggingLayer {
    config: Arc<Config>,
    resolver: Option<Arc<dyn Resolve>>,
}

impl fmt::Debug for LoggingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggingLayer")
            .field("config", &self.config)
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

impl Default for LoggingLayer {
    fn default() -> Self {
        Self::new(&LoggingSettings::default())
    }
}

impl LoggingLayer {
    /// A layer with `settings`.
    pub fn new(settings: &LoggingSettings) -> Self {
        LoggingLayer {
            config: Arc::new(Config::new(settings)),
            resolver: None,
        }
    }
    /// Resolves requests to servers and tools with `resolver` (the gateway's `Aggregate`).
    #[must_use]
    pub fn with_resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }
}

impl<S> Layer<S> for LoggingLayer {
    type Service = Logging<S>;

    fn layer(&self, inner: S) -> Logging<S> {
        Logging::from_parts(inner, self.config.clone(), self.resolver.clone())
    }
}
