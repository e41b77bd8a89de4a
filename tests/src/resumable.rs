//! A small Streamable HTTP MCP server of our own that answers calls the SEP-1699 way: the
//! answer stream of a `tools/call` carries only a priming event (an event id and `retry:`)
//! and is closed; the response is served on `GET` with `Last-Event-ID`. The reference servers
//! in the field drop an answer produced while its stream is closed (the TypeScript SDK stores
//! an event only while the stream is open), so this one is what tells whether a client resumes
//! correctly. It counts resumptions and calls.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The one tool: its answer always goes through a resumption.
pub const TOOL: &str = "resumable_echo";

#[derive(Debug, Default)]
struct State {
    /// Answers waiting for their resumption, by the priming event's id (never locked across
    /// an await).
    pending: std::sync::Mutex<HashMap<String, Value>>,
    resumes: AtomicUsize,
    calls: AtomicUsize,
    next: AtomicUsize,
}

/// A running server (stops when dropped).
#[derive(Debug)]
pub struct ResumableServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl ResumableServer {
    /// Starts it on 127.0.0.1 with `retry_ms` as the announced reconnection delay.
    pub async fn start(retry_ms: u64) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let s = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, Infallible>(handle(&s, req, retry_ms).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(ResumableServer { addr, state, task })
    }

    /// Its MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// How many `GET`s with `Last-Event-ID` it answered.
    pub fn resumes(&self) -> usize {
        self.state.resumes.load(Ordering::SeqCst)
    }

    /// How many `tools/call` requests it received.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }
}

impl Drop for ResumableServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json_response(body: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    r.headers_mut()
        .insert("mcp-session-id", "resumable-1".parse().expect("static"));
    r
}

fn sse(text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().expect("static"));
    r
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

async fn handle(state: &State, req: Request<Incoming>, retry_ms: u64) -> Response<Full<Bytes>> {
    if req.method() == Method::GET {
        let Some(last) = req
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        };
        state.resumes.fetch_add(1, Ordering::SeqCst);
        let answer = state.pending.lock().ok().and_then(|mut p| p.remove(&last));
        return match answer {
            Some(answer) => sse(format!("id: {last}-answer\ndata: {answer}\n\n")),
            None => status(StatusCode::NOT_FOUND),
        };
    }
    if req.method() == Method::DELETE {
        return status(StatusCode::OK);
    }
    let Ok(body) = req.into_body().collect().await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let id = message["id"].clone();
    match message["method"].as_str() {
        Some("initialize") => json_response(&json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "resumable", "version": "1"}}})),
        Some("tools/list") => json_response(&json!({"jsonrpc": "2.0", "id": id, "result": {
            "tools": [{"name": TOOL, "description": "Echoes, always through a resumed stream",
                       "inputSchema": {"type": "object",
                                       "properties": {"message": {"type": "string"}}}}]}})),
        Some("tools/call") => {
            state.calls.fetch_add(1, Ordering::SeqCst);
            let text = message["params"]["arguments"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let event = format!("prime-{}", state.next.fetch_add(1, Ordering::SeqCst));
            let answer = json!({"jsonrpc": "2.0", "id": id, "result": {
                "content": [{"type": "text", "text": format!("resumed: {text}")}]}});
            if let Ok(mut pending) = state.pending.lock() {
                pending.insert(event.clone(), answer);
            }
            // The priming event, then the stream ends before the response.
            sse(format!("id: {event}\nretry: {retry_ms}\ndata: \n\n"))
        }
        Some(_) if id.is_null() => status(StatusCode::ACCEPTED),
        Some(_) => json_response(&json!({"jsonrpc": "2.0", "id": id, "result": {}})),
        None => status(StatusCode::BAD_REQUEST),
    }
}
