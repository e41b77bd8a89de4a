//! A 2026-07-28 client in front of a 2025-era upstream (SEP-2322, multi round-trip requests).
//!
//! A 2026-07-28 client takes no server-to-client requests: when an upstream asks for sampling,
//! elicitation or roots in the middle of such a client's call, the gateway ends the client's
//! request with an `input_required` result — the upstream's request as one of `inputRequests`,
//! and a `requestState` token — while the upstream call waits, suspended. The client's retry
//! carries `inputResponses` and that `requestState`: the answer goes to the upstream, and the
//! client gets what the call does next — its result, or the next `input_required`.
//!
//! A suspended call that nobody comes back for is dropped after [`SUSPENDED_FOR`] (the upstream
//! gets `notifications/cancelled`). `requestState` is 32 random bytes: unguessable, and
//! unknown after use or expiry.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::McpError;
use crate::params::RawParams;
use crate::session::InputRequest;

/// How long a suspended call waits for the client's retry.
pub(crate) const SUSPENDED_FOR: Duration = Duration::from_secs(300);

type Answer = oneshot::Sender<Result<Box<RawValue>, McpError>>;

/// One call waiting for its client's input.
struct Suspended {
    inputs: mpsc::Receiver<InputRequest>,
    call: JoinHandle<Result<Box<RawValue>, McpError>>,
    /// The `inputRequests` keys asked and not answered yet, and where each answer goes.
    waiting: HashMap<String, Answer>,
    asked: usize,
}

impl Drop for Suspended {
    fn drop(&mut self) {
        self.call.abort();
    }
}

/// The suspended calls of one gateway.
#[derive(Default)]
pub(crate) struct Suspensions {
    calls: Mutex<HashMap<String, Suspended>>,
}

impl std::fmt::Debug for Suspensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suspensions")
            .field("suspended", &self.calls.lock().len())
            .finish()
    }
}

impl Suspensions {
    /// Runs `call` for a 2026-07-28 client whose downstream sends requests for the client to
    /// the sender of `inputs`: its result, or an `input_required` result while it waits.
    pub(crate) async fn run(
        self: &Arc<Self>,
        call: impl Future<Output = Result<Box<RawValue>, McpError>> + Send + 'static,
        inputs: mpsc::Receiver<InputRequest>,
    ) -> Result<Box<RawValue>, McpError> {
        let suspended = Suspended {
            inputs,
            call: tokio::spawn(call),
            waiting: HashMap::new(),
            asked: 0,
        };
        self.next(suspended).await
    }

    /// The client's retry of a call it was asked input for: `params` carry `requestState`
    /// and `inputResponses`. `None` when they carry no `requestState` (a fresh call).
    pub(crate) async fn resume(
        self: &Arc<Self>,
        params: Option<&RawValue>,
    ) -> Option<Result<Box<RawValue>, McpError>> {
        let params = RawParams::parse_opt(params).ok()?;
        let state = params.get_str("requestState").ok().flatten()?.into_owned();
        let Some(mut suspended) = self.calls.lock().remove(&state) else {
            return Some(Err(McpError::invalid_params(
                "unknown requestState: the call it names is over, expired, or never existed; \
                 call again without requestState",
            )));
        };
        let responses = params
            .get("inputResponses")
            .and_then(|r| RawParams::parse(r).ok());
        for (key, answer) in suspended.waiting.drain() {
            let value = responses.as_ref().and_then(|r| r.get(&key));
            let _ = answer.send(match value {
                Some(v) => Ok(v.to_owned()),
                None => Err(McpError::invalid_params(format!(
                    "the client gave no answer for input request '{key}'"
                ))),
            });
        }
        Some(self.next(suspended).await)
    }

    /// Waits for the call's result, or for its next request for the client (then suspends
    /// it and answers `input_required`).
    async fn next(self: &Arc<Self>, mut suspended: Suspended) -> Result<Box<RawValue>, McpError> {
        let input = tokio::select! {
            biased;
            result = &mut suspended.call => {
                return result.unwrap_or_else(|e| {
                    Err(McpError::internal(format!("the call stopped: {e}")))
                });
            }
            Some(input) = suspended.inputs.recv() => input,
        };
        suspended.asked += 1;
        let key = format!("input-{}", suspended.asked);
        let request = serde_json::json!({
            "method": &*input.method,
            "params": input.params.as_deref(),
        });
        suspended.waiting.insert(key.clone(), input.answer);
        let state = crate::server::random_token();
        let result = serde_json::json!({
            "resultType": "input_required",
            "inputRequests": {key: request},
            "requestState": state,
        });
        self.calls.lock().insert(state.clone(), suspended);
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(SUSPENDED_FOR).await;
            if let Some(this) = this.upgrade()
                && this.calls.lock().remove(&state).is_some()
            {
                tracing::debug!("a call suspended for the client's input expired");
            }
        });
        serde_json::value::to_raw_value(&result)
            .map_err(|e| McpError::internal(format!("could not write input_required: {e}")))
    }
}
