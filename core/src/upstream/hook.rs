//! A per-request hook on the calls the aggregate forwards upstream.
//!
//! A layer (tracing) puts an [`UpstreamHook`] into the request's
//! [`McpContext::extensions`](crate::McpContext::extensions); the aggregate then asks it, for
//! every call it sends to an upstream on the request's behalf, what to add to the call (params
//! with `_meta.traceparent`, HTTP headers) and tells it how the call ended. Without a hook
//! nothing is parsed, copied or allocated.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::value::RawValue;

use crate::error::McpError;

/// One call about to be forwarded upstream.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamCall<'a> {
    /// The upstream's configured name.
    pub server: &'a str,
    /// The method sent (`tools/call`, `resources/read`, …).
    pub method: &'a str,
    /// The params as they will be sent (names already the upstream's own).
    pub params: Option<&'a RawValue>,
}

/// What happens once a forwarded call ends: told the raw result or the error.
pub type OnCallEnd = Box<dyn FnOnce(Result<&RawValue, &McpError>) + Send>;

/// What an observer adds to one forwarded call.
#[derive(Default)]
pub struct ObservedCall {
    /// Params to send instead of the call's own (for example with `_meta.traceparent`).
    pub params: Option<Box<RawValue>>,
    /// Headers added to the call's HTTP request (HTTP upstreams; ignored on stdio).
    pub headers: HeaderMap,
    /// Called when the call ends; dropped unused if the request is abandoned first.
    pub on_end: Option<OnCallEnd>,
}

impl fmt::Debug for ObservedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedCall")
            .field("params", &self.params)
            .field("headers", &self.headers)
            .field("on_end", &self.on_end.is_some())
            .finish()
    }
}

/// Watches the calls forwarded upstream for one request.
pub trait UpstreamObserver: Send + Sync + 'static {
    /// A call is about to be sent to `call.server`.
    fn start(&self, call: &UpstreamCall<'_>) -> ObservedCall;
}

/// The observer of one request, as stored in
/// [`McpContext::extensions`](crate::McpContext::extensions).
#[derive(Clone)]
pub struct UpstreamHook(Arc<dyn UpstreamObserver>);

impl UpstreamHook {
    /// Wraps an observer.
    pub fn new(observer: impl UpstreamObserver) -> Self {
        UpstreamHook(Arc::new(observer))
    }

    /// Asks the observer about one call.
    pub fn start(&self, call: &UpstreamCall<'_>) -> ObservedCall {
        self.0.start(call)
    }
}

impl fmt::Debug for UpstreamHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamHook")
    }
}
