//! Shared helpers of the unit tests: routed requests, and an inner service scripted with
//! outcomes that counts the requests reaching it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::error::ErrorKind;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse};

/// What the scripted upstream does with one request.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Answer,
    Unavailable,
    Timeout,
    /// A JSON-RPC error of the upstream's own (it is up).
    UpstreamError,
    /// Waits this long, then answers.
    SlowAnswer(Duration),
}

/// An inner service that plays `steps` in order (then answers), counting calls.
#[derive(Clone, Default)]
pub(crate) struct Scripted {
    steps: Arc<Mutex<VecDeque<Step>>>,
    pub(crate) calls: Arc<AtomicUsize>,
}

impl Scripted {
    pub(crate) fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Scripted {
            steps: Arc::new(Mutex::new(steps.into_iter().collect())),
            calls: Arc::default(),
        }
    }
    pub(crate) fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.steps.lock().extend(steps);
    }
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl tower::Service<McpRequest> for Scripted {
    type Response = McpResponse;
    type Error = McpError;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), McpError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: McpRequest) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.steps.lock().pop_front().unwrap_or(Step::Answer);
        Box::pin(async move {
            match step {
                Step::Answer => Ok(ok()),
                Step::SlowAnswer(d) => {
                    tokio::time::sleep(d).await;
                    Ok(ok())
                }
                Step::Unavailable => Err(McpError::upstream_unavailable(
                    "demo",
                    "upstream 'demo' exited mid-call",
                )),
                Step::Timeout => Err(McpError::gateway(
                    ErrorKind::Timeout,
                    "demo",
                    true,
                    "upstream 'demo' timed out",
                )),
                Step::UpstreamError => Err(McpError::from_upstream(
                    -32000,
                    "the upstream's own error".into(),
                    None,
                )),
            }
        })
    }
}

pub(crate) fn ok() -> McpResponse {
    McpResponse::new(RawValue::from_string("{}".into()).unwrap_or_else(|_| unreachable!()))
}

/// A request routed as the gateway's routing step would: `demo__x` → server `demo`, tool `x`,
/// with `definition` as the tool's listed definition.
pub(crate) fn request(method: &str, target: &str, definition: Option<&str>) -> McpRequest {
    let params = match method {
        "resources/read" => format!(r#"{{"uri":"{target}"}}"#),
        _ => format!(r#"{{"name":"{target}","arguments":{{}}}}"#),
    };
    let params = RawValue::from_string(params).ok();
    let mut req = McpRequest::new(
        JsonRpcRequest::new(RequestId::Number(1), Method::parse(method), params),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: None,
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    );
    let route = target
        .split_once("__")
        .map(|(server, original)| (server.to_owned(), original.to_owned()));
    if let Some((server, original)) = route {
        let mut route = Route::new(server, original);
        if let Some(d) = definition {
            route = route.with_definition(RawValue::from_string(d.to_owned()).ok().map(Arc::from));
        }
        req.set_route(Some(route));
    }
    req
}

pub(crate) fn call(target: &str) -> McpRequest {
    request("tools/call", target, None)
}
