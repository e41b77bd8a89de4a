//! Helpers for the unit tests: requests as a transport would make them, and a mock inner
//! service (tower-test) whose errors are `McpError`s.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse};
use tower::ServiceExt;
use tower_test::mock::{self, Handle, Mock, Spawn};

/// The other end of the mock.
pub(crate) type MockHandle = Handle<McpRequest, McpResponse>;

/// The mock as the inner service of a layer.
pub(crate) type MockService = tower::util::MapErr<
    Mock<McpRequest, McpResponse>,
    fn(Box<dyn std::error::Error + Send + Sync>) -> McpError,
>;

/// A request `method` with `params`, id 7, on Streamable HTTP session `sess-1`.
pub(crate) fn request(method: &str, params: &str) -> McpRequest {
    let params = RawValue::from_string(params.to_string()).expect("valid params");
    let message = JsonRpcRequest::new(RequestId::Number(7), Method::parse(method), Some(params));
    let ctx = McpContext {
        session: Arc::new(SessionInfo::new(
            Some("sess-1".into()),
            TransportKind::StreamableHttp,
        )),
        identity: None,
        downstream: Downstream::none(),
        cancel: CancellationToken::new(),
        extensions: http::Extensions::new(),
    };
    McpRequest::new(message, ctx)
}

/// A raw result.
pub(crate) fn response(result: &str) -> McpResponse {
    McpResponse::new(RawValue::from_string(result.to_string()).expect("valid result"))
}

/// `layer` over a mock whose errors sent through the handle come back as the `McpError`s
/// they were.
pub(crate) fn spawn<L>(layer: L) -> (Spawn<L::Service>, MockHandle)
where
    L: tower::Layer<MockService>,
{
    mock::spawn_with(move |m| layer.layer(m.map_err(to_mcp as fn(_) -> McpError)))
}

fn to_mcp(e: Box<dyn std::error::Error + Send + Sync>) -> McpError {
    match e.downcast::<McpError>() {
        Ok(e) => *e,
        Err(e) => McpError::internal(e.to_string()),
    }
}
