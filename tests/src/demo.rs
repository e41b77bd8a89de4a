//! The workspace's demo MCP server as a real process (Streamable HTTP mode).
//!
//! On stdio it is started by the gateway itself (see [`crate::Upstream::demo`]); here it runs
//! on its own socket, for tests of remote upstreams and of the demo server itself.

use std::process::Command;

use crate::STARTUP_TIMEOUT;
use crate::paths;
use crate::process::ChildProcess;

/// What demo-server prints once it is bound.
pub const LISTENING: &str = "demo-server listening on ";

/// A demo-server serving Streamable HTTP.
#[derive(Debug)]
pub struct DemoServer {
    process: ChildProcess,
    url: String,
}

impl DemoServer {
    /// Runs `demo-server --transport http --listen 127.0.0.1:0 --name NAME` and waits until
    /// it listens.
    pub async fn start_http(name: &str) -> anyhow::Result<Self> {
        Self::start_http_with(name, &[]).await
    }

    /// [`start_http`](Self::start_http) with more arguments (`--stateless`, …).
    pub async fn start_http_with(name: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let bin = paths::demo_server()?;
        let mut command = Command::new(bin);
        command.args([
            "--transport",
            "http",
            "--listen",
            "127.0.0.1:0",
            "--name",
            name,
        ]);
        command.args(extra);
        let mut process = ChildProcess::spawn(format!("demo-server {name}"), command)?;
        let url = process
            .wait_for_listening(LISTENING, STARTUP_TIMEOUT)
            .await?;
        Ok(Self { process, url })
    }

    /// Its MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What it has logged so far.
    pub fn output(&self) -> String {
        self.process.output()
    }
}
