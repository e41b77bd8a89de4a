//! A real haproxy (the Debian package `tests/interop/install.sh` installs) in front of gateway
//! replicas on loopback: round robin, no stickiness, health checks on `/healthz`, and a request
//! whose connection is refused sent to the next replica — the load balancer of a scale-out
//! deployment.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::net::{free_port, wait_for_port};
use crate::process::ChildProcess;
use crate::scratch::ScratchDir;

/// A haproxy on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct Haproxy {
    _process: ChildProcess,
    _dir: ScratchDir,
    port: u16,
}

impl Haproxy {
    /// Balances HTTP over `backends` (gateway listeners) round robin.
    pub async fn start(backends: &[SocketAddr]) -> anyhow::Result<Self> {
        let dir = ScratchDir::new("haproxy")?;
        let port = free_port()?;
        let mut config = format!(
            "global\n  maxconn 512\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n  \
             retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response\n\
             frontend mcp\n  bind 127.0.0.1:{port}\n  default_backend toolgate\n\
             backend toolgate\n  balance roundrobin\n  option httpchk GET /healthz\n"
        );
        for (i, addr) in backends.iter().enumerate() {
            config.push_str(&format!(
                "  server gw{} {addr} check inter 200ms fall 1 rise 2\n",
                i + 1
            ));
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).context("writing haproxy.cfg")?;
        // Debian puts it in /usr/sbin, which a non-root PATH may lack.
        let bin = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("haproxy");
        let mut command = Command::new(bin);
        command.arg("-db").arg("-f").arg(&path);
        let process = ChildProcess::spawn(format!("haproxy :{port}"), command)
            .context("running haproxy (run tests/interop/install.sh to install it)")?;
        wait_for_port(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(10),
        )
        .await?;
        Ok(Haproxy {
            _process: process,
            _dir: dir,
            port,
        })
    }

    /// The MCP endpoint through it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}
