//! The config-file name: `use: retry`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use super::layer::RetryLayer;
use super::settings::RetrySettings;

/// `use: retry` ([`RetrySettings`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryFactory;

const NAME: &str = "retry";

impl LayerFactory for RetryFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(RetrySettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: RetrySettings = parse_config(NAME, config)?;
        let layer = RetryLayer::from_settings(&settings)
            .map_err(|e| LayerError::new(NAME, e.to_string()))?;
        Ok(builder.layer(layer))
    }
}
