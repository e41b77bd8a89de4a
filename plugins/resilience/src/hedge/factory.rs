//! The config-file name: `use: hedge`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use super::layer::{HedgeLayer, HedgeSettings};

/// `use: hedge` ([`HedgeSettings`]): in the top-level `layers:` or a server's own.
#[derive(Debug, Clone, Copy, Default)]
pub struct HedgeFactory;

const NAME: &str = "hedge";

impl LayerFactory for HedgeFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(HedgeSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: HedgeSettings = parse_config(NAME, config)?;
        let layer = HedgeLayer::from_settings(&settings)
            .map_err(|e| LayerError::new(NAME, e.to_string()))?;
        Ok(builder.layer(layer))
    }
}
