//! The circuits: one per upstream (or per tool), each closed, open until a time, or half-open
//! with probes in flight; and the window of recent outcomes a failure rate is read from.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::json;
use tokio::time::Instant;
use toolgate::error::{ErrorKind, McpError};
use toolgate::health::{Check, UpstreamCheck};

use super::settings::Policy;
use crate::classify::Outcome;

/// The check's name in `/readyz` and the metrics.
pub(crate) const CHECK: &str = "circuit_breaker";

/// How long a caller refused while probes run is told to wait.
const PROBING_RETRY_HINT: Duration = Duration::from_millis(100);

/// What a circuit is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitState {
    /// Requests pass.
    Closed,
    /// Requests are refused; the next probe may go in `retry_after`.
    Open {
        /// Time left until the circuit half-opens.
        retry_after: Duration,
    },
    /// Probe requests are testing the upstream; the others are refused.
    HalfOpen,
}

/// A circuit's key: the server, and the tool for per-tool circuits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) server: Arc<str>,
    pub(crate) tool: Option<Arc<str>>,
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: u32 },
}

/// Whether a request may go.
pub(crate) enum Admission {
    /// Closed: it goes, and its outcome counts.
    Pass,
    /// Half-open: it goes as a probe.
    Probe,
    /// Open: the caller gets this at once.
    Refuse(McpError),
}

const BUCKETS: usize = 10;

/// Requests and failures over the last `window`, in ten buckets.
#[derive(Debug, Default)]
struct Window {
    /// (bucket number since the breaker started, requests, failures)
    buckets: [(u64, u32, u32); BUCKETS],
}

impl Window {
    fn record(&mut self, bucket: u64, failed: bool) {
        let slot = &mut self.buckets[(bucket % BUCKETS as u64) as usize];
        if slot.0 != bucket {
            *slot = (bucket, 0, 0);
        }
        slot.1 = slot.1.saturating_add(1);
        slot.2 = slot.2.saturating_add(u32::from(failed));
    }

    /// (requests, failures) in the buckets still inside the window.
    fn totals(&self, bucket: u64) -> (u32, u32) {
        self.buckets
            .iter()
            .filter(|b| b.0 + BUCKETS as u64 > bucket && b.0 <= bucket && (b.1 > 0))
            .fold((0, 0), |(r, f), b| (r + b.1, f + b.2))
    }
}

/// One circuit.
#[derive(Debug)]
pub(crate) struct Circuit {
    state: State,
    consecutive: u32,
    window: Window,
    /// How long the next opening lasts: `open_for`, doubled by each failed probe.
    next_open: Duration,
    /// Why it opened last, for the refusals and `/readyz`.
    why: String,
}

impl Circuit {
    fn new(policy: &Policy) -> Circuit {
        Circuit {
            state: State::Closed,
            consecutive: 0,
            window: Window::default(),
            next_open: policy.open_for,
            why: String::new(),
        }
    }

