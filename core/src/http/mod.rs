//! The one outbound HTTP client: what the gateway uses to reach remote MCP servers (Streamable
//! HTTP and legacy SSE), OAuth token endpoints, JWKS documents, the OTLP collector and model
//! APIs.
//!
//! hyper-util's pooled client over rustls (ring provider): HTTP/1.1, and HTTP/2 where a TLS
//! server offers it (ALPN); `TCP_NODELAY`; one timeout for the whole connection set-up (TCP,
//! proxy, TLS) and an optional one for the response head; proxies from the environment
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`; loopback is never proxied). Trust is
//! the system's roots plus [`TlsOptions`]. Failures are an [`Error`] whose [`ErrorKind`] a
//! caller branches on and whose message names the cause — a certificate problem by name, with
//! the setting that fixes it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), toolgate::http::Error> {
//! use toolgate::http::{Client, TlsOptions};
//! let client = Client::builder()
//!     .tls(TlsOptions::default().ca_file("/etc/toolgate/private-ca.pem"))
//!     .build()?;
//! let response = client.get("https://mcp.internal.example/.well-known/oauth-protected-resource").await?;
//! # let _ = response; Ok(()) }
//! ```

mod connect;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::PROXY_AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use connect::{ConnectTimedOut, Connector, ProxyConnector};
pub use tls::TlsOptions;

/// The body of an outbound request: the gateway always sends whole buffers.
pub type RequestBody = Full<Bytes>;

/// What went wrong with an outbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client could not be built: unreadable CA or key files, bad settings.
    Setup,
    /// No TCP connection (refused, unreachable, DNS), or the proxy refused to tunnel.
    Connect,
    /// The TLS handshake failed: an untrusted, expired or misnamed certificate, a refused
    /// client certificate.
    Tls,
    /// The connect timeout or the read timeout ran out.
    Timeout,
    /// The connection broke or the server spoke something other than HTTP.
    Protocol,
}

/// An outbound HTTP failure: a [`ErrorKind`] and a message for operators.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: Arc<str>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into().into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True when no connection was made (refused, unreachable, TLS, connect timeout): the
    /// server never saw the request.
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, ErrorKind::Connect | ErrorKind::Tls)
            || (self.kind == ErrorKind::Timeout && self.message.contains("connect timeout"))
    }

    /// True for a TLS handshake failure (see the message for the certificate problem).
    pub fn is_tls(&self) -> bool {
        self.kind == ErrorKind::Tls
    }

    /// True when a timeout ran out.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// Classifies a hyper-util client error by walking its causes.
    fn from_client(err: &hyper_util::client::legacy::Error) -> Self {
        let mut tls = None;
        let mut timeout = None;
        let mut io = None;
        let mut deepest = String::new();
        visit_causes(err, &mut |cause| {
            if let Some(e) = cause.downcast_ref::<rustls::Error>() {
                tls.get_or_insert_with(|| tls::explain(e));
            } else if let Some(e) = cause.downcast_ref::<ConnectTimedOut>() {
                timeout.get_or_insert_with(|| e.to_string());
            } else if let Some(e) = cause.downcast_ref::<std::io::Error>() {
                io.get_or_insert(e.kind());
            }
            deepest = cause.to_string();
        });
        if let Some(message) = tls {
            return Error::new(ErrorKind::Tls, message);
        }
        if let Some(message) = timeout {
            return Error::new(ErrorKind::Timeout, message);
        }
        let kind = if err.is_connect() {
            ErrorKind::Connect
        } else {
            ErrorKind::Protocol
        };
        let message = match (io, deepest.is_empty()) {
            (_, false) => deepest,
            (Some(kind), true) => kind.to_string(),
            (None, true) => err.to_string(),
        };
        Error::new(kind, message)
    }
}

