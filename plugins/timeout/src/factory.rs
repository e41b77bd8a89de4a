//! The config-file name: `use: timeout`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::layer::TimeoutLayer;
use crate::settings::TimeoutSettings;

/// `use: timeout` ([`TimeoutSettings`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeoutFactory;

const NAME: &str = "timeout";

impl LayerFactory for TimeoutFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(TimeoutSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: TimeoutSettings = parse_config(NAME, config)?;
        let layer = TimeoutLayer::from_settings(&settings)
            .map_err(|e| LayerError::new(NAME, e.to_string()))?;
        let known: Vec<&str> = builder.upstream_names().collect();
        if let Some(unknown) = layer.servers().find(|s| !known.contains(s)) {
            return Err(LayerError::new(
                NAME,
                format!(
                    "servers.{unknown}: no upstream server is named '{unknown}'; configured servers: {}",
                    if known.is_empty() {
                        "(none)".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        let ceiling = builder.upstream_request_timeout();
        if let Some((longest, at)) = layer.longest()
            && longest > ceiling
        {
            return Err(LayerError::new(
                NAME,
                format!(
                    "{at} allows a request up to {longest:?}, but server.request_timeout ({ceiling:?}) \
                     ends every upstream request before that; raise server.request_timeout to at least {longest:?}"
                ),
            ));
        }
        Ok(builder.layer(layer))
    }
}
