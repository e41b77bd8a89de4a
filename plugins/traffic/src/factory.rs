//! The config-file names: `use: mirror` and `use: canary`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::canary::CanaryLayer;
use crate::mirror::MirrorLayer;
use crate::settings::{CanarySettings, MirrorSettings, check_route};

/// `use: mirror` ([`MirrorSettings`]), in the top-level `layers:`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MirrorFactory;

/// `use: canary` ([`CanarySettings`]), in the top-level `layers:`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CanaryFactory;

impl LayerFactory for MirrorFactory {
    fn name(&self) -> &str {
        "mirror"
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(MirrorSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        const NAME: &str = "mirror";
        let settings: MirrorSettings = parse_config(NAME, config)?;
        let known: Vec<&str> = builder.upstream_names().collect();
        let mut layer = MirrorLayer::new();
        for (i, r) in settings.routes.iter().enumerate() {
            let share = r.share.unwrap_or(1.0);
            check_route(&r.from, &r.to, share, "share", &known)
                .map_err(|e| LayerError::new(NAME, format!("routes[{i}]: {e}")))?;
            layer = layer.route(&r.from, &r.to, share);
        }
        let bound = layer.clone();
        Ok(builder
            .on_assembled(move |parts| bound.bind(&parts.aggregate))
            .layer(layer))
    }
}

impl LayerFactory for CanaryFactory {
    fn name(&self) -> &str {
        "canary"
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(CanarySettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        const NAME: &str = "canary";
        let settings: CanarySettings = parse_config(NAME, config)?;
        let known: Vec<&str> = builder.upstream_names().collect();
        let mut layer = CanaryLayer::new();
        for (i, r) in settings.routes.iter().enumerate() {
            check_route(&r.from, &r.to, r.weight, "weight", &known)
                .map_err(|e| LayerError::new(NAME, format!("routes[{i}]: {e}")))?;
            layer = if r.sticky.unwrap_or(true) {
                layer.route(&r.from, &r.to, r.weight)
            } else {
                layer.per_call_route(&r.from, &r.to, r.weight)
            };
        }
        let bound = layer.clone();
        Ok(builder
            .on_assembled(move |parts| bound.bind(&parts.aggregate))
            .layer(layer))
    }
}
