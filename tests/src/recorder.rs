//! A tiny HTTP server that records every request it gets and answers each with a fixed status:
//! a stand-in upstream for tests that check what a client sends (headers, paths, methods).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// One request as the recorder saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub uri: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// A header's value, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A recording server on 127.0.0.1; stops when dropped.
#[derive(Debug)]
pub struct Recorder {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Listens on a free loopback port; answers every request with `status` and a short
    /// plain-text body.
    pub async fn start(status: StatusCode) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            // The connections die with the accept loop.
            let mut connections = JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let sink = Arc::clone(&sink);
                let service = service_fn(move |req: Request<Incoming>| {
                    let sink = Arc::clone(&sink);
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        sink.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(RecordedRequest {
                                method: parts.method,
                                uri: parts.uri.to_string(),
                                headers: parts.headers,
                                body,
                            });
                        let mut response =
                            Response::new(Full::new(Bytes::from_static(b"recorded\n")));
                        *response.status_mut() = status;
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                connections.spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            requests,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits for the first request with `method`, failing after `timeout`.
    pub async fn wait_for(
        &self,
        method: Method,
        timeout: Duration,
    ) -> anyhow::Result<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.requests().into_iter().find(|r| r.method == method) {
                return Ok(r);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no {method} request within {timeout:?}; requests: {:?}",
                    self.requests()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
