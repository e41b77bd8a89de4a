//! The parser: reads a YAML or JSON document into a [`Config`].
//!
//! The document is read with hand-written serde seeds and visitors rather than
//! derived `Deserialize` impls, so that every value knows its key path
//! (`mcp_servers.demo.url`) and every check runs while the parser still knows the
//! position: an error raised inside a visitor gets the line of the key or value
//! being read from `yaml_serde` or `serde_json`. The structured description of the
//! error travels beside the parser's error in [`Ctx`] and is turned into a
//! [`ConfigError`] at the end.
//!
//! A few checks concern a whole map (a server entry needs `command` or `url`) or
//! run after parsing (server names against the separator). For those, the line of
//! the map's key is found by parsing again with [`Ctx::locate`] set, which stops
//! with an error exactly at that key so the parser reports its position.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::env::{EnvLookup, expand};
use super::error::{ConfigError, ConfigErrorKind, Issue};
use super::values::{
    any_string, check_env_name, check_header_name, check_server_name, duration_from_secs,
    header_value, non_empty, parse_duration, parse_host_entry, parse_listen, parse_mcp_path,
    parse_origin_entry, parse_separator, parse_size, parse_url, size_from_u64, suggest,
    url_looks_like_sse,
};
use super::{Config, ConfigFormat, ServerConfig, ServerSettings, SessionMode, UpstreamTransport};

/// Parses a whole configuration document.
pub(crate) fn parse(
    text: &str,
    format: ConfigFormat,
    env: EnvLookup<'_>,
) -> Result<Config, ConfigError> {
    let source = Source { text, format, env };
    let ctx = Ctx::new(env, None);
    let top = source
        .run(&ctx)
        .map_err(|error| error.into_config_error(&ctx, &source))?;
    let (form, servers) = top.servers.unwrap_or(("mcp_servers", IndexMap::new()));
    let server = top.settings.unwrap_or_default();
    for name in servers.keys() {
        let prefix = format!("{name}{}", server.separator);
        if prefix.find(&server.separator) != Some(name.len()) {
            let path = format!("{form}.{name}");
            return Err(Problem {
                kind: ConfigErrorKind::Conflict,
                head: path.clone(),
                tail: format!(
                    ": the server name '{name}' contains or runs into the tool-name separator \
                     '{}' (server.separator), so its tool names would be ambiguous; rename the \
                     server or choose another separator",
                    server.separator
                ),
                path: path.clone(),
                locate: Locate::Key(path),
            }
            .into_error(None, &source));
        }
    }
    let extension = |key: &'static str, issue: Issue| {
        Problem {
            kind: issue.kind,
            head: key.to_string(),
            tail: format!(": {}", issue.message),
            path: key.to_string(),
            locate: Locate::Key(key.to_string()),
        }
        .into_error(None, &source)
    };
    let expanded = |key: &'static str, value: Option<serde_json::Value>| {
        value
            .filter(|v| !v.is_null())
            .map(|mut v| {
                super::extensions::expand_all(&mut v, env).map_err(|i| extension(key, i))?;
                Ok::<_, ConfigError>(v)
            })
            .transpose()
    };
    let layers = match expanded("layers", top.layers)? {
        Some(v) => super::extensions::layers(v).map_err(|i| extension("layers", i))?,
        None => Vec::new(),
    };
    let model_list = match expanded("model_list", top.models)? {
        Some(v) => super::extensions::models(v).map_err(|i| extension("model_list", i))?,
        None => Vec::new(),
    };
    let plugin_dirs = match expanded("plugin_dirs", top.plugin_dirs)? {
        Some(v) => super::extensions::plugin_dirs(v).map_err(|i| extension("plugin_dirs", i))?,
        None => Vec::new(),
    };
    for warning in ctx.warnings.take() {
        tracing::warn!("{warning}");
    }
    Ok(Config {
        servers,
        server,
        layers,
        model_list,
        plugin_dirs,
    })
}

/// The keys accepted at the top level, in a server entry and in `server:`.
#[cfg(test)]
pub(crate) fn accepted_keys() -> (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
) {
    (RawTop::FIELDS, RawServer::FIELDS, RawSettings::FIELDS)
}

/// The document being parsed.
struct Source<'t, 'e> {
    text: &'t str,
    format: ConfigFormat,
    env: EnvLookup<'e>,
}

/// An error from the underlying parser.
enum ParseError {
    Yaml(yaml_serde::Error),
    Json(serde_json::Error),
}

impl Source<'_, '_> {
    /// Runs the parser over the document with `ctx`.
    fn run(&self, ctx: &Ctx<'_>) -> Result<RawTop, ParseError> {
        let seed = SectionSeed {
            ctx,
            path: String::new(),
            state: RawTop::default(),
        };
        match self.format {
            ConfigFormat::Yaml => seed
                .deserialize(yaml_serde::Deserializer::from_str(self.text))
                .map_err(ParseError::Yaml),
            ConfigFormat::Json => {
                let mut deserializer = serde_json::Deserializer::from_str(self.text);
                seed.deserialize(&mut deserializer)
                    .and_then(|top| deserializer.end().map(|()| top))
                    .map_err(ParseError::Json)
            }
        }
    }

