//! [`RetryPolicy`]: which requests may be sent again, when, and whether the budget allows it.

use std::fmt;
use std::sync::Arc;

use toolgate::error::ErrorKind;
use toolgate::jsonrpc::Method;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::retry::budget::{Budget, TpsBudget};
use tower::util::rng::HasherRng;

use super::settings::Settings;
use crate::classify::Outcome;

/// What every request's policy shares: the settings and the budget.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    budget: TpsBudget,
    backoff: ExponentialBackoffMaker,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// `settings` must have passed [`Settings::check`]: tower's budget asserts its bounds.
    pub(crate) fn new(settings: Settings) -> Shared {
        let budget = TpsBudget::new(settings.window, settings.min_per_second, settings.ratio);
        let backoff = ExponentialBackoffMaker::new(
            settings.initial_backoff,
            settings.max_backoff,
            settings.jitter,
            HasherRng::default(),
        )
        .unwrap_or_default();
        Shared {
            settings,
            budget,
            backoff,
        }
    }
}

/// The retry policy of one request (tower's [`Policy`](tower::retry::Policy)): clones of it
/// share the budget, and each request's own clone counts its retries and backs off.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    shared: Arc<Shared>,
    retries: u32,
    backoff: Option<ExponentialBackoff>,
}

impl RetryPolicy {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RetryPolicy {
            shared,
            retries: 0,
            backoff: None,
        }
    }

    /// Whether `req` is safe to send twice: reads and lists, and tool calls the settings or
    /// the tool's annotations say are idempotent.
    fn is_safe(&self, req: &McpRequest) -> bool {
        if req.method().is_read_only() {
            return true;
        }
        if *req.method() != Method::ToolsCall {
            return false;
        }
        let Some(route) = req.route() else {
            return false;
        };
        let settings = &self.shared.settings;
        settings
            .idempotent_tools
            .iter()
            .any(|t| *t == *route.original)
            || (settings.trust_annotations && route.is_repeatable())
    }

    fn worth_retrying(&self, e: &McpError) -> bool {
        if Outcome::of_error(e) != Outcome::Failed {
            return false;
        }
        // An open circuit answers the retry the same way at once.
        let circuit_open = e
            .data()
            .and_then(|d| d.get("reason"))
            .is_some_and(|r| r == "circuit_open");
        match e.kind() {
            ErrorKind::UpstreamUnavailable => e.is_retryable() && !circuit_open,
            ErrorKind::Timeout => self.shared.settings.retry_timeouts,
            _ => false,
        }
    }
}

impl tower::retry::Policy<McpRequest, McpResponse, McpError> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut McpRequest,
        result: &mut Result<McpResponse, McpError>,
    ) -> Option<Self::Future> {
        let error = match result {
            Ok(_) => return None,
            Err(e) => e,
        };
        if self.retries >= self.shared.settings.max_retries
            || req.ctx.cancel.is_cancelled()
            || !self.worth_retrying(error)
        {
            return None;
        }
        if !self.shared.budget.withdraw() {
            tracing::debug!(method = %req.method(), "retry budget spent: not retrying");
            return None;
        }
        self.retries += 1;
        tracing::debug!(
            method = %req.method(),
            retry = self.retries,
            error = %error.message(),
            "retrying"
        );
        let shared = &self.shared;
        let backoff = self
            .backoff
            .get_or_insert_with(|| shared.backoff.clone().make_backoff());
        Some(backoff.next_backoff())
    }

    fn clone_request(&mut self, req: &McpRequest) -> Option<McpRequest> {
        self.shared.budget.deposit();
        if self.shared.settings.max_retries == 0 || !self.is_safe(req) {
            return None;
        }
        Some(req.clone())
    }
}
