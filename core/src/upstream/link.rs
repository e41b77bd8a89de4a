//! How frames reach an upstream: [`Link`], one connection of any transport behind the
//! [`Connection`] trait. Each transport implements it in its own file; the request table and
//! the handshake know only this, not the transports.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{Shared, UpstreamCaller, unavailable};
use crate::error::McpError;

/// A boxed future borrowing the connection.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The answer to one request, when it came back with the request itself (an HTTP POST's own
/// body): the caller takes it directly, without a trip through the request table.
pub(crate) type Reply = Result<Box<RawValue>, McpError>;

/// One connection to an upstream.
pub(crate) trait Connection: Send + Sync + std::fmt::Debug {
    /// Sends the request frame `frame` (upstream id `id`) with extra HTTP `headers`. Returns the
    /// reply if it arrived with the send (then the table entry is the caller's to drop), or
    /// `None` when it will arrive through the request table. Messages that are not the reply
    /// (progress, notifications) are routed through `table::on_message` with `link`.
    fn send_request<'a>(
        &'a self,
        shared: &'a Arc<Shared>,
        link: &'a Link,
        id: i64,
        frame: Bytes,
        headers: &'a http::HeaderMap,
    ) -> BoxFuture<'a, Result<Option<Reply>, McpError>>;

    /// Sends a notification or response and waits until the server took it (over HTTP, so that
    /// `notifications/initialized` is processed before the first request follows).
    fn deliver<'a>(&'a self, shared: &'a Arc<Shared>, frame: Bytes) -> BoxFuture<'a, ()>;

    /// The connection that carries calls made for `caller`, when this transport keeps one per
    /// caller (a Streamable HTTP session opened with the caller's own token, for upstreams
    /// that act for callers): created and initialized on first use. `None`: calls for
    /// callers go on this connection, with the caller's token on each request.
    fn for_caller<'a>(
        &'a self,
        shared: &'a Arc<Shared>,
        caller: &'a UpstreamCaller,
    ) -> BoxFuture<'a, Result<Option<Link>, McpError>> {
        let _ = (shared, caller);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Sends a notification or response if that needs no waiting (a pipe queues it in order):
    /// `None` when done, or the frame back when it has to be delivered by a task.
    fn try_send(&self, shared: &Shared, frame: Bytes) -> Option<Bytes> {
        let _ = shared;
        Some(frame)
    }
}

/// A connection, shared.
#[derive(Clone, Debug)]
pub(crate) struct Link(Arc<dyn Connection>);

impl Link {
    pub(crate) fn new(connection: impl Connection + 'static) -> Self {
        Link(Arc::new(connection))
    }
    pub(crate) fn from_arc(connection: Arc<dyn Connection>) -> Self {
        Link(connection)
    }
    pub(crate) fn send_request<'a>(
        &'a self,
        shared: &'a Arc<Shared>,
        id: i64,
        frame: Bytes,
        headers: &'a http::HeaderMap,
    ) -> BoxFuture<'a, Result<Option<Reply>, McpError>> {
        self.0.send_request(shared, self, id, frame, headers)
    }
    /// See [`Connection::for_caller`]: the link for `caller`'s calls (this one if the
    /// transport keeps no per-caller connections).
    pub(crate) async fn for_caller(
        &self,
        shared: &Arc<Shared>,
        caller: &UpstreamCaller,
    ) -> Result<Link, McpError> {
        Ok(self
            .0
            .for_caller(shared, caller)
            .await?
            .unwrap_or_else(|| self.clone()))
    }
    /// Sends a notification or a response, without waiting.
    pub(crate) fn send_message(&self, shared: &Arc<Shared>, frame: Bytes) {
        if let Some(frame) = self.0.try_send(shared, frame) {
            let link = self.clone();
            let shared = shared.clone();
            tokio::spawn(async move { link.deliver(&shared, frame).await });
        }
    }
    /// See [`Connection::deliver`].
    pub(crate) async fn deliver(&self, shared: &Arc<Shared>, frame: Bytes) {
        self.0.deliver(shared, frame).await
    }
}

/// A child's stdin: frames are queued in order on the pipe's writer.
#[derive(Debug)]
pub(crate) struct Pipe(pub(crate) mpsc::Sender<Bytes>);

impl Connection for Pipe {
    fn send_request<'a>(
        &'a self,
        shared: &'a Arc<Shared>,
        _link: &'a Link,
        _id: i64,
        frame: Bytes,
        _headers: &'a http::HeaderMap,
    ) -> BoxFuture<'a, Result<Option<Reply>, McpError>> {
        Box::pin(async move {
            self.0
                .send(frame)
                .await
                .map(|()| None)
                .map_err(|_| unavailable(shared, "closed its input"))
        })
    }

    fn deliver<'a>(&'a self, shared: &'a Arc<Shared>, frame: Bytes) -> BoxFuture<'a, ()> {
        let _ = self.try_send(shared, frame);
        Box::pin(std::future::ready(()))
    }

    fn try_send(&self, shared: &Shared, frame: Bytes) -> Option<Bytes> {
        if self.0.try_send(frame).is_err() {
            tracing::debug!(upstream = %shared.name, "dropped a message: stdin queue full or closed");
        }
        None
    }
}
