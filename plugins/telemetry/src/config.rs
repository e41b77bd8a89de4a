//! Settings of the `tracing` and `metrics` layers, as written in a config file's `layers:` list.
//!
//! ```yaml
//! layers:
//!   - use: metrics            # Prometheus text at /metrics
//!     path: /metrics
//!   - use: tracing            # OpenTelemetry spans, exported over OTLP/HTTP
//!     service_name: toolgate
//!     otlp:
//!       endpoint: http://127.0.0.1:4318/v1/traces
//!       headers: {x-api-key: "${OTLP_KEY}"}
//!       timeout: 10s
//!       schedule_delay: 5s
//!     sample_ratio: 1.0
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use crate::error::TelemetryError;

/// `use: tracing`: OpenTelemetry spans per MCP request and per upstream call.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// `service.name` of the spans; default `OTEL_SERVICE_NAME`, else `toolgate`.
    #[serde(default)]
    pub service_name: Option<String>,
    /// Where spans are exported (OTLP over HTTP, protobuf). Without it the standard
    /// `OTEL_EXPORTER_OTLP_*` variables decide (default `http://localhost:4318/v1/traces`);
    /// `OTEL_TRACES_EXPORTER=none` records spans for propagation only.
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
    /// Fraction of new traces recorded, 0.0 to 1.0 (default 1.0). A request whose parent is
    /// sampled, or not, follows its parent.
    #[serde(default)]
    pub sample_ratio: Option<f64>,
}

/// OTLP/HTTP export settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector: `http://host:4318` (then `/v1/traces` is added) or the full traces URL.
    /// Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, or
    /// `http://localhost:4318/v1/traces`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Headers on every export request (for example an API key); default
    /// `OTEL_EXPORTER_OTLP_HEADERS`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long one export may take (default 10s): seconds, or `500ms`, `10s`, `1m`.
    #[serde(default, deserialize_with = "duration")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub timeout: Option<Duration>,
    /// How often batches of finished spans are sent (default 5s, or `OTEL_BSP_SCHEDULE_DELAY`).
    #[serde(default, deserialize_with = "duration")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub schedule_delay: Option<Duration>,
}

/// `use: metrics`: Prometheus text at `path`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where the metrics are served (default `/metrics`).
    #[serde(default = "default_metrics_path")]
    pub path: String,
    /// Upper bounds of the duration histogram's buckets, in seconds, ascending (default: the
    /// MCP semantic conventions' 0.01 … 300).
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            path: default_metrics_path(),
            buckets: None,
        }
    }
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

/// A config duration (`3`, `"500ms"`, `"10s"`, `"1m"`); `validate` refuses zero.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Ok(Option::<toolgate::config::Duration>::deserialize(d)?.map(Duration::from))
}

impl TracingConfig {
    /// Checks what can be checked without a collector.
    pub fn validate(&self) -> Result<(), TelemetryError> {
        if let Some(r) = self.sample_ratio
            && !(0.0..=1.0).contains(&r)
        {
            return Err(TelemetryError::config(format!(
                "sample_ratio must be between 0.0 and 1.0, found {r}"
            )));
        }
        if let Some(otlp) = &self.otlp {
            if let Some(endpoint) = &otlp.endpoint {
                otlp_traces_url(endpoint)?;
            }
            for (name, value) in &otlp.headers {
                http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    TelemetryError::config(format!("otlp.headers: '{name}' is not a header name"))
                })?;
                http::HeaderValue::from_str(value).map_err(|_| {
                    TelemetryError::config(format!(
                        "otlp.headers.{name}: the value is not a valid header value"
                    ))
                })?;
            }
            if otlp.timeout.is_some_and(|t| t.is_zero()) {
                return Err(TelemetryError::config("otlp.timeout must be more than 0"));
            }
            if otlp.schedule_delay.is_some_and(|t| t.is_zero()) {
                return Err(TelemetryError::config(
                    "otlp.schedule_delay must be more than 0",
                ));
            }
        }
        Ok(())
    }
}

/// The traces URL for `endpoint`: `/v1/traces` is added when it has no path.
pub(crate) fn otlp_traces_url(endpoint: &str) -> Result<String, TelemetryError> {
    let uri: http::Uri = endpoint.parse().map_err(|e| {
        TelemetryError::config(format!(
            "otlp.endpoint '{endpoint}' is not a URL ({e}); write http://host:4318"
        ))
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(TelemetryError::config(format!(
                "otlp.endpoint '{endpoint}': https is not supported by this build; send to a local collector over http"
            )));
        }
        _ => {
            return Err(TelemetryError::config(format!(
                "otlp.endpoint '{endpoint}' needs http://, for example http://127.0.0.1:4318"
            )));
        }
    }
    if uri.host().is_none() {
        return Err(TelemetryError::config(format!(
            "otlp.endpoint '{endpoint}' has no host"
        )));
    }
    let path = uri.path();
    if path.is_empty() || path == "/" {
        Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
    } else {
        Ok(endpoint.to_string())
    }
}

impl MetricsConfig {
    /// Checks the path and buckets.
    pub fn validate(&self) -> Result<(), TelemetryError> {
        if !self.path.starts_with('/') || self.path.len() < 2 {
            return Err(TelemetryError::config(format!(
                "path must start with '/' and name a route, found '{}'",
                self.path
            )));
        }
        if let Some(b) = &self.buckets {
            if b.is_empty() {
                return Err(TelemetryError::config("buckets must not be empty"));
            }
            if b.iter().any(|x| !x.is_finite() || *x <= 0.0) || b.windows(2).any(|w| w[0] >= w[1]) {
                return Err(TelemetryError::config(format!(
                    "buckets must be positive seconds in ascending order, found {b:?}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_without_path_gets_v1_traces() {
        assert_eq!(
            otlp_traces_url("http://127.0.0.1:4318").expect("ok"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            otlp_traces_url("http://c:4318/custom").expect("ok"),
            "http://c:4318/custom"
        );
        assert!(otlp_traces_url("ftp://x").is_err());
        assert!(otlp_traces_url("not a url").is_err());
    }

    #[test]
    fn durations_accept_seconds_and_text() {
        let c: OtlpConfig =
            serde_json::from_value(serde_json::json!({"timeout": 3, "schedule_delay": "250ms"}))
                .expect("parses");
        assert_eq!(c.timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.schedule_delay, Some(Duration::from_millis(250)));
        let e = serde_json::from_value::<OtlpConfig>(serde_json::json!({"timeout": "soon"}))
            .expect_err("rejected");
        assert!(e.to_string().contains("invalid duration 'soon'"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = serde_json::from_value::<TracingConfig>(serde_json::json!({"endpoint": "x"}))
            .expect_err("rejected");
        assert!(e.to_string().contains("unknown field `endpoint`"), "{e}");
    }

    #[test]
    fn bad_sample_ratio_and_buckets_are_rejected() {
        let t = TracingConfig {
            sample_ratio: Some(1.5),
            ..Default::default()
        };
        assert!(t.validate().is_err());
        let m = MetricsConfig {
            buckets: Some(vec![1.0, 0.5]),
            ..Default::default()
        };
        assert!(m.validate().is_err());
        let m = MetricsConfig {
            path: "metrics".into(),
            ..Default::default()
        };
        assert!(m.validate().is_err());
    }
}