    /// The exact line and column of the key at `path`, found by parsing again and
    /// stopping with an error at that key, so that the parser reports its position.
    fn key_position(&self, path: &str) -> Option<(usize, usize)> {
        let ctx = Ctx::new(self.env, Some(path.to_owned()));
        let error = self.run(&ctx).err()?;
        if !ctx.located.get() {
            return None;
        }
        error.position()
    }
}

impl ParseError {
    fn position(&self) -> Option<(usize, usize)> {
        match self {
            Self::Yaml(error) => error.location().map(|l| (l.line(), l.column())),
            Self::Json(error) => (error.line() > 0).then(|| (error.line(), error.column())),
        }
    }

    fn into_config_error(self, ctx: &Ctx<'_>, source: &Source<'_, '_>) -> ConfigError {
        let position = self.position();
        let full = match &self {
            Self::Yaml(error) => error.to_string(),
            Self::Json(error) => error.to_string(),
        };
        if let Some(problem) = ctx.problem.take()
            && full.contains(&problem.short())
        {
            return problem.into_error(position, source);
        }
        let syntax = match &self {
            // The event stream may fail after the visitors have seen a type error
            // caused by the broken syntax: report the syntax error, found by a plain pass.
            Self::Yaml(_) => yaml_serde::from_str::<IgnoredAny>(source.text)
                .err()
                .map(|error| ("YAML", ParseError::Yaml(error))),
            Self::Json(error) => match error.classify() {
                serde_json::error::Category::Data => None,
                _ => Some(("JSON", self)),
            },
        };
        if let Some((language, error)) = syntax {
            let position = error.position();
            let full = match &error {
                Self::Yaml(error) => error.to_string(),
                Self::Json(error) => error.to_string(),
            };
            return ConfigError::new(
                ConfigErrorKind::Syntax,
                format!("invalid {language}: {full}"),
                None,
                position.map(|p| p.0),
                position.map(|p| p.1),
            );
        }
        // A type error reported by the parser itself (such as a list where a map belongs).
        let path = ctx.error_path.take().unwrap_or_default();
        let message = bare_message(&full, position, &path);
        Problem {
            kind: ConfigErrorKind::InvalidValue,
            head: display_path(&path),
            tail: format!(": {message}"),
            path,
            locate: Locate::Parser,
        }
        .into_error(position, source)
    }
}

/// Shared state of one parse: the environment, and the structured form of the
/// first error raised by a visitor.
struct Ctx<'e> {
    env: EnvLookup<'e>,
    problem: RefCell<Option<Problem>>,
    /// The innermost key path that a parser-generated error passed through.
    error_path: RefCell<Option<String>>,
    warnings: RefCell<Vec<String>>,
    /// When set, parsing stops with an error at the key with this path.
    locate: Option<String>,
    /// Whether parsing stopped at the `locate` key.
    located: Cell<bool>,
}

impl<'e> Ctx<'e> {
    fn new(env: EnvLookup<'e>, locate: Option<String>) -> Self {
        Self {
            env,
            problem: RefCell::new(None),
            error_path: RefCell::new(None),
            warnings: RefCell::new(Vec::new()),
            locate,
            located: Cell::new(false),
        }
    }
}

impl Ctx<'_> {
    /// Records `problem` and returns a parser error carrying its text.
    fn raise<E: de::Error>(&self, problem: Problem) -> E {
        let error = E::custom(problem.short());
        *self.problem.borrow_mut() = Some(problem);
        error
    }

    fn value_error<E: de::Error>(&self, path: &str, issue: Issue) -> E {
        self.raise(Problem {
            kind: issue.kind,
            path: path.to_owned(),
            head: display_path(path),
            tail: format!(": {}", issue.message),
            locate: Locate::Parser,
        })
    }

    /// In a locating pass, stops at the key with the path being located.
    fn check_locate<E: de::Error>(&self, key_path: &str) -> Result<(), E> {
        if self.locate.as_deref() == Some(key_path) {
            self.located.set(true);
            return Err(E::custom("located"));
        }
        Ok(())
    }

    /// Remembers `path` as where a parser error happened, if none is known yet.
    fn note<E>(&self, path: &str, error: E) -> E {
        let mut slot = self.error_path.borrow_mut();
        if slot.is_none() {
            *slot = Some(path.to_owned());
        }
        error
    }

    fn warn(&self, message: String) {
        self.warnings.borrow_mut().push(message);
    }
}

/// An error found by a visitor: rendered as `{head} at line N{tail}`.
#[derive(Debug)]
struct Problem {
    kind: ConfigErrorKind,
    path: String,
    head: String,
    tail: String,
    locate: Locate,
}

/// How to find the line of a [`Problem`].
#[derive(Debug)]
enum Locate {
    /// The parser's position is the line.
    Parser,
    /// The line of the key with this path (the problem concerns its whole value,
    /// and the parser's position is somewhere inside or after it).
    Key(String),
}

impl Problem {
    fn short(&self) -> String {
        format!("{}{}", self.head, self.tail)
    }

