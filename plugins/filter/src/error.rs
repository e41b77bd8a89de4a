//! The crate's one error type: settings that cannot work. (A denied tool is not an error of
//! this crate: it is answered exactly like an unknown tool, `-32602`.)

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A glob does not parse.
    Glob,
    /// A rename cannot work (bad name, two tools renamed to one name, rename under `"*"`).
    Rename,
    /// A rule names a server that is not configured.
    UnknownServer,
}

/// Invalid tool-filter settings.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}
