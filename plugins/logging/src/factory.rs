//! The config-file name: `use: logging`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::layer::LoggingLayer;
use crate::settings::LoggingSettings;

/// `use: logging` ([`LoggingSettings`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingFactory;

const NAME: &str = "logging";

impl LayerFactory for LoggingFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(LoggingSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: LoggingSettings = parse_config(NAME, config)?;
        if settings.max_params_bytes == 0 && settings.params {
            return Err(LayerError::new(
                NAME,
                "max_params_bytes is 0 while params is true: set params: false, or allow some bytes",
            ));
        }
        let layer = LoggingLayer::new(&settings);
        Ok(builder.layer(layer))
    }
}
