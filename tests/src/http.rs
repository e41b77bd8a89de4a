//! A small raw MCP-over-HTTP client on hyper, for tests that need exact control of the wire.
//!
//! [`post`] and [`send`] do one HTTP exchange with any headers and body (malformed JSON, foreign
//! `Origin`, oversized bodies…). [`McpSession`] does the MCP handshake and then JSON-RPC requests,
//! accepting answers as `application/json` or as an SSE stream (progress notifications first,
//! then the response). Every exchange is bounded by [`crate::REQUEST_TIMEOUT`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::REQUEST_TIMEOUT;
use crate::sse::{SseEvent, SseParser, parse_sse};

/// The protocol version the raw client asks for.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
/// `Accept` for POSTs, as the spec requires of clients.
pub const ACCEPT_JSON_AND_SSE: &str = "application/json, text/event-stream";
/// The session header.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version header.
pub const VERSION_HEADER: &str = "mcp-protocol-version";

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl HttpResponse {
    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of `Content-Type`, without parameters, lower-cased.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type")
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
    }

    /// Whether the body is an SSE stream.
    pub fn is_sse(&self) -> bool {
        self.content_type().as_deref() == Some("text/event-stream")
    }

    /// The `Mcp-Session-Id` header.
    pub fn session_id(&self) -> Option<&str> {
        self.header(SESSION_HEADER)
    }

    /// The body parsed as one JSON value.
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("body is not JSON:\n{}", self.describe()))
    }

    /// The JSON-RPC messages in the body: the body itself for JSON, each event's data for SSE
    /// (events without data skipped).
    pub fn messages(&self) -> anyhow::Result<Vec<Value>> {
        if !self.is_sse() {
            return Ok(vec![self.json()?]);
        }
        parse_sse(&self.body)
            .into_iter()
            .filter(|e| !e.data.is_empty())
            .map(|e| {
                serde_json::from_str(&e.data).with_context(|| {
                    format!(
                        "SSE event data is not JSON: {:?}\n{}",
                        e.data,
                        self.describe()
                    )
                })
            })
            .collect()
    }

    /// Status, headers and body, for error messages.
    pub fn describe(&self) -> String {
        let mut text = format!("HTTP {}\n", self.status);
        for (name, value) in &self.headers {
            text.push_str(&format!(
                "{name}: {}\n",
                value.to_str().unwrap_or("<binary>")
            ));
        }
        text.push('\n');
        text.push_str(&self.text());
        text
    }
}

