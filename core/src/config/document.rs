//! The configuration text: checked for syntax and duplicate keys, read into the file's structs
//! with a key path on every error, and asked for the line of a key path.
//!
//! serde hands positions to errors only, never to the values it reads. So the line of a key
//! path is found by walking the text again and stopping with an error at that key (or list
//! element): the parser reports where it stopped. Only a file with a problem pays for the walk.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, Visitor};

use super::ConfigFormat;
use super::error::{ConfigErrorKind, Issue, Problem};

/// A configuration text and its syntax.
pub(crate) struct Document {
    text: String,
    format: ConfigFormat,
}

/// Leaves the text out: it holds credentials.
impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Where a value sits in the file: `mcp_servers.demo.args[1]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Seg>);

/// One step of a [`KeyPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    /// The value under `key` of the map at this path.
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        self.with(Seg::Key(key.to_owned()))
    }

    /// Element `index` of the list at this path.
    pub(crate) fn index(&self, index: usize) -> KeyPath {
        self.with(Seg::Index(index))
    }

    /// This path followed by `tail`.
    pub(crate) fn join(&self, tail: &KeyPath) -> KeyPath {
        KeyPath(self.0.iter().chain(&tail.0).cloned().collect())
    }

    /// The map or list holding this value.
    pub(crate) fn parent(&self) -> KeyPath {
        KeyPath(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// The last key, when the path ends in one.
    pub(crate) fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(key)) => Some(key),
            _ => None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn with(&self, seg: Seg) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(seg);
        KeyPath(segs)
    }

    fn from_serde(path: &serde_path_to_error::Path) -> KeyPath {
        use serde_path_to_error::Segment;
        KeyPath(
            path.iter()
                .filter_map(|seg| match seg {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } => Some(Seg::Key(key.clone())),
                    Segment::Enum { .. } | Segment::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                // An empty key is written so that the path still shows it.
                Seg::Key(key) if key.is_empty() => {
                    f.write_str(if i == 0 { "\"\"" } else { ".\"\"" })?
                }
                Seg::Key(key) if i == 0 => f.write_str(key)?,
                Seg::Key(key) => write!(f, ".{key}")?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl Document {
    pub(crate) fn new(text: &str, format: ConfigFormat) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Self {
            text: text.to_owned(),
            format,
        }
    }

    /// Refuses text that is not YAML (or JSON), and a key that appears twice in one map.
    pub(crate) fn check(&self) -> Result<(), Problem> {
        let walk = Walk::new(Goal::Duplicates);
        match self.walk(&walk) {
            Ok(()) => Ok(()),
            Err((message, position)) => Err(match walk.duplicate.take() {
                Some(problem) => problem.found_at(position),
                None => {
                    let language = match self.format {
                        ConfigFormat::Yaml => "YAML",
                        ConfigFormat::Json => "JSON",
                    };
                    Problem::syntax(format!("invalid {language}: {message}"), position)
                }
            }),
        }
    }

    /// The line and column of the key (or list element) at `path`, if the text has it.
    pub(crate) fn position(&self, path: &KeyPath) -> Option<(usize, usize)> {
        if path.is_empty() {
            return None;
        }
        let walk = Walk::new(Goal::Find(path));
        let (_, position) = self.walk(&walk).err()?;
        walk.found.get().then_some(position).flatten()
    }

    /// Reads the whole text as `T`; an error names the key path serde was at.
    pub(crate) fn read<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        let (path, message, position) = match self.format {
            ConfigFormat::Yaml => {
                let de = yaml_serde::Deserializer::from_str(&self.text);
                match serde_path_to_error::deserialize(de) {
                    Ok(value) => return Ok(value),
                    Err(e) => {
                        let path = KeyPath::from_serde(e.path());
                        let e = e.into_inner();
                        let position = e.location().map(|l| (l.line(), l.column()));
                        (path, e.to_string(), position)
                    }
                }
            }
            ConfigFormat::Json => {
                let mut de = serde_json::Deserializer::from_str(&self.text);
                match serde_path_to_error::deserialize(&mut de) {
                    Ok(value) => return Ok(value),
                    Err(e) => {
                        let path = KeyPath::from_serde(e.path());
                        let e = e.into_inner();
                        let position = (e.line() > 0).then(|| (e.line(), e.column()));
                        (path, e.to_string(), position)
                    }
                }
            }
        };
        let message = bare_message(&message, position, &path);
        let problem = Problem::from_serde(path, &message);
        Err(if problem.is_top_level() {
            problem.found_at(position)
        } else {
            problem
        })
    }

    /// Runs `walk` over the text: the parser's message and position when it stopped.
    fn walk(&self, walk: &Walk<'_>) -> Result<(), (String, Option<(usize, usize)>)> {
        let node = Node {
            walk,
            path: KeyPath::default(),
        };
        match self.format {
            ConfigFormat::Yaml => node
                .deserialize(yaml_serde::Deserializer::from_str(&self.text))
                .map_err(|e| {
                    let position = e.location().map(|l| (l.line(), l.column()));
                    (e.to_string(), position)
                }),
            ConfigFormat::Json => {
                let mut de = serde_json::Deserializer::from_str(&self.text);
                node.deserialize(&mut de)
                    .and_then(|()| de.end())
                    .map_err(|e| {
                        (
                            e.to_string(),
                            (e.line() > 0).then(|| (e.line(), e.column())),
                        )
                    })
            }
        }
    }
}

/// Reads `value` as `T`; an error names the key path inside `value`.
pub(crate) fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = KeyPath::from_serde(e.path());
        Problem::from_serde(path, &e.into_inner().to_string())
    })
}

