//! The config-file name: `use: tool_filter`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::layer::{ToolFilterLayer, ToolFilterPolicy};
use crate::settings::ToolFilterSettings;

/// `use: tool_filter` ([`ToolFilterSettings`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolFilterFactory;

const NAME: &str = "tool_filter";

impl LayerFactory for ToolFilterFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(ToolFilterSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: ToolFilterSettings = parse_config(NAME, config)?;
        let policy =
            ToolFilterPolicy::new(&settings).map_err(|e| LayerError::new(NAME, e.to_string()))?;
        let known: Vec<&str> = builder.upstream_names().collect();
        if let Some(unknown) = policy.servers().find(|s| !known.contains(s)) {
            return Err(LayerError::new(
                NAME,
                format!(
                    "servers.{unknown}: no upstream server is named '{unknown}'; configured servers: {} (\"*\" means every server)",
                    if known.is_empty() {
                        "(none)".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        Ok(builder.layer(ToolFilterLayer::from_policy(policy)))
    }
}
