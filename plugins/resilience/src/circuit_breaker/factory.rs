//! The config-file name: `use: circuit_breaker`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use super::layer::CircuitBreakerLayer;
use super::settings::BreakerSettings;

/// `use: circuit_breaker` ([`BreakerSettings`]): in the top-level `layers:` one circuit per
/// upstream, in a server's own `layers:` that server's.
#[derive(Debug, Clone, Copy, Default)]
pub struct CircuitBreakerFactory;

const NAME: &str = "circuit_breaker";

impl LayerFactory for CircuitBreakerFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(BreakerSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: BreakerSettings = parse_config(NAME, config)?;
        let layer = CircuitBreakerLayer::from_settings(&settings)
            .map_err(|e| LayerError::new(NAME, e.to_string()))?;
        Ok(builder.upstream_check(layer.check()).layer(layer))
    }
}
