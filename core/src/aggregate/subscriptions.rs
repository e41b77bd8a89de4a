//! Resource subscriptions, per client session: `resources/subscribe` is forwarded to the
//! upstream only for the first subscriber of a URI and `resources/unsubscribe` only for the
//! last; a session that ends drops its subscriptions. `notifications/resources/updated` from an
//! upstream goes to the sessions subscribed to that URI, and to no other.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::{Aggregate, Inner};
use crate::envelope::{McpRequest, McpResponse};
use crate::error::McpError;
use crate::outbound::Outbound;
use crate::params::RawParams;
use crate::session::Downstream;

/// Who is subscribed to what.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    /// (member, URI) → the serials of the sessions subscribed to it.
    by_uri: HashMap<(usize, String), HashSet<u64>>,
    /// The sessions whose end is watched.
    watched: HashSet<u64>,
}

impl Aggregate {
    /// `resources/subscribe` of `uri` (served by member `idx`) for the session of `req`.
    pub(super) async fn subscribe_resource(
        &self,
        idx: usize,
        uri: String,
        req: McpRequest,
    ) -> Result<McpResponse, McpError> {
        // Each session's own connection subscribes for itself (its updates go to it alone).
        if self.is_per_session(idx) {
            return self.forward(idx, req).await;
        }
        let session = req.ctx.session.serial();
        let (first, watch) = {
            let mut subs = self.inner.subscriptions.lock();
            let set = subs.by_uri.entry((idx, uri.clone())).or_default();
            let first = set.is_empty();
            set.insert(session);
            (first, subs.watched.insert(session))
        };
        if watch && let Some(closed) = req.ctx.session.closed() {
            tokio::spawn(forget_when_closed(
                Arc::downgrade(&self.inner),
                session,
                closed.clone(),
            ));
        }
        if !first {
            return McpResponse::from_typed(&serde_json::json!({}));
        }
        let answer = self.forward(idx, req).await;
        if answer.is_err() {
            self.drop_subscriber(idx, &uri, session);
        }
        answer
    }

    /// `resources/unsubscribe` of `uri` (member `idx`) for the session of `req`.
    pub(super) async fn unsubscribe_resource(
        &self,
        idx: usize,
        uri: String,
        req: McpRequest,
    ) -> Result<McpResponse, McpError> {
        if self.is_per_session(idx) {
            return self.forward(idx, req).await;
        }
        let session = req.ctx.session.serial();
        if self.drop_subscriber(idx, &uri, session) {
            return self.forward(idx, req).await;
        }
        McpResponse::from_typed(&serde_json::json!({}))
    }

    /// Whether member `idx` gives each session its own connection.
    fn is_per_session(&self, idx: usize) -> bool {
        self.inner
            .members
            .get(idx)
            .is_some_and(|m| m.per_session.is_some())
    }

    /// Removes `session` from `uri`'s subscribers; true when it was the last.
    fn drop_subscriber(&self, idx: usize, uri: &str, session: u64) -> bool {
        let mut subs = self.inner.subscriptions.lock();
        let key = (idx, uri.to_owned());
        let Some(set) = subs.by_uri.get_mut(&key) else {
            return false;
        };
        if !set.remove(&session) || !set.is_empty() {
            return false;
        }
        subs.by_uri.remove(&key);
        true
    }
}

/// `notifications/resources/updated` from member `idx`, for the sessions subscribed to its URI.
pub(super) fn updated(inner: &Inner, idx: usize, params: Option<Arc<RawValue>>) {
    let uri = params.as_deref().and_then(|p| {
        RawParams::parse(p)
            .ok()?
            .get_str("uri")
            .ok()
            .flatten()
            .map(|u| u.into_owned())
    });
    let Some(uri) = uri else {
        return;
    };
    let to: Arc<[u64]> = match inner.subscriptions.lock().by_uri.get(&(idx, uri)) {
        Some(set) if !set.is_empty() => set.iter().copied().collect(),
        _ => return,
    };
    let _ = inner.notifications.send(Outbound::Addressed {
        to,
        message: Box::new(Outbound::Notification {
            method: "notifications/resources/updated".into(),
            params,
        }),
    });
}

/// When the session ends, its subscriptions go; a URI it was the last subscriber of is
/// unsubscribed upstream (a per-session connection ends with the session anyway).
async fn forget_when_closed(
    inner: std::sync::Weak<Inner>,
    session: u64,
    closed: CancellationToken,
) {
    closed.cancelled().await;
    let Some(inner) = inner.upgrade() else {
        return;
    };
    let emptied: Vec<(usize, String)> = {
        let mut subs = inner.subscriptions.lock();
        subs.watched.remove(&session);
        let mut emptied = Vec::new();
        subs.by_uri.retain(|key, set| {
            if set.remove(&session) && set.is_empty() {
                emptied.push(key.clone());
                return false;
            }
            true
        });
        emptied
    };
    for (idx, uri) in emptied {
        let Some(member) = inner.members.get(idx) else {
            continue;
        };
        if member.per_session.is_some() {
            continue;
        }
        let Ok(params) = serde_json::value::to_raw_value(&serde_json::json!({"uri": uri})) else {
            continue;
        };
        let upstream = member.upstream.clone();
        let never = CancellationToken::new();
        if let Err(e) = upstream
            .call(
                "resources/unsubscribe",
                Some(&params),
                Downstream::none(),
                &never,
            )
            .await
        {
            tracing::debug!(upstream = upstream.name(), %uri, error = %e, "unsubscribing a left session failed");
        }
    }
}