    fn into_error(self, position: Option<(usize, usize)>, source: &Source<'_, '_>) -> ConfigError {
        let position = match &self.locate {
            Locate::Parser => position,
            Locate::Key(path) => source.key_position(path).or(position),
        };
        let line = position.map(|p| p.0);
        let at = line
            .map(|line| format!(" at line {line}"))
            .unwrap_or_default();
        let message = format!("{}{at}{}", self.head, self.tail);
        let path = (!self.path.is_empty()).then_some(self.path);
        ConfigError::new(self.kind, message, path, line, position.map(|p| p.1))
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        path.to_owned()
    }
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Strips the parser's " at line L column C" suffix and "path: " prefix.
fn bare_message(full: &str, position: Option<(usize, usize)>, path: &str) -> String {
    let mut message = full;
    if let Some((line, column)) = position {
        let suffix = format!(" at line {line} column {column}");
        message = message.strip_suffix(suffix.as_str()).unwrap_or(message);
    }
    if !path.is_empty() {
        let prefix = format!("{path}: ");
        message = message.strip_prefix(prefix.as_str()).unwrap_or(message);
    }
    message.to_owned()
}

// ---------------------------------------------------------------------------
// Seeds for values.

/// A string value: environment references expanded, then `parse`d.
struct Str<'c, 'e, T> {
    ctx: &'c Ctx<'e>,
    path: String,
    parse: fn(String) -> Result<T, Issue>,
}

impl<'c, 'e, T> Str<'c, 'e, T> {
    fn new(ctx: &'c Ctx<'e>, path: String, parse: fn(String) -> Result<T, Issue>) -> Self {
        Self { ctx, path, parse }
    }
}

impl<'de, T> DeserializeSeed<'de> for Str<'_, '_, T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        let (ctx, path) = (self.ctx, self.path.clone());
        deserializer
            .deserialize_str(self)
            .map_err(|e| ctx.note(&path, e))
    }
}

impl<'de, T> Visitor<'de> for Str<'_, '_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        let expanded =
            expand(value, self.ctx.env).map_err(|i| self.ctx.value_error(&self.path, i))?;
        (self.parse)(expanded).map_err(|i| self.ctx.value_error(&self.path, i))
    }
}

/// A number, or a string (expanded) that `from_str` parses.
struct Num<'c, 'e, T> {
    ctx: &'c Ctx<'e>,
    path: String,
    from_u64: fn(u64) -> Result<T, Issue>,
    from_str: fn(String) -> Result<T, Issue>,
    expecting: &'static str,
}

impl<'de, T> DeserializeSeed<'de> for Num<'_, '_, T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        let (ctx, path) = (self.ctx, self.path.clone());
        deserializer
            .deserialize_any(self)
            .map_err(|e| ctx.note(&path, e))
    }
}

impl<'de, T> Visitor<'de> for Num<'_, '_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        (self.from_u64)(value).map_err(|i| self.ctx.value_error(&self.path, i))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(self.ctx.value_error(
                &self.path,
                Issue::invalid(format!("{value} is negative; {}", self.expecting)),
            )),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        Err(self.ctx.value_error(
            &self.path,
            Issue::invalid(format!("{value} is not a whole number; {}", self.expecting)),
        ))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        let expanded =
            expand(value, self.ctx.env).map_err(|i| self.ctx.value_error(&self.path, i))?;
        (self.from_str)(expanded).map_err(|i| self.ctx.value_error(&self.path, i))
    }
}

/// `null` (or an empty YAML value) as `None`, anything else through the inner seed.
struct Opt<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Opt<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Opt<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// A list of strings, each expanded and `parse`d.
struct List<'c, 'e, T> {
    ctx: &'c Ctx<'e>,
    path: String,
    parse: fn(String) -> Result<T, Issue>,
}

impl<'de, T> DeserializeSeed<'de> for List<'_, '_, T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        let (ctx, path) = (self.ctx, self.path.clone());
        deserializer
            .deserialize_seq(self)
            .map_err(|e| ctx.note(&path, e))
    }
}

impl<'de, T> Visitor<'de> for List<'_, '_, T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        loop {
            let seed = Str::new(
                self.ctx,
                format!("{}[{}]", self.path, out.len()),
                self.parse,
            );
            match seq.next_element_seed(seed)? {
                Some(value) => out.push(value),
                None => return Ok(out),
            }
        }
    }
}

/// A map key: checked, and rejected if it already appeared in the same map.
struct Key<'a, 'c, 'e> {
    ctx: &'c Ctx<'e>,
    map_path: &'a str,
    what: &'static str,
    check: fn(&str) -> Result<(), Issue>,
    /// Keys seen so far, by their normalized form.
    seen: &'a HashMap<String, String>,
    case_insensitive: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_, '_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let (ctx, path) = (self.ctx, self.map_path);
        deserializer
            .deserialize_str(self)
            .map_err(|e| ctx.note(path, e))
    }
}

impl<'de> Visitor<'de> for Key<'_, '_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} (string)", self.what)
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        self.ctx.check_locate(&child(self.map_path, key))?;
        let problem = |kind, tail: String| Problem {
            kind,
            path: child(self.map_path, key),
            head: display_path(self.map_path),
            tail,
            locate: Locate::Parser,
        };
        if let Err(issue) = (self.check)(key) {
            return Err(self
                .ctx
                .raise(problem(issue.kind, format!(": {}", issue.message))));
        }
        let normalized = if self.case_insensitive {
            key.to_ascii_lowercase()
        } else {
            key.to_owned()
        };
        if let Some(previous) = self.seen.get(&normalized) {
            let tail = if previous == key {
                format!(
                    ": duplicate {} '{key}' (each may appear only once)",
                    self.what
                )
            } else {
                format!(
                    ": duplicate {} '{key}' ('{previous}' already appears, and names are \
                     case-insensitive)",
                    self.what
                )
            };
            return Err(self.ctx.raise(problem(ConfigErrorKind::DuplicateKey, tail)));
        }
        Ok(key.to_owned())
    }
}

