//! The tracer provider a `tracing` config builds: OTLP over HTTP (protobuf) with a batch
//! processor, sent with the gateway's one outbound client ([`toolgate::http::Client`]:
//! `https://` collectors trusted by the system's roots, proxies from the environment).
//!
//! The SDK's batch processor exports from a thread of its own, outside tokio; the
//! [`TokioHttpClient`] here runs each export request on the gateway's runtime instead (captured
//! when the provider is built), so no second HTTP stack (reqwest) and no runtime of its own is
//! needed.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use toolgate::http::Client;

use crate::config::{TracingConfig, otlp_traces_url};
use crate::error::{TelemetryError, TelemetryErrorKind};

/// Largest collector answer read (collectors answer with a small status message).
const MAX_RESPONSE: usize = 1024 * 1024;
/// Export timeout when neither the config nor `OTEL_EXPORTER_OTLP_TIMEOUT` sets one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the provider `config` describes. Call it inside the tokio runtime that will carry the
/// exports; outside one (`toolgate check`) the provider is built, and exports fail.
pub fn tracer_provider(config: &TracingConfig) -> Result<SdkTracerProvider, TelemetryError> {
    config.validate()?;
    let mut resource = Resource::builder();
    if let Some(name) = &config.service_name {
        resource = resource.with_service_name(name.clone());
    } else if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("toolgate");
    }
    let mut provider = SdkTracerProvider::builder().with_resource(resource.build());
    if let Some(ratio) = config.sample_ratio {
        provider = provider.with_sampler(Sampler::ParentBased(Box::new(
            Sampler::TraceIdRatioBased(ratio),
        )));
    }
    let exporter_off = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
    if config.otlp.is_none() && exporter_off {
        return Ok(provider.build());
    }
    let otlp = config.otlp.clone().unwrap_or_default();
    let timeout = otlp.timeout.or_else(env_timeout).unwrap_or(DEFAULT_TIMEOUT);
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(TokioHttpClient::new(timeout))
        .with_timeout(timeout);
    if let Some(endpoint) = &otlp.endpoint {
        exporter = exporter.with_endpoint(otlp_traces_url(endpoint)?);
    }
    if !otlp.headers.is_empty() {
        exporter = exporter.with_headers(
            otlp.headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        );
    }
    let exporter = exporter.build().map_err(|e| {
        TelemetryError::new(
            TelemetryErrorKind::Exporter,
            format!("could not build the OTLP exporter: {e}"),
        )
    })?;
    let mut batch = BatchConfigBuilder::default();
    if let Some(delay) = otlp.schedule_delay {
        batch = batch.with_scheduled_delay(delay);
    }
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch.build())
        .build();
    Ok(provider.with_span_processor(processor).build())
}

fn env_timeout() -> Option<Duration> {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok()?.trim().parse::<u64>().ok())
    .map(Duration::from_millis)
}

/// An [`HttpClient`] for the OTLP exporter that sends on the tokio runtime it was created in.
#[derive(Debug, Clone)]
pub struct TokioHttpClient {
    client: Option<Client>,
    runtime: Option<tokio::runtime::Handle>,
    timeout: Duration,
}

impl TokioHttpClient {
    /// A client on the current runtime (if any); each request is bounded by `timeout`.
    pub fn new(timeout: Duration) -> Self {
        TokioHttpClient {
            client: Client::builder()
                .connect_timeout(timeout)
                .build()
                .inspect_err(|e| tracing::error!(error = %e, "OTLP exporter: no HTTP client"))
                .ok(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            timeout,
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for TokioHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let runtime = self
            .runtime
            .clone()
            .ok_or("no tokio runtime to export spans on")?;
        let client = self
            .client
            .clone()
            .ok_or("the OTLP exporter has no HTTP client (TLS set-up failed)")?;
        let timeout = self.timeout;
        let exchange = async move {
            let response = client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE).collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        runtime
            .spawn(async move {
                tokio::time::timeout(timeout, exchange)
                    .await
                    .map_err(|_| HttpError::from(format!("no answer within {timeout:?}")))?
            })
            .await?
    }
}
