//! `toolgate`: the config-driven MCP gateway.
//!
//! ```text
//! toolgate                          # built-in default: the demo server behind 127.0.0.1:4000/mcp
//! toolgate --config gateway.yaml    # LiteLLM `mcp_servers:` or Claude Desktop `mcpServers:` form
//! toolgate --stdio --config F       # serve MCP on stdin/stdout instead of HTTP
//! toolgate check --config F         # validate a config file and exit
//! toolgate schema                   # print the config file's JSON Schema
//! toolgate tools [--json]           # start the upstreams, print the merged tool catalog
//! toolgate call TOOL '{"a": 1}'     # start the upstreams, call one tool, print its result
//! toolgate status URL [--json]      # a running gateway's upstreams and sessions
//! ```
//!
//! A running gateway also serves its admin page at `/admin` (see `docs/admin.md`).
//!
//! With `--config`, the file is watched (checked every second) and re-read on SIGHUP: a valid
//! new config replaces the layers and limits while sessions stay open; a bad one is logged and
//! the running config kept. See `docs/reload.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

mod ops;
use clap::{Parser, Subcommand, ValueEnum};
use toolgate::config::Config;
use toolgate::gateway::{Gateway, GatewayBuilder};
use toolgate::registry::Registry;
use toolgate_admin::ConfigControl;
use toolgate_telemetry::{MetricsFactory, TracingFactory};

/// Every layer a config file can name with `use:`, and the native-plugin loader for `dylib:`.
/// Built once per process: factories keep state across reloads (the OTLP exporter, counters).
fn registry(spans: &TracingFactory, control: &ConfigControl) -> Registry {
    Registry::new()
        .with(toolgate_auth::AuthFactory)
        .with(toolgate_auth::AuthorizeFactory)
        .with(toolgate_ratelimit::RateLimitFactory)
        .with(toolgate_ratelimit::ConcurrencyLimitFactory)
        .with(toolgate_timeout::TimeoutFactory)
        .with(toolgate_resilience::CircuitBreakerFactory)
        .with(toolgate_resilience::RetryFactory)
        .with(toolgate_resilience::HedgeFactory)
        .with(toolgate_cache::CacheFactory)
        .with(toolgate_toolsearch::ToolSearchFactory)
        .with(toolgate_traffic::MirrorFactory)
        .with(toolgate_traffic::CanaryFactory)
        .with(toolgate_toolsets::ToolsetsFactory)
        .with(toolgate_admin::AdminFactory::new().config_control(control.clone()))
        .with(toolgate_filter::ToolFilterFactory)
        .with(toolgate_logging::LoggingFactory)
        .with(spans.clone())
        .with(MetricsFactory::new())
        .with_dylib_loader(toolgate::plugin_host::PluginHost::new())
}

/// Everything a config file turns into: upstreams and `server:` settings, the `layers:` stack,
/// REST tool routes, and chat completions for `model_list`. Used at start-up, by `check`, and
/// on every reload, so the three can never disagree.
fn assemble(
    config: &Config,
    registry: &Registry,
    max_tool_rounds: usize,
    control: &ConfigControl,
) -> anyhow::Result<GatewayBuilder> {
    toolgate_openai::check_models(&config.model_list)?;
    let builder = registry.builder(config)?;
    let openai = toolgate_openai::OpenAiOptions::default()
        .max_tool_rounds(max_tool_rounds)
        .max_body_bytes(config.server.max_body_bytes);
    let builder = builder.with(toolgate_openai::OpenAi::new(&config.model_list, openai));
    // The admin page is always there, for loopback callers at least; `use: admin` in the
    // config names the authenticated callers who may see it too.
    let configured = config.layers.iter().any(
        |l| matches!(&l.source, toolgate::config::LayerSource::Builtin(name) if name == "admin"),
    );
    Ok(if configured {
        builder
    } else {
        builder.with(toolgate_admin::Admin::new().config_control(control.clone()))
    })
}