    pub(crate) fn state(&self, now: Instant) -> CircuitState {
        match self.state {
            State::Closed => CircuitState::Closed,
            State::Open { until } if until > now => CircuitState::Open {
                retry_after: until - now,
            },
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    pub(crate) fn admit(&mut self, now: Instant, policy: &Policy, key: &Key) -> Admission {
        if let State::Open { until } = self.state {
            if until > now {
                return Admission::Refuse(self.refusal(key, until - now));
            }
            self.state = State::HalfOpen { probing: 0 };
        }
        match &mut self.state {
            State::Closed => Admission::Pass,
            State::HalfOpen { probing } if *probing < policy.probes => {
                *probing += 1;
                Admission::Probe
            }
            State::HalfOpen { .. } | State::Open { .. } => {
                Admission::Refuse(self.refusal(key, PROBING_RETRY_HINT))
            }
        }
    }

    fn refusal(&self, key: &Key, retry_after: Duration) -> McpError {
        let what = match &key.tool {
            Some(tool) => format!("tool '{tool}' of upstream '{}'", key.server),
            None => format!("upstream '{}'", key.server),
        };
        let state = match self.state {
            State::HalfOpen { .. } => "half_open",
            _ => "open",
        };
        let when = if state == "open" {
            format!("retry in {:.1} s", retry_after.as_secs_f64())
        } else {
            "a probe request is testing it; retry shortly".to_owned()
        };
        let retry_after_ms = u64::try_from(retry_after.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        McpError::new(
            ErrorKind::UpstreamUnavailable,
            format!("circuit open for {what}: {}; {when}", self.why),
        )
        .with_data(json!({
            "source": "gateway",
            "upstream": &*key.server,
            "retryable": true,
            "reason": "circuit_open",
            "circuit": state,
            "retry_after_ms": retry_after_ms,
        }))
    }

    /// Counts how a request ended. `message` is the failure's, for the reason the circuit
    /// opened.
    pub(crate) fn record(
        &mut self,
        now: Instant,
        bucket: u64,
        policy: &Policy,
        outcome: Outcome,
        probe: bool,
        message: &str,
    ) {
        if probe {
            match outcome {
                Outcome::Answered => self.close(policy),
                Outcome::Failed => {
                    self.next_open = (self.next_open * 2).min(policy.max_open_for);
                    self.why = format!("a probe failed too ({})", short(message));
                    self.state = State::Open {
                        until: now + self.next_open,
                    };
                }
                Outcome::Neither => self.abandon_probe(),
            }
            return;
        }
        // Outcomes of requests let through while closed; late ones after the circuit opened
        // say nothing new.
        if !matches!(self.state, State::Closed) || outcome == Outcome::Neither {
            return;
        }
        let failed = outcome == Outcome::Failed;
        self.window.record(bucket, failed);
        if !failed {
            self.consecutive = 0;
            return;
        }
        self.consecutive += 1;
        if self.consecutive >= policy.consecutive_failures {
            self.why = format!(
                "{} failures in a row (last: {})",
                self.consecutive,
                short(message)
            );
        } else if let Some(rate) = policy.failure_rate {
            let (requests, failures) = self.window.totals(bucket);
            if requests < policy.min_requests || f64::from(failures) < rate * f64::from(requests) {
                return;
            }
            self.why = format!(
                "{failures} of the last {requests} requests failed (last: {})",
                short(message)
            );
        } else {
            return;
        }
        self.next_open = policy.open_for;
        self.state = State::Open {
            until: now + self.next_open,
        };
    }

    fn close(&mut self, policy: &Policy) {
        self.state = State::Closed;
        self.consecutive = 0;
        self.window = Window::default();
        self.next_open = policy.open_for;
        self.why.clear();
    }

    /// A probe ended without an answer either way (cancelled): its slot is free again.
    pub(crate) fn abandon_probe(&mut self) {
        if let State::HalfOpen { probing } = &mut self.state {
            *probing = probing.saturating_sub(1);
        }
    }
}

/// A failure's message, cut for a reason line.
fn short(message: &str) -> &str {
    const MAX: usize = 160;
    if message.len() <= MAX {
        return message;
    }
    let mut end = MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// Every circuit of one breaker layer.
#[derive(Debug)]
pub(crate) struct Breakers {
    pub(crate) policy: Policy,
    started: Instant,
    circuits: RwLock<HashMap<Key, Arc<Mutex<Circuit>>>>,
}

impl Breakers {
    pub(crate) fn new(policy: Policy) -> Breakers {
        Breakers {
            policy,
            started: Instant::now(),
            circuits: RwLock::new(HashMap::new()),
        }
    }

    /// The window bucket `now` falls in.
    pub(crate) fn bucket(&self, now: Instant) -> u64 {
        let len = (self.policy.window / BUCKETS as u32).max(Duration::from_millis(1));
        u64::try_from(now.saturating_duration_since(self.started).as_nanos() / len.as_nanos())
            .unwrap_or(u64::MAX)
    }

    /// The circuit of `key`, made on first use.
    pub(crate) fn circuit(&self, key: &Key) -> Arc<Mutex<Circuit>> {
        if let Some(c) = self.circuits.read().get(key) {
            return c.clone();
        }
        self.circuits
            .write()
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Circuit::new(&self.policy))))
            .clone()
    }

    /// The state of `key`'s circuit, if it has one yet.
    pub(crate) fn state(&self, key: &Key) -> Option<CircuitState> {
        let circuit = self.circuits.read().get(key)?.clone();
        let now = Instant::now();
        Some(circuit.lock().state(now))
    }
}

impl UpstreamCheck for Breakers {
    fn check(&self, upstream: &str) -> Option<Check> {
        let now = Instant::now();
        let circuits = self.circuits.read();
        let mut server = None;
        let mut open_tools = Vec::new();
        for (key, circuit) in circuits.iter().filter(|(k, _)| &*k.server == upstream) {
            let c = circuit.lock();
            let state = c.state(now);
            match &key.tool {
                None => server = Some((state, c.why.clone())),
                Some(tool) if state != CircuitState::Closed => open_tools.push(tool.to_string()),
                Some(_) => {}
            }
        }
        if server.is_none() && !circuits.keys().any(|k| &*k.server == upstream) {
            return None;
        }
        open_tools.sort();
        let (state, why) = server.unwrap_or((CircuitState::Closed, String::new()));
        let (passing, reason, name, retry_after_ms) = match state {
            CircuitState::Closed => (true, "circuit closed".to_owned(), "closed", None),
            CircuitState::Open { retry_after } => (
                false,
                format!(
                    "circuit open: {why}; next probe in {:.1} s",
                    retry_after.as_secs_f64()
                ),
                "open",
                Some(u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX)),
            ),
            CircuitState::HalfOpen => (
                false,
                format!("circuit half-open: probing after {why}"),
                "half_open",
                None,
            ),
        };
        let mut detail = json!({"state": name});
        if let Some(ms) = retry_after_ms {
            detail["retry_after_ms"] = ms.into();
        }
        if !open_tools.is_empty() {
            detail["open_tools"] = open_tools.into();
        }
        Some(Check::new(CHECK, passing, reason).with_detail(detail))
    }
}
