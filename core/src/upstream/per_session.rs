//! `session_mode: per_session`: one upstream connection — a child process, or an HTTP session —
//! for each client session, made on the session's first call to the upstream and closed when
//! the session ends. Whatever such a connection sends (log messages, sampling, elicitation,
//! roots requests) belongs to that one client, so it reaches it even from a stdio server.
//!
//! The shared connection of the upstream stays: the gateway lists the catalog on it, and a
//! 2026-07-28 request (which has no session to keep a connection for) is served on it.
//! Connections are bounded (`max_sessions`): one more session gets -31000 "busy" at once.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt};

use super::{Upstream, UpstreamEvent, UpstreamOptions, UpstreamSpec};
use crate::envelope::{McpRequest, McpResponse};
use crate::error::McpError;
use crate::outbound::Outbound;

/// Default most per-session connections of one upstream.
pub const DEFAULT_MAX_SESSIONS: usize = 64;

/// The innermost service of a per-session upstream's stack.
#[derive(Clone, Debug)]
pub struct PerSession {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Upstream,
    spec: UpstreamSpec,
    options: UpstreamOptions,
    max: usize,
    shutdown: CancellationToken,
    /// Per session serial: its connection and what stops it.
    connections: Mutex<HashMap<u64, (Upstream, CancellationToken)>>,
    /// Where what a session's connection says outside its calls (resource updates) goes, to
    /// that session's stream only; set once the aggregate exists.
    notifications: std::sync::OnceLock<broadcast::Sender<Outbound>>,
}

impl PerSession {
    /// Per-session connections of `shared`'s server (described by `spec`), at most `max`;
    /// they stop with `shutdown` at the latest.
    pub fn new(
        shared: Upstream,
        spec: UpstreamSpec,
        options: UpstreamOptions,
        max: usize,
        shutdown: CancellationToken,
    ) -> Self {
        PerSession {
            inner: Arc::new(Inner {
                shared,
                spec,
                options,
                max,
                shutdown,
                connections: Mutex::new(HashMap::new()),
                notifications: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Sends what a session's connection says outside its calls (`resources/updated`) to that
    /// session, through `notifications` (the aggregate's, see
    /// [`Aggregate::notification_sender`](crate::aggregate::Aggregate::notification_sender)).
    pub fn notify_through(&self, notifications: broadcast::Sender<Outbound>) {
        let _ = self.inner.notifications.set(notifications);
    }

    /// How many per-session connections are open.
    pub fn open(&self) -> usize {
        self.inner.connections.lock().len()
    }

    /// The connection of the session `req` belongs to: made (and watched, so it closes with
    /// the session) on its first call.
    /// Also says whether it is the session's own (then a call waits for it to start).
    fn connection(&self, req: &McpRequest) -> Result<(Upstream, bool), McpError> {
        let info = &req.ctx.session;
        let Some(closed) = info.closed().filter(|_| !info.is_stateless()) else {
            return Ok((self.inner.shared.clone(), false));
        };
        let key = info.serial();
        let inner = &self.inner;
        let mut connections = inner.connections.lock();
        if let Some((upstream, _)) = connections.get(&key) {
            return Ok((upstream.clone(), true));
        }
        let name = inner.shared.name();
        if connections.len() >= inner.max {
            return Err(McpError::upstream_unavailable(
                name,
                format!(
                    "upstream '{name}' is busy: all {} per-session connections are in use \
                     (max_sessions); try again when a session ends",
                    inner.max
                ),
            ));
        }
        let stop = inner.shutdown.child_token();
        let upstream = Upstream::start_dedicated(
            name,
            inner.spec.clone(),
            inner.options.clone(),
            stop.clone(),
        );
        connections.insert(key, (upstream.clone(), stop.clone()));
        drop(connections);
        tracing::debug!(upstream = %name, session = key, "opened a per-session connection");
        // Closed with the session (or the gateway); meanwhile its resource updates go to the
        // session.
        let (weak, closed) = (Arc::downgrade(&self.inner), closed.clone());
        let mut events = upstream.events();
        let notifications = inner.notifications.get().cloned();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = closed.cancelled() => break,
                    _ = stop.cancelled() => break,
                    event = events.recv() => match event {
                        Ok(UpstreamEvent::ResourceUpdated(_, params)) => {
                            if let Some(n) = &notifications {
                                let _ = n.send(Outbound::Addressed {
                                    to: Arc::from([key]),
                                    message: Box::new(Outbound::Notification {
                                        method: "notifications/resources/updated".into(),
                                        params,
                                    }),
                                });
                            }
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            stop.cancel();
            if let Some(inner) = weak.upgrade() {
                inner.connections.lock().remove(&key);
                tracing::debug!(upstream = %inner.shared.name(), session = key, "closed a per-session connection");
            }
        });
        Ok((upstream, true))
    }
}

impl Service<McpRequest> for PerSession {
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let upstream = self.connection(&req);
        let wait = self.inner.options.connect_timeout;
        Box::pin(async move {
            let (upstream, own) = upstream?;
            // The session's connection may still be starting: the call waits for it (within
            // the handshake's limit) instead of failing.
            if own && !upstream.status().is_ready() && !upstream.ready(wait).await {
                let name = upstream.name();
                return Err(McpError::upstream_unavailable(
                    name,
                    format!(
                        "upstream '{name}': the connection for this session did not start: {}",
                        match upstream.status() {
                            super::UpstreamStatus::Down { reason } => reason,
                            _ => "no answer to initialize".to_string(),
                        }
                    ),
                ));
            }
            upstream.oneshot(req).await
        })
    }
}
