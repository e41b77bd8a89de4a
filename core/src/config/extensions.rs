//! The config sections that extend the gateway: `layers:` (the ordered policy stack),
//! `model_list:` (LiteLLM's models for chat completions) and `plugin_dirs:` (where native
//! plugins may be loaded from).
//!
//! Their entries are read as JSON values (from YAML or JSON) with `${VAR}` expanded in every
//! string; each layer's own config is validated later by the layer that owns it, against its
//! schemars schema, with errors that name the layer.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::env::{EnvLookup, expand};
use super::error::{ConfigErrorKind, Issue};

/// One entry of `layers:`, outermost first.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// A built-in layer or a native plugin.
    pub source: LayerSource,
    /// The layer's own settings: every other key of a `use:` entry, or the `config:` map of a
    /// `dylib:` entry.
    pub config: Value,
}

impl LayerSpec {
    /// A name for messages: `use: rate_limit` or `dylib: ./libx.so`.
    pub fn describe(&self) -> String {
        match &self.source {
            LayerSource::Builtin(name) => format!("use: {name}"),
            LayerSource::Dylib { path, .. } => format!("dylib: {}", path.display()),
        }
    }
}

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

/// Expands `${VAR}` in every string of `value`.
pub(crate) fn expand_all(value: &mut Value, env: EnvLookup<'_>) -> Result<(), Issue> {
    match value {
        Value::String(s) => {
            *s = expand(s, env)?;
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| expand_all(v, env)),
        Value::Object(map) => map.values_mut().try_for_each(|v| expand_all(v, env)),
        _ => Ok(()),
    }
}

fn invalid(message: String) -> Issue {
    Issue::new(ConfigErrorKind::InvalidValue, message)
}

/// Reads `layers:`.
pub(crate) fn layers(value: Value) -> Result<Vec<LayerSpec>, Issue> {
    let Value::Array(items) = value else {
        return Err(invalid(
            "expected a list of layers (`- use: NAME` or `- dylib: PATH`)".into(),
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(mut map) = item else {
                return Err(invalid(format!("layers[{i}]: expected a map with `use:` or `dylib:`")));
            };
            match (map.remove("use"), map.remove("dylib")) {
                (Some(Value::String(name)), None) => Ok(LayerSpec {
                    source: LayerSource::Builtin(name),
                    config: Value::Object(map),
                }),
                (None, Some(Value::String(path))) => {
                    let sha256 = match map.remove("sha256") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(h)) => {
                            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(invalid(format!(
                                    "layers[{i}].sha256: expected 64 hex digits, found '{h}'"
                                )));
                            }
                            Some(h.to_ascii_lowercase())
                        }
                        Some(other) => {
                            return Err(invalid(format!(
                                "layers[{i}].sha256: expected a string, found {other}"
                            )));
                        }
                    };
                    let config = map.remove("config").unwrap_or(Value::Object(Map::new()));
                    if let Some(key) = map.keys().next() {
                        return Err(Issue::new(
                            ConfigErrorKind::UnknownKey,
                            format!(
                                "layers[{i}]: unknown key '{key}' in a dylib entry; expected dylib, sha256, config"
                            ),
                        ));
                    }
                    Ok(LayerSpec {
                        source: LayerSource::Dylib {
                            path: PathBuf::from(path),
                            sha256,
                        },
                        config,
                    })
                }
                (Some(_), Some(_)) => Err(Issue::new(
                    ConfigErrorKind::Conflict,
                    format!("layers[{i}]: an entry has either `use:` or `dylib:`, not both"),
                )),
                (None, None) => Err(Issue::new(
                    ConfigErrorKind::MissingKey,
                    format!("layers[{i}]: needs `use: NAME` (a built-in layer) or `dylib: PATH` (a native plugin)"),
                )),
                _ => Err(invalid(format!("layers[{i}]: `use`/`dylib` must be a string"))),
            }
        })
        .collect()
}

