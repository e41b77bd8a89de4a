//! The breaker's response future: counts the outcome on its circuit, and frees a probe slot
//! when a probe is dropped unfinished.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use parking_lot::Mutex;
use pin_project_lite::pin_project;
use tokio::time::Instant;
use toolgate::{McpError, McpResponse};

use super::state::{Breakers, Circuit};
use crate::classify::Outcome;

/// Records how a request let through ended; a probe dropped before it ended gives its slot
/// back.
pub(crate) struct Guard {
    circuit: Arc<Mutex<Circuit>>,
    breakers: Arc<Breakers>,
    probe: bool,
    done: bool,
}

impl Guard {
    pub(crate) fn new(circuit: Arc<Mutex<Circuit>>, breakers: Arc<Breakers>, probe: bool) -> Self {
        Guard {
            circuit,
            breakers,
            probe,
            done: false,
        }
    }

    fn finish(&mut self, result: &Result<McpResponse, McpError>) {
        self.done = true;
        let outcome = Outcome::of(result);
        let message = match result {
            Err(e) => e.message(),
            Ok(_) => "",
        };
        let now = Instant::now();
        let bucket = self.breakers.bucket(now);
        self.circuit.lock().record(
            now,
            bucket,
            &self.breakers.policy,
            outcome,
            self.probe,
            message,
        );
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done && self.probe {
            self.circuit.lock().abandon_probe();
        }
    }
}

pin_project! {
    /// The response of [`CircuitBreaker`](super::CircuitBreaker).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Passed { #[pin] fut: F },
        Watched { #[pin] fut: F, guard: Guard },
        Refused { error: Option<McpError> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn passed(fut: F) -> Self {
        ResponseFuture {
            kind: Kind::Passed { fut },
        }
    }
    pub(crate) fn watched(fut: F, guard: Guard) -> Self {
        ResponseFuture {
            kind: Kind::Watched { fut, guard },
        }
    }
    pub(crate) fn refused(error: McpError) -> Self {
        ResponseFuture {
            kind: Kind::Refused { error: Some(error) },
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<McpResponse, McpError>>,
{
    type Output = Result<McpResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passed { fut } => fut.poll(cx),
            KindProj::Watched { fut, guard } => {
                let result = ready!(fut.poll(cx));
                guard.finish(&result);
                Poll::Ready(result)
            }
            KindProj::Refused { error } => Poll::Ready(Err(error.take().unwrap_or_else(|| {
                McpError::internal("circuit breaker future polled after completion")
            }))),
        }
    }
}
