//! The crate's one error type: what went wrong setting telemetry up.

use std::fmt;

/// What kind of failure a [`TelemetryError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TelemetryErrorKind {
    /// A setting is invalid (endpoint, header, bucket list, path).
    InvalidConfig,
    /// The OTLP exporter could not be built.
    Exporter,
    /// A Prometheus metric could not be registered or rendered.
    Metrics,
}

impl fmt::Display for TelemetryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TelemetryErrorKind::InvalidConfig => "invalid telemetry settings",
            TelemetryErrorKind::Exporter => "OTLP exporter",
            TelemetryErrorKind::Metrics => "metrics",
        })
    }
}

/// Telemetry could not be set up. The message says what to fix; it is not API.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TelemetryError {
    kind: TelemetryErrorKind,
    message: String,
}

impl TelemetryError {
    pub(crate) fn new(kind: TelemetryErrorKind, message: impl Into<String>) -> Self {
        TelemetryError {
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(TelemetryErrorKind::InvalidConfig, message)
    }
    /// What kind of failure this is.
    pub fn kind(&self) -> TelemetryErrorKind {
        self.kind
    }
}

impl From<prometheus::Error> for TelemetryError {
    fn from(e: prometheus::Error) -> Self {
        TelemetryError::new(TelemetryErrorKind::Metrics, e.to_string())
    }
}
