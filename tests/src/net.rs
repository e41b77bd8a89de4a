//! Ports: a free one to hand to a server, and waiting until a server accepts on one.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

/// A loopback port that was free a moment ago (bind to port 0, read it, release it).
///
/// There is a window in which someone else may take it; callers that start a server on it
/// should retry with a new port if the server fails to bind.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener
        .local_addr()
        .context("reading the bound address")?
        .port())
}

/// Waits until `addr` accepts a TCP connection, giving up after `timeout`.
pub async fn wait_for_port(addr: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("nothing accepted connections on {addr} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `host:port` of an `http://host:port/…` URL, as a socket address.
pub fn socket_addr_of(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("not an http:// URL: {url:?}"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .parse()
        .with_context(|| format!("no IP:port in URL {url:?}"))
}
