//! What goes to a client, typed: responses, progress, other notifications, requests from the
//! server side, keep-alives and legacy SSE's `endpoint` event. Layers see these values (a
//! timeout layer knows progress when it sees [`Outbound::Progress`]); each transport turns
//! them into bytes at its edge ([`Outbound::to_json`], and SSE events in `server/body.rs`).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::jsonrpc::{RequestId, notification_frame, request_frame_with_id};

/// One message to a client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outbound {
    /// The answer to one of the client's requests: the JSON-RPC response or error the
    /// dispatcher wrote for it.
    Response(Bytes),
    /// `notifications/progress` for one of the client's requests (its params, raw).
    Progress(Arc<RawValue>),
    /// Any other notification.
    Notification {
        /// The method, such as `notifications/tools/list_changed`.
        method: Arc<str>,
        /// The params, raw.
        params: Option<Arc<RawValue>>,
    },
    /// A request to the client from the server side (`sampling/createMessage`, `ping`, …).
    Request {
        /// The id the client answers with.
        id: RequestId,
        /// The method.
        method: Arc<str>,
        /// The params, raw.
        params: Option<Arc<RawValue>>,
    },
    /// Nothing to say: keeps an idle stream open (an SSE comment; nothing on stdio).
    KeepAlive,
    /// Legacy SSE's first event: the URL to POST messages to.
    Endpoint(Arc<str>),
    /// `message`, for the sessions whose [`serial`](crate::session::SessionInfo::serial) is in
    /// `to` only (a resource update goes to the sessions subscribed to it); the others' streams
    /// skip it.
    Addressed {
        /// The sessions it is for.
        to: Arc<[u64]>,
        /// What they get.
        message: Box<Outbound>,
    },
}

impl Outbound {
    /// A notification `method` with `params`; `notifications/progress` becomes
    /// [`Outbound::Progress`].
    pub fn notification(method: &str, params: Option<&RawValue>) -> Outbound {
        match (method, params) {
            ("notifications/progress", Some(p)) => Outbound::Progress(Arc::from(p.to_owned())),
            _ => Outbound::Notification {
                method: method.into(),
                params: params.map(|p| Arc::from(p.to_owned())),
            },
        }
    }

    /// What the session numbered `session` gets of this message: the message itself, or for
    /// an [`Outbound::Addressed`] one, its content if the session is among the addressees.
    pub fn for_session(self, session: u64) -> Option<Outbound> {
        match self {
            Outbound::Addressed { to, message } => to.contains(&session).then_some(*message),
            other => Some(other),
        }
    }

    /// Whether this is a progress notification.
    pub fn is_progress(&self) -> bool {
        matches!(self, Outbound::Progress(_))
    }

    /// The method of a notification or request.
    pub fn method(&self) -> Option<&str> {
        match self {
            Outbound::Progress(_) => Some("notifications/progress"),
            Outbound::Notification { method, .. } | Outbound::Request { method, .. } => {
                Some(method)
            }
            _ => None,
        }
    }

    /// The JSON-RPC message as bytes, for transports that carry one per line or event; `None`
    /// for what is not a JSON-RPC message (keep-alive, `endpoint`).
    pub fn to_json(&self) -> Option<Bytes> {
        match self {
            Outbound::Response(frame) => Some(frame.clone()),
            Outbound::Progress(params) => {
                Some(notification_frame("notifications/progress", Some(params)))
            }
            Outbound::Notification { method, params } => {
                Some(notification_frame(method, params.as_deref()))
            }
            Outbound::Request { id, method, params } => {
                Some(request_frame_with_id(id, method, params.as_deref()))
            }
            Outbound::Addressed { message, .. } => message.to_json(),
            Outbound::KeepAlive | Outbound::Endpoint(_) => None,
        }
    }
}

/// Feeds `on` the messages of `messages` (the gateway's notifications, from
/// [`Aggregate::subscribe`](crate::aggregate::Aggregate::subscribe)) for as long as `owner`
/// lives and the channel is open: spawns a task, which ends at the first message after
/// `owner` is dropped. `on(owner, None)` says the receiver fell behind and missed messages
/// (a cache should then forget everything). For layers that keep state derived from the
/// catalog.
pub fn watch<T>(
    mut messages: tokio::sync::broadcast::Receiver<Outbound>,
    owner: std::sync::Weak<T>,
    on: impl Fn(Arc<T>, Option<&Outbound>) + Send + 'static,
) where
    T: Send + Sync + 'static,
{
    use tokio::sync::broadcast::error::RecvError;
    tokio::spawn(async move {
        loop {
            let message = messages.recv().await;
            let Some(owner) = owner.upgrade() else {
                return;
            };
            match message {
                Ok(message) => on(owner, Some(&message)),
                Err(RecvError::Lagged(_)) => on(owner, None),
                Err(RecvError::Closed) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_typed_and_serialized_at_the_edge() {
        let p = RawValue::from_string(r#"{"progressToken":1,"progress":2}"#.into()).expect("raw");
        let o = Outbound::notification("notifications/progress", Some(&p));
        assert!(o.is_progress());
        let v: serde_json::Value =
            serde_json::from_slice(&o.to_json().expect("a message")).expect("json");
        assert_eq!(v["method"], "notifications/progress");
        assert_eq!(v["params"]["progress"], 2);
        assert!(!Outbound::notification("notifications/tools/list_changed", None).is_progress());
        assert!(Outbound::KeepAlive.to_json().is_none());
    }
}
