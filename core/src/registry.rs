//! Named layer factories: what a config file's `layers:` entries resolve to.
//!
//! A [`LayerFactory`] turns its settings (a JSON value, validated against its own schemars
//! schema) into changes to the [`GatewayBuilder`]: MCP-plane layers, HTTP-plane layers, extra
//! routes — whatever the policy needs. The [`Registry`] maps `use: NAME` to a factory and
//! `dylib: PATH` to the native-plugin loader, and applies the list in order, outermost first.
//!
//! # How an error in a layer's settings names its line
//!
//! The config file is read once. Each `layers:` entry becomes a [`LayerSpec`] holding the
//! layer's settings as a JSON value (`${VAR}` expanded) and, privately, where the entry was
//! written: the parsed document and the key path of the settings (`layers[2]`, or
//! `layers[2].config` for a plugin). A factory reads its typed settings from that value with
//! [`parse_config`], through `serde_path_to_error`, so an error knows its path inside the
//! settings (`rules[0].per`) and nothing more. [`Registry::apply`] knows which entry it gave
//! the factory: it puts the entry's key path in front and finds the line the way every config
//! error does, by walking the document to that key path (`layers[2].rules[0].per at line 14:
//! unknown variant …`). serde hands positions only to parser errors, never to values, so a
//! value tree that carried lines would need a YAML parser of our own; walking the text again
//! costs nothing until a setting is wrong.
//!
//! [`Registry::config_schema`] describes the same entries for editors: every `use:` name with
//! its factory's settings schema, and the `dylib:` form.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::config::{Config, LayerSource, LayerSpec, Problem};
use crate::gateway::GatewayBuilder;

/// A layer that can be named in a config file.
pub trait LayerFactory: Send + Sync + 'static {
    /// The name used in `use:`.
    fn name(&self) -> &str;
    /// JSON Schema of the layer's settings (from schemars): an object schema, whose properties
    /// become the keys beside `use:` in [`Registry::config_schema`].
    fn config_schema(&self) -> Value;
    /// Adds the layer, configured by `config`, to the gateway being built. Read `config` with
    /// [`parse_config`], so that errors in it name their key path and line.
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError>;
}

/// Loads `dylib:` layers (native plugins); see the plugin host.
pub trait DylibLoader: Send + Sync + 'static {
    /// Loads the plugin `spec` names (checking it against `plugin_dirs`) and adds it.
    fn apply(
        &self,
        spec: &LayerSpec,
        plugin_dirs: &[PathBuf],
        builder: GatewayBuilder,
    ) -> Result<GatewayBuilder, LayerError>;
}

/// A layer that could not be built: names the layer and says what is wrong. An error in the
/// layer's settings also names their key path in the config file and its line.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct LayerError(Box<LayerErrorRepr>);

#[derive(Debug, thiserror::Error)]
#[error("layer '{layer}': {message}")]
struct LayerErrorRepr {
    layer: String,
    message: String,
    /// A problem in the settings, its path relative to them, until [`Registry::apply`] places
    /// it in the file.
    settings: Option<Problem>,
    key_path: Option<String>,
    line: Option<usize>,
}

impl LayerError {
    /// An error about `layer`.
    pub fn new(layer: impl Into<String>, message: impl Into<String>) -> Self {
        LayerError(Box::new(LayerErrorRepr {
            layer: layer.into(),
            message: message.into(),
            settings: None,
            key_path: None,
            line: None,
        }))
    }

    fn settings(layer: &str, problem: Problem) -> Self {
        let mut error = LayerError::new(layer, problem.render_relative());
        error.0.settings = Some(problem);
        error
    }

    /// An error about the entry `spec` itself rather than one of its settings, placed at the
    /// entry's key path and line.
    fn entry(spec: &LayerSpec, message: String) -> Self {
        let problem = Problem::at(
            &crate::config::KeyPath::default(),
            crate::config::Issue::invalid(message),
        );
        LayerError::settings(&spec.describe(), problem).located(spec)
    }

    /// Places a problem in the settings of `spec` in the config file.
    fn located(mut self, spec: &LayerSpec) -> Self {
        if let Some(problem) = self.0.settings.take() {
            let error = spec.locate(problem);
            self.0.message = error.to_string();
            self.0.key_path = error.key_path().map(str::to_owned);
            self.0.line = error.line();
        }
        self
    }

    /// The layer's name (`use:` name or dylib path).
    pub fn layer(&self) -> &str {
        &self.0.layer
    }

    /// The key path in the config file of the setting that is wrong, such as
    /// `layers[2].rules[0].per`, when known.
    pub fn key_path(&self) -> Option<&str> {
        self.0.key_path.as_deref()
    }

    /// The 1-based line in the config file of the setting that is wrong, when known.
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }
}

