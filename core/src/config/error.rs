//! The error type of configuration loading: [`ConfigError`] and its [`ConfigErrorKind`].

use std::path::{Path, PathBuf};

use super::document::{Document, KeyPath};
use super::values::suggest;

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

/// A problem with its key path, not yet rendered: becomes a [`ConfigError`] once its line is
/// known (see [`Problem::into_error`]). Layer settings keep one until the registry knows where
/// the layer's entry sits in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    kind: ConfigErrorKind,
    /// The key (or list element) the problem is about.
    path: KeyPath,
    shape: Shape,
    /// Where the parser stopped, when it found the problem itself (a duplicate key).
    position: Option<(usize, usize)>,
}

/// How a [`Problem`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// `{path} at line N: {message}`.
    At(String),
    /// `{map} at line N: {message}`: about a key of a map, named by its map (a bad server name).
    InMap(String),
    /// `unknown key 'k' in {map} at line N; expected one of …`, with a hint when one is close.
    UnknownKey(Vec<String>),
    /// A syntax error: the parser's own message, which has the position in it.
    Syntax(String),
}

impl Problem {
    /// A problem with the value at `path` (or, for an issue about a key, with that key of it).
    pub(crate) fn at(path: &KeyPath, issue: Issue) -> Self {
        let path = match issue.key {
            Some(key) => path.key(key),
            None => path.clone(),
        };
        Self::new(issue.kind, path, Shape::At(issue.message))
    }

    /// A problem with the key at `path`, reported as a problem of the map that holds it.
    pub(crate) fn in_map(path: KeyPath, issue: Issue) -> Self {
        Self::new(issue.kind, path, Shape::InMap(issue.message))
    }

    /// Invalid YAML or JSON.
    pub(crate) fn syntax(message: String, position: Option<(usize, usize)>) -> Self {
        let mut problem = Self::new(
            ConfigErrorKind::Syntax,
            KeyPath::default(),
            Shape::Syntax(message),
        );
        problem.position = position;
        problem
    }

    fn new(kind: ConfigErrorKind, path: KeyPath, shape: Shape) -> Self {
        Self {
            kind,
            path,
            shape,
            position: None,
        }
    }

    /// Whether the problem is about the whole document (no key path).
    pub(crate) fn is_top_level(&self) -> bool {
        self.path.is_empty()
    }

    /// Records where the parser found the problem.
    pub(crate) fn found_at(mut self, position: Option<(usize, usize)>) -> Self {
        self.position = position;
        self
    }

    /// A problem from serde at `path`: its message, with serde's own wording for unknown keys,
    /// unknown choices and missing keys turned into the config file's.
    pub(crate) fn from_serde(path: KeyPath, message: &str) -> Self {
        use ConfigErrorKind::{DuplicateKey, InvalidValue, MissingKey, UnknownKey};
        // serde writes names in backticks: "unknown field `x`, expected one of `a`, `b`".
        let quoted: Vec<String> = message
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        let (first, rest) = match quoted.split_first() {
            Some((first, rest)) => (first.clone(), rest.to_vec()),
            None => return Self::new(InvalidValue, path, Shape::At(message.to_owned())),
        };
        if message.starts_with("unknown field `") {
            let path = if path.last_key() == Some(first.as_str()) {
                path
            } else {
                path.key(&first)
            };
            return Self::new(UnknownKey, path, Shape::UnknownKey(rest));
        }
        if message.starts_with("unknown variant `") {
            let names: Vec<&str> = rest.iter().map(String::as_str).collect();
            let mut text = format!("expected one of {} (found '{first}')", names.join(", "));
            if let Some(hint) = suggest(&first, &names) {
                text.push_str(&format!(" (did you mean '{hint}'?)"));
            }
            return Self::new(InvalidValue, path, Shape::At(text));
        }
        if message.starts_with("missing field `") {
            return Self::new(
                MissingKey,
                path,
                Shape::At(format!("missing key `{first}`")),
            );
        }
        if message.starts_with("duplicate field `") {
            let text = format!("duplicate key '{first}' (each may appear only once)");
            return Self::new(DuplicateKey, path.key(&first), Shape::InMap(text));
        }
        Self::new(InvalidValue, path, Shape::At(message.to_owned()))
    }

    /// The same problem, its path taken as relative to `prefix`.
    pub(crate) fn under(mut self, prefix: &KeyPath) -> Self {
        self.path = prefix.join(&self.path);
        self
    }

    /// The finished error: the line is where the parser found the problem, or else that of
    /// the problem's key path in `doc`.
    pub(crate) fn into_error(self, doc: Option<&Document>) -> ConfigError {
        let position = self
            .position
            .or_else(|| doc.and_then(|doc| doc.position(&self.path)));
        let message = self.render(position.map(|p| p.0));
        let path = (!self.path.is_empty()).then(|| self.path.to_string());
        ConfigError::new(
            self.kind,
            message,
            path,
            position.map(|p| p.0),
            position.map(|p| p.1),
        )
    }

    /// The message for a problem whose path is relative to something else (a layer's
    /// settings), without a line.
    pub(crate) fn render_relative(&self) -> String {
        match &self.shape {
            Shape::At(message) if self.path.is_empty() => message.clone(),
            _ => self.render(None),
        }
    }

    /// The message, with ` at line N` after the key path when the line is known.
    pub(crate) fn render(&self, line: Option<usize>) -> String {
        let at = line
            .map(|line| format!(" at line {line}"))
            .unwrap_or_default();
        let parent = self.path.parent();
        match &self.shape {
            Shape::At(message) => format!("{}{at}: {message}", display_path(&self.path)),
            Shape::InMap(message) => format!("{}{at}: {message}", display_path(&parent)),
            Shape::UnknownKey(expected) => {
                let key = self.path.last_key().unwrap_or_default();
                let mut text = if parent.is_empty() {
                    format!("unknown top-level key '{key}'{at}")
                } else {
                    format!("unknown key '{key}' in {parent}{at}")
                };
                let names: Vec<&str> = expected.iter().map(String::as_str).collect();
                match names.as_slice() {
                    [] => text.push_str("; no keys are allowed here"),
                    [one] => text.push_str(&format!("; expected {one}")),
                    _ => text.push_str(&format!("; expected one of {}", names.join(", "))),
                }
                if let Some(hint) = suggest(key, &names) {
                    text.push_str(&format!(" (did you mean '{hint}'?)"));
                }
                text
            }
            Shape::Syntax(message) => message.clone(),
        }
    }
}

fn display_path(path: &KeyPath) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        path.to_string()
    }
}
