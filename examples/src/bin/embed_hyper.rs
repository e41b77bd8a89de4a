//! `embed-hyper`: an existing hyper app that keeps its own routes and mounts toolgate beside
//! them.
//!
//! ```text
//! embed-hyper [--listen 127.0.0.1:4000]
//! GET /hello         the app's own route
//! /mcp               toolgate's MCP endpoint (Streamable HTTP), demo-server behind it
//! GET /metrics       toolgate's Prometheus metrics
//! ```
//!
//! Two toolgate policy layers run on the mounted MCP endpoint: metrics and OpenTelemetry spans
//! (exported as the standard `OTEL_*` variables say). Everything else stays the app's business.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use opentelemetry::trace::TracerProvider as _;
use toolgate::gateway::{GatewayBuilder, Router};
use toolgate::upstream::StdioSpec;
use toolgate_telemetry::{Metrics, Tracing, TracingConfig, otlp};
use tower::ServiceExt;

#[derive(Parser, Debug)]
#[command(
    name = "embed-hyper",
    about = "A hyper app with toolgate mounted at /mcp"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
}

type AppBody = BoxBody<Bytes, toolgate::server::BoxError>;

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
        .with(Tracing::new(provider.tracer("embed-hyper")))
        .build();
    let mcp = gateway.router();

    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    eprintln!("embed-hyper listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => break,
        };
        let mcp = mcp.clone();
        let app = hyper::service::service_fn(move |req| app(req, mcp.clone()));
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), app)
                .await;
        });
    }
    gateway.shutdown();
    tokio::task::spawn_blocking(move || provider.shutdown()).await??;
    Ok(())
}

/// The app's router: its own routes, and toolgate's for the MCP endpoint and metrics.
async fn app(req: Request<Incoming>, mcp: Router) -> Result<Response<AppBody>, Infallible> {
    let path = req.uri().path();
    if path == "/hello" {
        return Ok(text(StatusCode::OK, "hello from the hyper app\n"));
    }
    if path == "/mcp" || path == "/mcp/" || path == "/metrics" {
        let resp = mcp.oneshot(req).await?;
        return Ok(resp.map(|b| b.map_err(Into::into).boxed()));
    }
    Ok(text(StatusCode::NOT_FOUND, "the app has no such page\n"))
}

fn text(status: StatusCode, body: &'static str) -> Response<AppBody> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}
