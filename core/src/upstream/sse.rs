//! Upstream over legacy HTTP+SSE (MCP 2024-11-05).
//!
//! The gateway GETs the server's SSE URL; the first `endpoint` event names the URL to POST
//! messages to (relative URLs resolve against the SSE URL, and must stay on the same origin).
//! Every POST is answered 202; answers and notifications arrive on the stream and go through the
//! same request table as the other transports. When the stream drops, calls in flight fail at
//! once with a retryable error and the supervisor reconnects with backoff.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::Full;

use super::link::{BoxFuture, Connection, Link, Reply};
use super::remote::{self, HttpClient, HttpSpec, is_event_stream, read_snippet};
use super::table;
use super::{Backoff, Shared, UpstreamStatus, handshake, unavailable};
use crate::error::{ErrorKind, McpError};

/// Where messages for one SSE session go.
#[derive(Debug)]
pub(crate) struct SseLink {
    client: HttpClient,
    endpoint: Uri,
    headers: HeaderMap,
}

impl SseLink {
    fn request(&self, frame: Bytes) -> Result<Request<Full<Bytes>>, McpError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.clone())
            .body(Full::new(frame))
            .map_err(|e| McpError::internal(format!("could not build an upstream request: {e}")))?;
        let h = req.headers_mut();
        h.extend(self.headers.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(req)
    }

    /// POSTs one message; the answer, if any, arrives on the stream.
    pub(crate) async fn post(
        &self,
        shared: &Shared,
        frame: Bytes,
        headers: &HeaderMap,
    ) -> Result<(), McpError> {
        let build = || {
            let mut req = self.request(frame.clone())?;
            if !headers.is_empty() {
                req.headers_mut().extend(headers.clone());
            }
            Ok(req)
        };
        let send = |req| async {
            self.client.request(req).await.map_err(|e| {
                unavailable(
                    shared,
                    format_args!("could not be reached at {}: {e}", self.endpoint),
                )
            })
        };
        let resp = remote::send_authorized(shared, &shared.credentials, build, send).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = read_snippet(resp).await;
        Err(McpError::gateway(
            ErrorKind::UpstreamUnavailable,
            &shared.name,
            status.is_server_error() || status.as_u16() == 404,
            format!(
                "upstream '{}' refused a message with HTTP {status}: {body}",
                shared.name
            ),
        ))
    }
}

/// Requests are POSTed to the endpoint; every answer arrives on the stream.
impl Connection for SseLink {
    fn send_request<'a>(
        &'a self,
        shared: &'a Arc<Shared>,
        _link: &'a Link,
        _id: i64,
        frame: Bytes,
        headers: &'a HeaderMap,
    ) -> BoxFuture<'a, Result<Option<Reply>, McpError>> {
        Box::pin(async move { self.post(shared, frame, headers).await.map(|()| None) })
    }

    fn deliver<'a>(&'a self, shared: &'a Arc<Shared>, frame: Bytes) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.post(shared, frame, &HeaderMap::new()).await {
                tracing::debug!(upstream = %shared.name, error = %e, "could not send a message");
            }
        })
    }
}

/// Resolves the `endpoint` event's data against the SSE URL; it must stay on the same origin.
pub(crate) fn resolve_endpoint(base: &Uri, endpoint: &str) -> Result<Uri, String> {
    let endpoint = endpoint.trim();
    let uri: Uri = if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        endpoint
            .parse()
            .map_err(|e| format!("bad endpoint '{endpoint}': {e}"))?
    } else {
        let path = if endpoint.starts_with('/') {
            endpoint.to_string()
        } else {
            let base_path = base.path();
            let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{endpoint}")
        };
        let mut parts = base.clone().into_parts();
        parts.path_and_query = Some(
            path.parse()
                .map_err(|e| format!("bad endpoint '{endpoint}': {e}"))?,
        );
        Uri::from_parts(parts).map_err(|e| format!("bad endpoint '{endpoint}': {e}"))?
    };
    if uri.scheme() != base.scheme() || uri.authority() != base.authority() {
        return Err(format!(
            "endpoint '{endpoint}' is on another origin than {base}; refusing to send messages there"
        ));
    }
    Ok(uri)
}

pub(crate) fn spawn_supervisor(shared: Arc<Shared>, spec: HttpSpec) {
    tokio::spawn(supervise(shared, spec));
}

