//! Replicas of one upstream (`url: [a, b, c]` or `replicas: N`): several connections to
//! copies of one MCP server, seen by the rest of the gateway as one [`Upstream`].
//!
//! Each replica is an ordinary upstream with its own supervisor (`name#1`, `name#2`, …). The
//! one upstream in front of them:
//! - **balances**: power of two choices on requests in flight, among replicas that are ready
//!   and not ejected;
//! - **ejects outliers**: a replica whose calls fail (unreachable, died mid-call, broke the
//!   protocol) `consecutive_failures` times in a row is left out for `base_ejection`, doubling
//!   on each ejection up to `max_ejection`; an answer — even an error the server chose to send —
//!   resets the count. When every ready replica is ejected they are used anyway: an ejection
//!   never turns a working server into none;
//! - **fails over**: a call that failed on one replica goes to the next untried one when that
//!   cannot do anything twice — it never left the gateway, or it only reads (lists, reads,
//!   `prompts/get`, tools whose annotations say read-only or idempotent);
//! - **merges** what the replicas report: ready when one is, their list changes as its own.
//!
//! tower's `balance::p2c` is not used: it needs `&mut` readiness per call and is not `Clone`,
//! and ejection and fail-over need to know which replica answered each call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{
    ListKind, STOPPED, Shared, Upstream, UpstreamCaller, UpstreamEvent, UpstreamOptions,
    UpstreamSpec, UpstreamStatus, credentials,
};
use crate::error::{ErrorKind, McpError};
use crate::session::Downstream;

/// The most replicas one upstream may have.
pub const MAX_REPLICAS: usize = 64;

/// When a replica is left out of the balance (`outlier_detection:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutlierDetection {
    /// Failed calls in a row that eject a replica (default 3).
    pub consecutive_failures: u32,
    /// How long the first ejection lasts (default 1 s); each further one doubles it.
    pub base_ejection: Duration,
    /// The longest ejection (default 30 s).
    pub max_ejection: Duration,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(1),
            max_ejection: Duration::from_secs(30),
        }
    }
}

impl OutlierDetection {
    /// Ejects after `n` failed calls in a row (at least 1).
    #[must_use]
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = n.max(1);
        self
    }

    /// The first ejection lasts `base`, the longest `max` (at least `base`).
    #[must_use]
    pub fn ejection(mut self, base: Duration, max: Duration) -> Self {
        self.base_ejection = base;
        self.max_ejection = max.max(base);
        self
    }
}

/// Where one replica stands, for health output.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplicaState {
    /// Its name: the upstream's, `#` and its place (1-based).
    pub name: String,
    /// Its connection's status.
    pub status: UpstreamStatus,
    /// How much longer it is left out of the balance, if it is.
    pub ejected_for: Option<Duration>,
    /// Requests in flight on it.
    pub inflight: usize,
}

/// The replicas behind one upstream, and how they are chosen.
#[derive(Debug)]
pub(crate) struct Pool {
    replicas: Box<[Replica]>,
    outlier: OutlierDetection,
    /// xorshift state for the two random choices.
    seed: AtomicU64,
    /// Held while the front's status is worked out.
    merging: parking_lot::Mutex<()>,
}

#[derive(Debug)]
struct Replica {
    upstream: Upstream,
    health: parking_lot::Mutex<Health>,
}

#[derive(Debug, Default)]
struct Health {
    /// Failed calls since the last answer.
    consecutive: u32,
    /// Left out until then.
    ejected_until: Option<Instant>,
    /// Ejections so far (the next one lasts `base · 2^ejections`); forgotten after a quiet
    /// `max_ejection`.
    ejections: u32,
    last_ejected: Option<Instant>,
}

impl Health {
    fn ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| until > now)
    }
}

impl Replica {
    fn ready(&self) -> bool {
        self.upstream.shared.status.borrow().is_ready()
    }

    fn answered(&self) {
        let mut h = self.health.lock();
        h.consecutive = 0;
    }

