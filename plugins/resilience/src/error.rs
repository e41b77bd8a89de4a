//! The crate's error type: settings that cannot work. Requests the layers turn away are
//! answered with [`McpError`](toolgate::McpError)s (`-31000`, `retryable: true`,
//! `retry_after_ms`), see the layers.

pub use toolgate::error::SettingsError as Error;
