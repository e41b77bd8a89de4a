//! The crate's error type: settings that cannot work.

/// What went wrong; callers branch on this, not on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The settings are invalid.
    Settings,
}

/// Invalid settings, with a message that says what to write instead.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn settings(message: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Settings,
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}
