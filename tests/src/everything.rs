//! `@modelcontextprotocol/server-everything`, the reference MCP server, as a third-party peer.
//!
//! Runs on node with the loopback preload (so `listen(PORT)` binds 127.0.0.1 only) and
//! `PORT=<free port>`; ready once the port accepts connections. On stdio it is started by the
//! gateway instead (see [`crate::Upstream::everything`]).

use std::net::SocketAddr;
use std::process::Command;

use anyhow::bail;
use tokio::time::Instant;

use crate::STARTUP_TIMEOUT;
use crate::net::free_port;
use crate::paths;
use crate::process::ChildProcess;

/// Which HTTP transport server-everything serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EverythingTransport {
    /// Streamable HTTP at `/mcp`.
    StreamableHttp,
    /// Legacy HTTP+SSE: `GET /sse`, `POST /message`.
    Sse,
}

impl EverythingTransport {
    fn arg(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamableHttp",
            Self::Sse => "sse",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::StreamableHttp => "/mcp",
            Self::Sse => "/sse",
        }
    }
}

/// A running server-everything.
#[derive(Debug)]
pub struct ServerEverything {
    process: ChildProcess,
    port: u16,
    transport: EverythingTransport,
}

impl ServerEverything {
    /// Serving Streamable HTTP at `http://127.0.0.1:PORT/mcp`.
    pub async fn start_streamable_http() -> anyhow::Result<Self> {
        Self::start(EverythingTransport::StreamableHttp).await
    }

    /// Serving legacy HTTP+SSE at `http://127.0.0.1:PORT/sse`.
    pub async fn start_sse() -> anyhow::Result<Self> {
        Self::start(EverythingTransport::Sse).await
    }

    /// Starts it on a free port; retries with another port if it dies before listening
    /// (someone else may have taken the port in between).
    pub async fn start(transport: EverythingTransport) -> anyhow::Result<Self> {
        let mut last_error = None;
        for _attempt in 0..3 {
            let port = free_port()?;
            match Self::spawn(transport, port).await? {
                Ok(this) => return Ok(this),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("server-everything did not start")))
    }

    /// Starts it on `port` (to bring a server back where its clients expect it).
    pub async fn start_on_port(transport: EverythingTransport, port: u16) -> anyhow::Result<Self> {
        Self::spawn(transport, port).await?
    }

    /// `Ok(Err(_))`: it exited before listening (the port may be taken); `Err(_)`: any other
    /// failure.
    async fn spawn(
        transport: EverythingTransport,
        port: u16,
    ) -> anyhow::Result<anyhow::Result<Self>> {
        let entry = paths::server_everything_entry()?;
        let preload = paths::loopback_preload()?;
        let mut command = Command::new(paths::node());
        command
            .arg("--require")
            .arg(&preload)
            .arg(&entry)
            .arg(transport.arg())
            .env("PORT", port.to_string());
        let label = format!("server-everything {} :{port}", transport.arg());
        let mut process = ChildProcess::spawn(label, command)?;
        match wait_until_serving(&mut process, port).await {
            Ok(()) => Ok(Ok(Self {
                process,
                port,
                transport,
            })),
            Err(e) if process.exit_status().is_some() => Ok(Err(e)),
            Err(e) => Err(e),
        }
    }

    /// Kills it at once (SIGKILL): its connections drop without a goodbye.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Which transport it serves.
    pub fn transport(&self) -> EverythingTransport {
        self.transport
    }

    /// Its endpoint: `/mcp` for Streamable HTTP, `/sse` for legacy SSE.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.transport.path())
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it has logged so far.
    pub fn output(&self) -> String {
        self.process.output()
    }
}

async fn wait_until_serving(process: &mut ChildProcess, port: u16) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = process.exit_status() {
            bail!(
                "server-everything exited ({status}) before listening on {addr}; output:\n{}",
                process.output()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "server-everything did not listen on {addr} within {STARTUP_TIMEOUT:?}; output:\n{}",
                process.output()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