    fn failed(&self, outlier: &OutlierDetection, now: Instant) {
        let mut h = self.health.lock();
        h.consecutive = h.consecutive.saturating_add(1);
        if h.consecutive < outlier.consecutive_failures || h.ejected(now) {
            return;
        }
        if h.last_ejected
            .is_some_and(|at| now.duration_since(at) > outlier.max_ejection * 2)
        {
            h.ejections = 0;
        }
        let factor = 1u32 << h.ejections.min(16);
        let span = outlier
            .base_ejection
            .saturating_mul(factor)
            .min(outlier.max_ejection);
        h.ejected_until = Some(now + span);
        h.last_ejected = Some(now);
        h.ejections = h.ejections.saturating_add(1);
        h.consecutive = 0;
        tracing::warn!(
            replica = %self.upstream.name(),
            ejected_for_ms = span.as_millis() as u64,
            "replica ejected after failed calls"
        );
    }
}

/// Whether an error says the replica failed (rather than answered, or the caller left).
fn replica_failed(e: &McpError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::UpstreamUnavailable | ErrorKind::Timeout | ErrorKind::UpstreamProtocol
    )
}

impl Pool {
    /// The balance of `at` was tried already when bit `at` of `tried` is set.
    fn pick(&self, tried: u64, now: Instant) -> Option<usize> {
        // One pass: each replica's readiness and ejection read once. In the balance: ready,
        // untried, not ejected; the fallback when there are none: the ready, untried replica
        // whose ejection ends first.
        let mut candidates = [0usize; MAX_REPLICAS];
        let mut count = 0;
        let mut fallback: Option<(Instant, usize)> = None;
        for (i, replica) in self.replicas.iter().enumerate() {
            if tried & (1 << i) != 0 || !replica.ready() {
                continue;
            }
            match replica
                .health
                .lock()
                .ejected_until
                .filter(|until| *until > now)
            {
                None => {
                    candidates[count] = i;
                    count += 1;
                }
                Some(until) => {
                    if fallback.is_none_or(|(first, _)| until < first) {
                        fallback = Some((until, i));
                    }
                }
            }
        }
        match count {
            0 => fallback.map(|(_, i)| i),
            1 => Some(candidates[0]),
            _ => {
                let r = self.random();
                let a = (r % count as u64) as usize;
                let b = (a + 1 + ((r >> 32) % (count as u64 - 1)) as usize) % count;
                let (a, b) = (candidates[a], candidates[b]);
                let load = |i: usize| self.replicas[i].upstream.inflight();
                Some(if load(b) < load(a) { b } else { a })
            }
        }
    }

    fn random(&self) -> u64 {
        // xorshift64*: good enough to spread two choices, and lock-free.
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.seed.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Sends one request to a replica, failing over to the next while that cannot repeat
    /// anything (`repeatable`, or the request never left).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn call(
        &self,
        name: &str,
        method: &str,
        params: Option<&RawValue>,
        downstream: Downstream,
        cancel: &CancellationToken,
        headers: &http::HeaderMap,
        caller: Option<&UpstreamCaller>,
        repeatable: bool,
    ) -> Result<Box<RawValue>, McpError> {
        let mut tried = 0u64;
        let mut last: Option<McpError> = None;
        while let Some(at) = self.pick(tried, Instant::now()) {
            tried |= 1 << at;
            let replica = &self.replicas[at];
            let result = replica
                .upstream
                .call_for(
                    method,
                    params,
                    downstream.clone(),
                    cancel,
                    headers,
                    caller,
                    false,
                )
                .await;
            let e = match result {
                Ok(answer) => {
                    replica.answered();
                    return Ok(answer);
                }
                Err(e) if e.is_cancelled() || cancel.is_cancelled() => return Err(e),
                Err(e) if !replica_failed(&e) => {
                    replica.answered();
                    return Err(e);
                }
                Err(e) => e,
            };
            replica.failed(&self.outlier, Instant::now());
            if !(repeatable || e.is_unsent()) {
                return Err(e);
            }
            tracing::debug!(replica = %replica.upstream.name(), error = %e, "failing over to another replica");
            last = Some(e);
        }
        Err(last.unwrap_or_else(|| {
            McpError::upstream_unavailable(
                name,
                format!(
                    "upstream '{name}': none of its {} replicas is ready",
                    self.replicas.len()
                ),
            )
            .unsent()
        }))
    }

    pub(crate) fn inflight(&self) -> usize {
        self.replicas.iter().map(|r| r.upstream.inflight()).sum()
    }

    pub(crate) fn restarts(&self) -> u64 {
        self.replicas.iter().map(|r| r.upstream.restarts()).sum()
    }

