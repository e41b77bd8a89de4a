//! The `bridge` binary as a real process.
//!
//! - `bridge serve [--listen ADDR] -- COMMAND [ARGS…]` runs one stdio MCP server and serves it,
//!   tool names unchanged, over Streamable HTTP at `/mcp` and legacy SSE at `/sse`; once bound
//!   it prints `bridge listening on http://127.0.0.1:PORT/mcp` on stderr ([`BridgeServe`]).
//! - `bridge connect URL [--transport sse|http] [--header "Name: value"]…` serves a remote MCP
//!   server on its own stdin/stdout; header values expand `${VAR}` from its environment
//!   ([`connect_args`] for a stdio client to launch, [`BridgeConnect`] to drive it raw).

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;

use anyhow::Context;

use crate::STARTUP_TIMEOUT;
use crate::net::socket_addr_of;
use crate::paths;
use crate::process::ChildProcess;

/// What `bridge serve` prints once it is bound.
pub const LISTENING: &str = "bridge listening on ";

/// A running `bridge serve`.
#[derive(Debug)]
pub struct BridgeServe {
    process: ChildProcess,
    url: String,
    addr: SocketAddr,
}

impl BridgeServe {
    /// Runs `bridge serve --listen 127.0.0.1:0 -- COMMAND…` and waits until it listens.
    pub async fn start<I, S>(command: I) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let bin = paths::bridge()?;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--"])
            .args(command);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info,toolgate=debug");
        }
        let mut process = ChildProcess::spawn("bridge serve", cmd)?;
        let url = process
            .wait_for_listening(LISTENING, STARTUP_TIMEOUT)
            .await?;
        let addr = socket_addr_of(&url)?;
        Ok(Self { process, url, addr })
    }

    /// `bridge serve -- demo-server --transport stdio --name NAME`.
    pub async fn demo(name: &str) -> anyhow::Result<Self> {
        let demo = paths::demo_server()?;
        let args: [&OsStr; 5] = [
            demo.as_os_str(),
            "--transport".as_ref(),
            "stdio".as_ref(),
            "--name".as_ref(),
            name.as_ref(),
        ];
        Self::start(args).await
    }

    /// The Streamable HTTP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The legacy SSE endpoint, `http://127.0.0.1:PORT/sse`.
    pub fn sse_url(&self) -> String {
        format!("http://{}/sse", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it has logged so far.
    pub fn output(&self) -> String {
        self.process.output()
    }
}

/// `[BRIDGE, "connect", URL, EXTRA…]`: the command line a stdio client launches.
pub fn connect_args<I, S>(url: &str, extra: I) -> anyhow::Result<Vec<OsString>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut args = vec![
        paths::bridge()?.into_os_string(),
        "connect".into(),
        url.into(),
    ];
    args.extend(extra.into_iter().map(|a| a.as_ref().to_os_string()));
    Ok(args)
}

/// A `bridge connect` driven directly: stdin is a pipe the test writes JSON-RPC lines into.
#[derive(Debug)]
pub struct BridgeConnect {
    process: ChildProcess,
}

impl BridgeConnect {
    /// Runs `bridge connect URL EXTRA…` with `envs` added to its environment.
    pub fn start<I, S>(url: &str, extra: I, envs: &[(&str, &str)]) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let bin = paths::bridge()?;
        let mut cmd = Command::new(bin);
        cmd.arg("connect").arg(url).args(extra);
        cmd.envs(envs.iter().copied());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info,toolgate=debug");
        }
        let process = ChildProcess::spawn_with_stdin("bridge connect", cmd)?;
        Ok(Self { process })
    }

    /// Writes one JSON-RPC message as a line on its stdin.
    pub fn send(&mut self, message: &serde_json::Value) -> anyhow::Result<()> {
        let stdin = self
            .process
            .stdin()
            .context("bridge connect: stdin already closed")?;
        writeln!(stdin, "{message}").context("writing to bridge connect's stdin")?;
        stdin.flush().context("flushing bridge connect's stdin")
    }

    /// What it wrote so far (stdout lines prefixed with `[stdout] `).
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// The process, for waits and its exit status.
    pub fn process(&mut self) -> &mut ChildProcess {
        &mut self.process
    }
}
