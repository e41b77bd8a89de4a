//! The config-file names of this crate's layers: `use: tracing` and `use: metrics`.
//!
//! Both factories keep what they built across [`apply`](LayerFactory::apply) calls, so a config
//! reload that rebuilds the stack keeps the same exporter (when the `tracing` settings did not
//! change) and the same counters (when the metrics buckets did not change). Register one
//! instance of each and keep it for the process's lifetime.

use std::sync::{Arc, Mutex};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::{LayerError, LayerFactory, parse_config};

use crate::config::{MetricsConfig, TracingConfig};
use crate::metrics::{DEFAULT_BUCKETS, Metrics};
use crate::{TelemetryGatewayExt, otlp};

/// Builds `use: tracing` ([`TracingConfig`]): OpenTelemetry spans exported over OTLP.
#[derive(Clone, Default)]
pub struct TracingFactory {
    installed: Arc<Mutex<Option<(TracingConfig, SdkTracerProvider)>>>,
}

impl std::fmt::Debug for TracingFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingFactory").finish_non_exhaustive()
    }
}

impl TracingFactory {
    /// The name in `use:`.
    pub const NAME: &'static str = "tracing";

    /// A factory with nothing built yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The provider for `config`: the current one if its settings are the same, else a new one
    /// (the old one is flushed and shut down in the background).
    fn provider(&self, config: &TracingConfig) -> Result<SdkTracerProvider, LayerError> {
        let mut slot = self
            .installed
            .lock()
            .map_err(|_| LayerError::new(Self::NAME, "the tracing state is poisoned"))?;
        if let Some((current, provider)) = slot.as_ref()
            && current == config
        {
            return Ok(provider.clone());
        }
        let provider = otlp::tracer_provider(config)
            .map_err(|e| LayerError::new(Self::NAME, e.to_string()))?;
        if let Some((_, old)) = slot.replace((config.clone(), provider.clone())) {
            std::thread::spawn(move || {
                let _ = old.shutdown();
            });
        }
        Ok(provider)
    }

    /// Exports what is still buffered and stops the exporter; call at exit, off the async
    /// runtime's threads (`tokio::task::spawn_blocking`) while the runtime still runs. Blocks
    /// up to the export timeout.
    pub fn shutdown(&self) {
        let installed = self.installed.lock().ok().and_then(|mut s| s.take());
        if let Some((_, provider)) = installed
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not flush the last spans");
        }
    }
}

impl LayerFactory for TracingFactory {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn config_schema(&self) -> Value {
        schemars::schema_for!(TracingConfig).to_value()
    }

    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let config: TracingConfig = parse_config(Self::NAME, null_is_empty(config))?;
        config
            .validate()
            .map_err(|e| LayerError::new(Self::NAME, e.to_string()))?;
        let tracer = self.provider(&config)?.tracer("toolgate");
        Ok(builder.mcp_tracing(tracer))
    }
}

/// Builds `use: metrics` ([`MetricsConfig`]): Prometheus text at `/metrics`.
#[derive(Clone, Default)]
pub struct MetricsFactory {
    metrics: Arc<Mutex<Option<Built>>>,
}

/// The metrics built for these bucket bounds.
type Built = (Vec<f64>, Metrics);

impl std::fmt::Debug for MetricsFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsFactory").finish_non_exhaustive()
    }
}

impl MetricsFactory {
    /// The name in `use:`.
    pub const NAME: &'static str = "metrics";

    /// A factory with nothing built yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The metrics for `buckets`: the current ones if the buckets are the same (counters carry
    /// on across reloads), else new ones.
    fn metrics(&self, buckets: Vec<f64>) -> Result<Metrics, LayerError> {
        let mut slot = self
            .metrics
            .lock()
            .map_err(|_| LayerError::new(Self::NAME, "the metrics state is poisoned"))?;
        if let Some((current, metrics)) = slot.as_ref()
            && *current == buckets
        {
            return Ok(metrics.clone());
        }
        let metrics = Metrics::with_buckets(buckets.clone())
            .map_err(|e| LayerError::new(Self::NAME, e.to_string()))?;
        *slot = Some((buckets, metrics.clone()));
        Ok(metrics)
    }
}

impl LayerFactory for MetricsFactory {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn config_schema(&self) -> Value {
        schemars::schema_for!(MetricsConfig).to_value()
    }

    fn apply(&self, config: Value, builder: GatewayBuilder) -> Result<GatewayBuilder, LayerError> {
        let config: MetricsConfig = parse_config(Self::NAME, null_is_empty(config))?;
        config
            .validate()
            .map_err(|e| LayerError::new(Self::NAME, e.to_string()))?;
        let buckets = config.buckets.unwrap_or_else(|| DEFAULT_BUCKETS.to_vec());
        let metrics = self.metrics(buckets)?;
        Ok(builder.mcp_metrics(&metrics, config.path))
    }
}

/// A layer entry with no settings (`- use: metrics`) arrives as `null` or `{}`.
fn null_is_empty(config: Value) -> Value {
    if config.is_null() {
        Value::Object(Default::default())
    } else {
        config
    }
}
