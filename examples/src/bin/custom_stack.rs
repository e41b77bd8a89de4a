//! `custom-stack`: an MCP proxy composed in Rust, with no config file.
//!
//! ```text
//! custom-stack --api-key s3cret [--listen 127.0.0.1:4000] [--calls-per-minute 60]
//! ```
//!
//! One upstream, `demo-server` (next to this binary) on stdio, behind three policies, the same
//! crates a config file's `layers:` uses:
//!
//! 1. an API key on the HTTP plane (`toolgate-auth`; `X-API-Key: KEY` or
//!    `Authorization: Bearer KEY`): anything else gets 401 before MCP sees the request;
//! 2. a rate limit on the MCP plane (`toolgate-ratelimit`): at most N requests a minute for the
//!    demo server (`tools/call`, `prompts/get`, …); more get JSON-RPC -31002 with
//!    `retry_after_ms` in `data`;
//! 3. OpenTelemetry spans per request and per upstream call (`toolgate-telemetry`), exported
//!    over OTLP as the standard `OTEL_*` variables say.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use opentelemetry::trace::TracerProvider as _;
use toolgate::prelude::*;
use toolgate_auth::authn::{ApiKeys, Auth};
use toolgate_ratelimit::{Dimension, Rate, RateLimitLayer, RateRule};
use toolgate_telemetry::{Tracing, TracingConfig, otlp};

#[derive(Parser, Debug)]
#[command(name = "custom-stack", about = "An MCP proxy composed in Rust")]
struct Cli {
    /// The API key clients must send.
    #[arg(long, env = "CUSTOM_STACK_API_KEY")]
    api_key: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
    /// Most requests for the demo server per minute, per key.
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
    // The key's name is the caller's identity: what the limit is kept per, and what spans and
    // logs show.
    let auth = Auth::new().api_keys(ApiKeys::new().key("client", &cli.api_key));
    let rate = Rate::per_minute(cli.calls_per_minute.get())?;
    let limit = RateLimitLayer::new([RateRule::new(rate).per(Dimension::Identity).server("demo")])?;

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
        .with(auth)
        // MCP plane, outermost first: spans (and a client span in the upstream's stack), then
        // the limit (a rejected call is traced too), which reads each request's server from
        // its route.
        .with(Tracing::new(provider.tracer("custom-stack")))
        .layer(limit)
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
