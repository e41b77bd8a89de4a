//! The response future of [`Authenticate`](super::Authenticate): check, then call or refuse.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::request::Parts;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use toolgate::Identity;
use toolgate::envelope::CallerToken;
use toolgate::server::McpBody;
use tower::Service;

use super::error::{AuthError, AuthErrorKind, Challenge};
use crate::BoxFuture;
use crate::attr;

pin_project! {
    /// Resolves to the inner service's response, or to the refusal.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Checking {
            check: BoxFuture<Result<Identity, AuthError>>,
            request: Option<(Parts, B)>,
            inner: S,
            challenge: Arc<Challenge>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Done,
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) fn pass(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Calling { future },
        }
    }

    pub(crate) fn check(
        check: BoxFuture<Result<Identity, AuthError>>,
        parts: Parts,
        body: B,
        inner: S,
        challenge: Arc<Challenge>,
    ) -> Self {
        ResponseFuture {
            state: State::Checking {
                check,
                request: Some((parts, body)),
                inner,
                challenge,
            },
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<McpBody>>,
{
    type Output = Result<Response<McpBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Checking {
                    check,
                    request,
                    inner,
                    challenge,
                } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let Some((mut parts, body)) = request.take() else {
                        this.state.set(State::Done);
                        continue;
                    };
                    match verdict {
                        Ok(identity) => {
                            tracing::trace!(subject = %identity.subject, "authenticated");
                            // A validated JWT may be exchanged for, or passed to, an
                            // upstream that acts for callers; API keys never are.
                            if attr::values(&identity, attr::METHOD).next()
                                == Some(attr::METHOD_JWT)
                                && let Some(token) = bearer_token(&parts)
                            {
                                parts.extensions.insert(CallerToken::new(token));
                            }
                            parts.extensions.insert(identity);
                            let future = inner.call(Request::from_parts(parts, body));
                            this.state.set(State::Calling { future });
                        }
                        Err(error) => {
                            match error.kind() {
                                AuthErrorKind::Unavailable | AuthErrorKind::Internal => {
                                    tracing::warn!(path = parts.uri.path(), %error, "request refused: credentials could not be checked")
                                }
                                _ => {
                                    tracing::debug!(path = parts.uri.path(), %error, "request refused")
                                }
                            }
                            let response = error.to_response(challenge);
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Done => {
                    return Poll::Ready(Ok(toolgate::server::plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "response future polled after completion",
                    )));
                }
            }
        }
    }
}

/// The credential of `Authorization: Bearer <token>`, if that is what the request carries.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
