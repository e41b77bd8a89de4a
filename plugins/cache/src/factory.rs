//! The config-file name: `use: cache`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::layer::CacheLayer;
use crate::settings::CacheSettings;

/// `use: cache` ([`CacheSettings`]): in the top-level `layers:` or a server's own.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheFactory;

const NAME: &str = "cache";

impl LayerFactory for CacheFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(CacheSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: CacheSettings = parse_config(NAME, config)?;
        let layer = CacheLayer::from_settings(&settings)
            .map_err(|e| LayerError::new(NAME, e.to_string()))?;
        let watcher = layer.clone();
        Ok(builder
            .on_assembled(move |parts| watcher.watch(parts.aggregate.subscribe()))
            .layer(layer))
    }
}
