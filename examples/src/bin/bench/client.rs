//! The MCP client: one session on one keep-alive HTTP/1.1 connection, and the checks of every
//! answer (JSON or SSE): the right id, no error, the echoed text.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::procs::STARTUP_TIMEOUT;

/// The version the load generator speaks: the one toolgate asks its upstreams for, so that a
/// `direct` scenario costs the upstream the same per call as the gateway's calls do (at
/// 2025-11-25 a TypeScript SDK server primes every answer stream and stores its events for
/// resumption; at 2025-06-18 it does neither, and is about twice as cheap per call).
const PROTOCOL_VERSION: &str = "2025-11-25";

/// Where the MCP endpoint is.
#[derive(Debug)]
pub(crate) struct Endpoint {
    addr: SocketAddr,
    host: HeaderValue,
    path: String,
    /// TCP connections this process has opened to it.
    connects: AtomicU64,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
        ensure!(
            uri.scheme_str() == Some("http"),
            "{url}: only http:// is supported"
        );
        let authority = uri.authority().with_context(|| format!("{url}: no host"))?;
        let addr: SocketAddr = authority
            .as_str()
            .parse()
            .with_context(|| format!("{url}: the host must be IP:PORT"))?;
        Ok(Endpoint {
            addr,
            host: HeaderValue::from_str(authority.as_str())?,
            path: uri.path().to_owned(),
            connects: AtomicU64::new(0),
        })
    }

    /// Its `IP:PORT`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many TCP connections this process has opened to the endpoint so far.
    pub(crate) fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// A TCP connection to it, counted.
    async fn tcp_connect(&self) -> anyhow::Result<tokio::net::TcpStream> {
        self.connects.fetch_add(1, Ordering::Relaxed);
        tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))
    }

    pub(crate) async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = self.tcp_connect().await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; a failure shows on the sender.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

#[derive(Debug)]
pub(crate) struct McpClient {
    endpoint: Arc<Endpoint>,
    pub(crate) sender: Option<SendRequest<Full<Bytes>>>,
    session: Option<HeaderValue>,
    pub(crate) next_id: u64,
}

/// An HTTP answer, body read to the end.
#[derive(Debug)]
pub(crate) struct Answer {
    status: StatusCode,
    is_sse: bool,
    session: Option<HeaderValue>,
    body: Bytes,
}

impl McpClient {
    pub(crate) fn new(endpoint: Arc<Endpoint>) -> Self {
        McpClient {
            endpoint,
            sender: None,
            session: None,
            next_id: 0,
        }
    }

    pub(crate) async fn post(&mut self, body: String) -> anyhow::Result<Answer> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => self.sender.insert(self.endpoint.connect().await?),
        };
        let mut request = Request::post(self.endpoint.path.as_str())
            .header(header::HOST, self.endpoint.host.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(Full::new(Bytes::from(body)))?;
        if let Some(session) = &self.session {
            let headers = request.headers_mut();
            headers.insert("mcp-session-id", session.clone());
            headers.insert(
                "mcp-protocol-version",
                HeaderValue::from_static(PROTOCOL_VERSION),
            );
        }
        sender.ready().await.context("connection not ready")?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let headers = response.headers();
        let is_sse = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let session = headers.get("mcp-session-id").cloned();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            is_sse,
            session,
            body,
        })
    }

    /// `initialize` then `notifications/initialized`; keeps the session id.
    pub(crate) async fn initialize(&mut self) -> anyhow::Result<()> {
        let id = self.take_id();
        let answer = self
            .post(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"bench","version":"0"}}}}}}"#
            ))
            .await?;
        ensure!(
            answer.status == StatusCode::OK,
            "initialize: HTTP {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        let _: serde::de::IgnoredAny = find_result(&answer, id).context("initialize")?;
        self.session = Some(answer.session.context("initialize: no Mcp-Session-Id")?);
        let answer = self
            .post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned())
            .await?;
        ensure!(
            answer.status == StatusCode::ACCEPTED,
            "notifications/initialized: HTTP {} (expected 202)",
            answer.status
        );
        Ok(())
    }

    /// One `tools/call` of the echo tool; checks that `message` comes back, after `prefix`
    /// (server-everything answers `Echo: <message>`).
    pub(crate) async fn call_echo(
        &mut self,
        tool: &str,
        message: &str,
        prefix: &str,
    ) -> anyhow::Result<()> {
        let id = self.take_id();
        // `tool` and `message` are ours (no characters that JSON would escape).
        let answer = self
            .post(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"message":"{message}"}}}}}}"#
            ))
            .await?;
        ensure!(
            answer.status == StatusCode::OK,
            "tools/call: HTTP {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        let result: CallToolResult = find_result(&answer, id)?;
        ensure!(
            result.is_error != Some(true),
            "tool error: {:?}",
            result.content
        );
        let text = match result.content.as_slice() {
            [
                Content {
                    kind,
                    text: Some(text),
                },
            ] if kind == "text" => text,
            other => bail!("expected one text content, got {other:?}"),
        };
        ensure!(
            text.strip_prefix(prefix) == Some(message),
            "sent {message:?}, expected {prefix:?} before it, got back {text:?}"
        );
        Ok(())
    }

    pub(crate) fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

