//! Keyed GCRA rate limits ([`governor`]): per caller, per server, per tool, or any mix.
//!
//! Each rule is one keyed limiter; a request is checked against every rule that applies to it,
//! in order, and the first that has no budget left answers with `-31002` and
//! `data.retry_after_ms` (see [`Error`](crate::Error)). Nothing waits: a request over the limit
//! is refused at once.

mod future;
mod layer;
mod shared;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use governor::DefaultKeyedRateLimiter;
use governor::clock::Clock as _;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::Service;

pub use future::ResponseFuture;
pub use layer::RateLimitLayer;
pub use shared::{SharedRateLimit, SharedRateLimitLayer};

use crate::error::{Error, ErrorKind};
use crate::rate::Rate;
use crate::rules::{Facts, Key, Scope};
use crate::settings::RateRule;

/// How many checks pass between sweeps of idle keys out of the limiters' tables.
const SWEEP_EVERY: u64 = 4096;

/// The compiled rules, shared by every clone of a layer and its services.
pub(crate) struct Limits {
    rules: Vec<Rule>,
    checks: AtomicU64,
}

struct Rule {
    rate: Rate,
    scope: Scope,
    limiter: DefaultKeyedRateLimiter<Key>,
}

impl fmt::Debug for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| (r.rate.to_string(), &r.scope)))
            .finish()
    }
}

/// The rules' rates and scopes, checked: at least one rule, each scope valid. Shared by the
/// local and the Redis store.
pub(crate) fn compile(
    rules: impl IntoIterator<Item = RateRule>,
) -> Result<Vec<(Rate, Scope)>, Error> {
    let rules = rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let scope = Scope::new(&r.per, r.server.as_deref(), r.tool.as_deref())
                .map_err(|e| Error::settings(format!("rules[{i}]: {e}")))?;
            Ok((r.rate, scope))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if rules.is_empty() {
        return Err(Error::settings(
            "`rules` is empty: add at least one rule such as {rate: 10/s, per: identity}",
        ));
    }
    Ok(rules)
}

/// The refusal of a request over `rate` in `scope`, which has budget again after `wait`.
pub(crate) fn over_limit(rate: &Rate, scope: &Scope, facts: &Facts, wait: Duration) -> Error {
    Error::rejected(
        ErrorKind::RateLimited,
        format!(
            "rate limit {rate} exceeded for {}; retry in {} ms",
            scope.describe(facts),
            crate::error::ceil_millis(wait).max(1)
        ),
        wait,
        facts.server.as_deref(),
        rate.to_string(),
        scope.per_names(),
    )
}

impl Limits {
    pub(crate) fn new(rules: impl IntoIterator<Item = RateRule>) -> Result<Limits, Error> {
        let rules = compile(rules)?
            .into_iter()
            .map(|(rate, scope)| Rule {
                rate,
                scope,
                limiter: DefaultKeyedRateLimiter::dashmap(rate.quota()),
            })
            .collect();
        Ok(Limits {
            rules,
            checks: AtomicU64::new(0),
        })
    }

    pub(crate) fn servers(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|r| r.scope.server())
    }

    /// Takes one cell from every rule that applies, or says which rule refused and for how long.
    pub(crate) fn check(&self, facts: &Facts) -> Result<(), Error> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        for rule in &self.rules {
            let Some(key) = rule.scope.key(facts) else {
                continue;
            };
            if let Err(not_until) = rule.limiter.check_key(&key) {
                let wait = not_until.wait_time_from(rule.limiter.clock().now());
                return Err(over_limit(&rule.rate, &rule.scope, facts, wait));
            }
        }
        Ok(())
    }

    /// Forgets keys whose budget is full again, so the tables stay as small as the set of
    /// recently active callers, servers and tools.
    fn sweep(&self) {
        for rule in &self.rules {
            rule.limiter.retain_recent();
            rule.limiter.shrink_to_fit();
        }
    }
}

/// Enforces rate limits on the requests of an inner MCP service.
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    limits: Arc<Limits>,
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("rules", &self.limits)
            .finish()
    }
}

impl<S> RateLimit<S> {
    pub(crate) fn from_parts(inner: S, limits: Arc<Limits>) -> Self {
        RateLimit { inner, limits }
    }
    /// Wraps `inner` with the limits of `layer` (sharing its budgets).
    pub fn new(inner: S, layer: &RateLimitLayer) -> Self {
        layer.wrap(inner)
    }
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<McpRequest> for RateLimit<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let facts = Facts::of(&req);
        match self.limits.check(&facts) {
            Ok(()) => ResponseFuture::called(self.inner.call(req)),
            Err(e) => ResponseFuture::rejected(e.into()),
        }
    }
}
