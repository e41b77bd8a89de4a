//! What the two HTTP upstream transports share: the spec, the client, small response helpers.

use std::future::Future;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::credentials::{Credentials, UpstreamAuth};
use super::{Shared, UpstreamOptions};
use crate::error::{ErrorKind, McpError};
use crate::http::{Client, RequestBody, TlsOptions};

/// How to reach a remote MCP server (Streamable HTTP or legacy SSE).
///
/// ```
/// use toolgate::http::TlsOptions;
/// use toolgate::upstream::HttpSpec;
/// let spec = HttpSpec::new("https://mcp.example.com/mcp")
///     .header("X-Team", "platform")
///     .tls(TlsOptions::default().ca_file("/etc/ssl/private-ca.pem"));
/// assert_eq!(spec.url, "https://mcp.example.com/mcp");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpSpec {
    /// The endpoint: `https://host/mcp` (Streamable HTTP) or `https://host/sse` (legacy SSE).
    pub url: String,
    /// Static headers sent with every request (credentials for the upstream, never the client's).
    pub headers: Vec<(String, String)>,
    /// Trust and client certificate for an `https://` URL.
    pub tls: TlsOptions,
    /// OAuth and caller-token settings, beside the static headers.
    pub auth: UpstreamAuth,
}

impl HttpSpec {
    /// A server at `url`, with no headers, the system's roots and no OAuth.
    pub fn new(url: impl Into<String>) -> Self {
        HttpSpec {
            url: url.into(),
            ..HttpSpec::default()
        }
    }
    /// Adds a static header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets the TLS settings.
    #[must_use]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }
    /// Sets the OAuth and caller-token settings.
    #[must_use]
    pub fn auth(mut self, auth: UpstreamAuth) -> Self {
        self.auth = auth;
        self
    }
}

pub(crate) type HttpClient = Client;

/// The pooled client of one upstream: its TLS settings, the connect timeout.
pub(crate) fn client(spec: &HttpSpec, options: &UpstreamOptions) -> Result<HttpClient, String> {
    Client::builder()
        .connect_timeout(options.connect_timeout)
        .tls(spec.tls.clone())
        .build()
        .map_err(|e| e.to_string())
}

/// Checks a spec before anything starts: an absolute http URL and valid headers.
pub(crate) fn parse_spec(spec: &HttpSpec) -> Result<(Uri, HeaderMap), String> {
    let uri: Uri = spec
        .url
        .parse()
        .map_err(|e| format!("invalid url '{}': {e}", spec.url))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => {}
        _ => {
            return Err(format!(
                "url '{}' must start with http:// or https:// and name a host",
                spec.url
            ));
        }
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &spec.headers {
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header '{k}': {e}"))?;
        let value = HeaderValue::from_str(v).map_err(|e| format!("header '{k}': {e}"))?;
        headers.append(name, value);
    }
    Ok((uri, headers))
}

/// Validates a spec (URL scheme, header names and values, TLS files) without connecting.
pub fn check_spec(spec: &HttpSpec) -> Result<(), String> {
    parse_spec(spec)?;
    spec.tls.check().map_err(|e| e.to_string())
}

pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// The first 512 bytes of an error body, for messages.
pub(crate) async fn read_snippet(resp: http::Response<Incoming>) -> String {
    match Limited::new(resp.into_body(), 4096).collect().await {
        Ok(b) => {
            let b = b.to_bytes();
            String::from_utf8_lossy(&b[..b.len().min(512)]).into_owned()
        }
        Err(_) => String::new(),
    }
}

/// Sends a request built by `build` with `send`, authorized: a request without its own
/// `Authorization` (a caller's token, set per call) gets the gateway's own OAuth token. A 401
/// to the gateway's own token fetches a new one and tries once more; a 401 or 403 that
/// remains is [`ErrorKind::UpstreamUnauthorized`], naming the server and quoting its
/// `WWW-Authenticate`.
pub(crate) async fn send_authorized<F, Fut>(
    shared: &Shared,
    credentials: &Credentials,
    build: impl Fn() -> Result<Request<RequestBody>, McpError>,
    send: F,
) -> Result<Response<Incoming>, McpError>
where
    F: Fn(Request<RequestBody>) -> Fut,
    Fut: Future<Output = Result<Response<Incoming>, McpError>>,
{
    let mut retried = false;
    loop {
        let mut req = build()?;
        let own = if req.headers().contains_key(AUTHORIZATION) {
            None
        } else {
            credentials.own_authorization().await?
        };
        if let Some(value) = &own {
            req.headers_mut().insert(AUTHORIZATION, value.clone());
        }
        let resp = send(req).await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED
            && !retried
            && let Some(value) = &own
            && credentials.refused(value).await
        {
            tracing::info!(upstream = %shared.name, "upstream refused our OAuth token (401); fetching a new one");
            retried = true;
            continue;
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(unauthorized(shared, resp, own.is_some()).await);
        }
        return Ok(resp);
    }
}

