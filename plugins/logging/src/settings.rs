//! The settings of `use: logging`, as config files write them.
//!
//! ```yaml
//! layers:
//!   - use: logging
//!     level: info             # of successful requests; default info
//!     error_level: warn       # of failed ones; default: level
//!     params: true            # also log the request params, secrets redacted; default false
//!     max_params_bytes: 2048  # longer params are cut; default 2048
//!     redact_keys: [x-tenant-secret]   # more keys whose values never reach the log
//! ```
//!
//! JSON or human-readable output is the subscriber's choice (`toolgate --log-format json`);
//! events have the target `toolgate::access`, so `RUST_LOG=toolgate::access=info` selects them.

use serde::Deserialize;

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `trace`
    Trace,
    /// `debug`
    Debug,
    /// `info`
    #[default]
    Info,
    /// `warn`
    Warn,
    /// `error`
    Error,
}

impl From<Level> for tracing::Level {
    fn from(l: Level) -> tracing::Level {
        match l {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        }
    }
}

/// The default cut-off of logged params, in bytes.
pub const DEFAULT_MAX_PARAMS_BYTES: usize = 2048;

/// `use: logging`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggingSettings {
    /// Level of the event for a request that succeeded (including a tool that ran and reported
    /// `isError`).
    #[serde(default)]
    pub level: Level,
    /// Level of the event for a request that failed with a JSON-RPC error; default: `level`.
    #[serde(default)]
    pub error_level: Option<Level>,
    /// Log the request params too (secrets redacted, cut at `max_params_bytes`).
    #[serde(default)]
    pub params: bool,
    /// Longest params text logged: bytes, or a size such as `2KiB`.
    #[serde(default = "default_max_params_bytes", deserialize_with = "size")]
    #[schemars(with = "toolgate::config::Size")]
    pub max_params_bytes: usize,
    /// More key fragments whose values are redacted (ignoring case, `-` and `_`), on top of
    /// `authorization`, `api_key`, `token`, `secret`, `password`, `cookie`, `credential` and
    /// friends.
    #[serde(default)]
    pub redact_keys: Vec<String>,
}

fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    toolgate::config::Size::deserialize(d).map(usize::from)
}

fn default_max_params_bytes() -> usize {
    DEFAULT_MAX_PARAMS_BYTES
}

impl Default for LoggingSettings {
    fn default() -> Self {
        LoggingSettings {
            level: Level::Info,
            error_level: None,
            params: false,
            max_params_bytes: DEFAULT_MAX_PARAMS_BYTES,
            redact_keys: Vec::new(),
        }
    }
}