/// Calls `f` on every cause of `err`, outermost first, looking inside `io::Error`s (whose
/// `source` skips the error they wrap).
fn visit_causes(
    err: &(dyn std::error::Error + 'static),
    f: &mut dyn FnMut(&(dyn std::error::Error + 'static)),
) {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut depth = 0;
    while let Some(cause) = next {
        f(cause);
        depth += 1;
        if depth > 32 {
            return;
        }
        next = match cause
            .downcast_ref::<std::io::Error>()
            .and_then(|e| e.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
}

/// A pooled outbound HTTP client. Cheap to clone: clones share the pool.
#[derive(Clone, Debug)]
pub struct Client {
    inner: LegacyClient<Connector, RequestBody>,
    proxies: Option<Arc<Matcher>>,
    read_timeout: Option<Duration>,
}

impl Client {
    /// A client with the defaults of [`ClientBuilder`].
    pub fn new() -> Result<Client, Error> {
        ClientBuilder::default().build()
    }

    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Sends `request` and returns the response once its head has arrived (within the read
    /// timeout, if one is set). The body streams; bound what you read of it.
    pub async fn request(
        &self,
        mut request: Request<RequestBody>,
    ) -> Result<Response<Incoming>, Error> {
        if let Some(proxy) = connect::proxy_for(self.proxies.as_deref(), request.uri())
            && request.uri().scheme_str() == Some("http")
            && let Some(auth) = proxy.basic_auth()
        {
            request
                .headers_mut()
                .insert(PROXY_AUTHORIZATION, auth.clone());
        }
        let sending = self.inner.request(request);
        let result = match self.read_timeout {
            None => sending.await,
            Some(limit) => match tokio::time::timeout(limit, sending).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("no answer within {limit:?} (read timeout)"),
                    ));
                }
            },
        };
        result.map_err(|e| Error::from_client(&e))
    }

    /// `GET url` with an `Accept: application/json` header.
    pub async fn get(&self, url: &str) -> Result<Response<Incoming>, Error> {
        let request = Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(RequestBody::default())
            .map_err(|e| Error::new(ErrorKind::Setup, format!("invalid URL '{url}': {e}")))?;
        self.request(request).await
    }
}

/// Settings of a [`Client`]. The defaults: 10 s to connect (TCP, proxy and TLS), no read
/// timeout, idle connections kept 60 s, HTTP/2 offered to TLS servers, the system's roots,
/// proxies from the environment.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    http2: bool,
    proxy_from_env: bool,
    tls: TlsOptions,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            connect_timeout: Duration::from_secs(10),
            read_timeout: None,
            pool_idle_timeout: Duration::from_secs(60),
            pool_max_idle_per_host: usize::MAX,
            http2: true,
            proxy_from_env: true,
            tls: TlsOptions::default(),
        }
    }
}

impl ClientBuilder {
    /// How long opening a connection may take: TCP connect, proxy `CONNECT` and TLS handshake.
    #[must_use]
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// How long a request may wait for the response head (`None`: no limit). Bodies are not
    /// covered: an SSE stream may stay open for hours.
    #[must_use]
    pub fn read_timeout(mut self, limit: Option<Duration>) -> Self {
        self.read_timeout = limit;
        self
    }

    /// How long an idle pooled connection is kept.
    #[must_use]
    pub fn pool_idle_timeout(mut self, limit: Duration) -> Self {
        self.pool_idle_timeout = limit;
        self
    }

    /// Most idle connections kept per host.
    #[must_use]
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Whether HTTP/2 is offered to TLS servers (ALPN; default true). Plain `http://` is
    /// always HTTP/1.1.
    #[must_use]
    pub fn http2(mut self, yes: bool) -> Self {
        self.http2 = yes;
        self
    }

    /// Whether `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are honoured (default
    /// true).
    #[must_use]
    pub fn proxy_from_env(mut self, yes: bool) -> Self {
        self.proxy_from_env = yes;
        self
    }

    /// Trust and client certificate for `https://` servers.
    #[must_use]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Builds the client: reads the CA, certificate and key files now, so a bad file is an
    /// error here and not on the first request. (The system's roots are read on the first
    /// `https://` connection, once per process.)
    pub fn build(self) -> Result<Client, Error> {
        self.tls.check_files()?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(self.connect_timeout));
        let proxies = self.proxy_from_env.then(Matcher::from_env).map(Arc::new);
        let tcp = ProxyConnector::new(tcp, proxies.clone());
        let connector = Connector::new(tcp, self.tls, self.http2, self.connect_timeout);
        let inner = LegacyClient::builder(TokioExecutor::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Client {
            inner,
            proxies,
            read_timeout: self.read_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let client = Client::new().expect("client");
        let err = client
            .get(&format!("http://127.0.0.1:{port}/"))
            .await
            .expect_err("nothing listens");
        assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
        assert!(err.is_connect());
    }

    #[tokio::test]
    async fn a_server_that_never_answers_runs_into_the_read_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hold = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        });
        let client = Client::builder()
            .read_timeout(Some(Duration::from_millis(200)))
            .build()
            .expect("client");
        let err = client
            .get(&format!("http://127.0.0.1:{port}/"))
            .await
            .expect_err("no answer");
        assert!(err.is_timeout(), "{err}");
        assert!(!err.is_connect(), "the connection was made: {err}");
        hold.abort();
    }

    #[test]
    fn unreadable_tls_files_fail_the_build_with_the_file_named() {
        let err = Client::builder()
            .tls(TlsOptions::default().ca_file("/nonexistent/ca.pem"))
            .build()
            .expect_err("no such file");
        assert_eq!(err.kind(), ErrorKind::Setup);
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let err = Client::builder()
            .tls(TlsOptions {
                cert_file: Some("/nonexistent/cert.pem".into()),
                ..TlsOptions::default()
            })
            .build()
            .expect_err("a cert needs a key");
        assert!(err.to_string().contains("tls.key_file"), "{err}");
    }
}
