//! The `/metrics` route: Prometheus text, with the gauges (upstream health, sessions) read at
//! scrape time.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Response, StatusCode};
use prometheus::{Encoder, TextEncoder};
use toolgate::gateway::GatewayParts;
use toolgate::server::{HttpRequest, HttpService, McpBody, plain};
use toolgate::upstream::UpstreamStatus;
use tower::Service;

use super::Metrics;

/// Serves [`Metrics`] as Prometheus text (format 0.0.4). Made by [`Metrics::route`].
#[derive(Clone, Debug)]
pub struct MetricsRoute {
    metrics: Metrics,
    parts: Option<GatewayParts>,
}

impl Metrics {
    /// A route for [`GatewayBuilder::route`](toolgate::gateway::GatewayBuilder::route): serves
    /// these metrics, with upstream health and session counts from the gateway.
    pub fn route(&self) -> impl FnOnce(&GatewayParts) -> HttpService + Send + 'static {
        let metrics = self.clone();
        move |parts| HttpService::new(MetricsRoute::new(metrics, Some(parts.clone())))
    }

    /// The text a scrape gets now: gauges refreshed from `parts` (when given), then every
    /// metric in the registry.
    pub fn render(&self, parts: Option<&GatewayParts>) -> String {
        let m = &self.inner;
        if let Some(parts) = parts {
            m.upstream_up.reset();
            m.upstream_tools.reset();
            m.upstream_checks.reset();
            for h in parts.aggregate.health() {
                let up = matches!(h.status, UpstreamStatus::Ready(_));
                m.upstream_up
                    .with_label_values(&[&h.name])
                    .set(i64::from(up));
                m.upstream_tools
                    .with_label_values(&[&h.name])
                    .set(i64::try_from(h.tools).unwrap_or(i64::MAX));
                for check in &h.checks {
                    m.upstream_checks
                        .with_label_values(&[&h.name, &*check.name])
                        .set(i64::from(check.passing));
                }
            }
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            m.sessions
                .with_label_values(&["streamable_http"])
                .set(count(parts.streamable.session_count()));
            m.sessions
                .with_label_values(&["sse"])
                .set(count(parts.sse.session_count()));
        }
        let mut out = Vec::with_capacity(4096);
        if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "could not encode the metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl MetricsRoute {
    /// Serves `metrics`; `parts` supplies the gauges read at scrape time.
    pub fn new(metrics: Metrics, parts: Option<GatewayParts>) -> Self {
        MetricsRoute { metrics, parts }
    }
}

impl Service<HttpRequest> for MetricsRoute {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<McpBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(r));
        }
        let text = self.metrics.render(self.parts.as_ref());
        let mut r = Response::new(McpBody::full(text));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        ready(Ok(r))
    }
}
