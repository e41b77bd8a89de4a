//! The table of requests in flight on one upstream connection, and the code that routes what
//! the upstream sends back: responses to their caller, progress to the caller's downstream,
//! list changes to the aggregate, and answers to the few requests a server may send us. It
//! knows connections only as a [`Link`]; no transport.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::link::{Link, Reply};
use super::{ListKind, Shared, UpstreamEvent, unavailable};
use crate::error::McpError;
use crate::jsonrpc::{
    Message, RequestId, error_frame, notification_frame, request_frame, response_frame,
};
use crate::params::{RawParams, progress_token};
use crate::session::Downstream;

struct Pending {
    tx: oneshot::Sender<Reply>,
    downstream: Downstream,
    progress_token: Option<Box<RawValue>>,
}

/// Requests in flight, by the gateway-assigned upstream id.
#[derive(Default)]
pub(crate) struct RequestTable {
    next: AtomicI64,
    pending: Mutex<HashMap<i64, Pending>>,
    /// On a connection of one client: what the upstream asked that client while none of its
    /// requests was in flight (`roots/list` right after `initialized`, say), held for its next
    /// request.
    held: Mutex<Vec<Message>>,
}

impl std::fmt::Debug for RequestTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTable")
            .field("inflight", &self.len())
            .finish()
    }
}

impl RequestTable {
    pub(crate) fn next_id(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
    fn insert(&self, id: i64, p: Pending) {
        self.pending.lock().insert(id, p);
    }
    fn take(&self, id: i64) -> Option<Pending> {
        self.pending.lock().remove(&id)
    }
    pub(crate) fn contains(&self, id: i64) -> bool {
        self.pending.lock().contains_key(&id)
    }
    pub(crate) fn len(&self) -> usize {
        self.pending.lock().len()
    }
    /// Fails every request in flight (the connection died).
    pub(crate) fn fail_all(&self, error: &McpError) {
        let drained: Vec<Pending> = self.pending.lock().drain().map(|(_, p)| p).collect();
        for p in drained {
            let _ = p.tx.send(Err(error.clone()));
        }
    }
    /// Holds a server-to-client request for the client's next request (see `held`).
    fn hold(&self, msg: Message) {
        self.held.lock().push(msg);
    }
    /// Takes back the held request with upstream id `id`, if it is still held.
    fn unhold(&self, id: &RequestId) -> Option<Message> {
        let mut held = self.held.lock();
        let at = held
            .iter()
            .position(|m| matches!(m, Message::Request(r) if r.id == *id))?;
        Some(held.remove(at))
    }
    /// Everything held.
    fn take_held(&self) -> Vec<Message> {
        std::mem::take(&mut *self.held.lock())
    }
    /// The downstream of some request in flight (on a connection of one client, any will do).
    fn any_downstream(&self) -> Option<Downstream> {
        self.pending
            .lock()
            .values()
            .find(|p| p.downstream.is_connected())
            .map(|p| p.downstream.clone())
    }
    fn progress_route(&self, id: i64) -> Option<(Downstream, Option<Box<RawValue>>)> {
        self.pending
            .lock()
            .get(&id)
            .map(|p| (p.downstream.clone(), p.progress_token.clone()))
    }
}

/// Removes the table entry (and cancels upstream) if the caller's future is dropped early.
struct InflightGuard<'a> {
    shared: &'a Arc<Shared>,
    link: &'a Link,
    id: i64,
    armed: bool,
}

impl InflightGuard<'_> {
    fn cancel_upstream(&mut self, reason: &str) {
        self.armed = false;
        if self.shared.table.take(self.id).is_some() {
            let params = serde_json::json!({"requestId": self.id, "reason": reason});
            if let Ok(raw) = serde_json::value::to_raw_value(&params) {
                self.link.send_message(
                    self.shared,
                    notification_frame("notifications/cancelled", Some(&raw)),
                );
            }
        }
    }
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.cancel_upstream("the gateway stopped waiting (client gone or time limit)");
        }
    }
}

