//! `embed-axum`: an axum app that keeps its own routes and mounts toolgate beside them.
//!
//! ```text
//! embed-axum [--listen 127.0.0.1:4000]
//! GET /hello         the app's own route
//! /mcp               toolgate's MCP endpoint (Streamable HTTP), demo-server behind it
//! GET /metrics       toolgate's Prometheus metrics
//! ```
//!
//! The same two toolgate policy layers as `embed-hyper` (metrics and OpenTelemetry spans) run on
//! the mounted endpoint. toolgate's router takes any body that is `Sync`; axum's is not, so the
//! handler buffers the (bounded) request body first.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use clap::Parser;
use http::StatusCode;
use http_body_util::Full;
use opentelemetry::trace::TracerProvider as _;
use toolgate::gateway::{GatewayBuilder, Router};
use toolgate::upstream::StdioSpec;
use toolgate_telemetry::{Metrics, TelemetryGatewayExt, TracingConfig, otlp};
use tower::ServiceExt;

/// Largest MCP request body the app buffers (toolgate's own limit is 4 MiB).
const MAX_BODY: usize = 4 * 1024 * 1024;

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
        .mcp_metrics(&metrics, "/metrics")
        .mcp_tracing(provider.tracer("embed-axum"))
        .build();

    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello from the axum app\n" }))
        .route("/mcp", any(mcp))
        .route("/mcp/", any(mcp))
        .route("/metrics", get(mcp))
        .with_state(gateway.router());

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

/// Hands the request to toolgate's router.
async fn mcp(State(router): State<Router>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
        }
    };
    match router
        .oneshot(Request::from_parts(parts, Full::new(bytes)))
        .await
    {
        Ok(resp) => resp.map(Body::new),
        Err(never) => match never {},
    }
}
