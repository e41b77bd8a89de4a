//! How the outbound client opens a connection: TCP (with `TCP_NODELAY`), through a proxy when
//! the environment names one, then TLS for `https://` — all within the connect timeout.
//!
//! Proxies come from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` and `NO_PROXY` (curl's rules,
//! hyper-util's matcher). An `https://` destination is tunnelled with `CONNECT`; an `http://`
//! one is sent to the proxy in absolute form. Loopback destinations (`localhost`, 127.0.0.0/8,
//! `::1`) never go through a proxy: a proxy cannot reach the gateway's own machine.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::Service;

use super::{Error, TlsOptions};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// TCP, directly or through the environment's proxy.
#[derive(Clone, Debug)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    proxies: Option<Arc<Matcher>>,
}

impl ProxyConnector {
    pub(crate) fn new(http: HttpConnector, proxies: Option<Arc<Matcher>>) -> Self {
        ProxyConnector { http, proxies }
    }
}

/// Whether a request to `dst` goes through a proxy, and which.
pub(crate) fn proxy_for(
    proxies: Option<&Matcher>,
    dst: &Uri,
) -> Option<hyper_util::client::proxy::matcher::Intercept> {
    let proxies = proxies?;
    if is_loopback(dst.host()?) {
        return None;
    }
    proxies.intercept(dst)
}

fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare.to_ascii_lowercase().ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = BoxFuture<ProxyStream>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut http = self.http.clone();
        match proxy_for(self.proxies.as_deref(), &dst) {
            None => Box::pin(async move {
                let io = http.call(dst).await?;
                Ok(ProxyStream {
                    io,
                    forwarding: false,
                })
            }),
            Some(proxy) if dst.scheme_str() == Some("https") => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let proxy_uri = proxy.uri().clone();
                Box::pin(async move {
                    let io = tunnel.call(dst).await.map_err(|e| -> BoxError {
                        format!("proxy {proxy_uri}: CONNECT failed: {e}").into()
                    })?;
                    Ok(ProxyStream {
                        io,
                        forwarding: false,
                    })
                })
            }
            Some(proxy) => {
                let proxy_uri = proxy.uri().clone();
                Box::pin(async move {
                    let io = http
                        .call(proxy_uri.clone())
                        .await
                        .map_err(|e| -> BoxError { format!("proxy {proxy_uri}: {e}").into() })?;
                    Ok(ProxyStream {
                        io,
                        forwarding: true,
                    })
                })
            }
        }
    }
}

/// A TCP connection, to the server or to a proxy. `forwarding`: a plain-HTTP proxy that
/// takes requests in absolute form.
#[derive(Debug)]
pub(crate) struct ProxyStream {
    io: TokioIo<TcpStream>,
    forwarding: bool,
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forwarding)
    }
}

impl Read for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for ProxyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// The whole connection set-up (TCP, proxy, TLS handshake) bounded by one timeout. TLS is
/// set up on the first `https://` connection (reading the system's roots costs start-up time
/// and memory that a client of `http://` servers never needs).
#[derive(Clone, Debug)]
pub(crate) struct Connector {
    tcp: ProxyConnector,
    tls: Arc<LazyTls>,
    timeout: Duration,
}

/// The TLS connector, made when first needed.
#[derive(Debug)]
pub(crate) struct LazyTls {
    options: TlsOptions,
    http2: bool,
    connector: OnceLock<Result<HttpsConnector<ProxyConnector>, Error>>,
}

impl LazyTls {
    fn connector(&self, tcp: &ProxyConnector) -> Result<HttpsConnector<ProxyConnector>, Error> {
        self.connector
            .get_or_init(|| {
                let config = self.options.client_config()?;
                let mut https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_or_http();
                if let Some(name) = &self.options.server_name {
                    https = https.with_server_name_resolver(
                        hyper_rustls::FixedServerNameResolver::new(super::tls::server_name(name)?),
                    );
                }
                Ok(if self.http2 {
                    https.enable_all_versions().wrap_connector(tcp.clone())
                } else {
                    https.enable_http1().wrap_connector(tcp.clone())
                })
            })
            .clone()
    }
}

/// The connection set-up took longer than the connect timeout.
#[derive(Debug, thiserror::Error)]
#[error("no connection within {0:?} (connect timeout)")]
pub(crate) struct ConnectTimedOut(pub(crate) Duration);

impl Connector {
    pub(crate) fn new(
        tcp: ProxyConnector,
        tls: TlsOptions,
        http2: bool,
        timeout: Duration,
    ) -> Self {
        Connector {
            tcp,
            tls: Arc::new(LazyTls {
                options: tls,
                http2,
                connector: OnceLock::new(),
            }),
            timeout,
        }
    }
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<ProxyStream>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting: BoxFuture<Self::Response> = if dst.scheme_str() == Some("https") {
            match self.tls.connector(&self.tcp) {
                Ok(mut https) => https.call(dst),
                Err(e) => return Box::pin(std::future::ready(Err(Box::new(e) as BoxError))),
            }
        } else {
            let tcp = self.tcp.call(dst);
            Box::pin(async move { Ok(MaybeHttpsStream::Http(tcp.await?)) })
        };
        let limit = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(r) => r,
                Err(_) => Err(Box::new(ConnectTimedOut(limit)) as BoxError),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> Matcher {
        Matcher::builder()
            .all("http://proxy.example:3128")
            .no("internal.example")
            .build()
    }

    #[test]
    fn loopback_never_goes_through_a_proxy() {
        let m = matcher();
        for url in [
            "http://127.0.0.1:4000/mcp",
            "https://localhost/mcp",
            "http://[::1]:8080/",
            "http://127.8.9.10/",
            "https://api.localhost/",
        ] {
            let uri: Uri = url.parse().expect("uri");
            assert!(proxy_for(Some(&m), &uri).is_none(), "{url} was proxied");
        }
    }

    #[test]
    fn other_hosts_follow_the_environment_rules() {
        let m = matcher();
        let remote: Uri = "https://mcp.example.com/mcp".parse().expect("uri");
        let proxy = proxy_for(Some(&m), &remote).expect("proxied");
        assert_eq!(proxy.uri().host(), Some("proxy.example"));
        let exempt: Uri = "https://internal.example/mcp".parse().expect("uri");
        assert!(proxy_for(Some(&m), &exempt).is_none());
        assert!(proxy_for(None, &remote).is_none());
    }
}
