//! What the two HTTP upstream transports share: the spec, the client, small response helpers.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::UpstreamOptions;

/// How to reach a remote MCP server (Streamable HTTP or legacy SSE).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSpec {
    /// The endpoint: `http://host/mcp` (Streamable HTTP) or `http://host/sse` (legacy SSE).
    pub url: String,
    /// Static headers sent with every request (credentials for the upstream, never the client's).
    pub headers: Vec<(String, String)>,
}

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A pooled HTTP/1 client with TCP_NODELAY and the connect timeout.
pub(crate) fn client(options: &UpstreamOptions) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(options.connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// Checks a spec before anything starts: an absolute http URL and valid headers.
pub(crate) fn parse_spec(spec: &HttpSpec) -> Result<(Uri, HeaderMap), String> {
    let uri: Uri = spec
        .url
        .parse()
        .map_err(|e| format!("invalid url '{}': {e}", spec.url))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "url '{}': https upstreams are not supported by this build yet; put a TLS-terminating proxy on loopback in front of it",
                spec.url
            ));
        }
        _ => return Err(format!("url '{}' must start with http://", spec.url)),
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

/// Validates a spec (URL scheme, header names and values) without connecting.
pub fn check_spec(spec: &HttpSpec) -> Result<(), String> {
    parse_spec(spec).map(|_| ())
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