/// Forwards one request on `link` (with extra HTTP `headers`, if the link is HTTP) and waits for
/// its answer or the caller's cancellation. Time limits are the caller's: the [`Deadline`]
/// layer of the upstream's stack, or the handshake's own. Dropping the future drops the table
/// entry and tells the upstream.
///
/// [`Deadline`]: super::Deadline
pub(crate) async fn call(
    shared: &Arc<Shared>,
    link: &Link,
    method: &str,
    params: Option<&RawValue>,
    downstream: Downstream,
    cancel: &CancellationToken,
    headers: &http::HeaderMap,
) -> Result<Box<RawValue>, McpError> {
    let id = shared.table.next_id();
    let (params, progress_token) = match params {
        Some(p) => {
            let (p, t) = rewrite_progress_token(p, id)?;
            (Some(p), t)
        }
        None => (None, None),
    };
    let (tx, mut rx) = oneshot::channel();
    // What the upstream asked this connection's client between its requests goes with this one.
    if shared.dedicated && downstream.is_connected() {
        for held in shared.table.take_held() {
            to_client(shared, link, downstream.clone(), held);
        }
    }
    shared.table.insert(
        id,
        Pending {
            tx,
            downstream,
            progress_token,
        },
    );
    let mut guard = InflightGuard {
        shared,
        link,
        id,
        armed: true,
    };
    let frame = request_frame(id, method, params.as_deref());
    let send = link.send_request(shared, id, frame, headers);
    tokio::pin!(send);
    let mut sent = false;
    loop {
        tokio::select! {
            biased;
            reply = &mut rx => {
                guard.armed = false;
                break reply.unwrap_or_else(|_| Err(unavailable(shared, "dropped the request")));
            }
            r = &mut send, if !sent => {
                sent = true;
                match r {
                    Ok(None) => {}
                    // The answer came with the send: straight to the caller.
                    Ok(Some(reply)) => {
                        guard.armed = false;
                        shared.table.take(id);
                        break reply;
                    }
                    Err(e) => {
                        guard.armed = false;
                        shared.table.take(id);
                        break Err(e);
                    }
                }
            }
            _ = cancel.cancelled() => {
                guard.cancel_upstream("cancelled by the client");
                break Err(McpError::cancelled());
            }
        }
    }
}

/// If the params carry `_meta.progressToken`, replaces it with the upstream id (unique on this
/// connection) and returns the original, raw, so progress can be routed back and restored
/// exactly as the client wrote it.
pub(crate) fn rewrite_progress_token(
    params: &RawValue,
    id: i64,
) -> Result<(Cow<'_, RawValue>, Option<Box<RawValue>>), McpError> {
    let Some(original) = progress_token(params)? else {
        return Ok((Cow::Borrowed(params), None));
    };
    let original = original.to_owned();
    let rewritten = RawParams::parse(params)?.with_meta("progressToken", &id.to_string())?;
    Ok((Cow::Owned(rewritten), Some(original)))
}

/// Routes one message that arrived from the upstream.
pub(crate) fn on_message(shared: &Arc<Shared>, link: &Link, bytes: &[u8]) {
    match Message::parse(bytes) {
        Ok(msg) => on_parsed(shared, link, msg),
        Err(e) => {
            tracing::warn!(upstream = %shared.name, error = %e.error, "upstream sent an invalid message");
        }
    }
}

/// `msg` as the reply to request `id` (the answer in an HTTP POST's own body), or back when it
/// is something else (then it goes to [`on_parsed`]).
pub(crate) fn reply_to(msg: Message, id: i64) -> Result<Reply, Message> {
    match msg {
        Message::Response {
            id: RequestId::Number(n),
            outcome,
        } if n == id => Ok(outcome.map_err(|raw| McpError::from_error_object(&raw))),
        other => Err(other),
    }
}

/// Routes a message that arrived on the stream of request `id` (an HTTP POST's SSE answer):
/// it belongs to that request's caller. A log message goes to that caller; a request
/// (`sampling/createMessage`, `elicitation/create`, `roots/list`, `ping`) is relayed to that
/// caller's client and its answer sent back to the upstream. Anything else, or when the
/// caller is gone, is routed as any message ([`on_parsed`]).
pub(crate) fn on_related(shared: &Arc<Shared>, link: &Link, id: i64, msg: Message) {
    let Some((downstream, _)) = shared.table.progress_route(id) else {
        return on_parsed(shared, link, msg);
    };
    to_client(shared, link, downstream, msg);
}

/// Delivers a message that belongs to the client behind `downstream` (see [`on_related`]).
fn to_client(shared: &Arc<Shared>, link: &Link, downstream: Downstream, msg: Message) {
    match msg {
        Message::Notification { method, params } if method.as_str() == "notifications/message" => {
            downstream.notify(method.as_str(), params.as_deref());
        }
        Message::Request(req) => {
            let (shared, link) = (shared.clone(), link.clone());
            let limit = shared.options.request_timeout;
            tokio::spawn(async move {
                let answer = downstream
                    .request(req.method.as_str(), req.params.as_deref(), limit)
                    .await;
                let frame = match answer {
                    Ok(result) => response_frame(&req.id, &result),
                    Err(e) => {
                        tracing::debug!(upstream = %shared.name, method = req.method.as_str(), error = %e, "a request relayed to the client failed");
                        error_frame(Some(&req.id), &e)
                    }
                };
                link.deliver(&shared, frame).await;
            });
        }
        other => route(shared, link, other),
    }
}

