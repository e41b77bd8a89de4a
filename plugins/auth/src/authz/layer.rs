//! [`AuthorizeLayer`]: adds [`Authorize`] to an MCP-plane stack.

use std::sync::Arc;

use tower::Layer;

use super::{AccessPolicy, Authorize, Decide};

/// Wraps a service in [`Authorize`].
#[derive(Clone)]
pub struct AuthorizeLayer {
    decide: Decide,
}

impl std::fmt::Debug for AuthorizeLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeLayer").finish_non_exhaustive()
    }
}

impl AuthorizeLayer {
    /// Enforces `policy` (items map to servers through the requests' routes).
    pub fn new(policy: impl AccessPolicy) -> Self {
        AuthorizeLayer {
            decide: Decide {
                policy: Arc::new(policy),
            },
        }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize::from_decide(inner, self.decide.clone())
    }
}