/// Why a config file could not become a gateway builder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigBuildError {
    /// An upstream server's settings cannot work.
    #[error(transparent)]
    Server(#[from] crate::gateway::BuildError),
    /// A `layers:` entry could not be built.
    #[error(transparent)]
    Layer(#[from] LayerError),
}

/// Reads a layer's settings into its typed config. An error names the layer and the key path
/// inside the settings (and, once [`Registry::apply`] has seen it, the path and line in the
/// file), with "did you mean" hints for unknown keys and choices.
pub fn parse_config<T: DeserializeOwned>(layer: &str, config: Value) -> Result<T, LayerError> {
    crate::config::from_value(config).map_err(|problem| LayerError::settings(layer, problem))
}

/// Factories by name, plus the native-plugin loader.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, Arc<dyn LayerFactory>>,
    dylib: Option<Arc<dyn DylibLoader>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("layers", &self.factories.keys().collect::<Vec<_>>())
            .field("dylib", &self.dylib.is_some())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a factory under its name (a later one with the same name replaces it).
    #[must_use]
    pub fn with(mut self, factory: impl LayerFactory) -> Self {
        self.factories
            .insert(factory.name().to_string(), Arc::new(factory));
        self
    }
    /// Sets the native-plugin loader.
    #[must_use]
    pub fn with_dylib_loader(mut self, loader: impl DylibLoader) -> Self {
        self.dylib = Some(Arc::new(loader));
        self
    }
    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }
    /// The factory registered as `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn LayerFactory>> {
        self.factories.get(name)
    }
    /// Every layer's settings schema, by name.
    pub fn schemas(&self) -> BTreeMap<String, Value> {
        self.factories
            .iter()
            .map(|(k, f)| (k.clone(), f.config_schema()))
            .collect()
    }

    /// A builder with everything `config` says: upstreams and `server:` settings
    /// ([`GatewayBuilder::from_config`]), then its `layers:` resolved by this registry.
    pub fn builder(
        &self,
        config: &crate::config::Config,
    ) -> Result<GatewayBuilder, ConfigBuildError> {
        let mut builder = GatewayBuilder::from_config(config)?;
        builder = self.apply(&config.layers, &config.plugin_dirs, builder)?;
        for (name, server) in &config.servers {
            builder = self.apply_server(name, &server.layers, &config.plugin_dirs, builder)?;
        }
        Ok(builder)
    }

    /// Applies `layers` to the stack of upstream `server` only (its own `layers:`), in order,
    /// the first outermost. The same factories as the top-level list; a layer that adds more
    /// than MCP-plane layers (HTTP-plane layers, routes) is refused here.
    pub fn apply_server(
        &self,
        server: &str,
        layers: &[LayerSpec],
        plugin_dirs: &[PathBuf],
        mut builder: GatewayBuilder,
    ) -> Result<GatewayBuilder, LayerError> {
        for spec in layers {
            let scope = self.apply(
                std::slice::from_ref(spec),
                plugin_dirs,
                builder.server_scope(),
            )?;
            builder = builder.adopt_server_layers(server, scope).map_err(|why| {
                LayerError::entry(
                    spec,
                    format!("cannot be a layer of server '{server}': {why}"),
                )
            })?;
        }
        Ok(builder)
    }

    /// The JSON Schema of a config file whose `layers:` (top-level and per server) name these
    /// layers: each entry is one of `{use: NAME, …that layer's settings}` or the `dylib:` form.
    pub fn config_schema(&self) -> Value {
        let mut schema = Config::json_schema();
        let mut defs = Map::new();
        let mut entries: Vec<Value> = (self.factories.iter())
            .map(|(name, factory)| use_entry(name, factory.config_schema(), &mut defs))
            .collect();
        entries.push(json!({ "$ref": "#/$defs/DylibLayer" }));
        if let Some(all) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
            all.remove("UseLayer");
            all.extend(defs);
            all.insert(
                "Layer".to_owned(),
                json!({
                    "description": "A built-in layer (`use: NAME` and its settings) or a native plugin (`dylib: PATH`).",
                    "oneOf": entries,
                }),
            );
        }
        schema
    }

    /// Applies `layers` to `builder` in order (the first is the outermost).
    pub fn apply(
        &self,
        layers: &[LayerSpec],
        plugin_dirs: &[PathBuf],
        mut builder: GatewayBuilder,
    ) -> Result<GatewayBuilder, LayerError> {
        for spec in layers {
            builder = match &spec.source {
                LayerSource::Builtin(name) => {
                    let factory = self.get(name).ok_or_else(|| {
                        LayerError::new(
                            name.as_str(),
                            format!(
                                "no such layer; known layers: {}",
                                self.names().collect::<Vec<_>>().join(", ")
                            ),
                        )
                    })?;
                    (factory.apply(spec.config.clone(), builder)).map_err(|e| e.located(spec))?
                }
                LayerSource::Dylib { path, .. } => match &self.dylib {
                    Some(loader) => {
                        (loader.apply(spec, plugin_dirs, builder)).map_err(|e| e.located(spec))?
                    }
                    None => {
                        return Err(LayerError::new(
                            path.display().to_string(),
                            "native plugins are not enabled in this build",
                        ));
                    }
                },
            };
        }
        Ok(builder)
    }
}

