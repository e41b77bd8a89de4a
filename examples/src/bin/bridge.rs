//! `bridge`: one MCP server, another transport.
//!
//! ```text
//! bridge serve [--listen 127.0.0.1:8000] -- COMMAND [ARGS...]
//!     run a stdio MCP server and expose it over Streamable HTTP (/mcp) and legacy SSE (/sse)
//!     — what supergateway and the Python mcp-proxy do
//! bridge connect URL [--transport sse|http] [--header "Authorization: Bearer ${TOKEN}"]...
//!     connect to a remote MCP server and serve it on stdin/stdout — what mcp-remote does
//! ```
//!
//! It is the gateway with one upstream and names left unchanged: the same upstreams,
//! dispatcher and transports, assembled in a dozen lines.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use toolgate::gateway::{GatewayBuilder, UpstreamSpec};
use toolgate::upstream::{HttpSpec, StdioSpec};

#[derive(Parser, Debug)]
#[command(
    name = "bridge",
    version,
    about = "Expose one MCP server over another transport"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a stdio MCP server and serve it over Streamable HTTP and legacy SSE.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: SocketAddr,
        /// The server's command and arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Connect to a remote MCP server and serve it on stdin/stdout.
    Connect {
        /// The server's URL (`…/sse` means legacy SSE).
        url: String,
        /// Force a transport instead of inferring it from the URL.
        #[arg(long, value_enum)]
        transport: Option<Transport>,
        /// A header for every request, `Name: value`; `${VAR}` expands from the environment.
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Transport {
    Sse,
    Http,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(Cli::parse().command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen, command } => {
            let (program, args) = command.split_first().context("no command given after --")?;
            let spec = StdioSpec {
                command: program.clone(),
                args: args.to_vec(),
                ..Default::default()
            };
            let gateway = GatewayBuilder::new()
                .unprefixed()
                .stdio("server", spec)
                .build();
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!("bridge listening on http://{}/mcp", listener.local_addr()?);
            let stop = gateway.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stop.shutdown();
            });
            gateway.serve(listener).await?;
            gateway.shutdown();
            Ok(())
        }
        Command::Connect {
            url,
            transport,
            headers,
        } => {
            let headers = headers
                .iter()
                .map(|h| {
                    let (name, value) = h
                        .split_once(':')
                        .with_context(|| format!("header '{h}' is not `Name: value`"))?;
                    let value = toolgate::config::expand_env(value.trim())
                        .with_context(|| format!("header '{}'", name.trim()))?;
                    Ok((name.trim().to_string(), value))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let spec = headers
                .into_iter()
                .fold(HttpSpec::new(url), |spec, (k, v)| spec.header(k, v));
            toolgate::upstream::check_spec(&spec).map_err(anyhow::Error::msg)?;
            let sse = match transport {
                Some(Transport::Sse) => true,
                Some(Transport::Http) => false,
                None => spec.url.trim_end_matches('/').ends_with("/sse"),
            };
            let spec = if sse {
                UpstreamSpec::Sse(spec)
            } else {
                UpstreamSpec::StreamableHttp(spec)
            };
            let gateway = GatewayBuilder::new()
                .unprefixed()
                .upstream("remote", spec, Default::default())
                .build();
            gateway.serve_stdio().await?;
            gateway.shutdown();
            Ok(())
        }
    }
}
