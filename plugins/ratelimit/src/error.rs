//! The crate's one error type: a request a limit turned away, or settings that cannot work.
//!
//! A rejection becomes a JSON-RPC error with code `-31002`
//! ([`RATE_LIMITED`](toolgate::error::code::RATE_LIMITED)) and
//! `data: {source: "gateway", upstream?, retryable: true, reason: "rate_limited" | "busy",
//! retry_after_ms, limit, per}` — `retry_after_ms` is an integer, so HTTP front ends (REST,
//! chat completions) can answer `429` with `Retry-After: ceil(retry_after_ms / 1000)`.

use std::fmt;
use std::time::Duration;

use toolgate::error::{ErrorKind as McpErrorKind, McpError};

/// What went wrong; callers branch on this, not on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A rate limit rejected the request: retry after [`Error::retry_after`].
    RateLimited,
    /// A concurrency cap is full: the request was refused at once instead of queued.
    Busy,
    /// The shared store (Redis) that keeps the budgets could not answer in time, and the
    /// layer fails closed.
    StoreUnavailable,
    /// The settings are invalid (a bad rate, an empty rule list, an unknown server).
    Settings,
}

/// A rejected request or invalid settings.
#[derive(Clone, thiserror::Error)]
#[error("{}", .inner.message)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
    upstream: Option<String>,
    limit: Option<String>,
    per: Vec<&'static str>,
}

/// How long a caller refused as busy is told to wait: a cap frees as soon as a call in flight
/// ends, so this is a hint, not a promise.
pub const BUSY_RETRY_HINT: Duration = Duration::from_secs(1);

impl Error {
    pub(crate) fn settings(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Settings, message.into())
    }

    fn new(kind: ErrorKind, message: String) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message,
                retry_after: None,
                upstream: None,
                limit: None,
                per: Vec::new(),
            }),
        }
    }

    pub(crate) fn rejected(
        kind: ErrorKind,
        message: String,
        retry_after: Duration,
        upstream: Option<&str>,
        limit: String,
        per: Vec<&'static str>,
    ) -> Error {
        let mut e = Error::new(kind, message);
        e.inner.retry_after = Some(retry_after);
        e.inner.upstream = upstream.map(str::to_owned);
        e.inner.limit = Some(limit);
        e.inner.per = per;
        e
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }
    /// True when a rate limit rejected the request.
    pub fn is_rate_limited(&self) -> bool {
        self.inner.kind == ErrorKind::RateLimited
    }
    /// True when a concurrency cap was full.
    pub fn is_busy(&self) -> bool {
        self.inner.kind == ErrorKind::Busy
    }
    /// How long to wait before the same request can pass (for a busy cap, a hint).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("retry_after", &self.inner.retry_after)
            .finish()
    }
}

/// Whole milliseconds, rounded up so that waiting that long is always enough.
pub(crate) fn ceil_millis(d: Duration) -> u64 {
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(u64::MAX)
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
        let reason = match inner.kind {
            ErrorKind::Busy => "busy",
            ErrorKind::StoreUnavailable => "limit_store_unavailable",
            _ => "rate_limited",
        };
        data.insert("reason".into(), reason.into());
        if inner.kind == ErrorKind::Busy {
            data.insert("busy".into(), true.into());
        }
        let retry_after = inner.retry_after.unwrap_or(BUSY_RETRY_HINT);
        data.insert(
            "retry_after_ms".into(),
            ceil_millis(retry_after).max(1).into(),
        );
        if let Some(limit) = inner.limit {
            data.insert("limit".into(), limit.into());
        }
        data.insert("per".into(), inner.per.into());
        McpError::new(McpErrorKind::RateLimited, inner.message)
            .with_data(serde_json::Value::Object(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_milliseconds() {
        assert_eq!(ceil_millis(Duration::from_micros(1)), 1);
        assert_eq!(ceil_millis(Duration::from_millis(250)), 250);
        assert_eq!(ceil_millis(Duration::from_micros(250_001)), 251);
        assert_eq!(ceil_millis(Duration::ZERO), 0);
    }

    #[test]
    fn rejection_becomes_31002_with_retry_data() {
        let e = Error::rejected(
            ErrorKind::RateLimited,
            "slow down".into(),
            Duration::from_millis(1500),
            Some("demo"),
            "1/s".into(),
            vec!["identity"],
        );
        let m = McpError::from(e);
        assert_eq!(m.code(), toolgate::error::code::RATE_LIMITED);
        assert_eq!(m.kind(), McpErrorKind::RateLimited);
        let data = m.data().expect("data");
        assert_eq!(data["source"], "gateway");
        assert_eq!(data["upstream"], "demo");
        assert_eq!(data["retryable"], true);
        assert_eq!(data["reason"], "rate_limited");
        assert_eq!(data["retry_after_ms"], 1500);
        assert_eq!(data["limit"], "1/s");
        assert_eq!(data["per"][0], "identity");
        assert!(m.is_retryable());
    }
}
