//! The response future of [`Timeout`](crate::Timeout).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use toolgate::{McpError, McpResponse};

use crate::error::Error;
use crate::policy::Deadline;

/// "No progress seen yet" in the progress clock.
pub(crate) const NO_PROGRESS: u64 = u64::MAX;

/// What a timed request needs to decide when it is over.
#[derive(Debug)]
pub(crate) struct Timing {
    pub(crate) deadline: Deadline,
    pub(crate) start: Instant,
    /// Nanoseconds after `start` of the last progress notification, when progress extends.
    pub(crate) progress: Option<Arc<AtomicU64>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) what: String,
    pub(crate) server: Option<String>,
}

impl Timing {
    /// When the request expires now: `timeout` after the start or after the last progress,
    /// whichever is later, but never after `max_total`.
    fn expiry(&self) -> Instant {
        let base = self.start + self.deadline.timeout();
        let (Some(progress), Some(max_total)) = (&self.progress, self.deadline.max_total()) else {
            return base;
        };
        let last = progress.load(Ordering::Relaxed);
        if last == NO_PROGRESS {
            return base;
        }
        let extended = self.start + Duration::from_nanos(last) + self.deadline.timeout();
        extended.max(base).min(self.start + max_total)
    }

    fn elapsed_error(&self) -> McpError {
        let elapsed = self.start.elapsed();
        let how = match self.deadline.max_total() {
            Some(cap) if self.expiry() >= self.start + cap => format!(
                "reached its total limit of {cap:?} (progress extends a {:?} timeout up to that)",
                self.deadline.timeout()
            ),
            Some(cap) => format!(
                "went {:?} without an answer or progress (progress can extend that up to {cap:?})",
                self.deadline.timeout()
            ),
            None => format!("did not finish within {:?}", self.deadline.timeout()),
        };
        let on = match &self.server {
            Some(s) => format!(" on upstream '{s}'"),
            None => String::new(),
        };
        Error::elapsed(
            format!(
                "{}{on} timed out: it {how}; it was cancelled upstream",
                self.what
            ),
            self.server.clone(),
            self.deadline.timeout(),
            self.deadline.max_total(),
            elapsed,
        )
        .into()
    }
}

pin_project! {
    /// The inner service's future, raced against the request's deadline.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
        timing: Option<Box<Timing>>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn untimed(inner: F) -> Self {
        ResponseFuture {
            inner,
            sleep: None,
            timing: None,
        }
    }
    pub(crate) fn timed(inner: F, timing: Timing) -> Self {
        ResponseFuture {
            inner,
            sleep: Some(tokio::time::sleep_until(
                timing.start + timing.deadline.timeout(),
            )),
            timing: Some(Box::new(timing)),
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<McpResponse, McpError>>,
{
    type Output = Result<McpResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out);
        }
        let (Some(mut sleep), Some(timing)) = (this.sleep.as_pin_mut(), this.timing.as_ref())
        else {
            return Poll::Pending;
        };
        loop {
            ready!(sleep.as_mut().poll(cx));
            let expiry = timing.expiry();
            if expiry > Instant::now() {
                // Progress came in since the timer was set: wait for the new expiry.
                sleep.as_mut().reset(expiry);
                continue;
            }
            // Cancelling the child token makes the upstream send `notifications/cancelled` and
            // forget the request, so a late answer is dropped there.
            timing.cancel.cancel();
            return Poll::Ready(Err(timing.elapsed_error()));
        }
    }
}