/// The schema of a `use: NAME` entry: the layer's settings schema with `use` added. The
/// settings' own `$defs` move into `defs`, renamed `NAME.Def`, so that two layers' types of
/// one name cannot clash.
fn use_entry(name: &str, settings: Value, defs: &mut Map<String, Value>) -> Value {
    let prefix = format!("{name}.");
    let mut settings = settings;
    rename_refs(&mut settings, &prefix);
    let mut entry = match settings {
        Value::Object(entry) => entry,
        _ => Map::new(),
    };
    if let Some(Value::Object(own)) = entry.remove("$defs") {
        defs.extend(own.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
    }
    entry.remove("$schema");
    let is_object = entry.get("type") == Some(&json!("object")) || entry.contains_key("properties");
    if !is_object {
        // Settings not shaped as a map of keys: only the name can be described.
        entry = Map::new();
    }
    entry.insert("type".to_owned(), json!("object"));
    entry.insert("title".to_owned(), json!(format!("use: {name}")));
    let properties = entry.entry("properties").or_insert_with(|| json!({}));
    if let Some(properties) = properties.as_object_mut() {
        properties.insert("use".to_owned(), json!({ "const": name }));
    }
    let required = entry.entry("required").or_insert_with(|| json!([]));
    if let Some(required) = required.as_array_mut() {
        required.insert(0, json!("use"));
    }
    Value::Object(entry)
}

/// Points every `#/$defs/X` reference in `schema` at `#/$defs/{prefix}X`.
fn rename_refs(schema: &mut Value, prefix: &str) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(target) if key == "$ref" => {
                        if let Some(def) = target.strip_prefix("#/$defs/") {
                            *target = format!("#/$defs/{prefix}{def}");
                        }
                    }
                    _ => rename_refs(value, prefix),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, prefix)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The settings are only parsed: the tests are about their errors.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Settings {
        rules: Vec<Rule>,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        per: Per,
        max: u32,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Per {
        Identity,
        Server,
    }

    struct Limit;

    impl LayerFactory for Limit {
        fn name(&self) -> &str {
            "limit"
        }
        fn config_schema(&self) -> Value {
            schemars::schema_for!(Settings).to_value()
        }
        fn apply(
            &self,
            config: Value,
            builder: GatewayBuilder,
        ) -> Result<GatewayBuilder, LayerError> {
            parse_config::<Settings>("limit", config)?;
            Ok(builder)
        }
    }

    fn apply(yaml: &str) -> LayerError {
        let config = match Config::from_yaml_str(yaml) {
            Ok(config) => config,
            Err(e) => panic!("{e}"),
        };
        match Registry::new()
            .with(Limit)
            .apply(&config.layers, &[], GatewayBuilder::new())
        {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn settings_errors_name_their_path_and_line_in_the_file() {
        let e = apply(
            "layers:\n  - use: limit\n    rules: []\n  - use: limit\n    rules:\n      - {per: identity, max: 1}\n      - per: user\n        max: 2\n",
        );
        assert_eq!(e.key_path(), Some("layers[1].rules[1].per"));
        assert_eq!(e.line(), Some(7));
        assert_eq!(
            e.to_string(),
            "layer 'limit': layers[1].rules[1].per at line 7: expected one of identity, server \
             (found 'user')"
        );
        let e = apply("layers:\n  - use: limit\n    rules:\n      - {pre: server, max: 1}\n");
        assert_eq!(
            e.to_string(),
            "layer 'limit': unknown key 'pre' in layers[0].rules[0] at line 4; expected one of \
             per, max (did you mean 'per'?)"
        );
        let e = apply("layers:\n  - use: limit\n");
        assert_eq!(
            e.to_string(),
            "layer 'limit': layers[0] at line 2: missing key `rules`"
        );
    }

    #[test]
    fn settings_errors_without_a_file_name_the_path_inside_the_settings() {
        let e = Limit
            .apply(
                serde_json::json!({"rules": [{"per": 1}]}),
                GatewayBuilder::new(),
            )
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("layer 'limit': rules[0].per: invalid type: integer `1`, expected string or map")
        );
    }

    #[test]
    fn schema_describes_each_use_name_and_the_dylib_form() {
        let schema = Registry::new().with(Limit).config_schema();
        let entries = schema
            .pointer("/$defs/Layer/oneOf")
            .and_then(Value::as_array);
        let entries = entries.cloned().unwrap_or_default();
        assert_eq!(entries.len(), 2, "{schema}");
        assert_eq!(
            entries[0].pointer("/properties/use/const"),
            Some(&json!("limit"))
        );
        assert_eq!(entries[1], json!({"$ref": "#/$defs/DylibLayer"}));
        let validator = match jsonschema::validator_for(&schema) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        let good = json!({"layers": [{"use": "limit", "rules": [{"per": "server", "max": 1}]}],
                          "mcp_servers": {"a": {"command": "x", "layers": [{"dylib": "p.so"}]}}});
        assert!(validator.is_valid(&good));
        let typo = json!({"layers": [{"use": "limit", "rules": [{"pre": "server", "max": 1}]}]});
        let error = validator
            .iter_errors(&typo)
            .next()
            .map(|e| e.instance_path().to_string());
        assert_eq!(error.as_deref(), Some("/layers/0"));
        let unknown = json!({"layers": [{"use": "nope"}]});
        assert!(!validator.is_valid(&unknown));
    }
}
