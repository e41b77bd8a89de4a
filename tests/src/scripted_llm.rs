//! A scripted OpenAI-compatible chat-completions server on 127.0.0.1.
//!
//! It stands in for a paid LLM API (OpenAI, or any OpenAI-compatible service), which cannot
//! exist here: there is no network but loopback and no API key. It is not a model: it answers
//! by fixed rules, so a test knows exactly what the gateway must do with each answer.
//!
//! `POST /v1/chat/completions` answers by the requested `model` (the upstream name the gateway
//! sends, i.e. `litellm_params.model` without its `openai/` prefix):
//!
//! | model | answer |
//! |---|---|
//! | `scripted-error` | 429 `{"error": {"message": "Rate limit reached for scripted-error …", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}`, with `retry-after: 20`, `x-ratelimit-limit-requests: 3` and a `set-cookie` |
//! | `scripted-broken` | 503 with a plain-text body |
//! | `scripted-loop` | always a call of the first offered tool (to hit the gateway's round limit) |
//! | anything else | the rules below |
//!
//! 1. If the last message is a `role: tool` message: the text `The tool said: {its content}`.
//! 2. Else, if a tool whose name contains `echo` is offered: a call of it with
//!    `{"message": TEXT}`, TEXT being the part of the last user message between single quotes
//!    (or all of it).
//! 3. Else: the text `You said: {the last user message}`.
//!
//! With `"stream": true` the answer is SSE `chat.completion.chunk`s — the role, then the text
//! word by word (or the tool call), then the `finish_reason`, a usage chunk when
//! `stream_options.include_usage` is set, then `data: [DONE]`. After
//! [`ScriptedLlm::hold_streams`] a stream stops after its first chunk until
//! [`ScriptedLlm::release_streams`], so a test can see that the gateway passes chunks on as
//! they arrive. Every request is recorded with its headers ([`ScriptedLlm::requests`]).
//! `GET /v1/models` lists `scripted-tools`. The server stops when dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

/// How long a held stream waits for [`ScriptedLlm::release_streams`] before going on anyway.
const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The JSON body (`null` if it was not JSON).
    pub body: Value,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    open: watch::Sender<bool>,
    ids: AtomicU64,
}

/// The running server.
#[derive(Debug)]
pub struct ScriptedLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedLlm {
    /// Starts it on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the scripted LLM to 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            open: watch::Sender::new(true),
            ids: AtomicU64::new(1),
        });
        let accept = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let shared = accept.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The OpenAI-style base URL, `http://127.0.0.1:PORT/v1` (an `api_base`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The chat requests so far.
    pub fn chat_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .collect()
    }

    /// From now on, streams stop after their first chunk until [`Self::release_streams`].
    pub fn hold_streams(&self) {
        self.shared.open.send_replace(false);
    }

    /// Lets held streams go on.
    pub fn release_streams(&self) {
        self.shared.open.send_replace(true);
    }
}

type ReplyBody = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<ReplyBody> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ReplyBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Recorded {
            path: parts.uri.path().to_owned(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
    let path = parts.uri.path();
    if path.ends_with("/models") {
        let list = json!({"object": "list", "data": [{"id": "scripted-tools", "object": "model", "created": 0, "owned_by": "scripted"}]});
        return Ok(full(StatusCode::OK, "application/json", list.to_string()));
    }
    if !path.ends_with("/chat/completions") || parts.method != http::Method::POST {
        return Ok(full(StatusCode::NOT_FOUND, "text/plain", "no such route"));
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "scripted-error" => {
            let error = json!({"error": {
                "message": "Rate limit reached for scripted-error in organization org-test on requests per min (RPM): Limit 3, Used 3.",
                "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"
            }});
            let mut r = full(
                StatusCode::TOO_MANY_REQUESTS,
                "application/json",
                error.to_string(),
            );
            let h = r.headers_mut();
            h.insert("retry-after", http::HeaderValue::from_static("20"));
            h.insert(
                "x-ratelimit-limit-requests",
                http::HeaderValue::from_static("3"),
            );
            h.insert(
                "set-cookie",
                http::HeaderValue::from_static("upstream=secret"),
            );
            return Ok(r);
        }
        "scripted-broken" => {
            return Ok(full(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "upstream connect error or disconnect/reset before headers",
            ));
        }
        _ => {}
    }
    let n = shared.ids.fetch_add(1, Ordering::Relaxed);
    let answer = decide(&model, &body, n);
    let id = format!("chatcmpl-scripted-{n}");
    if body["stream"] == true {
        let include_usage = body["stream_options"]["include_usage"] == true;
        return Ok(stream(shared, id, model, answer, include_usage));
    }
    let (message, finish) = match &answer {
        Answer::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Answer::ToolCall(call) => (
            json!({"role": "assistant", "content": null, "tool_calls": [call]}),
            "tool_calls",
        ),
    };
    let completion = json!({
        "id": id, "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    });
    Ok(full(
        StatusCode::OK,
        "application/json",
        completion.to_string(),
    ))
}

enum Answer {
    Text(String),
    ToolCall(Value),
}

fn decide(model: &str, body: &Value, n: u64) -> Answer {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    let call = |name: &str, arguments: Value| {
        Answer::ToolCall(json!({
            "id": format!("call_{n}"), "type": "function",
            "function": {"name": name, "arguments": arguments.to_string()},
        }))
    };
    if model == "scripted-loop"
        && let Some(name) = tools.first().and_then(|t| t["function"]["name"].as_str())
    {
        return call(name, json!({"message": "again"}));
    }
    if let Some(last) = messages.last()
        && last["role"] == "tool"
    {
        return Answer::Text(format!(
            "The tool said: {}",
            last["content"].as_str().unwrap_or_default()
        ));
    }
    let user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let echo = tools.iter().find_map(|t| {
        t["function"]["name"]
            .as_str()
            .filter(|n| n.contains("echo"))
    });
    match echo {
        Some(name) => {
            let quoted = user.split('\'').nth(1).filter(|q| !q.is_empty());
            call(name, json!({"message": quoted.unwrap_or(&user)}))
        }
        None => Answer::Text(format!("You said: {user}")),
    }
}

fn stream(
    shared: Arc<Shared>,
    id: String,
    model: String,
    answer: Answer,
    include_usage: bool,
) -> Response<ReplyBody> {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let finish = match &answer {
        Answer::Text(text) => {
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            for w in words {
                chunks.push(chunk(json!({"content": w}), Value::Null));
            }
            "stop"
        }
        Answer::ToolCall(call) => {
            let mut head = call.clone();
            head["index"] = json!(0);
            let arguments = head["function"]["arguments"].take();
            head["function"]["arguments"] = json!("");
            chunks.push(chunk(json!({"tool_calls": [head]}), Value::Null));
            chunks.push(chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}),
                Value::Null,
            ));
            "tool_calls"
        }
    };
    chunks.push(chunk(json!({}), json!(finish)));
    if include_usage {
        let mut usage = chunk(json!({}), Value::Null);
        usage["choices"] = json!([]);
        usage["usage"] = json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15});
        chunks.push(usage);
    }
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    tokio::spawn(async move {
        let mut open = shared.open.subscribe();
        for (i, c) in chunks.into_iter().enumerate() {
            if i == 1 {
                let _ = tokio::time::timeout(HOLD_LIMIT, open.wait_for(|o| *o)).await;
            }
            if tx
                .send(Bytes::from(format!("data: {c}\n\n")))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    let mut r = Response::new(ChannelBody(rx).boxed());
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    r
}

/// A body fed by a channel, chunk by chunk.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}