#[derive(Deserialize, Debug)]
pub(crate) struct Reply<R> {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    method: Option<String>,
    result: Option<R>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct CallToolResult {
    content: Vec<Content>,
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct Content {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

/// The result of the response to request `id`, from a JSON body or from the SSE events of the
/// body (other messages on the stream, such as notifications, are skipped).
pub(crate) fn find_result<R: serde::de::DeserializeOwned>(
    answer: &Answer,
    id: u64,
) -> anyhow::Result<R> {
    let check = |reply: Reply<R>| -> anyhow::Result<R> {
        ensure!(
            reply.id.as_ref().and_then(serde_json::Value::as_u64) == Some(id),
            "answer to id {:?}, expected {id}",
            reply.id
        );
        if let Some(error) = reply.error {
            bail!("JSON-RPC error: {error}");
        }
        reply
            .result
            .context("response has neither result nor error")
    };
    if !answer.is_sse {
        let reply: Reply<R> = serde_json::from_slice(&answer.body).context("JSON body")?;
        return check(reply);
    }
    let mut data = String::new();
    let text = std::str::from_utf8(&answer.body).context("SSE body is not UTF-8")?;
    // A trailing empty line dispatches the last event even if the stream lacked one.
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() {
                let reply: Reply<R> = serde_json::from_str(&data).context("SSE event data")?;
                let is_ours = reply.method.is_none()
                    && reply.id.as_ref().and_then(serde_json::Value::as_u64) == Some(id);
                if is_ours {
                    return check(reply);
                }
                data.clear();
            }
        } else if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    bail!("the SSE stream ended without the response to id {id}")
}

/// `GET path` on a fresh connection: the status and the body.
pub(crate) async fn get(endpoint: &Endpoint, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    let stream = endpoint.tcp_connect().await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(path)
        .header(header::HOST, endpoint.host.clone())
        .body(Empty::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Polls `/readyz` until it answers 200 and every upstream is ready with its tools listed.
///
/// 200 alone is not enough: the gateway reports an upstream ready as soon as its handshake is
/// done, and lists its tools just after; a call in between gets "unknown tool".
pub(crate) async fn wait_ready(endpoint: &Endpoint) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct Readyz {
        upstreams: Vec<Member>,
    }
    #[derive(Deserialize)]
    struct Member {
        status: String,
        #[serde(default)]
        tools: u64,
    }
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let last = get(endpoint, "/readyz").await;
        if let Ok((StatusCode::OK, body)) = &last
            && let Ok(readyz) = serde_json::from_slice::<Readyz>(body)
            && readyz
                .upstreams
                .iter()
                .all(|m| m.status == "ready" && m.tools > 0)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let last =
                last.map(|(status, body)| format!("{status} {}", String::from_utf8_lossy(&body)));
            bail!(
                "/readyz did not show every upstream ready with tools within {STARTUP_TIMEOUT:?} (last: {last:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_body_skips_other_messages() {
        let body = "id: 1\nretry: 3000\ndata: \n\n\
                    data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n";
        let answer = Answer {
            status: StatusCode::OK,
            is_sse: true,
            session: None,
            body: Bytes::from(body),
        };
        let result: CallToolResult = find_result(&answer, 4).expect("the response is found");
        assert_eq!(result.content[0].text.as_deref(), Some("hi"));
        assert!(find_result::<CallToolResult>(&answer, 5).is_err());
    }
}
