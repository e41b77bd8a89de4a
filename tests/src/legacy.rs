//! A raw legacy HTTP+SSE (MCP 2024-11-05) client, for tests that need exact control of the wire.
//!
//! [`LegacySession::open`] GETs an SSE URL (`/sse`, or `/mcp` with `Accept: text/event-stream`)
//! on a TCP connection of its own, reads the `endpoint` event, and then POSTs JSON-RPC messages
//! there (202) and reads their answers from the stream. The stream's connection belongs to the
//! session: [`LegacySession::close`] (or dropping it) closes the socket, so a test knows the
//! server saw the client go away. Every wait is bounded.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::header::{ACCEPT, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::REQUEST_TIMEOUT;
use crate::http::{HttpResponse, PROTOCOL_VERSION, SseStream, post, result_of};
use crate::net::socket_addr_of;

/// The protocol version of the HTTP+SSE transport.
pub const LEGACY_PROTOCOL_VERSION: &str = "2024-11-05";

/// How long the `endpoint` event may take after the stream opens.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

/// A request and what arrived on the stream for it.
#[derive(Debug, Clone)]
pub struct LegacyExchange {
    /// Every JSON-RPC message read from the stream while waiting, in order, ending with the
    /// response (notifications for this request and anything else that arrived meanwhile).
    pub messages: Vec<Value>,
    /// The response (has `result` or `error`).
    pub response: Value,
}

impl LegacyExchange {
    /// The notifications with `method` read before the response.
    pub fn notifications(&self, method: &str) -> Vec<&Value> {
        self.messages
            .iter()
            .filter(|m| m.get("id").is_none() && m["method"] == method)
            .collect()
    }

    /// The `result`, or an error carrying the JSON-RPC error.
    pub fn result(&self) -> anyhow::Result<&Value> {
        result_of(&self.response)
    }
}

/// One legacy SSE session: an open stream and the endpoint it named.
#[derive(Debug)]
pub struct LegacySession {
    stream: SseStream,
    // Kept so that the connection stays up while the response streams.
    _sender: http1::SendRequest<Empty<Bytes>>,
    connection: JoinHandle<()>,
    endpoint: String,
    session_id: String,
    next_id: i64,
    headers: Vec<(String, String)>,
}

