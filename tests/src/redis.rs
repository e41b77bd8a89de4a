//! A real `redis-server` (the Debian package `tests/interop/install.sh` installs) on a loopback
//! port, without persistence, stopped when dropped — and restartable on the same port, for
//! tests of what gateways do while their shared store is away.

use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::net::free_port;
use crate::process::ChildProcess;

/// What redis-server prints once it accepts connections.
const READY: &str = "Ready to accept connections";

/// A redis-server on 127.0.0.1.
#[derive(Debug)]
pub struct RedisServer {
    process: Option<ChildProcess>,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free loopback port and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let mut last = None;
        // A free port can be taken between choosing and binding it: try a few.
        for _ in 0..3 {
            let port = free_port()?;
            match spawn(port).await {
                Ok(process) => {
                    return Ok(RedisServer {
                        process: Some(process),
                        port,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    /// Starts one that speaks TLS only (`--port 0 --tls-port P`), with `cert` as its
    /// certificate; `client_ca`: clients must show a certificate signed by it.
    pub async fn start_tls(
        cert: &crate::tls::CertFiles,
        client_ca: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut args: Vec<String> = ["--port", "0", "--tls-port"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.push(port.to_string());
        args.extend([
            "--tls-cert-file".to_owned(),
            cert.cert.to_string_lossy().into_owned(),
            "--tls-key-file".to_owned(),
            cert.key.to_string_lossy().into_owned(),
        ]);
        match client_ca {
            Some(ca) => args.extend([
                "--tls-ca-cert-file".to_owned(),
                ca.to_string_lossy().into_owned(),
                "--tls-auth-clients".to_owned(),
                "yes".to_owned(),
            ]),
            None => args.extend([
                // redis-server wants a CA file with TLS on, even when it asks no client for a
                // certificate: its own suffices.
                "--tls-ca-cert-file".to_owned(),
                cert.cert.to_string_lossy().into_owned(),
                "--tls-auth-clients".to_owned(),
                "no".to_owned(),
            ]),
        }
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        command.args(&args);
        let mut process = ChildProcess::spawn(format!("redis-server tls :{port}"), command)
            .context("running redis-server (run tests/interop/install.sh to install it)")?;
        process
            .wait_for_line(READY, Duration::from_secs(10))
            .await?;
        Ok(RedisServer {
            process: Some(process),
            port,
        })
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `rediss://127.0.0.1:PORT` (for one started with [`start_tls`](Self::start_tls)).
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// Kills it at once (SIGKILL): its clients see the connection drop.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.process = Some(spawn(self.port).await?);
        Ok(())
    }

    /// The keys matching `pattern` (`redis-cli --scan`, from the same Debian package).
    pub fn keys(&self, pattern: &str) -> anyhow::Result<Vec<String>> {
        let out = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "--scan",
                "--pattern",
                pattern,
            ])
            .output()
            .context("running redis-cli")?;
        anyhow::ensure!(
            out.status.success(),
            "redis-cli: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// What it has logged so far.
    pub fn output(&self) -> String {
        self.process
            .as_ref()
            .map(ChildProcess::output)
            .unwrap_or_default()
    }
}

async fn spawn(port: u16) -> anyhow::Result<ChildProcess> {
    let mut command = Command::new("redis-server");
    command.args([
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]);
    let mut process = ChildProcess::spawn(format!("redis-server :{port}"), command)
        .context("running redis-server (run tests/interop/install.sh to install it)")?;
    process
        .wait_for_line(READY, Duration::from_secs(10))
        .await?;
    Ok(process)
}