/// A map of strings to strings (`env`, `headers`), keys checked and unique.
struct StrMap<'c, 'e> {
    ctx: &'c Ctx<'e>,
    path: String,
    what: &'static str,
    check_key: fn(&str) -> Result<(), Issue>,
    case_insensitive: bool,
    parse: fn(String) -> Result<String, Issue>,
}

impl<'de> DeserializeSeed<'de> for StrMap<'_, '_> {
    type Value = BTreeMap<String, String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let (ctx, path) = (self.ctx, self.path.clone());
        deserializer
            .deserialize_map(self)
            .map_err(|e| ctx.note(&path, e))
    }
}

impl<'de> Visitor<'de> for StrMap<'_, '_> {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a map of {} names to strings", self.what)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        let mut seen = HashMap::new();
        loop {
            let key_seed = Key {
                ctx: self.ctx,
                map_path: &self.path,
                what: self.what,
                check: self.check_key,
                seen: &seen,
                case_insensitive: self.case_insensitive,
            };
            let Some(key) = map.next_key_seed(key_seed)? else {
                return Ok(out);
            };
            let value =
                map.next_value_seed(Str::new(self.ctx, child(&self.path, &key), self.parse))?;
            let normalized = if self.case_insensitive {
                key.to_ascii_lowercase()
            } else {
                key.clone()
            };
            seen.insert(normalized, key.clone());
            out.insert(key, value);
        }
    }
}

/// The upstream servers map: name → server settings, in file order.
struct Servers<'c, 'e> {
    ctx: &'c Ctx<'e>,
    path: String,
}

impl<'de> DeserializeSeed<'de> for Servers<'_, '_> {
    type Value = IndexMap<String, ServerConfig>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let (ctx, path) = (self.ctx, self.path.clone());
        deserializer
            .deserialize_map(self)
            .map_err(|e| ctx.note(&path, e))
    }
}

impl<'de> Visitor<'de> for Servers<'_, '_> {
    type Value = IndexMap<String, ServerConfig>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from server names to server settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::new();
        let mut seen = HashMap::new();
        loop {
            let key_seed = Key {
                ctx: self.ctx,
                map_path: &self.path,
                what: "server name",
                check: check_server_name,
                seen: &seen,
                case_insensitive: false,
            };
            let Some(name) = map.next_key_seed(key_seed)? else {
                return Ok(out);
            };
            let server = map.next_value_seed(SectionSeed {
                ctx: self.ctx,
                path: child(&self.path, &name),
                state: RawServer::default(),
            })?;
            seen.insert(name.clone(), name.clone());
            out.insert(name, server);
        }
    }
}

// ---------------------------------------------------------------------------
// Maps with a fixed set of keys.

/// Two keys that may not appear together, and why.
type KeyConflict = (&'static str, &'static str, &'static str);

/// A map with a fixed set of keys, read into `Self` and then checked as a whole.
trait Section {
    type Output;
    /// Accepted keys, in the order they are listed in messages.
    const FIELDS: &'static [&'static str];
    /// Pairs of keys that may not appear together.
    const CONFLICTS: &'static [KeyConflict] = &[];
    /// What the map is, for type errors.
    const EXPECTING: &'static str;

    /// Reads the value of `field` (one of `FIELDS`) from `map`.
    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        field: &'static str,
        map: &mut A,
        ctx: &Ctx<'_>,
        path: String,
    ) -> Result<(), A::Error>;

    /// Checks the map as a whole and builds the output.
    fn finish(self, ctx: &Ctx<'_>, path: &str) -> Result<Self::Output, Issue>;
}

struct SectionSeed<'c, 'e, S> {
    ctx: &'c Ctx<'e>,
    path: String,
    state: S,
}

impl<'de, S: Section> DeserializeSeed<'de> for SectionSeed<'_, '_, S> {
    type Value = S::Output;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Output, D::Error> {
        let (ctx, path) = (self.ctx, self.path.clone());
        deserializer
            .deserialize_map(self)
            .map_err(|e| ctx.note(&path, e))
    }
}

impl<'de, S: Section> Visitor<'de> for SectionSeed<'_, '_, S> {
    type Value = S::Output;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(S::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<S::Output, A::Error> {
        let mut seen = Vec::new();
        loop {
            let field_seed = Field {
                ctx: self.ctx,
                path: &self.path,
                fields: S::FIELDS,
                conflicts: S::CONFLICTS,
                seen: &seen,
            };
            let Some(field) = map.next_key_seed(field_seed)? else {
                break;
            };
            seen.push(field);
            self.state
                .read(field, &mut map, self.ctx, child(&self.path, field))?;
        }
        let ctx = self.ctx;
        let path = self.path;
        self.state.finish(ctx, &path).map_err(|issue| {
            let path = match issue.key {
                Some(key) => child(&path, key),
                None => path,
            };
            let locate = if path.is_empty() {
                Locate::Parser
            } else {
                Locate::Key(path.clone())
            };
            ctx.raise(Problem {
                kind: issue.kind,
                head: display_path(&path),
                tail: format!(": {}", issue.message),
                path,
                locate,
            })
        })
    }
}

/// A key of a [`Section`]: known, not repeated, not in conflict with an earlier key.
struct Field<'a, 'c, 'e> {
    ctx: &'c Ctx<'e>,
    path: &'a str,
    fields: &'static [&'static str],
    conflicts: &'static [KeyConflict],
    seen: &'a [&'static str],
}

