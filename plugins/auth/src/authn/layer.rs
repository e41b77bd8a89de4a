//! [`AuthenticateLayer`]: adds [`Authenticate`] to an HTTP-plane stack.

use std::sync::Arc;

use tower::Layer;

use super::{Authenticate, Challenge};

/// Wraps a service in [`Authenticate`].
#[derive(Debug)]
pub struct AuthenticateLayer<A> {
    auth: Arc<A>,
    challenge: Arc<Challenge>,
    public: Vec<String>,
}

impl<A> Clone for AuthenticateLayer<A> {
    fn clone(&self) -> Self {
        AuthenticateLayer {
            auth: self.auth.clone(),
            challenge: self.challenge.clone(),
            public: self.public.clone(),
        }
    }
}

impl<A> AuthenticateLayer<A> {
    /// Checks requests with `auth` (an [`Authenticator`](super::Authenticator) or any
    /// [`AuthenticateRequest`](super::AuthenticateRequest)).
    pub fn new(auth: A) -> Self {
        AuthenticateLayer {
            auth: Arc::new(auth),
            challenge: Arc::new(Challenge::default()),
            public: Vec::new(),
        }
    }
    /// What refusals say in `WWW-Authenticate` (default: realm `toolgate`).
    #[must_use]
    pub fn challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = Arc::new(challenge);
        self
    }
    /// Lets requests for exactly this path through without credentials.
    #[must_use]
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public.push(path.into());
        self
    }
}

impl<S, A> Layer<S> for AuthenticateLayer<A> {
    type Service = Authenticate<S, A>;

    fn layer(&self, inner: S) -> Authenticate<S, A> {
        Authenticate::from_parts(
            inner,
            self.auth.clone(),
            self.challenge.clone(),
            self.public.clone().into(),
        )
    }
}
