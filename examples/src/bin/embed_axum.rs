//! `embed-axum`: an axum app that keeps its own routes and mounts toolgate beside them.
//!
//! ```text
//! embed-axum [--listen 127.0.0.1:4000]
//! GET /hello         the app's own route
//! /mcp               toolgate's MCP endpoint (Streamable HTTP), demo-server behind it
//! GET /metrics       toolgate's Prometheus metrics
//! /gw/…              the whole gateway again, nested: /gw/mcp, /gw/sse, /gw/metrics …
//! ```
//!
//! The same two toolgate policy layers as `embed-hyper` (metrics and OpenTelemetry spans) run on
//! the mounted endpoint. toolgate's router is a tower service over any request body, so it is
//! mounted as it is: bodies stream through both ways, nothing is buffered by the app.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::routing::get;
use clap::Parser;
use opentelemetry::trace::TracerProvider as _;
use toolgate::gateway::GatewayBuilder;
use toolgate::upstream::StdioSpec;
use toolgate_telemetry::{Metrics, Tracing, TracingConfig, otlp};

#[derive(Parser, Debug)]
#[command(
    name = "embed-axum",
    about = "An axum app with toolgate mounted at /mcp"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
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
    let metrics = Metrics::new()?;
    let gateway = GatewayBuilder::new()
        .stdio(
            "demo",
            StdioSpec {
                command: demo.to_string_lossy().into_owned(),
                args: vec!["--transport".into(), "stdio".into()],
                ..Default::default()
            },
        )
        .with(metrics.served_at("/metrics"))
        .with(Tracing::new(provider.tracer("embed-axum")))
        .build();

    let router = gateway.router();
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello from the axum app\n" }))
        .route_service("/mcp", router.clone())
        .route_service("/mcp/", router.clone())
        .route_service("/metrics", router.clone())
        // Routes are relative to where the gateway is mounted.
        .nest_service("/gw", router);

    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    eprintln!("embed-axum listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    gateway.shutdown();
    tokio::task::spawn_blocking(move || provider.shutdown()).await??;
    Ok(())
}
