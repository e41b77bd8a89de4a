//! The config-file name: `use: toolsets`.

use serde_json::Value;
use toolgate::McpService;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};
use toolgate::server::HttpService;
use tower::Layer;

use crate::layer::ToolsetLayer;
use crate::settings::ToolsetsSettings;
use crate::toolset::Toolset;

/// `use: toolsets` ([`ToolsetsSettings`]), in the top-level `layers:`: each toolset served at
/// `{mcp_path}/toolsets/NAME`, and the callers bound to one see only it at the main endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToolsetsFactory;

const NAME: &str = "toolsets";

impl LayerFactory for ToolsetsFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(ToolsetsSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: ToolsetsSettings = parse_config(NAME, config)?;
        let fail = |e: crate::Error| LayerError::new(NAME, e.to_string());
        if settings.toolsets.is_empty() {
            return Err(LayerError::new(
                NAME,
                "no toolsets; add `toolsets: {NAME: {tools: [...]}}`",
            ));
        }
        let mut bindings = Vec::new();
        let mut builder = builder;
        let base = builder.mcp_endpoint_path().to_owned();
        for (name, t) in &settings.toolsets {
            let toolset = Toolset::new(name, t.tools.iter().cloned()).map_err(fail)?;
            for caller in &t.callers {
                bindings.push((caller.clone(), toolset.clone()));
            }
            let path = format!("{base}/toolsets/{name}");
            builder = builder.route(path, move |parts| {
                let view = ToolsetLayer::serving(toolset).layer(parts.service.clone());
                HttpService::new(parts.streamable_endpoint(McpService::new(view)))
            });
        }
        if !bindings.is_empty() {
            builder = builder.layer(ToolsetLayer::by_caller(bindings).map_err(fail)?);
        }
        Ok(builder)
    }
}
