//! [`SharedRateLimitLayer`]: the rules of [`RateLimitLayer`](super::RateLimitLayer) with their
//! budgets kept in Redis, so that every gateway replica using the same Redis enforces one
//! budget per key.
//!
//! Each check is one `EVALSHA` of a GCRA script that runs atomically in Redis, on Redis's own
//! clock (`TIME`), so replicas' clocks do not matter: the key holds the theoretical arrival
//! time of the next request, in microseconds, and expires when its budget is full again. A
//! rule of N per period allows a burst of N and one more every period / N, exactly as the
//! local store does.
//!
//! Redis is never waited on for longer than its `timeout` (connecting included); when it
//! cannot answer, the request is refused (`fail_closed`, the default: -31002 with
//! `reason: limit_store_unavailable`) or let through (`fail_open`), and a warning is logged at
//! most once a second.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use toolgate::config::RedisSettings;
use toolgate::{McpError, McpRequest, McpResponse};
use toolgate_redis::{SharedRedis, Warnings, redis};
use tower::{Layer, Service};

use crate::error::{Error, ErrorKind};
use crate::rate::Rate;
use crate::rules::{Facts, Scope};
use crate::settings::{OnStoreError, RateRule};

/// GCRA, atomically: `KEYS[1]` the budget, `ARGV[1]` the emission interval and `ARGV[2]` the
/// period, both in microseconds. Returns `{1, 0}` when a cell was taken, `{0, wait_us}` when
/// not.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - period
if wait > 0 then return {0, wait} end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
";

/// The GCRA script on the shared Redis.
pub(crate) struct RedisStore {
    redis: SharedRedis,
    script: redis::Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.redis.fmt(f)
    }
}

impl RedisStore {
    pub(crate) fn new(settings: &RedisSettings) -> Result<RedisStore, Error> {
        let redis = SharedRedis::new(settings).map_err(|e| Error::settings(e.to_string()))?;
        Ok(RedisStore {
            redis,
            script: redis::Script::new(GCRA),
        })
    }

    /// Takes one cell of `rate` from budget `key`: `Ok(None)` taken, `Ok(Some(wait))` none
    /// left for `wait`, `Err` Redis did not answer in time.
    async fn take(&self, key: &str, rate: &Rate) -> Result<Option<Duration>, String> {
        let period = u64::try_from(rate.period().as_micros()).unwrap_or(u64::MAX);
        let interval = (period / u64::from(rate.count().max(1))).max(1);
        let key = self.redis.key(&format!("rl:{key}"));
        let script = &self.script;
        let (taken, wait) = self
            .redis
            .run(|mut conn| async move {
                let mut invocation = script.key(key);
                invocation.arg(interval).arg(period);
                invocation.invoke_async::<(i64, i64)>(&mut conn).await
            })
            .await
            .map_err(|e| e.message().to_owned())?;
        Ok((taken != 1).then(|| Duration::from_micros(u64::try_from(wait).unwrap_or(1))))
    }
}

struct Rule {
    rate: Rate,
    scope: Scope,
}

struct Shared {
    rules: Vec<Rule>,
    store: RedisStore,
    on_error: OnStoreError,
    /// An outage logs once a second, not per request.
    warnings: Warnings,
}

impl Shared {
    fn warn(&self, why: &str) {
        if self.warnings.due() {
            tracing::warn!(
                redis = %self.store.redis.url(),
                error = why,
                on_store_error = ?self.on_error,
                "rate_limit: the shared store did not answer"
            );
        }
    }
}

/// Enforces rate limits with budgets in the shared Redis (`use: rate_limit` with
/// `store: redis`). Clones share the connection.
#[derive(Clone)]
pub struct SharedRateLimitLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for SharedRateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRateLimitLayer")
            .field(
                "rules",
                &self
                    .shared
                    .rules
                    .iter()
                    .map(|r| r.rate.to_string())
                    .collect::<Vec<_>>(),
            )
            .field("store", &self.shared.store)
            .field("on_store_error", &self.shared.on_error)
            .finish()
    }
}

impl SharedRateLimitLayer {
    /// `rules` (at least one) with their budgets in the Redis of `redis`; `on_error` says
    /// what a request gets when it cannot answer in time. Connects on first use.
    pub fn new(
        rules: impl IntoIterator<Item = RateRule>,
        redis: &RedisSettings,
        on_error: OnStoreError,
    ) -> Result<Self, Error> {
        let rules = super::compile(rules)?
            .into_iter()
            .map(|(rate, scope)| Rule { rate, scope })
            .collect();
        Ok(SharedRateLimitLayer {
            shared: Arc::new(Shared {
                rules,
                store: RedisStore::new(redis)?,
                on_error,
                warnings: Warnings::default(),
            }),
        })
    }

    /// The servers the rules name (to check them against the configured upstreams).
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.shared.rules.iter().filter_map(|r| r.scope.server())
    }
}

impl<S> Layer<S> for SharedRateLimitLayer {
    type Service = SharedRateLimit<S>;
    fn layer(&self, inner: S) -> SharedRateLimit<S> {
        SharedRateLimit {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service of [`SharedRateLimitLayer`].
#[derive(Clone)]
pub struct SharedRateLimit<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for SharedRateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

impl<S> Service<McpRequest> for SharedRateLimit<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> BoxFuture {
        let facts = Facts::of(&req);
        let checks: Vec<(usize, String)> = (self.shared.rules.iter().enumerate())
            .filter_map(|(i, rule)| {
                let key = rule.scope.key(&facts)?;
                Some((i, format!("{i}:{}:{}", rule.rate, key.redis_suffix())))
            })
            .collect();
        if checks.is_empty() {
            return Box::pin(self.inner.call(req));
        }
        // The service made ready goes with this request; the clone stays for the next.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            for (i, key) in checks {
                let rule = &shared.rules[i];
                match shared.store.take(&key, &rule.rate).await {
                    Ok(None) => {}
                    Ok(Some(wait)) => {
                        return Err(super::over_limit(&rule.rate, &rule.scope, &facts, wait).into());
                    }
                    Err(why) => {
                        shared.warn(&why);
                        match shared.on_error {
                            OnStoreError::FailOpen => break,
                            OnStoreError::FailClosed => {
                                return Err(Error::rejected(
                                    ErrorKind::StoreUnavailable,
                                    format!(
                                        "rate limit {} cannot be checked: the shared store \
                                         (redis) did not answer ({why}); refused \
                                         (on_store_error: fail_closed)",
                                        rule.rate
                                    ),
                                    Duration::from_secs(1),
                                    facts.server.as_deref(),
                                    rule.rate.to_string(),
                                    rule.scope.per_names(),
                                )
                                .into());
                            }
                        }
                    }
                }
            }
            ready.call(req).await
        })
    }
}
