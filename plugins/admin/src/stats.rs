//! Per-tool call statistics for the admin page: [`StatsLayer`] times every routed `tools/call`
//! into [`Stats`], which keeps, per tool, a ring of [`BUCKETS`] buckets of [`BUCKET_SECONDS`]
//! seconds each (calls, errors, a log-scale latency histogram), and answers
//! `/admin/api/stats` from it.
//!
//! The hot path takes a shared read lock on the tool map and clones one `Arc` before the call,
//! and locks that tool's own mutex once after it; nothing is allocated for a tool already
//! known. At most [`MAX_TOOLS`] tools are tracked: a new tool beyond that evicts the one whose
//! last call is the oldest. Only calls the gateway routed (a tool some upstream serves) are
//! counted, so names made up by clients cannot fill the map.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use toolgate::jsonrpc::Method;
use toolgate::{McpError, McpRequest, McpResponse};
use tower::{Layer, Service};

/// The length of one bucket, in seconds.
pub const BUCKET_SECONDS: u64 = 10;
/// How many buckets a tool keeps: five minutes.
pub const BUCKETS: usize = 30;
/// How many tools are tracked at most.
pub const MAX_TOOLS: usize = 1000;

/// Upper bounds of the latency histogram's classes, in milliseconds; the last class is
/// everything above the last bound.
const BOUNDS_MS: [u64; 13] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
const CLASSES: usize = BOUNDS_MS.len() + 1;

/// One bucket: what completed in one [`BUCKET_SECONDS`] interval.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which interval (unix seconds / [`BUCKET_SECONDS`]); a slot holding an older one is
    /// stale and reads as empty.
    index: u64,
    calls: u32,
    errors: u32,
    /// Calls per latency class.
    histogram: [u32; CLASSES],
    /// The slowest call, in microseconds (for the open-ended class).
    max_us: u64,
}

impl Bucket {
    fn add(&mut self, other: &Bucket) {
        self.calls += other.calls;
        self.errors += other.errors;
        for (a, b) in self.histogram.iter_mut().zip(other.histogram.iter()) {
            *a += b;
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The `q` quantile (0 < q ≤ 1) in milliseconds, interpolated linearly inside its class;
    /// `None` without calls.
    fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.histogram.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0);
        let max_ms = self.max_us as f64 / 1000.0;
        let mut below = 0u64;
        for (class, &count) in self.histogram.iter().enumerate() {
            let count = u64::from(count);
            if count == 0 {
                continue;
            }
            if (below + count) as f64 >= rank {
                let low = if class == 0 {
                    0.0
                } else {
                    BOUNDS_MS[class - 1] as f64
                };
                let high = BOUNDS_MS.get(class).map_or(max_ms, |&b| b as f64);
                let high = high.min(max_ms).max(low);
                let into = (rank - below as f64) / count as f64;
                return Some(round1(low + (high - low) * into));
            }
            below += count;
        }
        Some(round1(max_ms))
    }
}