/// One HTTP exchange: `method url` with the given session, headers and body.
///
/// Defaults `Content-Type: application/json` and `Accept: application/json, text/event-stream`;
/// an entry in `headers` with the same name replaces a default.
pub async fn send(
    method: Method,
    url: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> anyhow::Result<HttpResponse> {
    let request = build(method.clone(), url, session, headers, body.into())?;
    let exchange = async {
        let response = client()
            .request(request)
            .await
            .with_context(|| format!("{method} {url}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .with_context(|| format!("reading the body of {method} {url}"))?
            .to_bytes();
        anyhow::Ok(HttpResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("{method} {url}: no complete response within {REQUEST_TIMEOUT:?}"))?
}

/// `POST url` (see [`send`]).
pub async fn post(
    url: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> anyhow::Result<HttpResponse> {
    send(Method::POST, url, session, headers, body).await
}

/// `DELETE url` with the session header: ends the session.
pub async fn delete(url: &str, session: &str) -> anyhow::Result<HttpResponse> {
    send(Method::DELETE, url, Some(session), &[], Bytes::new()).await
}

fn build(
    method: Method,
    url: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
    body: Bytes,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut request = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body))
        .with_context(|| format!("building a request to {url}"))?;
    let map = request.headers_mut();
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    map.insert(ACCEPT, HeaderValue::from_static(ACCEPT_JSON_AND_SSE));
    if let Some(session) = session {
        map.insert(
            SESSION_HEADER,
            HeaderValue::from_str(session).context("session id is not a valid header value")?,
        );
    }
    for (name, value) in headers {
        map.insert(
            HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("header name {name:?}"))?,
            HeaderValue::from_str(value).with_context(|| format!("header value {value:?}"))?,
        );
    }
    Ok(request)
}

/// Initializes a session at `url` (initialize + notifications/initialized); returns its id.
pub async fn initialize(url: &str) -> anyhow::Result<String> {
    Ok(McpSession::connect(url).await?.id().to_owned())
}

/// One JSON-RPC request and everything that came back for it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The HTTP response it arrived in.
    pub http: HttpResponse,
    /// Every JSON-RPC message of the answer, in order (notifications, then the response).
    pub messages: Vec<Value>,
    /// The response to the request (has `result` or `error`).
    pub response: Value,
}

impl Exchange {
    /// The notifications with `method` that arrived before the response.
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

/// The `result` of a JSON-RPC response, or an error that shows the response.
pub fn result_of(response: &Value) -> anyhow::Result<&Value> {
    match response.get("result") {
        Some(result) => Ok(result),
        None => bail!("expected a result, got {response}"),
    }
}

/// Checks that `response` is a gateway-local JSON-RPC error: `error.code == code` and
/// `error.data == {source: "gateway", upstream, retryable: true}`.
pub fn expect_gateway_error(response: &Value, code: i64, upstream: &str) -> anyhow::Result<()> {
    let error = response
        .get("error")
        .with_context(|| format!("expected a gateway error {code}, got {response}"))?;
    let data = &error["data"];
    if error["code"] != code
        || data["source"] != "gateway"
        || data["upstream"] != upstream
        || data["retryable"] != true
    {
        bail!(
            "expected error {{code: {code}, data: {{source: gateway, upstream: {upstream}, retryable: true}}}}, got {response}"
        );
    }
    Ok(())
}

/// The `error.code` of a JSON-RPC response.
pub fn error_code(response: &Value) -> Option<i64> {
    response.get("error")?.get("code")?.as_i64()
}

/// The concatenated `text` items of a tool result's `content`.
pub fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|c| c["type"] == "text")
                .filter_map(|c| c["text"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Picks the response to `id` out of the messages of an answer.
fn response_to(http: &HttpResponse, id: &Value) -> anyhow::Result<Exchange> {
    let messages = http.messages()?;
    let response = messages
        .iter()
        .find(|m| {
            m.get("id") == Some(id) && (m.get("result").is_some() || m.get("error").is_some())
        })
        .cloned()
        .with_context(|| {
            format!(
                "no JSON-RPC response with id {id} in the answer:\n{}",
                http.describe()
            )
        })?;
    Ok(Exchange {
        http: http.clone(),
        messages,
        response,
    })
}

/// An initialized MCP session over Streamable HTTP.
#[derive(Debug)]
pub struct McpSession {
    url: String,
    id: String,
    protocol_version: String,
    initialize_result: Value,
    next_id: AtomicI64,
    headers: Vec<(String, String)>,
}

impl McpSession {
    /// `initialize` at `url`, then `notifications/initialized`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, &[]).await
    }

    /// The same session (id, protocol version, headers) sent to `url` — another gateway
    /// replica, say — with `headers` instead of this session's when given.
    pub fn sent_to(&self, url: &str, headers: Option<&[(&str, &str)]>) -> Self {
        McpSession {
            url: url.to_owned(),
            id: self.id.clone(),
            protocol_version: self.protocol_version.clone(),
            initialize_result: self.initialize_result.clone(),
            next_id: AtomicI64::new(self.next_id.load(Ordering::Relaxed) + 1000),
            headers: match headers {
                Some(h) => h
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                None => self.headers.clone(),
            },
        }
    }

    /// Like [`Self::connect`], with `headers` (a credential, say) on every request of the
    /// session, `initialize` included.
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::connect_version(url, PROTOCOL_VERSION, headers).await
    }

    /// Like [`Self::connect_with`], asking for protocol `version` in `initialize`.
    pub async fn connect_version(
        url: &str,
        version: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let id = json!(0);
        let body = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "toolgate-tests", "version": env!("CARGO_PKG_VERSION")},
            },
        });
        let http = post(url, None, headers, body.to_string()).await?;
        if http.status != StatusCode::OK {
            bail!(
                "initialize at {url} was not answered with 200:\n{}",
                http.describe()
            );
        }
        let session = http
            .session_id()
            .with_context(|| {
                format!(
                    "initialize at {url}: no Mcp-Session-Id:\n{}",
                    http.describe()
                )
            })?
            .to_owned();
        let exchange = response_to(&http, &id)?;
        let result = exchange.result()?.clone();
        let protocol_version = result["protocolVersion"]
            .as_str()
            .with_context(|| format!("initialize result without protocolVersion: {result}"))?
            .to_owned();
        let this = Self {
            url: url.to_owned(),
            id: session,
            protocol_version,
            initialize_result: result,
            next_id: AtomicI64::new(1),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let ack = this.notify("notifications/initialized", None).await?;
        if ack.status != StatusCode::ACCEPTED {
            bail!(
                "notifications/initialized was not answered with 202:\n{}",
                ack.describe()
            );
        }
        Ok(this)
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The protocol version the server chose.
    pub fn protocol_version(&self) -> &str {
        &self.protocol_version
    }

    /// The `initialize` result.
    pub fn initialize_result(&self) -> &Value {
        &self.initialize_result
    }

    /// POSTs `body` with this session's headers plus `headers`.
    pub async fn post(
        &self,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<HttpResponse> {
        let mut all = vec![(VERSION_HEADER, self.protocol_version.as_str())];
        all.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        all.extend_from_slice(headers);
        post(&self.url, Some(&self.id), &all, body).await
    }

    /// Sends a request with an explicit id; the HTTP status must be 200.
    pub async fn exchange_with_id(
        &self,
        id: Value,
        method: &str,
        params: Option<Value>,
    ) -> anyhow::Result<Exchange> {
        let mut body = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let Some(params) = params {
            body["params"] = params;
        }
        let http = self.post(&[], body.to_string()).await?;
        if http.status != StatusCode::OK {
            bail!("{method} was not answered with 200:\n{}", http.describe());
        }
        response_to(&http, &id)
    }

    /// Sends a request with a fresh id.
    pub async fn exchange(&self, method: &str, params: Option<Value>) -> anyhow::Result<Exchange> {
        let id = json!(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.exchange_with_id(id, method, params).await
    }

    /// Sends a request; returns the JSON-RPC response object (which may carry an error).
    pub async fn request(&self, method: &str, params: Option<Value>) -> anyhow::Result<Value> {
        Ok(self.exchange(method, params).await?.response)
    }

    /// Sends a request; returns its `result`, or fails with the JSON-RPC error.
    pub async fn result(&self, method: &str, params: Option<Value>) -> anyhow::Result<Value> {
        let response = self.request(method, params).await?;
        Ok(result_of(&response)
            .with_context(|| format!("{method} failed"))?
            .clone())
    }

    /// POSTs a notification; returns the HTTP response (202 expected).
    pub async fn notify(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> anyhow::Result<HttpResponse> {
        let mut body = json!({"jsonrpc": "2.0", "method": method});
        if let Some(params) = params {
            body["params"] = params;
        }
        self.post(&[], body.to_string()).await
    }

    /// `tools/call`; returns the JSON-RPC response object.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> anyhow::Result<Value> {
        self.request(
            "tools/call",
            Some(json!({"name": name, "arguments": arguments})),
        )
        .await
    }

    /// `tools/call` that must succeed: returns the result, fails on a JSON-RPC error or
    /// `isError: true`.
    pub async fn call_tool_ok(&self, name: &str, arguments: Value) -> anyhow::Result<Value> {
        let response = self.call_tool(name, arguments).await?;
        let result = result_of(&response).with_context(|| format!("calling {name}"))?;
        if result["isError"] == true {
            bail!("{name} returned isError: {result}");
        }
        Ok(result.clone())
    }

    /// `tools/call` with `_meta.progressToken`; returns the whole exchange (progress included).
    pub async fn call_tool_with_progress(
        &self,
        name: &str,
        arguments: Value,
        progress_token: Value,
    ) -> anyhow::Result<Exchange> {
        let params = json!({
            "name": name,
            "arguments": arguments,
            "_meta": {"progressToken": progress_token},
        });
        self.exchange("tools/call", Some(params)).await
    }

    /// The `name`s of every item of a paginated list (`tools/list` → `tools`, …).
    pub async fn list_names(
        &self,
        method: &str,
        key: &str,
        field: &str,
    ) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        let mut cursor: Option<Value> = None;
        for _page in 0..100 {
            let params = cursor.take().map(|c| json!({"cursor": c}));
            let result = self.result(method, params).await?;
            let items = result[key]
                .as_array()
                .with_context(|| format!("{method} result has no {key} array: {result}"))?;
            names.extend(
                items
                    .iter()
                    .filter_map(|i| i[field].as_str().map(str::to_owned)),
            );
            match result.get("nextCursor") {
                Some(next) if !next.is_null() => cursor = Some(next.clone()),
                _ => return Ok(names),
            }
        }
        bail!("{method}: more than 100 pages")
    }

    /// The names `tools/list` shows.
    pub async fn tool_names(&self) -> anyhow::Result<Vec<String>> {
        self.list_names("tools/list", "tools", "name").await
    }

    /// Polls `tools/list` until every name in `wanted` is there (upstreams may still be
    /// starting); returns the full list.
    pub async fn wait_for_tools(
        &self,
        wanted: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.tool_names().await;
            if let Ok(names) = &last
                && wanted.iter().all(|w| names.iter().any(|n| n == w))
            {
                return Ok(names.clone());
            }
            if Instant::now() >= deadline {
                bail!(
                    "tools/list did not show {wanted:?} within {timeout:?}; last answer: {last:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens the standalone SSE stream (GET) for server-initiated messages (with this
    /// session's headers).
    pub async fn open_stream(&self) -> anyhow::Result<SseStream> {
        let mut all = vec![(VERSION_HEADER, self.protocol_version.as_str())];
        all.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        open_stream(&self.url, Some(&self.id), &all).await
    }

    /// DELETE (with this session's headers): ends the session.
    pub async fn delete(&self) -> anyhow::Result<HttpResponse> {
        let all: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        send(
            Method::DELETE,
            &self.url,
            Some(&self.id),
            &all,
            Bytes::new(),
        )
        .await
    }
}

/// `GET url` with `Accept: text/event-stream`; the status must be 200. The body is read as it
/// arrives (see [`SseStream`]).
pub async fn open_stream(
    url: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
) -> anyhow::Result<SseStream> {
    let mut all = vec![(ACCEPT.as_str(), "text/event-stream")];
    all.extend_from_slice(headers);
    let request = build(Method::GET, url, session, &all, Bytes::new())?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client().request(request))
        .await
        .map_err(|_| anyhow!("GET {url}: no response headers within {REQUEST_TIMEOUT:?}"))?
        .with_context(|| format!("GET {url}"))?;
    let (parts, body) = response.into_parts();
    if parts.status != StatusCode::OK {
        bail!("GET {url} (SSE stream) answered {}", parts.status);
    }
    Ok(SseStream::new(parts.headers, body))
}

/// `POST url` with `body`, its answer read as an SSE stream as it arrives (a streamed chat
/// completion); the status must be 200.
pub async fn post_stream(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> anyhow::Result<SseStream> {
    let request = build(Method::POST, url, None, headers, body.into())?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client().request(request))
        .await
        .map_err(|_| anyhow!("POST {url}: no response headers within {REQUEST_TIMEOUT:?}"))?
        .with_context(|| format!("POST {url}"))?;
    let (parts, body) = response.into_parts();
    if parts.status != StatusCode::OK {
        bail!("POST {url} (SSE stream) answered {}", parts.status);
    }
    Ok(SseStream {
        headers: parts.headers,
        body,
        parser: SseParser::new(),
        ready: VecDeque::new(),
    })
}

/// A streaming SSE response (the standalone GET stream).
#[derive(Debug)]
pub struct SseStream {
    headers: HeaderMap,
    body: Incoming,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl SseStream {
    /// Reads `body` (a `text/event-stream` response from any hyper client) as SSE events.
    pub fn new(headers: HeaderMap, body: Incoming) -> Self {
        SseStream {
            headers,
            body,
            parser: SseParser::new(),
            ready: VecDeque::new(),
        }
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The next event; `None` when the stream ends. Fails after `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> anyhow::Result<Option<SseEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .map_err(|_| anyhow!("no SSE event within {timeout:?}"))?;
            match frame {
                None => return Ok(self.parser.finish()),
                Some(frame) => {
                    let frame = frame.context("reading the SSE stream")?;
                    if let Ok(data) = frame.into_data() {
                        self.ready.extend(self.parser.push(&data));
                    }
                }
            }
        }
    }

    /// Waits for a JSON-RPC message for which `pred` holds, skipping others; fails if the
    /// stream ends or `timeout` passes first.
    pub async fn wait_for_message(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .next_event(left)
                .await
                .with_context(|| format!("messages seen before giving up: {seen:?}"))?
                .with_context(|| format!("SSE stream ended; messages seen: {seen:?}"))?;
            if event.data.is_empty() {
                continue;
            }
            let message: Value = serde_json::from_str(&event.data)
                .with_context(|| format!("SSE event data is not JSON: {:?}", event.data))?;
            if pred(&message) {
                return Ok(message);
            }
            seen.push(message);
        }
    }
}