/// A parser's message without the position and key path it adds ("args: … at line 4 column 5").
fn bare_message(full: &str, position: Option<(usize, usize)>, path: &KeyPath) -> String {
    let mut message = full;
    if let Some((line, column)) = position {
        let suffix = format!(" at line {line} column {column}");
        message = message.strip_suffix(suffix.as_str()).unwrap_or(message);
    }
    for prefix in [path.to_string(), path.parent().to_string()] {
        if let Some(rest) = message.strip_prefix(&format!("{prefix}: ")) {
            return rest.to_owned();
        }
    }
    message.to_owned()
}

/// What a walk over the document looks for.
enum Goal<'p> {
    /// A key that appears twice in one map.
    Duplicates,
    /// The key or list element at this path.
    Find(&'p KeyPath),
}

/// The state of one walk.
struct Walk<'p> {
    goal: Goal<'p>,
    duplicate: RefCell<Option<Problem>>,
    found: Cell<bool>,
}

impl<'p> Walk<'p> {
    fn new(goal: Goal<'p>) -> Self {
        Self {
            goal,
            duplicate: RefCell::new(None),
            found: Cell::new(false),
        }
    }

    /// Whether the value at `path` must be walked (rather than skipped).
    fn enters(&self, path: &KeyPath) -> bool {
        match self.goal {
            Goal::Duplicates => true,
            Goal::Find(target) => target.0.starts_with(&path.0),
        }
    }

    fn is_target(&self, path: &KeyPath) -> bool {
        matches!(self.goal, Goal::Find(target) if target == path)
    }
}

/// A value in the document, at `path`.
struct Node<'w, 'p> {
    walk: &'w Walk<'p>,
    path: KeyPath,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.walk.is_target(&self.path) {
            // A list element: stop inside it, so that the parser reports its position.
            self.walk.found.set(true);
            return deserializer.deserialize_any(Stop);
        }
        if !self.walk.enters(&self.path) {
            return deserializer.deserialize_ignored_any(IgnoredAny).map(|_| ());
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key_seed(Key {
            node: &self,
            seen: &seen,
        })? {
            let child = self.path.key(&key);
            seen.insert(key);
            map.next_value_seed(Node {
                walk: self.walk,
                path: child,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(Node {
                walk: self.walk,
                path: self.path.index(index),
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged YAML value (`!tag value`): its value is what the file says.
        use de::VariantAccess as _;
        let (IgnoredAny, variant) = data.variant()?;
        variant.newtype_variant_seed(self)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A map key: where a walk stops at its target or at a repeated key, so that the parser
/// reports the key's position.
struct Key<'n, 'w, 'p> {
    node: &'n Node<'w, 'p>,
    seen: &'n HashSet<String>,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_, '_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        let walk = self.node.walk;
        let path = self.node.path.key(key);
        if walk.is_target(&path) {
            walk.found.set(true);
            return Err(E::custom("found"));
        }
        if matches!(walk.goal, Goal::Duplicates) && self.seen.contains(key) {
            let problem = duplicate(&self.node.path, key);
            let message = problem.render(None);
            *walk.duplicate.borrow_mut() = Some(problem);
            return Err(E::custom(message));
        }
        Ok(key.to_owned())
    }

    fn visit_bool<E: de::Error>(self, key: bool) -> Result<String, E> {
        self.visit_str(&key.to_string())
    }
    fn visit_i64<E: de::Error>(self, key: i64) -> Result<String, E> {
        self.visit_str(&key.to_string())
    }
    fn visit_u64<E: de::Error>(self, key: u64) -> Result<String, E> {
        self.visit_str(&key.to_string())
    }
    fn visit_f64<E: de::Error>(self, key: f64) -> Result<String, E> {
        self.visit_str(&key.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.visit_str("null")
    }
}

/// Stops the walk inside the value it is given.
struct Stop;

impl Visitor<'_> for Stop {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nothing: the walk stops here")
    }
}

/// The error for `key` appearing a second time in the map at `map`.
fn duplicate(map: &KeyPath, key: &str) -> Problem {
    let named = match (map.0.as_slice(), map.last_key()) {
        ([Seg::Key(_)], Some("mcp_servers" | "mcpServers")) => Some("server name"),
        ([_, _, Seg::Key(_)], Some("env")) => Some("environment variable"),
        ([_, _, Seg::Key(_)], Some("headers" | "static_headers")) => Some("header"),
        _ => None,
    };
    let kind = ConfigErrorKind::DuplicateKey;
    let path = map.key(key);
    match named {
        Some(what) => Problem::in_map(
            path,
            Issue::new(
                kind,
                format!("duplicate {what} '{key}' (each may appear only once)"),
            ),
        ),
        None => {
            let map = if map.is_empty() {
                "the top level".to_owned()
            } else {
                map.to_string()
            };
            Problem::at(
                &path,
                Issue::new(
                    kind,
                    format!("duplicate key '{key}' (it already appears earlier in {map})"),
                ),
            )
        }
    }
}