pub(crate) async fn supervise(shared: Arc<Shared>, spec: HttpSpec) {
    let (uri, headers) = match remote::parse_spec(&spec) {
        Ok(x) => x,
        Err(reason) => {
            shared.set_status(UpstreamStatus::Down { reason });
            return;
        }
    };
    let client = match remote::client(&spec, &shared.options) {
        Ok(c) => c,
        Err(reason) => {
            tracing::error!(upstream = %shared.name, %reason, "upstream cannot be reached: its client settings are wrong");
            shared.set_status(UpstreamStatus::Down { reason });
            return;
        }
    };
    let mut backoff = Backoff::new(&shared.options);
    loop {
        let Some(reason) = run_once(&shared, &client, &uri, &headers, &mut backoff).await else {
            break;
        };
        if !shared.went_down(reason, &mut backoff).await {
            break;
        }
    }
    shared.stopped();
}

/// One SSE connection, until it drops. `None` means the gateway is shutting down.
async fn run_once(
    shared: &Arc<Shared>,
    client: &HttpClient,
    uri: &Uri,
    headers: &HeaderMap,
    backoff: &mut Backoff,
) -> Option<String> {
    let build = || {
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(uri.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| McpError::internal(format!("could not build the SSE request: {e}")))?;
        req.headers_mut().extend(headers.clone());
        req.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        Ok(req)
    };
    let send = |req| async {
        client
            .request(req)
            .await
            .map_err(|e| McpError::internal(format!("could not be reached at {uri}: {e}")))
    };
    let resp = tokio::select! {
        r = remote::send_authorized(shared, &shared.credentials, build, send) => match r {
            Ok(r) => r,
            Err(e) => return Some(e.message().to_string()),
        },
        _ = shared.shutdown.cancelled() => return None,
    };
    if !resp.status().is_success() || !is_event_stream(resp.headers()) {
        let status = resp.status();
        let body = read_snippet(resp).await;
        return Some(format!(
            "GET {uri} answered HTTP {status}, not an event stream: {body}"
        ));
    }
    let mut events = sse_stream::SseStream::new(resp.into_body());

    let endpoint = tokio::time::timeout(shared.options.connect_timeout, async {
        while let Some(ev) = events.next().await {
            match ev {
                Ok(ev) if ev.event.as_deref() == Some("endpoint") => return ev.data,
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    });
    let endpoint = match endpoint.await {
        Ok(Some(e)) => e,
        Ok(None) => return Some("the SSE stream ended before its endpoint event".into()),
        Err(_) => return Some("no endpoint event arrived in time".into()),
    };
    let endpoint = match resolve_endpoint(uri, &endpoint) {
        Ok(e) => e,
        Err(reason) => return Some(reason),
    };
    let link = Link::new(SseLink {
        client: client.clone(),
        endpoint,
        headers: headers.clone(),
    });

    let reader = {
        let link = link.clone();
        let shared = shared.clone();
        async move {
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ev) => {
                        let is_message = ev.event.as_deref().is_none_or(|e| e == "message");
                        if let Some(data) = ev.data.as_deref()
                            && is_message
                            && !data.trim().is_empty()
                        {
                            table::on_message(&shared, &link, data.as_bytes());
                        }
                    }
                    Err(e) => return format!("the event stream broke: {e}"),
                }
            }
            "the event stream ended".to_string()
        }
    };
    tokio::pin!(reader);

    tokio::select! {
        r = handshake::initialize(shared, &link) => match r {
            Ok(info) => {
                tracing::info!(upstream = %shared.name, server = %info.server_info.name, version = %info.protocol_version, "upstream ready (legacy SSE)");
                shared.set_link(Some(link));
                shared.set_status(UpstreamStatus::Ready(Arc::new(info)));
                backoff.reset();
            }
            Err(e) => return Some(format!("initialize failed: {}", e.message())),
        },
        reason = &mut reader => return Some(reason),
        _ = shared.shutdown.cancelled() => return None,
    }
    tokio::select! {
        reason = &mut reader => Some(reason),
        _ = shared.shutdown.cancelled() => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_on_the_same_origin() {
        let base: Uri = "http://127.0.0.1:8000/sse".parse().expect("uri");
        let e = resolve_endpoint(&base, "/message?sessionId=abc").expect("ok");
        assert_eq!(e.to_string(), "http://127.0.0.1:8000/message?sessionId=abc");
        let base2: Uri = "http://h:1/a/sse".parse().expect("uri");
        let e = resolve_endpoint(&base2, "messages?x=1").expect("ok");
        assert_eq!(e.to_string(), "http://h:1/a/messages?x=1");
        assert!(resolve_endpoint(&base, "http://evil.example/steal").is_err());
    }
}