/// The error for an upstream's 401/403.
async fn unauthorized(shared: &Shared, resp: Response<Incoming>, oauth: bool) -> McpError {
    let status = resp.status();
    let challenge = resp
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_snippet(resp).await;
    let sent = if oauth {
        "its OAuth token"
    } else {
        "the credentials configured for it (headers, or none)"
    };
    let mut message = format!(
        "upstream '{}' refused {sent} with HTTP {status}",
        shared.name
    );
    match &challenge {
        Some(c) => message.push_str(&format!("; WWW-Authenticate: {c}")),
        None if !body.trim().is_empty() => message.push_str(&format!(": {}", body.trim())),
        None => {}
    }
    McpError::new(ErrorKind::UpstreamUnauthorized, message).with_data(serde_json::json!({
        "source": "gateway",
        "upstream": &*shared.name,
        "retryable": false,
        "http_status": status.as_u16(),
        "www_authenticate": challenge,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper_util::rt::TokioIo;
    use tokio_util::sync::CancellationToken;

    use super::super::credentials::Credentials;
    use super::super::{Upstream, UpstreamOptions};
    use super::*;
    use crate::oauth::OAuthSettings;

    /// A loopback HTTP server answering every request with `answer`; returns its base URL.
    async fn serve<F>(answer: F) -> String
    where
        F: Fn(Request<Incoming>) -> Response<Full<Bytes>> + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let answer = answer.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    }

    /// A token endpoint handing out `tok-1`, `tok-2`, …; and an upstream that accepts only
    /// `accepted`. Returns the upstream's shared state, the token count and the upstream's
    /// request count.
    async fn setup(
        accepted: &'static str,
    ) -> (Upstream, String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let issued = Arc::new(AtomicUsize::new(0));
        let counter = issued.clone();
        let token_url = serve(move |_| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            respond(
                StatusCode::OK,
                format!(r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":300}}"#),
            )
        })
        .await;
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let upstream_url = serve(move |req| {
            counter.fetch_add(1, Ordering::SeqCst);
            let auth = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if auth == format!("Bearer {accepted}") {
                respond(StatusCode::OK, "{}".into())
            } else {
                let mut r = respond(StatusCode::UNAUTHORIZED, String::new());
                r.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
                r
            }
        })
        .await;
        let name: Arc<str> = "guarded".into();
        let auth = UpstreamAuth::default().oauth(OAuthSettings::new(
            format!("{token_url}/token"),
            "client",
            "secret",
        ));
        let credentials = Credentials::new(
            &name,
            &auth,
            &TlsOptions::default(),
            std::time::Duration::from_secs(5),
        )
        .expect("credentials");
        let upstream = Upstream::new(
            "guarded",
            "http",
            UpstreamOptions::default(),
            CancellationToken::new(),
            credentials,
            false,
        );
        (upstream, upstream_url, issued, seen)
    }

    async fn post(upstream: &Upstream, url: &str) -> Result<Response<Incoming>, McpError> {
        let client = Client::new().expect("client");
        let shared = &upstream.shared;
        send_authorized(
            shared,
            &shared.credentials,
            || {
                Request::post(url)
                    .body(RequestBody::default())
                    .map_err(|e| McpError::internal(e.to_string()))
            },
            |req| {
                let client = client.clone();
                async move {
                    client
                        .request(req)
                        .await
                        .map_err(|e| McpError::internal(e.to_string()))
                }
            },
        )
        .await
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_once() {
        let (upstream, url, issued, seen) = setup("tok-2").await;
        let response = post(&upstream, &url).await.expect("accepted on the retry");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            issued.load(Ordering::SeqCst),
            2,
            "one new token after the 401"
        );
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        // The new token is cached.
        post(&upstream, &url).await.expect("accepted");
        assert_eq!(issued.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_second_refusal_names_the_server_and_its_challenge() {
        let (upstream, url, issued, seen) = setup("never").await;
        let error = post(&upstream, &url).await.expect_err("refused");
        assert_eq!(error.kind(), ErrorKind::UpstreamUnauthorized);
        assert!(error.message().contains("'guarded'"), "{}", error.message());
        let data = error.data().expect("data");
        assert_eq!(data["http_status"], 401);
        assert_eq!(data["www_authenticate"], r#"Bearer error="invalid_token""#);
        assert_eq!(issued.load(Ordering::SeqCst), 2, "one retry, not a loop");
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }
}
