//! The config-file name: `use: cache`.

use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::layer::CacheLayer;
use crate::settings::{CacheSettings, Store};

/// `use: cache` ([`CacheSettings`]): in the top-level `layers:` or a server's own.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheFactory;

const NAME: &str = "cache";

impl LayerFactory for CacheFactory {
    fn name(&self) -> &str {
        NAME
    }
    fn config_schema(&self) -> Value {
        schemars::schema_for!(CacheSettings).into()
    }
    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let settings: CacheSettings = parse_config(NAME, config)?;
        let fail = |e: crate::Error| LayerError::new(NAME, e.to_string());
        let mut layer = CacheLayer::from_settings(&settings).map_err(fail)?;
        if settings.store == Store::Redis {
            let Some(redis) = builder.redis_settings() else {
                return Err(LayerError::new(
                    NAME,
                    "`store: redis` needs the shared Redis: add `redis: {url: redis://HOST:PORT}` \
                     at the top of the config",
                ));
            };
            layer = layer.store_in_redis(redis).map_err(fail)?;
        }
        let watcher = layer.clone();
        Ok(builder
            .on_assembled(move |parts| watcher.watch(parts.aggregate.subscribe()))
            .layer(layer))
    }
}
