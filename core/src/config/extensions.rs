//! The config sections that extend the gateway: `layers:` entries (top-level and per server,
//! each layer's settings checked by its factory when the stack is built) and `model_list:`
//! (LiteLLM's models for chat completions).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::ConfigError;
use super::document::{Document, KeyPath};
use super::error::Problem;

/// One entry of `layers:`, outermost first.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// A built-in layer or a native plugin.
    pub source: LayerSource,
    /// The layer's own settings: every other key of a `use:` entry, or the `config:` map of a
    /// `dylib:` entry, with `${VAR}` expanded.
    pub config: Value,
    /// Where the settings were written, for errors found in them later.
    origin: Origin,
}

/// Where a layer's settings sit in the config file: the document, and the key path of the
/// settings (`layers[2]`, or `layers[2].config` for a native plugin).
#[derive(Clone, Default)]
pub(crate) struct Origin {
    doc: Option<Arc<Document>>,
    path: KeyPath,
}

/// Shows the key path only: the document's text holds credentials.
impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Origin({})", self.path)
    }
}

impl Origin {
    pub(crate) fn new(doc: &Arc<Document>, path: KeyPath) -> Self {
        Self {
            doc: Some(doc.clone()),
            path,
        }
    }
}

impl LayerSpec {
    /// An entry built in code rather than read from a file (its errors name no line).
    pub fn new(source: LayerSource, config: Value) -> Self {
        Self::at(source, config, Origin::default())
    }

    pub(crate) fn at(source: LayerSource, config: Value, origin: Origin) -> Self {
        Self {
            source,
            config,
            origin,
        }
    }

    /// A name for messages: `use: rate_limit` or `dylib: ./libx.so`.
    pub fn describe(&self) -> String {
        match &self.source {
            LayerSource::Builtin(name) => format!("use: {name}"),
            LayerSource::Dylib { path, .. } => format!("dylib: {}", path.display()),
        }
    }

    /// A problem found in the settings (its path relative to them) as an error naming its key
    /// path in the file and, when the entry came from a file, its line.
    pub(crate) fn locate(&self, problem: Problem) -> ConfigError {
        problem
            .under(&self.origin.path)
            .into_error(self.origin.doc.as_deref())
    }
}

/// Two entries are equal when they configure the same layer the same way, wherever they were
/// written.
impl PartialEq for LayerSpec {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.config == other.config
    }
}

impl Eq for LayerSpec {}

/// Where a layer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSource {
    /// `use: NAME`: a layer factory registered under that name.
    Builtin(String),
    /// `dylib: PATH`: a native plugin, optionally pinned by its SHA-256.
    Dylib {
        /// The library file.
        path: PathBuf,
        /// Expected SHA-256 of the file, hex.
        sha256: Option<String>,
    },
}

/// One entry of LiteLLM's `model_list:`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    /// The name clients ask for (`model` in a chat request).
    pub model_name: String,
    /// `litellm_params.model`: the upstream model, e.g. `openai/gpt-4o`.
    pub model: String,
    /// `litellm_params.api_base`: the OpenAI-compatible base URL.
    pub api_base: Option<String>,
    /// `litellm_params.api_key` (already expanded from the environment).
    pub api_key: Option<String>,
    /// Any other `litellm_params` (temperature defaults and the like), passed on as they are.
    pub extra: Map<String, Value>,
}
