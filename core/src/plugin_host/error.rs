//! Errors of the plugin host: [`LoadError`] at start-up (the gateway refuses to start), and
//! [`HookError`] when a hook fails at run time (that one request fails with -32603).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{ErrorKind, McpError};

/// Why a plugin could not be loaded, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The file does not exist or its path cannot be resolved.
    NotFound,
    /// No `plugin_dirs:` are configured, or the file is outside all of them.
    OutsidePluginDirs,
    /// The file or a directory above it (up to the plugin directory) is world-writable, or the
    /// path is not a regular file.
    Permissions,
    /// The file's SHA-256 differs from the pinned one.
    HashMismatch,
    /// The dynamic loader refused the file (not a shared library, missing dependencies).
    Open,
    /// The library does not export the plugin entry point.
    MissingSymbol,
    /// The plugin was built for another plugin ABI.
    AbiVersion,
    /// The plugin's identity or config schema is unusable.
    BadPlugin,
    /// The `config:` given does not match the plugin's schema, or the plugin refused it.
    Config,
}

/// A plugin that could not be loaded: names the file and says what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin {}: {message}", path.display())]
pub struct LoadError {
    kind: LoadErrorKind,
    path: PathBuf,
    message: String,
}

impl LoadError {
    pub(crate) fn new(kind: LoadErrorKind, path: &Path, message: impl Into<String>) -> Self {
        LoadError {
            kind,
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
    /// What went wrong.
    pub fn kind(&self) -> LoadErrorKind {
        self.kind
    }
    /// The library file, as the config named it.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// What is wrong, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Which hook was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `on_request`.
    Request,
    /// `on_response`.
    Response,
    /// `on_notification`.
    Notification,
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hook::Request => "on_request",
            Hook::Response => "on_response",
            Hook::Notification => "on_notification",
        })
    }
}

/// How a hook failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HookErrorKind {
    /// The hook panicked (caught inside the plugin).
    Panicked,
    /// The hook reported an error (it could not read its input, or failed otherwise).
    Failed,
    /// The hook answered something the host cannot use (bad JSON, unknown status).
    BadOutput,
    /// The hook did not return within the host's hook timeout.
    TimedOut,
}

/// A hook that failed: the request fails with -32603, the details go to the log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin '{plugin}' {hook}: {message}")]
pub struct HookError {
    kind: HookErrorKind,
    plugin: String,
    hook: Hook,
    message: String,
}

impl HookError {
    pub(crate) fn new(
        kind: HookErrorKind,
        plugin: &str,
        hook: Hook,
        message: impl Into<String>,
    ) -> Self {
        HookError {
            kind,
            plugin: plugin.to_owned(),
            hook,
            message: message.into(),
        }
    }
    /// How it failed.
    pub fn kind(&self) -> HookErrorKind {
        self.kind
    }
    /// Which hook.
    pub fn hook(&self) -> Hook {
        self.hook
    }
    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }
}

impl From<HookError> for McpError {
    /// -32603 for the client, naming the plugin but not its panic message (that goes to the
    /// log: it may show internals).
    fn from(e: HookError) -> Self {
        let what = match e.kind {
            HookErrorKind::Panicked => "panicked",
            HookErrorKind::Failed => "failed",
            HookErrorKind::BadOutput => "returned an unusable answer",
            HookErrorKind::TimedOut => "did not finish in time",
        };
        McpError::new(
            ErrorKind::Internal,
            format!(
                "internal error in plugin '{}': {} {what}; see the gateway log",
                e.plugin, e.hook
            ),
        )
        .with_data(serde_json::json!({"source": "plugin", "plugin": e.plugin}))
    }
}
