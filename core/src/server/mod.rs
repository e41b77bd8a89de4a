//! Inbound transports: how clients reach the gateway. One file per transport; all of them end
//! in the [`Dispatcher`](crate::Dispatcher).

pub mod body;
pub mod guard;
pub mod stdio;
pub mod streamable_http;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

pub use body::McpBody;
pub use guard::{OriginGuard, OriginGuardLayer, OriginPolicy};
pub use streamable_http::{HttpOptions, StreamableHttpService};

/// A plain-text response with `status`.
pub fn plain(status: StatusCode, text: impl Into<String>) -> Response<McpBody> {
    let mut text = text.into();
    text.push('\n');
    let mut r = Response::new(McpBody::full(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