/// Routes one parsed message from the upstream. On a connection of one client (per-session
/// mode) a log message or a request belongs to that client: it goes to whichever of its
/// requests is in flight.
pub(crate) fn on_parsed(shared: &Arc<Shared>, link: &Link, msg: Message) {
    let for_the_client = matches!(&msg, Message::Request(_))
        || matches!(&msg, Message::Notification { method, .. } if method.as_str() == "notifications/message");
    if shared.dedicated && for_the_client {
        if let Some(downstream) = shared.table.any_downstream() {
            return to_client(shared, link, downstream, msg);
        }
        // None of the client's requests is in flight: a request waits for its next one (at
        // most `HOLD_LIMIT`, then it is answered as on a shared connection).
        if let Message::Request(req) = &msg {
            let id = req.id.clone();
            shared.table.hold(msg);
            let (shared, link) = (shared.clone(), link.clone());
            tokio::spawn(async move {
                tokio::time::sleep(HOLD_LIMIT.min(shared.options.request_timeout)).await;
                if let Some(msg) = shared.table.unhold(&id) {
                    route(&shared, &link, msg);
                }
            });
            return;
        }
    }
    route(shared, link, msg)
}

/// How long a server-to-client request on a connection of one client waits for that client's
/// next request before it is answered without the client.
const HOLD_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Routes a message that belongs to no particular client.
fn route(shared: &Arc<Shared>, link: &Link, msg: Message) {
    match msg {
        Message::Response { id, outcome } => {
            let RequestId::Number(n) = id else {
                tracing::warn!(upstream = %shared.name, "response with a string id the gateway never sent");
                return;
            };
            let Some(p) = shared.table.take(n) else {
                tracing::debug!(upstream = %shared.name, id = n, "late or unknown response dropped");
                return;
            };
            let reply = match outcome {
                Ok(result) => Ok(result),
                Err(raw) => Err(McpError::from_error_object(&raw)),
            };
            let _ = p.tx.send(reply);
        }
        Message::Notification { method, params } => {
            on_notification(shared, method.as_str(), params.as_deref())
        }
        Message::Request(req) => {
            let frame = match req.method.as_str() {
                "ping" => response_frame(&req.id, raw_empty()),
                "roots/list" => match RawValue::from_string(r#"{"roots":[]}"#.into()) {
                    Ok(r) => response_frame(&req.id, &r),
                    Err(_) => return,
                },
                other => error_frame(
                    Some(&req.id),
                    &McpError::method_not_found(other).with_data(serde_json::json!({
                        "source": "gateway",
                        "reason": "toolgate shares this upstream connection between clients and does not relay server-to-client requests on it",
                    })),
                ),
            };
            link.send_message(shared, frame);
        }
    }
}

fn raw_empty() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| {
        RawValue::from_string("{}".into()).unwrap_or_else(|_| unreachable!("{{}} is valid JSON"))
    })
}

fn on_notification(shared: &Arc<Shared>, method: &str, params: Option<&RawValue>) {
    let list = |kind| {
        let _ = shared
            .events
            .send(UpstreamEvent::ListChanged(shared.name.clone(), kind));
    };
    match method {
        "notifications/progress" => route_progress(shared, params),
        "notifications/tools/list_changed" => list(ListKind::Tools),
        "notifications/prompts/list_changed" => list(ListKind::Prompts),
        "notifications/resources/list_changed" => list(ListKind::Resources),
        "notifications/resources/updated" => {
            let _ = shared.events.send(UpstreamEvent::ResourceUpdated(
                shared.name.clone(),
                params.map(|p| Arc::from(p.to_owned())),
            ));
        }
        "notifications/message" => {
            tracing::info!(upstream = %shared.name, params = params.map(RawValue::get).unwrap_or("{}"), "upstream log message");
        }
        other => {
            tracing::debug!(upstream = %shared.name, method = other, "upstream notification ignored")
        }
    }
}

fn route_progress(shared: &Arc<Shared>, params: Option<&RawValue>) {
    let Some(params) = params else { return };
    let Ok(progress) = RawParams::parse(params) else {
        return;
    };
    let Some(id) = progress
        .get("progressToken")
        .and_then(|t| t.get().parse::<i64>().ok())
    else {
        return;
    };
    let Some((downstream, Some(original))) = shared.table.progress_route(id) else {
        return;
    };
    if let Ok(raw) = progress.with_member("progressToken", original.get()) {
        downstream.notify("notifications/progress", Some(&raw));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_token_is_rewritten_and_kept() {
        let raw = RawValue::from_string(
            r#"{"name":"sleep","_meta":{"progressToken":"abc"},"arguments":{}}"#.into(),
        )
        .expect("raw");
        let (p, t) = rewrite_progress_token(&raw, 42).expect("ok");
        assert_eq!(t.as_deref().map(RawValue::get), Some(r#""abc""#));
        let v: serde_json::Value = serde_json::from_str(p.get()).expect("json");
        assert_eq!(v["_meta"]["progressToken"], 42);
        assert_eq!(v["name"], "sleep");
    }

    #[test]
    fn params_without_token_are_untouched() {
        let raw = RawValue::from_string(r#"{"name":"echo"}"#.into()).expect("raw");
        let (p, t) = rewrite_progress_token(&raw, 1).expect("ok");
        assert!(matches!(p, Cow::Borrowed(_)));
        assert!(t.is_none());
    }
}
