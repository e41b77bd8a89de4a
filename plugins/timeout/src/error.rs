//! The crate's one error type: a request that ran out of time, or settings that cannot work.
//!
//! A timeout becomes JSON-RPC error `-31001` ([`UPSTREAM_TIMEOUT`](toolgate::error::code::UPSTREAM_TIMEOUT))
//! with `data: {source: "gateway", upstream?, retryable: true, timeout_ms, elapsed_ms,
//! max_total_timeout_ms?}`.

use std::fmt;
use std::time::Duration;

use toolgate::error::{ErrorKind as McpErrorKind, McpError};

/// What went wrong; callers branch on this, not on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The deadline passed before the answer came; the request was cancelled upstream.
    Elapsed,
    /// The settings are invalid.
    Settings,
}

/// A request that timed out, or invalid settings.
#[derive(Clone, thiserror::Error)]
#[error("{}", .inner.message)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    upstream: Option<String>,
    timeout: Option<Duration>,
    max_total: Option<Duration>,
    elapsed: Option<Duration>,
}

impl Error {
    pub(crate) fn settings(message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind: ErrorKind::Settings,
                message: message.into(),
                upstream: None,
                timeout: None,
                max_total: None,
                elapsed: None,
            }),
        }
    }

    pub(crate) fn elapsed(
        message: String,
        upstream: Option<String>,
        timeout: Duration,
        max_total: Option<Duration>,
        elapsed: Duration,
    ) -> Error {
        Error {
            inner: Box::new(Inner {
                kind: ErrorKind::Elapsed,
                message,
                upstream,
                timeout: Some(timeout),
                max_total,
                elapsed: Some(elapsed),
            }),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }
    /// True for a request that ran out of time.
    pub fn is_elapsed(&self) -> bool {
        self.inner.kind == ErrorKind::Elapsed
    }
    /// How long the request ran before it was given up.
    pub fn elapsed_time(&self) -> Option<Duration> {
        self.inner.elapsed
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .finish()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<Error> for McpError {
    fn from(e: Error) -> McpError {
        let inner = *e.inner;
        if inner.kind == ErrorKind::Settings {
            return McpError::internal(inner.message);
        }
        let mut data = serde_json::Map::new();
        data.insert("source".into(), "gateway".into());
        if let Some(upstream) = inner.upstream {
            data.insert("upstream".into(), upstream.into());
        }
        data.insert("retryable".into(), true.into());
        if let Some(t) = inner.timeout {
            data.insert("timeout_ms".into(), millis(t).into());
        }
        if let Some(t) = inner.max_total {
            data.insert("max_total_timeout_ms".into(), millis(t).into());
        }
        if let Some(t) = inner.elapsed {
            data.insert("elapsed_ms".into(), millis(t).into());
        }
        McpError::new(McpErrorKind::Timeout, inner.message)
            .with_data(serde_json::Value::Object(data))
    }
}
