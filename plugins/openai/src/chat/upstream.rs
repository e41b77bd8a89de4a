//! The HTTP client to the models: toolgate's one outbound client ([`toolgate::http::Client`]:
//! rustls with the system's roots for `https://` bases, plain TCP for `http://`, proxies from
//! the environment).
//!
//! Answers are relayed, not reinterpreted: a model's error comes back with its own status and
//! body (wrapped in OpenAI's error shape only when the body is not JSON), a stream is passed on
//! chunk by chunk as it arrives. Failures to reach the model are 502, a model that does not
//! answer in time 504 — each with a message naming the model.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::mpsc;
use toolgate::http::Client;
use toolgate::server::McpBody;

use super::models::Model;
use crate::http::{bytes_response, openai_error};

/// Largest non-streamed answer read from a model.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// How long connecting to a model may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Chunks buffered between a model's stream and a slow client.
const STREAM_BUFFER: usize = 64;

/// A shared client to every model.
#[derive(Clone, Debug)]
pub(crate) struct LlmClient {
    client: Result<Client, Arc<str>>,
}

/// Why a model could not be asked.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// Not reachable (DNS, connection refused, TLS, reset).
    Unreachable(String),
    /// No answer within the model's timeout.
    Timeout(Duration),
    /// The client could not be built (TLS set-up).
    Setup(String),
}

impl UpstreamError {
    /// The OpenAI-shaped error response for a request to `model`.
    pub(crate) fn response(&self, model: &Model) -> Response<McpBody> {
        match self {
            UpstreamError::Unreachable(why) => openai_error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                Some("model_unreachable"),
                None,
                format!(
                    "could not reach model '{}' at {}: {why}",
                    model.name, model.url
                ),
            ),
            UpstreamError::Timeout(limit) => openai_error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_error",
                Some("model_timeout"),
                None,
                format!(
                    "model '{}' did not answer within {}s (litellm_params.timeout)",
                    model.name,
                    limit.as_secs_f64()
                ),
            ),
            UpstreamError::Setup(why) => openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                None,
                format!("the gateway cannot make HTTPS requests: {why}"),
            ),
        }
    }
}

impl LlmClient {
    pub(crate) fn new() -> Self {
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| {
                tracing::error!(error = %e, "TLS set-up failed: https:// models cannot be reached");
                Arc::from(e.to_string())
            });
        LlmClient { client }
    }

    /// POSTs a chat-completions body to `model`; the answer's head arrives within the model's
    /// timeout.
    pub(crate) async fn send(
        &self,
        model: &Model,
        body: Bytes,
        stream: bool,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| UpstreamError::Setup(e.to_string()))?;
        let mut req = Request::post(model.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                ACCEPT,
                if stream {
                    "text/event-stream, application/json"
                } else {
                    "application/json"
                },
            )
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        if let Some(key) = &model.api_key {
            let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                UpstreamError::Unreachable("the api_key is not a valid header value".into())
            })?;
            req.headers_mut().insert(AUTHORIZATION, value);
        }
        match tokio::time::timeout(model.timeout, client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(UpstreamError::Unreachable(e.to_string())),
            Err(_) => Err(UpstreamError::Timeout(model.timeout)),
        }
    }
}

/// A whole answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// The headers worth passing on ([`relayed_headers`]).
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The headers of a model's answer that a client can use: `retry-after`, the rate-limit
/// headers, request ids and OpenAI's processing headers. Nothing else is passed on (hop-by-hop
/// headers, cookies, the upstream's own server details).
pub(crate) fn relayed_headers(from: &HeaderMap) -> HeaderMap {
    from.iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            n == "retry-after"
                || n == "x-request-id"
                || n.starts_with("x-ratelimit-")
                || n.starts_with("openai-")
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Reads a whole answer within the model's timeout.
pub(crate) async fn read_all(
    model: &Model,
    resp: Response<Incoming>,
) -> Result<Answer, UpstreamError> {
    let status = resp.status();
    let headers = relayed_headers(resp.headers());
    let read = crate::http::collect_limited(resp.into_body(), MAX_ANSWER_BYTES);
    match tokio::time::timeout(model.timeout, read).await {
        Ok(Ok(body)) => Ok(Answer {
            status,
            headers,
            body,
        }),
        Ok(Err(crate::http::Collect::TooLarge)) => Err(UpstreamError::Unreachable(format!(
            "the answer is larger than {MAX_ANSWER_BYTES} bytes"
        ))),
        Ok(Err(crate::http::Collect::Read(e))) => Err(UpstreamError::Unreachable(format!(
            "the answer broke off: {e}"
        ))),
        Err(_) => Err(UpstreamError::Timeout(model.timeout)),
    }
}

/// The client's response for a whole answer: a JSON body as it is with the model's status; any
/// other body wrapped in OpenAI's error shape with the same status (or 502 for a "success"
/// that is not JSON).
pub(crate) fn relay(model: &Model, answer: Answer) -> Response<McpBody> {
    let mut resp = relay_body(model, &answer);
    resp.headers_mut().extend(answer.headers);
    resp
}

fn relay_body(model: &Model, answer: &Answer) -> Response<McpBody> {
    if serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body).is_ok() {
        return bytes_response(answer.status, "application/json", answer.body.clone());
    }
    let text = String::from_utf8_lossy(&answer.body);
    let excerpt: String = text.chars().take(500).collect();
    let status = if answer.status.is_success() {
        StatusCode::BAD_GATEWAY
    } else {
        answer.status
    };
    openai_error(
        status,
        "upstream_error",
        None,
        None,
        format!(
            "model '{}' answered {} with a body that is not JSON: {excerpt}",
            model.name, answer.status
        ),
    )
}

/// Whether a response is an SSE stream.
pub(crate) fn is_event_stream(resp: &Response<Incoming>) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

/// Passes a model's SSE stream to the client chunk by chunk, as the chunks arrive. A chunk
/// that does not arrive within the model's timeout, or a stream that breaks, ends with an
/// `error` event (which the OpenAI SDKs raise); a client that goes away stops the stream and
/// closes the connection to the model.
pub(crate) fn stream_through(model: &Model, resp: Response<Incoming>) -> Response<McpBody> {
    let status = resp.status();
    let relayed = relayed_headers(resp.headers());
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    let idle = model.timeout;
    let name = model.name.clone();
    let mut body = resp.into_body();
    tokio::spawn(async move {
        loop {
            let failure = match tokio::time::timeout(idle, body.frame()).await {
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if tx.send(data).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(_) => continue,
                },
                Ok(None) => return,
                Ok(Some(Err(e))) => format!("the stream from model '{name}' broke off: {e}"),
                Err(_) => format!(
                    "model '{name}' sent nothing for {}s (litellm_params.timeout)",
                    idle.as_secs_f64()
                ),
            };
            tracing::warn!(model = %name, error = %failure, "chat stream ended early");
            let event =
                serde_json::json!({"error": {"message": failure, "type": "upstream_error"}});
            let _ = tx.send(Bytes::from(format!("\n\ndata: {event}\n\n"))).await;
            return;
        }
    });
    let mut r = Response::new(McpBody::channel(rx));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.extend(relayed);
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    r
}