impl<'de> DeserializeSeed<'de> for Field<'_, '_, '_> {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let (ctx, path) = (self.ctx, self.path);
        deserializer
            .deserialize_str(self)
            .map_err(|e| ctx.note(path, e))
    }
}

impl<'de> Visitor<'de> for Field<'_, '_, '_> {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key (string)")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        let path = child(self.path, key);
        self.ctx.check_locate(&path)?;
        let Some(field) = self.fields.iter().copied().find(|f| *f == key) else {
            let head = if self.path.is_empty() {
                format!("unknown top-level key '{key}'")
            } else {
                format!("unknown key '{key}' in {}", self.path)
            };
            let mut tail = format!("; expected one of {}", self.fields.join(", "));
            if let Some(hint) = suggest(key, self.fields) {
                tail.push_str(&format!(" (did you mean '{hint}'?)"));
            }
            return Err(self.ctx.raise(Problem {
                kind: ConfigErrorKind::UnknownKey,
                path,
                head,
                tail,
                locate: Locate::Parser,
            }));
        };
        if self.seen.contains(&field) {
            return Err(self.ctx.raise(Problem {
                kind: ConfigErrorKind::DuplicateKey,
                head: path.clone(),
                tail: format!(
                    ": duplicate key '{key}' (it already appears earlier in {})",
                    display_path(self.path)
                ),
                path,
                locate: Locate::Parser,
            }));
        }
        for (a, b, why) in self.conflicts {
            let other = if field == *a {
                b
            } else if field == *b {
                a
            } else {
                continue;
            };
            if self.seen.contains(other) {
                return Err(self.ctx.raise(Problem {
                    kind: ConfigErrorKind::Conflict,
                    head: path.clone(),
                    tail: format!(": `{field}` cannot be combined with `{other}`: {why}"),
                    path,
                    locate: Locate::Parser,
                }));
            }
        }
        Ok(field)
    }
}