    pub(crate) fn states(&self) -> Vec<ReplicaState> {
        let now = Instant::now();
        self.replicas
            .iter()
            .map(|r| {
                let ejected_for = r
                    .health
                    .lock()
                    .ejected_until
                    .and_then(|until| until.checked_duration_since(now))
                    .filter(|d| !d.is_zero());
                ReplicaState {
                    name: r.upstream.name().to_owned(),
                    status: r.upstream.status(),
                    ejected_for,
                    inflight: r.upstream.inflight(),
                }
            })
            .collect()
    }
}

impl Upstream {
    /// Starts one upstream over several replicas of its server: the first reached by `spec`,
    /// the others by `more` in order (at most [`MAX_REPLICAS`] in all), balanced with
    /// `outlier` detection. With `more` empty it is an ordinary [`Upstream::start`]. Must run
    /// inside a tokio runtime.
    pub fn start_replicas(
        name: &str,
        spec: UpstreamSpec,
        more: Vec<UpstreamSpec>,
        options: UpstreamOptions,
        outlier: OutlierDetection,
        shutdown: CancellationToken,
    ) -> Upstream {
        if more.is_empty() {
            return Upstream::start(name, spec, options, shutdown);
        }
        let mut specs = more;
        specs.insert(0, spec);
        specs.truncate(MAX_REPLICAS);
        let replicas: Box<[Replica]> = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| Replica {
                upstream: Upstream::start(
                    &format!("{name}#{}", i + 1),
                    spec.clone(),
                    options.clone(),
                    shutdown.child_token(),
                ),
                health: parking_lot::Mutex::default(),
            })
            .collect();
        // The front carries what the stack above reads (credentials for acting on callers'
        // behalf), from the first replica's settings; each replica uses its own.
        let name_arc: Arc<str> = name.into();
        let credentials = match &specs[0] {
            UpstreamSpec::StreamableHttp(s) | UpstreamSpec::Sse(s) => {
                credentials::Credentials::new(&name_arc, &s.auth, &s.tls, options.connect_timeout)
                    .unwrap_or_else(|_| credentials::Credentials::none(&name_arc))
            }
            UpstreamSpec::Stdio(_) => credentials::Credentials::none(&name_arc),
        };
        let seed = rand::random::<u64>() | 1;
        let pool = Pool {
            replicas,
            outlier,
            seed: AtomicU64::new(seed),
            merging: parking_lot::Mutex::new(()),
        };
        let transport = super::transport_name(&specs[0]);
        let front = Upstream::new_front(name, transport, options, shutdown, credentials, pool);
        spawn_merge(front.shared.clone());
        front
    }

    /// The replicas behind this upstream and where each stands; empty for an upstream of one.
    pub fn replicas(&self) -> Vec<ReplicaState> {
        self.shared
            .pool
            .as_ref()
            .map(Pool::states)
            .unwrap_or_default()
    }
}

/// Keeps the front's status and events in step with its replicas': one task per replica.
fn spawn_merge(front: Arc<Shared>) {
    let Some(pool) = front.pool.as_ref() else {
        return;
    };
    merge_status(&front);
    for at in 0..pool.replicas.len() {
        let front = front.clone();
        tokio::spawn(async move {
            let Some(replica) = front.pool.as_ref().and_then(|p| p.replicas.get(at)) else {
                return;
            };
            let mut status = replica.upstream.watch_status();
            let mut events = replica.upstream.events();
            loop {
                tokio::select! {
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        merge_status(&front);
                        let stopped = matches!(&*status.borrow(), UpstreamStatus::Down { reason } if reason == STOPPED);
                        if stopped {
                            return;
                        }
                    }
                    event = events.recv() => {
                        let forward = match event {
                            Ok(UpstreamEvent::ListChanged(_, kind)) => vec![UpstreamEvent::ListChanged(front.name.clone(), kind)],
                            Ok(UpstreamEvent::ResourceUpdated(_, params)) => vec![UpstreamEvent::ResourceUpdated(front.name.clone(), params)],
                            Ok(UpstreamEvent::StatusChanged(_)) => Vec::new(),
                            Err(RecvError::Lagged(_)) => [ListKind::Tools, ListKind::Prompts, ListKind::Resources]
                                .into_iter()
                                .map(|kind| UpstreamEvent::ListChanged(front.name.clone(), kind))
                                .collect(),
                            Err(RecvError::Closed) => return,
                        };
                        for event in forward {
                            let _ = front.events.send(event);
                        }
                    }
                }
            }
        });
    }
}

