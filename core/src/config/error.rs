//! The error type of configuration loading: [`ConfigError`] and its [`ConfigErrorKind`].

use std::path::{Path, PathBuf};

/// The broad class of a [`ConfigError`], for callers that react differently to
/// different failures (for example a CLI choosing an exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The configuration file could not be read.
    Io,
    /// The text is not well-formed YAML or JSON.
    Syntax,
    /// A key that the file format does not define.
    UnknownKey,
    /// The same key appears twice in one map (for example two servers with one name).
    DuplicateKey,
    /// A key that is required in this place is absent.
    MissingKey,
    /// A value has the wrong type, is malformed or is out of range.
    InvalidValue,
    /// Keys or values that contradict each other (for example both `command` and `url`).
    Conflict,
    /// A `${VAR}` or `os.environ/VAR` reference names an environment variable that is not set.
    MissingVariable,
}

/// An error loading a configuration file.
///
/// Its `Display` is a complete message meant for the user: it names the file (when
/// loaded from a path), the key path inside the file (such as `mcp_servers.demo.url`),
/// the line when known, and what to do about it. The pieces are also available
/// separately through the accessors.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ConfigError(Box<Repr>);

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Repr {
    kind: ConfigErrorKind,
    message: String,
    key_path: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    file: Option<PathBuf>,
    #[source]
    source: Option<std::io::Error>,
}

impl ConfigError {
    pub(crate) fn new(
        kind: ConfigErrorKind,
        message: String,
        key_path: Option<String>,
        line: Option<usize>,
        column: Option<usize>,
    ) -> Self {
        Self(Box::new(Repr {
            kind,
            message,
            key_path,
            line,
            column,
            file: None,
            source: None,
        }))
    }

    pub(crate) fn io(file: &Path, source: std::io::Error) -> Self {
        let message = format!(
            "cannot read configuration file '{}': {source}",
            file.display()
        );
        Self(Box::new(Repr {
            kind: ConfigErrorKind::Io,
            message,
            key_path: None,
            line: None,
            column: None,
            file: Some(file.to_path_buf()),
            source: Some(source),
        }))
    }

    /// Prefixes the message with the file name and records the file.
    pub(crate) fn in_file(mut self, file: &Path) -> Self {
        self.0.message = format!("{}: {}", file.display(), self.0.message);
        self.0.file = Some(file.to_path_buf());
        self
    }

    /// The broad class of the error.
    pub fn kind(&self) -> ConfigErrorKind {
        self.0.kind
    }

    /// The 1-based line in the file that the error refers to, when known.
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }

    /// The 1-based column reported by the parser, when known (less precise than
    /// [`line`](Self::line) for errors found after parsing a whole entry).
    pub fn column(&self) -> Option<usize> {
        self.0.column
    }

    /// The dotted key path of the offending key or value, such as
    /// `mcp_servers.demo.transport` or `server.allowed_hosts[1]`, when known.
    pub fn key_path(&self) -> Option<&str> {
        self.0.key_path.as_deref()
    }

    /// The configuration file, when the configuration was loaded from a path.
    pub fn file(&self) -> Option<&Path> {
        self.0.file.as_deref()
    }
}

/// A problem found in one value, before its key path and line are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) kind: ConfigErrorKind,
    pub(crate) message: String,
    /// For a problem found when checking a whole map: the key it is about, if one.
    pub(crate) key: Option<&'static str>,
}

impl Issue {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ConfigErrorKind::InvalidValue, message)
    }

    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            key: None,
        }
    }

    /// Attributes the problem to `key` of the map being checked.
    pub(crate) fn at_key(mut self, key: &'static str) -> Self {
        self.key = Some(key);
        self
    }
}
