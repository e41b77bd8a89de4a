//! `custom-stack`: an MCP proxy composed in Rust, with no config file.
//!
//! ```text
//! custom-stack --api-key s3cret [--listen 127.0.0.1:4000] [--calls-per-minute 60]
//! ```
//!
//! One upstream, `demo-server` (next to this binary) on stdio, behind three policies:
//!
//! 1. an API key on the HTTP plane (`X-API-Key: KEY` or `Authorization: Bearer KEY`); anything
//!    else gets 401 before MCP sees the request;
//! 2. a rate limit on the MCP plane: at most N `tools/call` a minute (GCRA, the `governor`
//!    crate); more get JSON-RPC -31002 with `retryAfterSeconds` in `data`;
//! 3. OpenTelemetry spans per request and per upstream call (`toolgate-telemetry`), exported
//!    over OTLP as the standard `OTEL_*` variables say.
//!
//! The key check and the limit are written inline to show how small a layer is; the
//! `toolgate-auth` and `toolgate-ratelimit` crates provide the full versions (JWT, keyed limits).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderValue, Response, StatusCode};
use opentelemetry::trace::TracerProvider as _;
use toolgate::gateway::GatewayBuilder;
use toolgate::jsonrpc::Method;
use toolgate::server::{HttpRequest, HttpService, McpBody, plain};
use toolgate::upstream::StdioSpec;
use toolgate::{ErrorKind, McpError, McpRequest, McpService};
use toolgate_telemetry::{TelemetryGatewayExt, TracingConfig, otlp};
use tower::ServiceExt;
use tower::layer::layer_fn;
use tower::service_fn;

#[derive(Parser, Debug)]
#[command(name = "custom-stack", about = "An MCP proxy composed in Rust")]
struct Cli {
    /// The API key clients must send.
    #[arg(long, env = "CUSTOM_STACK_API_KEY")]
    api_key: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
    /// Most `tools/call` requests per minute, all clients together.
    #[arg(long, default_value_t = NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN))]
    calls_per_minute: NonZeroU32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let exe = std::env::current_exe().context("cannot locate this executable")?;
    let demo = exe.with_file_name(format!("demo-server{}", std::env::consts::EXE_SUFFIX));
    let provider = otlp::tracer_provider(&TracingConfig::default())?;
    let limiter = Arc::new(RateLimiter::direct(Quota::per_minute(cli.calls_per_minute)));

    let gateway = GatewayBuilder::new()
        // The upstream: demo-server on stdio, its tools exposed as demo__*.
        .stdio(
            "demo",
            StdioSpec {
                command: demo.to_string_lossy().into_owned(),
                args: vec![
                    "--transport".into(),
                    "stdio".into(),
                    "--name".into(),
                    "demo".into(),
                ],
                ..Default::default()
            },
        )
        // HTTP plane: no key, no MCP.
        .http_layer(layer_fn(move |inner| require_api_key(inner, &cli.api_key)))
        // MCP plane, outermost first: spans, then the limit (a rejected call is traced too).
        .mcp_tracing(provider.tracer("custom-stack"))
        .layer(layer_fn(move |inner| rate_limit(inner, limiter.clone())))
        .build();

    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    eprintln!(
        "custom-stack listening on http://{}/mcp",
        listener.local_addr()?
    );
    let stop = gateway.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.shutdown();
    });
    #[cfg(unix)]
    {
        let stop = gateway.clone();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            term.recv().await;
            stop.shutdown();
        });
    }
    gateway.serve(listener).await?;
    gateway.wait_stopped(Duration::from_secs(3)).await;
    tokio::task::spawn_blocking(move || provider.shutdown()).await??;
    Ok(())
}

/// HTTP-plane layer: answers 401 unless the request carries `key`.
fn require_api_key(inner: HttpService, key: &str) -> HttpService {
    HttpService::new(RequireApiKey {
        inner,
        key: key.into(),
    })
}

#[derive(Clone)]
struct RequireApiKey {
    inner: HttpService,
    key: Arc<str>,
}

impl tower::Service<HttpRequest> for RequireApiKey {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let h = req.headers();
        let sent = h
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                h.get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
            });
        if sent.is_some_and(|s| same(s.as_bytes(), self.key.as_bytes())) {
            return Box::pin(self.inner.clone().oneshot(req));
        }
        let mut r = plain(
            StatusCode::UNAUTHORIZED,
            "send the API key in X-API-Key or Authorization: Bearer",
        );
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
        Box::pin(std::future::ready(Ok(r)))
    }
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// MCP-plane layer: `tools/call` beyond the quota gets -31002 with a retry hint.
fn rate_limit(inner: McpService, limiter: Arc<DefaultDirectRateLimiter>) -> McpService {
    McpService::new(service_fn(move |req: McpRequest| {
        let inner = inner.clone();
        let verdict = if *req.method() == Method::ToolsCall {
            limiter.check()
        } else {
            Ok(())
        };
        async move {
            if let Err(not_until) = verdict {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                return Err(McpError::new(ErrorKind::RateLimited, "rate limit exceeded")
                    .with_data(serde_json::json!({
                        "source": "gateway",
                        "retryable": true,
                        "retryAfterSeconds": wait.as_secs_f64().ceil(),
                    })));
            }
            inner.oneshot(req).await
        }
    }))
}