/// The top level of the file.
#[derive(Default)]
struct RawTop {
    /// The servers and the key (`mcp_servers` or `mcpServers`) they came from.
    servers: Option<(&'static str, IndexMap<String, ServerConfig>)>,
    settings: Option<ServerSettings>,
    /// `layers:`, `model_list:`, `plugin_dirs:` as read; checked in `build`.
    layers: Option<serde_json::Value>,
    models: Option<serde_json::Value>,
    plugin_dirs: Option<serde_json::Value>,
}

impl Section for RawTop {
    type Output = Self;
    const FIELDS: &'static [&'static str] = &[
        "mcp_servers",
        "mcpServers",
        "server",
        "layers",
        "model_list",
        "plugin_dirs",
    ];
    const CONFLICTS: &'static [KeyConflict] = &[(
        "mcp_servers",
        "mcpServers",
        "use one of the two forms (LiteLLM's mcp_servers or Claude Desktop's mcpServers), not both",
    )];
    const EXPECTING: &'static str = "a map with the keys mcp_servers (or mcpServers) and server";

    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        field: &'static str,
        map: &mut A,
        ctx: &Ctx<'_>,
        path: String,
    ) -> Result<(), A::Error> {
        match field {
            "mcp_servers" | "mcpServers" => {
                let servers = map.next_value_seed(Opt(Servers { ctx, path }))?;
                self.servers = Some((field, servers.unwrap_or_default()));
            }
            "server" => {
                self.settings = map.next_value_seed(Opt(SectionSeed {
                    ctx,
                    path,
                    state: RawSettings::default(),
                }))?;
            }
            "layers" => self.layers = map.next_value()?,
            "model_list" => self.models = map.next_value()?,
            "plugin_dirs" => self.plugin_dirs = map.next_value()?,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn finish(self, _: &Ctx<'_>, _: &str) -> Result<Self, Issue> {
        Ok(self)
    }
}

/// The gateway's `server:` settings as read.
#[derive(Default)]
struct RawSettings {
    listen: Option<SocketAddr>,
    mcp_path: Option<String>,
    separator: Option<String>,
    allowed_hosts: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    max_body_bytes: Option<usize>,
    session_idle_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    keep_alive: Option<Duration>,
    startup_grace: Option<Duration>,
    allow_unauthenticated: Option<bool>,
}

const DURATION_EXPECTING: &str =
    "expected a number of seconds or a string such as \"30s\", \"5m\" or \"1h\"";

impl Section for RawSettings {
    type Output = ServerSettings;
    const FIELDS: &'static [&'static str] = &[
        "listen",
        "mcp_path",
        "separator",
        "allowed_hosts",
        "allowed_origins",
        "max_body_bytes",
        "session_idle_timeout",
        "request_timeout",
        "keep_alive",
        "startup_grace",
        "allow_unauthenticated",
    ];
    const EXPECTING: &'static str = "a map of gateway settings";

    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        field: &'static str,
        map: &mut A,
        ctx: &Ctx<'_>,
        path: String,
    ) -> Result<(), A::Error> {
        let duration = |path| Num {
            ctx,
            path,
            from_u64: duration_from_secs,
            from_str: parse_duration,
            expecting: DURATION_EXPECTING,
        };
        match field {
            "listen" => {
                self.listen = map.next_value_seed(Opt(Str::new(ctx, path, parse_listen)))?
            }
            "mcp_path" => {
                self.mcp_path = map.next_value_seed(Opt(Str::new(ctx, path, parse_mcp_path)))?;
            }
            "separator" => {
                self.separator = map.next_value_seed(Opt(Str::new(ctx, path, parse_separator)))?;
            }
            "allowed_hosts" => {
                self.allowed_hosts = map.next_value_seed(Opt(List {
                    ctx,
                    path,
                    parse: parse_host_entry,
                }))?;
            }
            "allowed_origins" => {
                self.allowed_origins = map.next_value_seed(Opt(List {
                    ctx,
                    path,
                    parse: parse_origin_entry,
                }))?;
            }
            "max_body_bytes" => {
                self.max_body_bytes = map.next_value_seed(Opt(Num {
                    ctx,
                    path,
                    from_u64: size_from_u64,
                    from_str: parse_size,
                    expecting: "expected a number of bytes or a string such as \"4MiB\"",
                }))?;
            }
            "session_idle_timeout" => {
                self.session_idle_timeout = map.next_value_seed(Opt(duration(path)))?;
            }
            "request_timeout" => {
                self.request_timeout = map.next_value_seed(Opt(duration(path)))?;
            }
            "keep_alive" => {
                self.keep_alive = map.next_value_seed(Opt(duration(path)))?;
            }
            "startup_grace" => {
                self.startup_grace = map.next_value_seed(Opt(duration(path)))?;
            }
            "allow_unauthenticated" => {
                self.allow_unauthenticated = map
                    .next_value::<Option<bool>>()
                    .map_err(|e| ctx.note(&path, e))?;
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn finish(self, _: &Ctx<'_>, _: &str) -> Result<ServerSettings, Issue> {
        let defaults = ServerSettings::default();
        if self.allowed_hosts.as_ref().is_some_and(Vec::is_empty) {
            return Err(Issue::invalid(
                "the list is empty, so every request would be rejected; list the host names \
                 clients use, or \"*\" to allow any host",
            )
            .at_key("allowed_hosts"));
        }
        Ok(ServerSettings {
            listen: self.listen.unwrap_or(defaults.listen),
            mcp_path: self.mcp_path.unwrap_or(defaults.mcp_path),
            separator: self.separator.unwrap_or(defaults.separator),
            allowed_hosts: self.allowed_hosts.unwrap_or(defaults.allowed_hosts),
            allowed_origins: self.allowed_origins.unwrap_or(defaults.allowed_origins),
            max_body_bytes: self.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            session_idle_timeout: self
                .session_idle_timeout
                .unwrap_or(defaults.session_idle_timeout),
            request_timeout: self.request_timeout.unwrap_or(defaults.request_timeout),
            keep_alive: self.keep_alive.unwrap_or(defaults.keep_alive),
            startup_grace: self.startup_grace.unwrap_or(defaults.startup_grace),
            allow_unauthenticated: self
                .allow_unauthenticated
                .unwrap_or(defaults.allow_unauthenticated),
        })
    }
}

/// The transport named by `transport:` or `type:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransportKind {
    Stdio,
    StreamableHttp,
    Sse,
}

/// A transport as written: kind, spelling, and the key it was given under.
#[derive(Debug, Clone)]
struct DeclaredTransport {
    kind: TransportKind,
    spelled: String,
    key: &'static str,
}

fn transport_kind(value: &str) -> Option<TransportKind> {
    match value.to_ascii_lowercase().as_str() {
        "stdio" => Some(TransportKind::Stdio),
        "http" | "streamable_http" | "streamable-http" => Some(TransportKind::StreamableHttp),
        "sse" => Some(TransportKind::Sse),
        _ => None,
    }
}

fn parse_transport(value: String) -> Result<DeclaredTransport, Issue> {
    match transport_kind(&value) {
        Some(kind) => Ok(DeclaredTransport {
            kind,
            spelled: value,
            key: "transport",
        }),
        None => Err(Issue::invalid(format!(
            "expected one of sse, http, streamable_http, stdio (found '{value}')"
        ))),
    }
}

fn parse_type(value: String) -> Result<DeclaredTransport, Issue> {
    match transport_kind(&value) {
        Some(kind) => Ok(DeclaredTransport {
            kind,
            spelled: value,
            key: "type",
        }),
        None => Err(Issue::invalid(format!(
            "expected one of stdio, http, sse, streamable-http (found '{value}')"
        ))),
    }
}

/// LiteLLM's `auth_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthType {
    None,
    ApiKey,
    BearerToken,
    Basic,
    Authorization,
}

impl AuthType {
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ApiKey => "api_key",
            Self::BearerToken => "bearer_token",
            Self::Basic => "basic",
            Self::Authorization => "authorization",
        }
    }

    /// The header that carries `token`, if any.
    fn header(self, token: &str) -> Option<(&'static str, String)> {
        match self {
            Self::None => None,
            Self::ApiKey => Some(("X-API-Key", token.to_owned())),
            Self::BearerToken => Some(("Authorization", format!("Bearer {token}"))),
            Self::Basic => Some(("Authorization", format!("Basic {token}"))),
            Self::Authorization => Some(("Authorization", token.to_owned())),
        }
    }
}