fn round1(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn class_of(latency: Duration) -> usize {
    let us = latency.as_micros();
    BOUNDS_MS
        .iter()
        .position(|&b| us <= u128::from(b) * 1000)
        .unwrap_or(BOUNDS_MS.len())
}

/// One tool's ring of buckets.
struct Tool {
    /// When the last call completed, in unix milliseconds (for eviction).
    last_ms: AtomicU64,
    ring: Mutex<[Bucket; BUCKETS]>,
}

impl Tool {
    fn new() -> Self {
        Tool {
            last_ms: AtomicU64::new(0),
            ring: Mutex::new([Bucket::default(); BUCKETS]),
        }
    }

    fn record(&self, at_ms: u64, latency: Duration, error: bool) {
        let index = at_ms / 1000 / BUCKET_SECONDS;
        self.last_ms.fetch_max(at_ms, Ordering::Relaxed);
        let mut ring = self.ring.lock();
        let slot = &mut ring[(index % BUCKETS as u64) as usize];
        if slot.index != index {
            *slot = Bucket {
                index,
                ..Bucket::default()
            };
        }
        slot.calls = slot.calls.saturating_add(1);
        if error {
            slot.errors = slot.errors.saturating_add(1);
        }
        let class = &mut slot.histogram[class_of(latency)];
        *class = class.saturating_add(1);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        slot.max_us = slot.max_us.max(us);
    }

    /// The window ending with the bucket of `now_ms`, oldest first (empty buckets included).
    fn window(&self, now_ms: u64) -> [Bucket; BUCKETS] {
        let now = now_ms / 1000 / BUCKET_SECONDS;
        let ring = self.ring.lock();
        std::array::from_fn(|i| {
            let index = (now + 1 + i as u64).saturating_sub(BUCKETS as u64);
            let slot = &ring[(index % BUCKETS as u64) as usize];
            if slot.index == index && slot.calls > 0 {
                *slot
            } else {
                Bucket {
                    index,
                    ..Bucket::default()
                }
            }
        })
    }
}

/// The statistics of every tool called recently; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Stats {
    tools: Arc<RwLock<HashMap<Box<str>, Arc<Tool>>>>,
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stats")
            .field("tools", &self.tools.read().len())
            .finish()
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Stats {
    /// No statistics yet.
    pub fn new() -> Self {
        Stats::default()
    }

    /// The entry of `name`, created (evicting the least recently called tool when
    /// [`MAX_TOOLS`] are tracked) if it is new.
    fn tool(&self, name: &str) -> Arc<Tool> {
        if let Some(t) = self.tools.read().get(name) {
            return t.clone();
        }
        let mut tools = self.tools.write();
        if let Some(t) = tools.get(name) {
            return t.clone();
        }
        if tools.len() >= MAX_TOOLS {
            let oldest = tools
                .iter()
                .min_by_key(|(_, t)| t.last_ms.load(Ordering::Relaxed))
                .map(|(n, _)| n.clone());
            if let Some(oldest) = oldest {
                tools.remove(&oldest);
            }
        }
        let t = Arc::new(Tool::new());
        tools.insert(name.into(), t.clone());
        t
    }

    /// Records one call of `name` that completed at `at` (unix milliseconds).
    #[cfg(test)]
    fn record_at(&self, name: &str, at_ms: u64, latency: Duration, error: bool) {
        self.tool(name).record(at_ms, latency, error);
    }

    /// How many tools are tracked.
    pub fn tracked(&self) -> usize {
        self.tools.read().len()
    }

    /// The JSON of `/admin/api/stats` now.
    pub fn json(&self) -> Value {
        self.json_at(unix_ms(SystemTime::now()))
    }

    /// The JSON of `/admin/api/stats` at `now_ms` (unix milliseconds): tools with calls in the
    /// window, most called first.
    fn json_at(&self, now_ms: u64) -> Value {
        let tools: Vec<(Box<str>, Arc<Tool>)> = self
            .tools
            .read()
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        let mut rows: Vec<(u32, Value)> = tools
            .into_iter()
            .filter_map(|(name, tool)| {
                let window = tool.window(now_ms);
                let mut total = Bucket::default();
                for b in &window {
                    total.add(b);
                }
                if total.calls == 0 {
                    return None;
                }
                let series: Vec<Value> = window
                    .iter()
                    .map(|b| {
                        json!({
                            "t": b.index * BUCKET_SECONDS,
                            "calls": b.calls,
                            "errors": b.errors,
                            "p50_ms": b.quantile_ms(0.5),
                            "p99_ms": b.quantile_ms(0.99),
                        })
                    })
                    .collect();
                Some((
                    total.calls,
                    json!({
                        "name": &*name,
                        "calls": total.calls,
                        "errors": total.errors,
                        "p50_ms": total.quantile_ms(0.5),
                        "p99_ms": total.quantile_ms(0.99),
                        "series": series,
                    }),
                ))
            })
            .collect();
        rows.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| a.1["name"].as_str().cmp(&b.1["name"].as_str()))
        });
        json!({
            "bucket_seconds": BUCKET_SECONDS,
            "tools": rows.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        })
    }
}

/// Whether a `tools/call` result is a tool error (`"isError": true` at any depth; the raw text
/// is searched, not parsed).
fn is_tool_error(raw: &str) -> bool {
    const KEY: &str = "\"isError\"";
    let mut rest = raw;
    while let Some(at) = rest.find(KEY) {
        rest = &rest[at + KEY.len()..];
        let value = rest.trim_start();
        if let Some(value) = value.strip_prefix(':')
            && value.trim_start().starts_with("true")
        {
            return true;
        }
    }
    false
}

/// Times every routed `tools/call` into [`Stats`]; everything else passes untouched.
#[derive(Clone, Debug)]
pub struct StatsLayer {
    stats: Stats,
}

impl StatsLayer {
    /// Records into `stats`.
    pub fn new(stats: Stats) -> Self {
        StatsLayer { stats }
    }
}

impl<S> Layer<S> for StatsLayer {
    type Service = StatsService<S>;
    fn layer(&self, inner: S) -> StatsService<S> {
        StatsService {
            inner,
            stats: self.stats.clone(),
        }
    }
}

/// The service of [`StatsLayer`].
#[derive(Clone, Debug)]
pub struct StatsService<S> {
    inner: S,
    stats: Stats,
}

/// A call under way; recorded as an error if it is dropped before it completes (cancelled).
struct Pending {
    tool: Option<Arc<Tool>>,
    start: Instant,
}

impl Pending {
    fn finish(&mut self, error: bool) {
        if let Some(tool) = self.tool.take() {
            tool.record(unix_ms(SystemTime::now()), self.start.elapsed(), error);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish(true);
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<McpResponse, McpError>> + Send>>;

impl<S> Service<McpRequest> for StatsService<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = McpError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> BoxFuture {
        let tool = match (req.method(), req.route(), req.target()) {
            (Method::ToolsCall, Some(_), Some(name)) => self.stats.tool(name),
            _ => return Box::pin(self.inner.call(req)),
        };
        let mut pending = Pending {
            tool: Some(tool),
            start: Instant::now(),
        };
        let answer = self.inner.call(req);
        Box::pin(async move {
            let out = answer.await;
            let error = match &out {
                Ok(r) => r.result.get().contains("isError") && is_tool_error(r.result.get()),
                Err(_) => true,
            };
            pending.finish(error);
            out
        })
    }
}

#[cfg(test)]
mod tests;
