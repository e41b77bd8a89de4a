//! The crate's one error type: an opaque [`Error`] with an [`ErrorKind`] callers branch on.
//!
//! The message says what to fix and names the tool or model concerned; its text is not API.

use std::fmt;

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `$ref` leads back into itself: the schema is recursive and cannot be inlined.
    SchemaCycle,
    /// A `$ref` points at nothing in the schema, outside it (a URL), or at an anchor.
    UnresolvedRef,
    /// The schema is not one OpenAI accepts (the root is not an object, an odd shape).
    InvalidSchema,
    /// The schema is too deep or grows too large once its references are inlined.
    SchemaTooLarge,
    /// The schema cannot be expressed in OpenAI's strict mode (free-form objects, `not`, …).
    NotStrict,
    /// A tool call's `function.arguments` is not a JSON object.
    InvalidArguments,
    /// A tool call names no tool that was listed.
    UnknownTool,
    /// The MCP peer failed the request (transport closed, JSON-RPC error, timeout).
    Mcp,
    /// A `model_list` entry cannot be served (no `api_base`, an unsupported URL).
    Model,
}

/// An error of the OpenAI adapter.
#[derive(thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error of `kind` with a message that says what to fix.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error with an underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message (also the `Display` text).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error, its message prefixed with `context` (`tool 'x': …`).
    #[must_use]
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}