fn parse_auth_type(value: String) -> Result<AuthType, Issue> {
    match value.to_ascii_lowercase().as_str() {
        "none" => Ok(AuthType::None),
        "api_key" => Ok(AuthType::ApiKey),
        "bearer_token" => Ok(AuthType::BearerToken),
        "basic" => Ok(AuthType::Basic),
        "authorization" => Ok(AuthType::Authorization),
        _ => Err(Issue::invalid(format!(
            "expected one of none, api_key, bearer_token, basic, authorization (found '{value}')"
        ))),
    }
}

fn parse_session_mode(value: String) -> Result<SessionMode, Issue> {
    match value.to_ascii_lowercase().as_str() {
        "shared" => Ok(SessionMode::Shared),
        "per_session" | "per-session" => Ok(SessionMode::PerSession),
        _ => Err(Issue::invalid(format!(
            "expected one of shared, per_session (found '{value}')"
        ))),
    }
}

fn parse_token(value: String) -> Result<String, Issue> {
    header_value(non_empty(value)?)
}

/// One upstream server entry as read.
#[derive(Default)]
struct RawServer {
    command: Option<String>,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    cwd: Option<String>,
    url: Option<String>,
    transport: Option<DeclaredTransport>,
    headers: Option<BTreeMap<String, String>>,
    static_headers: Option<BTreeMap<String, String>>,
    extra_headers: Option<Vec<String>>,
    auth_type: Option<AuthType>,
    authentication_token: Option<String>,
    description: Option<String>,
    allowed_tools: Option<Vec<String>>,
    disallowed_tools: Option<Vec<String>>,
    validate_arguments: Option<bool>,
    session_mode: Option<SessionMode>,
}

const STDIO_ONLY: &str = "it applies only to stdio servers (with `command`)";
const REMOTE_ONLY: &str = "it applies only to remote servers (with `url`)";