/// Refuses to serve HTTP on a non-loopback address without authentication, unless the config
/// says `server.allow_unauthenticated: true`. Runs before anything is bound.
fn check_exposure(config: &Config, listen: SocketAddr) -> anyhow::Result<()> {
    use toolgate::config::LayerSource;
    let authenticated = config.layers.iter().any(
        |l| matches!(&l.source, LayerSource::Builtin(name) if name == toolgate_auth::factory::AUTH),
    );
    if listen.ip().is_loopback() || authenticated || config.server.allow_unauthenticated {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {listen} without authentication: anyone who can reach that \
         address could use every upstream server. Add a `- use: auth` entry to `layers:` \
         (see docs/policies/auth.md), listen on a loopback address (127.0.0.1), or set \
         `server.allow_unauthenticated: true` if something in front of toolgate authenticates"
    )
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
    /// Runtime worker threads (default: one per CPU). On a small machine shared with its
    /// upstreams, fewer workers wake each other less (see docs/benchmarks.md).
    #[arg(long, env = "TOOLGATE_WORKERS")]
    workers: Option<std::num::NonZeroUsize>,
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
    /// Start the config's upstreams and print the merged tool catalog (as any client sees it).
    Tools {
        /// Print the tools as JSON (as `tools/list` answers) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Start the config's upstreams and call one tool; prints its result as JSON.
    Call {
        /// The tool's exposed name, e.g. `demo__echo`.
        tool: String,
        /// Its arguments, a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
    },
    /// Show a running gateway's upstreams and sessions (from its admin API).
    Status {
        /// The gateway's address, e.g. `http://127.0.0.1:4000` (or its `/mcp` URL).
        url: String,
        /// Print the admin API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Pretty,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The operator's one-shot commands print their answer; only errors are logged beside it.
    let quiet = matches!(
        cli.command,
        Some(Command::Tools { .. } | Command::Call { .. } | Command::Status { .. })
    );
    init_logging(cli.log_format, if quiet { "error" } else { "info" });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("toolgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
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
            let schema =
                registry(&TracingFactory::new(), &ConfigControl::new(None)).config_schema();
            let text = serde_json::to_string_pretty(&schema)?;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`toolgate schema | head`) is not an error worth a panic.
            let _ = writeln!(out, "{text}");
            return Ok(());
        }
        Some(Command::Check) => {
            let config = load(&cli)?;
            // Resolves and validates every `layers:` entry and model without starting anything.
            assemble(
                &config,
                &registry(&TracingFactory::new(), &ConfigControl::new(None)),
                cli.chat_max_tool_rounds,
                &ConfigControl::new(None),
            )?;
            if !cli.stdio {
                check_exposure(&config, cli.listen.unwrap_or(config.server.listen))?;
            }
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
        Some(Command::Status { ref url, json }) => {
            return runtime(&cli)?.block_on(ops::status(url, json));
        }
        Some(Command::Tools { json }) => {
            let config = load(&cli)?;
            let builder = assemble(
                &config,
                &registry(&TracingFactory::new(), &ConfigControl::new(None)),
                cli.chat_max_tool_rounds,
                &ConfigControl::new(None),
            )?;
            return runtime(&cli)?.block_on(async move {
                let gateway = builder.build();
                let result = ops::tools(gateway.clone(), json).await;
                gateway.shutdown();
                gateway.wait_stopped(Duration::from_secs(3)).await;
                result
            });
        }
        Some(Command::Call {
            ref tool,
            ref arguments,
        }) => {
            let config = load(&cli)?;
            let builder = assemble(
                &config,
                &registry(&TracingFactory::new(), &ConfigControl::new(None)),
                cli.chat_max_tool_rounds,
                &ConfigControl::new(None),
            )?;
            return runtime(&cli)?.block_on(async move {
                let gateway = builder.build();
                let result = ops::call(gateway.clone(), tool, arguments).await;
                gateway.shutdown();
                gateway.wait_stopped(Duration::from_secs(3)).await;
                result
            });
        }
        None => {}
    }
    let config = load(&cli)?;
    runtime(&cli)?.block_on(serve(cli, config))
}

fn runtime(cli: &Cli) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cli.workers {
        runtime.worker_threads(n.get());
    }
    runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn serve(cli: Cli, config: Config) -> anyhow::Result<()> {
    let listen = cli.listen.unwrap_or(config.server.listen);
    if !cli.stdio {
        check_exposure(&config, listen)?;
    }
    let spans = TracingFactory::new();
    // The admin page shows the config file and asks the reload loop for reloads.
    let control = ConfigControl::new(cli.config.clone());
    let registry = registry(&spans, &control);
    let gateway = assemble(&config, &registry, cli.chat_max_tool_rounds, &control)?.build();
    ops::report_upstreams(&gateway);
    let stop = gateway.shutdown_token();
    tokio::spawn(watch_config(
        gateway.clone(),
        cli.config.clone(),
        registry,
        config.clone(),
        cli.chat_max_tool_rounds,
        control,
    ));
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
    // The last spans go out before the runtime stops.
    let _ = tokio::task::spawn_blocking(move || spans.shutdown()).await;
    Ok(())
}

/// Reloads the config file on SIGHUP and when its contents change (checked every second), until
/// the gateway shuts down. A file that does not load, or whose layers do not build, is logged
/// and the running config kept.
async fn watch_config(
    gateway: Gateway,
    path: Option<PathBuf>,
    registry: Registry,
    config: Config,
    max_tool_rounds: usize,
    control: ConfigControl,
) {
    let mut current = config;
    let mut seen = path.as_deref().and_then(fingerprint);
    let mut hangup = hangup_signal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let stop = gateway.shutdown_token();
    loop {
        let why = tokio::select! {
            _ = stop.cancelled() => return,
            _ = hangup.recv() => "SIGHUP",
            _ = control.requested() => "the admin page",
            _ = tick.tick() => {
                let Some(p) = path.as_deref() else { continue };
                let now = fingerprint(p);
                // A missing file (mid-rename by an editor) is not a change to act on.
                if now.is_none() || now == seen {
                    continue;
                }
                seen = now;
                "the config file changed"
            }
        };
        let Some(p) = path.as_deref() else {
            tracing::warn!("{why}: no --config file to reload");
            continue;
        };
        let loaded = Config::from_path(p)
            .map_err(anyhow::Error::from)
            .and_then(|c| Ok((assemble(&c, &registry, max_tool_rounds, &control)?, c)));
        seen = fingerprint(p).or(seen);
        match loaded {
            Err(e) => {
                tracing::error!(
                    "config reload rejected ({why}): {e:#}; the running configuration stays"
                );
                control.record(
                    false,
                    format!("rejected ({why}): {e:#}; the running configuration stays"),
                );
            }
            Ok((builder, config)) => {
                let reloaded = gateway.reload(builder);
                let mut restart = reloaded.needs_restart;
                if config.server.listen != current.server.listen {
                    restart.push("server.listen changed".into());
                }
                for what in &restart {
                    tracing::warn!(
                        "{what}: upstream and listener changes need a restart; running as before"
                    );
                }
                tracing::info!("config reloaded ({why}): {} layer(s)", config.layers.len());
                let mut message = format!("reloaded ({why}): {} layer(s)", config.layers.len());
                for what in &restart {
                    message.push_str(&format!("; {what}: needs a restart"));
                }
                control.record(true, message);
                current = config;
            }
        }
    }
}

/// The file's contents, hashed; `None` when it cannot be read.
fn fingerprint(path: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// SIGHUP as a stream; never fires where there is no such signal.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.signal.as_mut()
            && s.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await
    }
}

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        Hangup {
            signal: signal(SignalKind::hangup()).ok(),
        }
    }
    #[cfg(not(unix))]
    Hangup {}
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
