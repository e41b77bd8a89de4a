//! Named layer factories: what a config file's `layers:` entries resolve to.
//!
//! A [`LayerFactory`] turns its settings (a JSON value, validated against its own schemars
//! schema) into changes to the [`GatewayBuilder`]: MCP-plane layers, HTTP-plane layers, extra
//! routes — whatever the policy needs. The [`Registry`] maps `use: NAME` to a factory and
//! `dylib: PATH` to the native-plugin loader, and applies the list in order, outermost first.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{LayerSource, LayerSpec};
use crate::gateway::GatewayBuilder;

/// A layer that can be named in a config file.
pub trait LayerFactory: Send + Sync + 'static {
    /// The name used in `use:`.
    fn name(&self) -> &str;
    /// JSON Schema of the layer's settings (from schemars).
    fn config_schema(&self) -> Value;
    /// Adds the layer, configured by `config`, to the gateway being built.
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

/// A layer that could not be built: names the layer and says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("layer '{layer}': {message}")]
pub struct LayerError {
    layer: String,
    message: String,
}

impl LayerError {
    /// An error about `layer`.
    pub fn new(layer: impl Into<String>, message: impl Into<String>) -> Self {
        LayerError {
            layer: layer.into(),
            message: message.into(),
        }
    }
    /// The layer's name (`use:` name or dylib path).
    pub fn layer(&self) -> &str {
        &self.layer
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

/// Parses a layer's settings into its typed config, with an error that names the layer.
pub fn parse_config<T: DeserializeOwned>(layer: &str, config: Value) -> Result<T, LayerError> {
    serde_json::from_value(config)
        .map_err(|e| LayerError::new(layer, format!("invalid settings: {e}")))
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
        let builder = GatewayBuilder::from_config(config)?;
        Ok(self.apply(&config.layers, &config.plugin_dirs, builder)?)
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
                    factory.apply(spec.config.clone(), builder)?
                }
                LayerSource::Dylib { path, .. } => match &self.dylib {
                    Some(loader) => loader.apply(spec, plugin_dirs, builder)?,
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
