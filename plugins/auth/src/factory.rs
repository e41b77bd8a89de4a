//! The config-file names of the layers: `use: auth` ([`AuthFactory`]) and `use: authorize`
//! ([`AuthorizeFactory`]), for a [`Registry`](toolgate::registry::Registry).

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::config::{AuthConfig, AuthorizeConfig};
use crate::ext::GatewayBuilderExt;

/// `use: auth`: authentication on the HTTP plane (see [`AuthConfig`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthFactory;

/// The name [`AuthFactory`] registers.
pub const AUTH: &str = "auth";
/// The name [`AuthorizeFactory`] registers.
pub const AUTHORIZE: &str = "authorize";

impl LayerFactory for AuthFactory {
    fn name(&self) -> &str {
        AUTH
    }

    fn config_schema(&self) -> Value {
        schemars::schema_for!(AuthConfig).to_value()
    }

    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let auth = parse_config::<AuthConfig>(AUTH, config)?
            .build()
            .map_err(|e| LayerError::new(AUTH, e.to_string()))?;
        Ok(builder.auth(auth))
    }
}

/// `use: authorize`: per-caller access to servers, tools, prompts and resources on the MCP
/// plane (see [`AuthorizeConfig`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthorizeFactory;

impl LayerFactory for AuthorizeFactory {
    fn name(&self) -> &str {
        AUTHORIZE
    }

    fn config_schema(&self) -> Value {
        schemars::schema_for!(AuthorizeConfig).to_value()
    }

    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let rules = parse_config::<AuthorizeConfig>(AUTHORIZE, config)?
            .build()
            .map_err(|e| LayerError::new(AUTHORIZE, e.to_string()))?;
        Ok(builder.authorize(rules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate::config::LayerSpec;
    use toolgate::registry::Registry;

    fn registry() -> Registry {
        Registry::new().with(AuthFactory).with(AuthorizeFactory)
    }

    fn apply(yaml: &str) -> Result<GatewayBuilder, String> {
        let config = toolgate::config::Config::from_yaml_str(yaml).map_err(|e| e.to_string())?;
        let layers: &[LayerSpec] = &config.layers;
        registry()
            .apply(layers, &[], GatewayBuilder::new())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn both_layers_resolve_from_a_config_file() {
        let yaml = r#"
mcp_servers: {}
layers:
  - use: auth
    api_keys: [{name: a, key: "key-a-0123456789abc", servers: [demo]}]
  - use: authorize
    default: allow
    rules: [{match: {key: a}, deny_tools: ["demo__crash"]}]
"#;
        assert!(apply(yaml).is_ok(), "{:?}", apply(yaml).err());
    }

    #[test]
    fn errors_name_the_layer_and_the_key() {
        let e = apply("layers:\n  - use: auth\n    api_keys: [{name: a, sha256: nope}]\n")
            .expect_err("bad digest");
        assert!(
            e.starts_with("layer 'auth': api_keys[0] (a): sha256"),
            "{e}"
        );
        let e = apply(
            "layers:\n  - use: authorize\n    rules: [{match: {key: a}, allow_tools: ['[']}]\n",
        )
        .expect_err("bad glob");
        assert!(
            e.starts_with("layer 'authorize': rules[0].allow_tools[0]"),
            "{e}"
        );
    }

    #[test]
    fn schemas_describe_the_settings() {
        let s = AuthFactory.config_schema();
        assert!(s["properties"]["api_keys"].is_object(), "{s}");
        let s = AuthorizeFactory.config_schema();
        assert!(s["properties"]["rules"].is_object(), "{s}");
    }
}
