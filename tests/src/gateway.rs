//! The toolgate gateway as a real process on a real socket.
//!
//! [`Gateway::start`] writes the config to a scratch file, runs
//! `toolgate --config FILE --listen 127.0.0.1:0`, and waits for
//! `toolgate listening on http://127.0.0.1:PORT/mcp` on stderr. The process is stopped and
//! reaped on drop, and its captured output printed (the test runner shows it on failure).

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::STARTUP_TIMEOUT;
use crate::config::{GatewayConfig, Upstream};
use crate::http::McpSession;
use crate::net::socket_addr_of;
use crate::paths;
use crate::process::{ChildProcess, CommandOutput, run_command};
use crate::scratch::ScratchDir;

/// What toolgate prints once it is bound.
pub const LISTENING: &str = "toolgate listening on ";

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    process: ChildProcess,
    url: String,
    addr: SocketAddr,
    config: Option<PathBuf>,
    scratch: ScratchDir,
}

impl Gateway {
    /// Starts a gateway with `config_yaml` as its config file.
    pub async fn start(config_yaml: &str) -> anyhow::Result<Self> {
        Self::start_with(Some(config_yaml), &[]).await
    }

    /// Starts a gateway with `config`.
    pub async fn start_config(config: &GatewayConfig) -> anyhow::Result<Self> {
        Self::start(&config.to_yaml()).await
    }

    /// Starts a gateway without `--config` (its built-in default: demo-server as `demo`).
    pub async fn start_default() -> anyhow::Result<Self> {
        Self::start_with(None, &[]).await
    }

    /// Starts a gateway with an optional config and extra command-line arguments.
    pub async fn start_with(
        config_yaml: Option<&str>,
        extra_args: &[&str],
    ) -> anyhow::Result<Self> {
        let bin = paths::toolgate()?;
        let scratch = ScratchDir::new("gateway")?;
        let mut command = Command::new(&bin);
        let config = match config_yaml {
            Some(yaml) => {
                let file = scratch.write("toolgate.yaml", yaml)?;
                command.arg("--config").arg(&file);
                Some(file)
            }
            None => None,
        };
        command.args(extra_args);
        let what = match config_yaml {
            Some(yaml) => format!("starting toolgate with this config:\n{yaml}"),
            None => "starting toolgate with its default config".to_owned(),
        };
        Self::spawn(command, config, scratch, &what).await
    }

    /// Starts a gateway with an existing config file (a committed example, say), with `env`
    /// added to its environment. It runs in a scratch directory: relative paths in the file
    /// that matter should come from `env`.
    pub async fn start_file(config: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let bin = paths::toolgate()?;
        let scratch = ScratchDir::new("gateway")?;
        let mut command = Command::new(&bin);
        command
            .arg("--config")
            .arg(config)
            .envs(env.iter().copied());
        let what = format!("starting toolgate with {}", config.display());
        Self::spawn(command, Some(config.to_owned()), scratch, &what).await
    }

    /// Starts a gateway with `config`, with `env` added to its environment.
    pub async fn start_config_env(
        config: &GatewayConfig,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let bin = paths::toolgate()?;
        let scratch = ScratchDir::new("gateway")?;
        let yaml = config.to_yaml();
        let file = scratch.write("toolgate.yaml", &yaml)?;
        let mut command = Command::new(&bin);
        command.arg("--config").arg(&file).envs(env.iter().copied());
        let what = format!("starting toolgate with {env:?} and this config:\n{yaml}");
        Self::spawn(command, Some(file), scratch, &what).await
    }

