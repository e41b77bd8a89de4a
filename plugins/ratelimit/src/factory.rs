//! The config-file names: `use: rate_limit` and `use: concurrency_limit`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::concurrency::ConcurrencyLimitLayer;
use crate::rate_limit::{RateLimitLayer, SharedRateLimitLayer};
use crate::rules::check_servers;
use crate::settings::{ConcurrencyLimitSettings, RateLimitSettings, Store};

/// `use: rate_limit` ([`RateLimitSettings`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RateLimitFactory;

/// `use: concurrency_limit` ([`ConcurrencyLimitSettings`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConcurrencyLimitFactory;

const RATE_LIMIT: &str = "rate_limit";
const CONCURRENCY_LIMIT: &str = "concurrency_limit";

fn known(builder: &GatewayBuilder) -> Vec<String> {
    builder.upstream_names().map(str::to_owned).collect()
}

fn check<'a>(
    layer: &str,
    named: impl IntoIterator<Item = &'a str>,
    builder: &GatewayBuilder,
) -> Result<(), LayerError> {
    let known = known(builder);
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    check_servers(named, &known).map_err(|e| LayerError::new(layer, e.to_string()))
}

impl LayerFactory for RateLimitFactory {
    fn name(&self) -> &str {
        RATE_LIMIT
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(RateLimitSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: RateLimitSettings = parse_config(RATE_LIMIT, config)?;
        let fail = |e: crate::Error| LayerError::new(RATE_LIMIT, e.to_string());
        match settings.store {
            Store::Local => {
                if settings.on_store_error.is_some() {
                    return Err(LayerError::new(
                        RATE_LIMIT,
                        "`on_store_error` applies to `store: redis`; add that, or remove it",
                    ));
                }
                let layer = RateLimitLayer::from_settings(settings).map_err(fail)?;
                check(RATE_LIMIT, layer.servers(), &builder)?;
                Ok(builder.layer(layer))
            }
            Store::Redis => {
                let Some(redis) = builder.redis_settings() else {
                    return Err(LayerError::new(
                        RATE_LIMIT,
                        "`store: redis` needs the shared Redis: add `redis: {url: \
                         redis://HOST:PORT}` at the top of the config",
                    ));
                };
                let layer = SharedRateLimitLayer::new(
                    settings.rules,
                    redis,
                    settings.on_store_error.unwrap_or_default(),
                )
                .map_err(fail)?;
                check(RATE_LIMIT, layer.servers(), &builder)?;
                Ok(builder.layer(layer))
            }
        }
    }
}

impl LayerFactory for ConcurrencyLimitFactory {
    fn name(&self) -> &str {
        CONCURRENCY_LIMIT
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(ConcurrencyLimitSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: ConcurrencyLimitSettings = parse_config(CONCURRENCY_LIMIT, config)?;
        let layer = ConcurrencyLimitLayer::from_settings(settings)
            .map_err(|e| LayerError::new(CONCURRENCY_LIMIT, e.to_string()))?;
        check(CONCURRENCY_LIMIT, layer.servers(), &builder)?;
        Ok(builder.layer(layer))
    }
}