impl Section for RawServer {
    type Output = ServerConfig;
    const FIELDS: &'static [&'static str] = &[
        "command",
        "args",
        "env",
        "cwd",
        "url",
        "transport",
        "type",
        "headers",
        "static_headers",
        "extra_headers",
        "auth_type",
        "authentication_token",
        "description",
        "allowed_tools",
        "disallowed_tools",
        "validate_arguments",
        "session_mode",
    ];
    const CONFLICTS: &'static [KeyConflict] = &[
        (
            "command",
            "url",
            "a server either runs a local `command` (stdio) or connects to a remote `url`",
        ),
        ("transport", "type", "both name the transport; keep one"),
        ("url", "args", STDIO_ONLY),
        ("url", "env", STDIO_ONLY),
        ("url", "cwd", STDIO_ONLY),
        ("command", "headers", REMOTE_ONLY),
        ("command", "static_headers", REMOTE_ONLY),
        ("command", "authentication_token", REMOTE_ONLY),
    ];
    const EXPECTING: &'static str = "a map of server settings (command, args, env, … or url, …)";

    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        field: &'static str,
        map: &mut A,
        ctx: &Ctx<'_>,
        path: String,
    ) -> Result<(), A::Error> {
        let headers = |path| StrMap {
            ctx,
            path,
            what: "header",
            check_key: check_header_name,
            case_insensitive: true,
            parse: header_value,
        };
        let list = |path, parse| List { ctx, path, parse };
        match field {
            "command" => self.command = map.next_value_seed(Opt(Str::new(ctx, path, non_empty)))?,
            "args" => self.args = map.next_value_seed(Opt(list(path, any_string)))?,
            "env" => {
                self.env = map.next_value_seed(Opt(StrMap {
                    ctx,
                    path,
                    what: "environment variable",
                    check_key: check_env_name,
                    case_insensitive: false,
                    parse: any_string,
                }))?;
            }
            "cwd" => self.cwd = map.next_value_seed(Opt(Str::new(ctx, path, non_empty)))?,
            "url" => self.url = map.next_value_seed(Opt(Str::new(ctx, path, parse_url)))?,
            "transport" => {
                self.transport = map.next_value_seed(Opt(Str::new(ctx, path, parse_transport)))?;
            }
            "type" => {
                self.transport = map.next_value_seed(Opt(Str::new(ctx, path, parse_type)))?;
            }
            "headers" => self.headers = map.next_value_seed(Opt(headers(path)))?,
            "static_headers" => self.static_headers = map.next_value_seed(Opt(headers(path)))?,
            "extra_headers" => {
                self.extra_headers = map.next_value_seed(Opt(list(path, any_string)))?;
            }
            "auth_type" => {
                self.auth_type = map.next_value_seed(Opt(Str::new(ctx, path, parse_auth_type)))?;
            }
            "authentication_token" => {
                self.authentication_token =
                    map.next_value_seed(Opt(Str::new(ctx, path, parse_token)))?;
            }
            "description" => {
                self.description = map.next_value_seed(Opt(Str::new(ctx, path, any_string)))?;
            }
            "allowed_tools" => {
                self.allowed_tools = map.next_value_seed(Opt(list(path, non_empty)))?;
            }
            "disallowed_tools" => {
                self.disallowed_tools = map.next_value_seed(Opt(list(path, non_empty)))?;
            }
            "validate_arguments" => {
                self.validate_arguments = map
                    .next_value::<Option<bool>>()
                    .map_err(|e| ctx.note(&path, e))?;
            }
            "session_mode" => {
                self.session_mode =
                    map.next_value_seed(Opt(Str::new(ctx, path, parse_session_mode)))?;
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn finish(self, ctx: &Ctx<'_>, path: &str) -> Result<ServerConfig, Issue> {
        use ConfigErrorKind::{Conflict, MissingKey};
        if self.extra_headers.is_some() {
            ctx.warn(format!(
                "{path}.extra_headers is ignored: toolgate does not forward client headers to \
                 upstream servers"
            ));
        }
        let auth_type = self.auth_type.filter(|auth| *auth != AuthType::None);
        let transport = if let Some(command) = self.command {
            if let Some(declared) = self
                .transport
                .as_ref()
                .filter(|t| t.kind != TransportKind::Stdio)
            {
                return Err(Issue::new(
                    Conflict,
                    format!(
                        "`command` starts a local stdio server, but `{key}` is '{spelled}'; \
                         remove `{key}`, or replace `command` with `url` for a remote server",
                        key = declared.key,
                        spelled = declared.spelled
                    ),
                )
                .at_key(declared.key));
            }
            if let Some(auth) = auth_type {
                return Err(Issue::new(
                    Conflict,
                    format!(
                        "`auth_type: {}` applies only to remote servers (with `url`), but this \
                         server runs `command`",
                        auth.name()
                    ),
                )
                .at_key("auth_type"));
            }
            UpstreamTransport::Stdio {
                command,
                args: self.args.unwrap_or_default(),
                env: self.env.unwrap_or_default(),
                cwd: self.cwd.map(PathBuf::from),
            }
        } else if let Some(url) = self.url {
            let kind = match &self.transport {
                Some(declared) if declared.kind == TransportKind::Stdio => {
                    return Err(Issue::new(
                        Conflict,
                        format!(
                            "`{key}: {spelled}` needs `command` (the program to run), but this \
                             server has a `url`; remove `{key}` or set it to http or sse",
                            key = declared.key,
                            spelled = declared.spelled
                        ),
                    )
                    .at_key(declared.key));
                }
                Some(declared) => declared.kind,
                None if url_looks_like_sse(&url) => TransportKind::Sse,
                None => TransportKind::StreamableHttp,
            };
            let headers = merge_headers(
                self.headers.unwrap_or_default(),
                self.static_headers.unwrap_or_default(),
                auth_type,
                self.authentication_token,
            )?;
            if kind == TransportKind::Sse {
                UpstreamTransport::Sse { url, headers }
            } else {
                UpstreamTransport::StreamableHttp { url, headers }
            }
        } else {
            return Err(match &self.transport {
                Some(declared) if declared.kind == TransportKind::Stdio => Issue::new(
                    MissingKey,
                    format!(
                        "`{}: {}` needs `command` (the program to run)",
                        declared.key, declared.spelled
                    ),
                ),
                Some(declared) => Issue::new(
                    MissingKey,
                    format!(
                        "`{}: {}` needs `url` (the address of the remote server)",
                        declared.key, declared.spelled
                    ),
                ),
                None => Issue::new(
                    MissingKey,
                    "the server has neither `command` (to run a local stdio server) nor `url` \
                     (to connect to a remote server); set one of them",
                ),
            });
        };
        Ok(ServerConfig {
            transport,
            session_mode: self.session_mode.unwrap_or_default(),
            description: self.description,
            allowed_tools: self.allowed_tools,
            disallowed_tools: self.disallowed_tools.unwrap_or_default(),
            validate_arguments: self.validate_arguments.unwrap_or(true),
        })
    }
}

/// Merges `headers`, `static_headers` and the authentication header, rejecting a
/// header (case-insensitively) given by more than one of them.
fn merge_headers(
    headers: BTreeMap<String, String>,
    static_headers: BTreeMap<String, String>,
    auth_type: Option<AuthType>,
    token: Option<String>,
) -> Result<BTreeMap<String, String>, Issue> {
    use ConfigErrorKind::{Conflict, MissingKey};
    let auth_header = match (auth_type, token) {
        (Some(auth), Some(token)) => auth.header(&token).map(|(name, value)| {
            let source = format!("auth_type: {}", auth.name());
            (name.to_owned(), value, source, "auth_type")
        }),
        (Some(auth), None) => {
            let message = format!(
                "`auth_type: {}` needs `authentication_token` (the credential to send)",
                auth.name()
            );
            return Err(Issue::new(MissingKey, message).at_key("auth_type"));
        }
        (None, Some(_)) => {
            let message = "`authentication_token` needs `auth_type` (bearer_token, api_key, \
                           basic or authorization) to say how to send it";
            return Err(Issue::new(MissingKey, message).at_key("authentication_token"));
        }
        (None, None) => None,
    };
    let headers = headers
        .into_iter()
        .map(|(k, v)| (k, v, "headers".to_owned(), "headers"));
    let statics = static_headers
        .into_iter()
        .map(|(k, v)| (k, v, "static_headers".to_owned(), "static_headers"));
    let mut merged = BTreeMap::new();
    let mut sources: HashMap<String, String> = HashMap::new();
    for (name, value, source, key) in headers.chain(statics).chain(auth_header) {
        let lower = name.to_ascii_lowercase();
        if let Some(previous) = sources.get(&lower) {
            let message = format!(
                "the header '{name}' is set both by `{previous}` and by `{source}`; keep one"
            );
            return Err(Issue::new(Conflict, message).at_key(key));
        }
        sources.insert(lower, source);
        merged.insert(name, value);
    }
    Ok(merged)
}
