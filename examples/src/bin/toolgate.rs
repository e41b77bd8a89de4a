//! `toolgate`: the config-driven MCP gateway.
//!
//! ```text
//! toolgate                          # built-in default: the demo server behind 127.0.0.1:4000/mcp
//! toolgate --config gateway.yaml    # LiteLLM `mcp_servers:` or Claude Desktop `mcpServers:` form
//! toolgate --stdio --config F       # serve MCP on stdin/stdout instead of HTTP
//! toolgate check --config F         # validate a config file and exit
//! toolgate schema                   # print the config file's JSON Schema
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use toolgate::config::Config;
use toolgate::gateway::GatewayBuilder;
use toolgate::registry::Registry;

/// Every layer a config file can name with `use:`, and the native-plugin loader for `dylib:`.
fn registry() -> Registry {
    Registry::new()
}

#[derive(Parser, Debug)]
#[command(
    name = "toolgate",
    version,
    about = "A gateway for the Model Context Protocol"
)]
struct Cli {
    /// Config file (YAML or JSON). Without it, a built-in default runs the demo server.
    #[arg(long, short, global = true, env = "TOOLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `server.listen`; default 127.0.0.1:4000).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Serve MCP on stdin/stdout instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    /// Most rounds of MCP tool calls the gateway runs for one chat-completions request.
    #[arg(long, env = "TOOLGATE_CHAT_MAX_TOOL_ROUNDS", default_value_t = toolgate_openai::DEFAULT_MAX_TOOL_ROUNDS)]
    chat_max_tool_rounds: usize,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a config file without starting anything.
    Check,
    /// Print the JSON Schema of the config file.
    Schema,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Pretty,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("toolgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    match &cli.config {
        Some(path) => Ok(Config::from_path(path)?),
        None => {
            let exe = std::env::current_exe().context("cannot locate the toolgate executable")?;
            let demo = exe.with_file_name(format!("demo-server{}", std::env::consts::EXE_SUFFIX));
            if !demo.exists() {
                anyhow::bail!(
                    "no --config given and the built-in default needs demo-server next to toolgate ({}); build it with `cargo build -p toolgate-examples`",
                    demo.display()
                );
            }
            Ok(Config::default_demo(&demo))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Schema) => {
            use std::io::Write as _;
            let text = serde_json::to_string_pretty(&Config::json_schema())?;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`toolgate schema | head`) is not an error worth a panic.
            let _ = writeln!(out, "{text}");
            return Ok(());
        }
        Some(Command::Check) => {
            let config = load(&cli)?;
            // Resolves and validates every `layers:` entry without starting anything.
            GatewayBuilder::from_config_with(&config, &registry())?;
            toolgate_openai::check_models(&config.model_list)?;
            eprintln!(
                "config ok: {} upstream server(s): {}",
                config.servers.len(),
                config
                    .servers
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Ok(());
        }
        None => {}
    }
    let config = load(&cli)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(cli, config))
}

async fn serve(cli: Cli, config: Config) -> anyhow::Result<()> {
    let listen = cli.listen.unwrap_or(config.server.listen);
    toolgate_openai::check_models(&config.model_list)?;
    let builder = GatewayBuilder::from_config_with(&config, &registry())?;
    // REST tool routes, chat completions for `model_list`, the model list.
    let openai = toolgate_openai::OpenAiOptions::default()
        .max_tool_rounds(cli.chat_max_tool_rounds)
        .max_body_bytes(config.server.max_body_bytes);
    let gateway = toolgate_openai::install(builder, &config.model_list, openai).build();
    let stop = gateway.shutdown_token();
    tokio::spawn({
        let gateway = gateway.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            gateway.shutdown();
        }
    });
    if cli.stdio {
        gateway.serve_stdio().await?;
        gateway.shutdown();
    } else {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "toolgate listening on http://{addr}{}",
            config.server.mcp_path
        );
        gateway.serve(listener).await?;
    }
    stop.cancel();
    gateway.wait_stopped(Duration::from_secs(3)).await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
