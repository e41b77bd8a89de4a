//! [`LoggingLayer`]: builds [`Logging`] services.

use std::fmt;
use std::sync::Arc;

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
/// For a routed request (every request in a gateway) events also name
/// the upstream server and the tool's own name.
#[derive(Clone)]
pub struct LoggingLayer {
    config: Arc<Config>,
}

impl fmt::Debug for LoggingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggingLayer")
            .field("config", &self.config)
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
        }
    }
}

impl<S> Layer<S> for LoggingLayer {
    type Service = Logging<S>;

    fn layer(&self, inner: S) -> Logging<S> {
        Logging::from_parts(inner, self.config.clone())
    }
}