/// Reads `model_list:`.
pub(crate) fn models(value: Value) -> Result<Vec<ModelEntry>, Issue> {
    let Value::Array(items) = value else {
        return Err(invalid("expected a list of models".into()));
    };
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(mut map) = item else {
                return Err(invalid(format!("model_list[{i}]: expected a map with model_name and litellm_params")));
            };
            let Some(Value::String(model_name)) = map.remove("model_name") else {
                return Err(Issue::new(ConfigErrorKind::MissingKey, format!("model_list[{i}]: needs `model_name` (a string)")));
            };
            let Some(Value::Object(mut params)) = map.remove("litellm_params") else {
                return Err(Issue::new(ConfigErrorKind::MissingKey, format!("model_list[{i}] ({model_name}): needs `litellm_params` (a map with model, api_base, api_key)")));
            };
            // LiteLLM's own bookkeeping keys are accepted and ignored.
            map.remove("model_info");
            if let Some(key) = map.keys().next() {
                return Err(Issue::new(
                    ConfigErrorKind::UnknownKey,
                    format!("model_list[{i}] ({model_name}): unknown key '{key}'; expected model_name, litellm_params, model_info"),
                ));
            }
            let Some(Value::String(model)) = params.remove("model") else {
                return Err(Issue::new(ConfigErrorKind::MissingKey, format!("model_list[{i}] ({model_name}): litellm_params needs `model`")));
            };
            let string = |params: &mut Map<String, Value>, key: &str| match params.remove(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(invalid(format!(
                    "model_list[{i}] ({model_name}): litellm_params.{key} must be a string, found {other}"
                ))),
            };
            let api_base = string(&mut params, "api_base")?;
            let api_key = string(&mut params, "api_key")?;
            if !seen.insert(model_name.clone()) {
                return Err(Issue::new(ConfigErrorKind::DuplicateKey, format!("model_list[{i}]: model_name '{model_name}' appears twice")));
            }
            Ok(ModelEntry {
                model_name,
                model,
                api_base,
                api_key,
                extra: params,
            })
        })
        .collect()
}

/// Reads `plugin_dirs:`.
pub(crate) fn plugin_dirs(value: Value) -> Result<Vec<PathBuf>, Issue> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(PathBuf::from(s)),
                other => Err(invalid(format!(
                    "plugin_dirs: expected directory paths, found {other}"
                ))),
            })
            .collect(),
        other => Err(invalid(format!(
            "plugin_dirs: expected a list of directories, found {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_entries_keep_their_other_keys_as_config() {
        let v = serde_json::json!([
            {"use": "rate_limit", "per_identity": "10/s"},
            {"dylib": "./libx.so", "sha256": "AB".repeat(32), "config": {"k": 1}}
        ]);
        let l = layers(v).expect("ok");
        assert_eq!(l[0].source, LayerSource::Builtin("rate_limit".into()));
        assert_eq!(l[0].config["per_identity"], "10/s");
        assert!(
            matches!(&l[1].source, LayerSource::Dylib { sha256: Some(h), .. } if h == &"ab".repeat(32))
        );
        assert_eq!(l[1].config["k"], 1);
    }

    #[test]
    fn bad_layer_entries_say_what_to_write() {
        let e = layers(serde_json::json!([{"name": "x"}])).expect_err("no use");
        assert!(e.message.contains("use: NAME"), "{}", e.message);
        let e = layers(serde_json::json!([{"dylib": "x", "sha256": "zz"}])).expect_err("bad hash");
        assert!(e.message.contains("64 hex"), "{}", e.message);
    }

    #[test]
    fn litellm_model_list_parses() {
        let m = models(serde_json::json!([{
            "model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "api_base": "http://127.0.0.1:9/v1", "api_key": "k", "temperature": 0.2}
        }]))
        .expect("ok");
        assert_eq!(m[0].model, "openai/gpt-4o");
        assert_eq!(m[0].api_key.as_deref(), Some("k"));
        assert_eq!(m[0].extra["temperature"], 0.2);
    }
}