impl LegacySession {
    /// GETs `url` (`http://127.0.0.1:PORT/sse`, `…/mcp`, `…/mcp/`) with
    /// `Accept: text/event-stream` on a new connection and reads the `endpoint` event.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Self::open_with(url, &[]).await
    }

    /// Like [`Self::open`], with `headers` (a credential, say) on the GET and on every POST of
    /// the session.
    pub async fn open_with(url: &str, headers: &[(&str, &str)]) -> anyhow::Result<Self> {
        let addr = socket_addr_of(url)?;
        let path = path_of(url);
        let tcp = tokio::time::timeout(REQUEST_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connecting to {addr}: no answer within {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("connecting to {addr}"))?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(tcp))
            .await
            .with_context(|| format!("HTTP/1 handshake with {addr}"))?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path.as_str())
            .header(HOST, addr.to_string())
            .header(ACCEPT, "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Empty::new())
            .context("building the SSE request")?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request))
            .await
            .map_err(|_| anyhow!("GET {url}: no response headers within {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("GET {url}"))?;
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            connection.abort();
            bail!("GET {url} (legacy SSE stream) answered {}", parts.status);
        }
        let mut stream = SseStream::new(parts.headers, body);
        let event = stream
            .next_event(ENDPOINT_TIMEOUT)
            .await
            .with_context(|| format!("waiting for the endpoint event of {url}"))?
            .with_context(|| format!("the stream of {url} ended before its endpoint event"))?;
        if event.event.as_deref() != Some("endpoint") {
            connection.abort();
            bail!("the first event of {url} is not `endpoint`: {event:?}");
        }
        let endpoint = resolve(addr, &path, &event.data);
        let session_id = session_id_of(&endpoint)
            .with_context(|| format!("no session_id in the endpoint {:?}", event.data))?;
        Ok(Self {
            stream,
            _sender: sender,
            connection,
            endpoint,
            session_id,
            next_id: 1,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    /// The absolute URL messages are POSTed to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The session id named in the endpoint.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The stream, for reading events directly.
    pub fn stream(&mut self) -> &mut SseStream {
        &mut self.stream
    }

    /// POSTs `body` to the endpoint (with the session's headers); returns the HTTP response
    /// whatever its status.
    pub async fn post(&self, body: impl Into<Bytes>) -> anyhow::Result<HttpResponse> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        post(&self.endpoint, None, &headers, body).await
    }

    /// POSTs one JSON-RPC message; the answer must be 202.
    pub async fn send(&self, message: &Value) -> anyhow::Result<()> {
        let http = self.post(message.to_string()).await?;
        if http.status != StatusCode::ACCEPTED {
            bail!(
                "POST {} of {message} was not answered with 202:\n{}",
                self.endpoint,
                http.describe()
            );
        }
        Ok(())
    }

    /// POSTs a request with a fresh id (202 expected); returns the id.
    pub async fn send_request(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> anyhow::Result<Value> {
        let id = json!(self.next_id);
        self.next_id += 1;
        let mut body = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let Some(params) = params {
            body["params"] = params;
        }
        self.send(&body).await?;
        Ok(id)
    }

    /// Reads the stream until the response to `id` arrives (bounded by `timeout`).
    pub async fn wait_for_response(
        &mut self,
        id: &Value,
        timeout: Duration,
    ) -> anyhow::Result<LegacyExchange> {
        let deadline = Instant::now() + timeout;
        let mut messages = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .stream
                .next_event(left)
                .await
                .with_context(|| format!("waiting for the response to {id}; read: {messages:?}"))?
                .with_context(|| {
                    format!("stream ended before the response to {id}; read: {messages:?}")
                })?;
            if event.data.is_empty() {
                continue;
            }
            let message: Value = serde_json::from_str(&event.data)
                .with_context(|| format!("SSE event data is not JSON: {:?}", event.data))?;
            let is_response = message.get("id") == Some(id)
                && (message.get("result").is_some() || message.get("error").is_some());
            messages.push(message.clone());
            if is_response {
                return Ok(LegacyExchange {
                    messages,
                    response: message,
                });
            }
        }
    }

    /// Sends a request and waits for its response on the stream.
    pub async fn exchange(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> anyhow::Result<LegacyExchange> {
        let id = self.send_request(method, params).await?;
        self.wait_for_response(&id, REQUEST_TIMEOUT).await
    }

    /// Sends a request; returns the JSON-RPC response object (which may carry an error).
    pub async fn request(&mut self, method: &str, params: Option<Value>) -> anyhow::Result<Value> {
        Ok(self.exchange(method, params).await?.response)
    }

    /// `initialize` (asking for `version`) and `notifications/initialized`; returns the result.
    pub async fn initialize_with(&mut self, version: &str) -> anyhow::Result<Value> {
        let params = json!({
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "toolgate-tests-legacy", "version": env!("CARGO_PKG_VERSION")},
        });
        let response = self.request("initialize", Some(params)).await?;
        let result = result_of(&response)
            .context("initialize over legacy SSE")?
            .clone();
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(result)
    }

    /// `initialize` with the latest version the raw clients speak.
    pub async fn initialize(&mut self) -> anyhow::Result<Value> {
        self.initialize_with(PROTOCOL_VERSION).await
    }

    /// `tools/call`; returns the JSON-RPC response object.
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> anyhow::Result<Value> {
        self.request(
            "tools/call",
            Some(json!({"name": name, "arguments": arguments})),
        )
        .await
    }

    /// Closes the stream's connection (the server sees the client go away).
    pub fn close(self) {
        // Drop does it.
    }
}

impl Drop for LegacySession {
    fn drop(&mut self) {
        // Dropping the connection task drops the socket: the kernel closes it.
        self.connection.abort();
    }
}

/// POSTs a harmless notification (`notifications/cancelled` for an id nobody used) to a legacy
/// endpoint every 50 ms until it is answered 404 (the session is gone); returns how long that
/// took. Fails on any status other than 202 and 404, and after `timeout`.
pub async fn wait_until_gone(endpoint: &str, timeout: Duration) -> anyhow::Result<Duration> {
    let probe = json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": "toolgate-tests-probe", "reason": "probe"},
    })
    .to_string();
    let started = Instant::now();
    loop {
        let http = post(endpoint, None, &[], probe.clone()).await?;
        match http.status {
            StatusCode::NOT_FOUND => return Ok(started.elapsed()),
            StatusCode::ACCEPTED => {}
            _ => bail!(
                "POST {endpoint} while waiting for its session to go: expected 202 or 404:\n{}",
                http.describe()
            ),
        }
        if started.elapsed() >= timeout {
            bail!(
                "POST {endpoint} still answered 202 after {timeout:?}: the session was not forgotten"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The path and query of an `http://host:port/path?query` URL (`/` if none).
fn path_of(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    match rest.find('/') {
        Some(i) => rest[i..].to_owned(),
        None => "/".to_owned(),
    }
}

/// The endpoint event's data as an absolute URL on `addr`.
/// The endpoint a stream at `stream_path` named, as a URL: absolute, rooted, or relative to the
/// stream's directory (as browsers and the SDKs resolve it).
fn resolve(addr: SocketAddr, stream_path: &str, endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    if endpoint.starts_with("http://") {
        endpoint.to_owned()
    } else if endpoint.starts_with('/') {
        format!("http://{addr}{endpoint}")
    } else {
        let dir = &stream_path[..stream_path.rfind('/').map_or(0, |i| i + 1)];
        format!("http://{addr}{dir}{endpoint}")
    }
}

/// The `session_id` (or `sessionId`) query parameter of a URL.
pub fn session_id_of(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "session_id" || k == "sessionId").then(|| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_on_the_stream_origin() {
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        assert_eq!(
            resolve(addr, "/sse", "/messages?session_id=ab"),
            "http://127.0.0.1:9/messages?session_id=ab"
        );
        assert_eq!(
            resolve(addr, "/mcp/", "messages?session_id=ab"),
            "http://127.0.0.1:9/mcp/messages?session_id=ab"
        );
        assert_eq!(
            resolve(addr, "/gw/sse", "messages?session_id=ab"),
            "http://127.0.0.1:9/gw/messages?session_id=ab"
        );
        assert_eq!(session_id_of("/m?x=1&sessionId=cd").as_deref(), Some("cd"));
        assert_eq!(path_of("http://127.0.0.1:9/mcp/"), "/mcp/");
        assert_eq!(path_of("http://127.0.0.1:9"), "/");
    }
}