    /// Runs `command` (toolgate with its config arguments) on 127.0.0.1:0 in `scratch`, and
    /// waits until it listens.
    async fn spawn(
        mut command: Command,
        config: Option<PathBuf>,
        scratch: ScratchDir,
        what: &str,
    ) -> anyhow::Result<Self> {
        command
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(scratch.path());
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info,toolgate=debug");
        }
        let mut process = ChildProcess::spawn("toolgate", command)?;
        let url = process
            .wait_for_listening(LISTENING, STARTUP_TIMEOUT)
            .await
            .with_context(|| what.to_owned())?;
        let addr = socket_addr_of(&url)?;
        Ok(Self {
            process,
            url,
            addr,
            config,
            scratch,
        })
    }

    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The config file it was started with.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// A scratch directory that lives as long as the gateway.
    pub fn scratch(&self) -> &ScratchDir {
        &self.scratch
    }

    /// What it has logged so far.
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Kills it at once (SIGKILL, as a crashed node): no goodbye to clients or upstreams. Its
    /// stdio upstreams see their stdin close and exit.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Sends SIGTERM (what Ctrl-C or a service manager does), waits for the exit, and returns
    /// its status (`None` if it had to be killed).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.process.stop();
        self.process.exit_status()
    }

    /// Its exit status, if it has exited (it should not have, while the test runs).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process.exit_status()
    }

    /// `/readyz` as JSON (whatever its status code).
    pub async fn readyz(&self) -> anyhow::Result<serde_json::Value> {
        let url = format!("http://{}/readyz", self.addr);
        crate::http::send(http::Method::GET, &url, None, &[], bytes::Bytes::new())
            .await?
            .json()
    }

    /// Waits until `/readyz` shows upstream `name` with `status` (`ready`, `down`,
    /// `starting`) and returns its entry.
    pub async fn wait_upstream(
        &self,
        name: &str,
        status: &str,
        limit: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let mut last = serde_json::Value::Null;
        let found = crate::within(limit, &format!("upstream '{name}' to be {status}"), async {
            loop {
                last = self.readyz().await?;
                if let Some(entry) = last["upstreams"]
                    .as_array()
                    .and_then(|u| u.iter().find(|u| u["name"] == name))
                    && entry["status"] == status
                {
                    return anyhow::Ok(entry.clone());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        match found {
            Ok(entry) => entry,
            Err(e) => Err(e.context(format!(
                "last /readyz: {last}\ngateway output:\n{}",
                self.output()
            ))),
        }
    }

    /// A new initialized MCP session with it.
    pub async fn session(&self) -> anyhow::Result<McpSession> {
        McpSession::connect(&self.url)
            .await
            .with_context(|| format!("gateway output so far:\n{}", self.output()))
    }
}

/// How long upstreams may take to show up in `tools/list` after the gateway starts.
pub const UPSTREAM_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A gateway with `config` and a session on which every tool in `tools` is listed.
pub async fn gateway_with_tools(
    config: &GatewayConfig,
    tools: &[&str],
) -> anyhow::Result<(Gateway, McpSession)> {
    let gateway = Gateway::start_config(config).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(tools, UPSTREAM_READY_TIMEOUT)
        .await
        .with_context(|| format!("gateway output so far:\n{}", gateway.output()))?;
    Ok((gateway, session))
}

/// A gateway with one upstream, demo-server on stdio named `demo`, serving `demo__echo`.
pub async fn demo_gateway() -> anyhow::Result<(Gateway, McpSession)> {
    demo_gateway_with(GatewayConfig::new()).await
}

/// Like [`demo_gateway`], on top of `config` (its other settings and upstreams).
pub async fn demo_gateway_with(config: GatewayConfig) -> anyhow::Result<(Gateway, McpSession)> {
    let config = config.server("demo", Upstream::demo("demo")?);
    gateway_with_tools(&config, &["demo__echo"]).await
}

/// Runs `toolgate ARGS…` to completion (for `check`, `schema`), bounded by 30 s.
pub async fn run_toolgate<I, S>(args: I) -> anyhow::Result<CommandOutput>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let bin = paths::toolgate()?;
    run_command("toolgate", bin, args, &[], Duration::from_secs(30)).await
}