/// The front is ready while one replica is (keeping the info it became ready with),
/// starting while one is, and down with every replica's reason otherwise.
fn merge_status(front: &Shared) {
    let Some(pool) = front.pool.as_ref() else {
        return;
    };
    // One merge at a time, so two replicas changing at once cannot publish out of order.
    let _merging = pool.merging.lock();
    let statuses: Vec<UpstreamStatus> = pool.replicas.iter().map(|r| r.upstream.status()).collect();
    if let Some(ready) = statuses.iter().find(|s| s.is_ready()) {
        if !front.status.borrow().is_ready() {
            front.set_status(ready.clone());
        }
        return;
    }
    if statuses
        .iter()
        .any(|s| matches!(s, UpstreamStatus::Starting))
    {
        front.set_status(UpstreamStatus::Starting);
        return;
    }
    let reasons: Vec<String> = pool
        .replicas
        .iter()
        .zip(&statuses)
        .filter_map(|(r, s)| match s {
            UpstreamStatus::Down { reason } => Some((r.upstream.name(), reason)),
            _ => None,
        })
        .map(|(name, reason)| format!("{name}: {reason}"))
        .collect();
    let all_stopped = statuses
        .iter()
        .all(|s| matches!(s, UpstreamStatus::Down { reason } if reason == STOPPED));
    let reason = if all_stopped {
        STOPPED.to_owned()
    } else {
        format!(
            "all {} replicas are down ({})",
            pool.replicas.len(),
            reasons.join("; ")
        )
    };
    front.set_status(UpstreamStatus::Down { reason });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejections_double_up_to_the_ceiling_and_reset_after_an_answer() {
        let outlier = OutlierDetection::default()
            .consecutive_failures(2)
            .ejection(Duration::from_millis(100), Duration::from_millis(300));
        let replica = Replica {
            upstream: Upstream::new(
                "r#1",
                "stdio",
                UpstreamOptions::default(),
                CancellationToken::new(),
                credentials::Credentials::none(&Arc::from("r#1")),
                false,
            ),
            health: parking_lot::Mutex::default(),
        };
        let t0 = Instant::now();
        replica.failed(&outlier, t0);
        assert!(
            !replica.health.lock().ejected(t0),
            "one failure is not enough"
        );
        replica.answered();
        replica.failed(&outlier, t0);
        assert!(
            !replica.health.lock().ejected(t0),
            "an answer reset the count"
        );
        replica.failed(&outlier, t0);
        let until = replica.health.lock().ejected_until;
        assert_eq!(until, Some(t0 + Duration::from_millis(100)));
        // While ejected, more failures do not extend it.
        replica.failed(&outlier, t0 + Duration::from_millis(50));
        replica.failed(&outlier, t0 + Duration::from_millis(50));
        assert_eq!(replica.health.lock().ejected_until, until);
        // The next ejections double, up to the ceiling.
        let t1 = t0 + Duration::from_millis(150);
        replica.failed(&outlier, t1);
        replica.failed(&outlier, t1);
        assert_eq!(
            replica.health.lock().ejected_until,
            Some(t1 + Duration::from_millis(200))
        );
        let t2 = t1 + Duration::from_millis(250);
        replica.failed(&outlier, t2);
        replica.failed(&outlier, t2);
        assert_eq!(
            replica.health.lock().ejected_until,
            Some(t2 + Duration::from_millis(300))
        );
        // After a long quiet spell the next ejection is short again.
        let t3 = t2 + Duration::from_secs(5);
        replica.failed(&outlier, t3);
        replica.failed(&outlier, t3);
        assert_eq!(
            replica.health.lock().ejected_until,
            Some(t3 + Duration::from_millis(100))
        );
    }

    #[test]
    fn failures_are_told_from_answers() {
        assert!(replica_failed(&McpError::upstream_unavailable("a", "down")));
        assert!(!replica_failed(&McpError::from_upstream(
            -32602,
            "bad".into(),
            None
        )));
        assert!(!replica_failed(&McpError::cancelled()));
    }
}

/// The examples of `docs/policies/replicas.md` are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/policies/replicas.md")]
struct DocsPage;
