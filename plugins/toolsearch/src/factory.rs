//! The config-file name: `use: tool_search`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::layer::ToolSearchLayer;
use crate::settings::ToolSearchSettings;

/// `use: tool_search` ([`ToolSearchSettings`]), in the top-level `layers:`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolSearchFactory;

const NAME: &str = "tool_search";

impl LayerFactory for ToolSearchFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(ToolSearchSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: ToolSearchSettings = parse_config(NAME, config)?;
        let layer = ToolSearchLayer::from_settings(&settings)
            .map_err(|e| LayerError::new(NAME, e.to_string()))?;
        let watcher = layer.clone();
        Ok(builder
            .on_assembled(move |parts| watcher.watch(parts.aggregate.subscribe()))
            .layer(layer))
    }
}
