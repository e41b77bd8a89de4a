//! The cost of the resilience layers per call, against the bare inner service in the same run:
//! `cargo bench -p toolgate-resilience`.
//!
//! Every stack is boxed as the gateway boxes it (`McpService`) over an inner service that
//! answers at once, so what is measured is the layers themselves: the plain stack, the
//! circuit breaker, retry (a request it may not repeat, and one it copies because it may),
//! the full stack (timeout → retry → circuit breaker), and a refusal by an open circuit. Each
//! call is timed alone (the request is built outside the timed part); the table shows p50 and
//! p99 of the per-call times, and p50 minus the plain stack's.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::error::ErrorKind;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse, McpService};
use toolgate_resilience::{CircuitBreakerLayer, RetryLayer};
use toolgate_timeout::{Deadline, TimeoutLayer};
use tower::{Layer, ServiceExt};

const CALLS: usize = 200_000;
const WARMUP: usize = 20_000;

fn request(session: &Arc<SessionInfo>, tool: &str) -> McpRequest {
    let params = RawValue::from_string(format!(
        r#"{{"name":"demo__{tool}","arguments":{{"message":"hello"}}}}"#
    ))
    .ok();
    let mut req = McpRequest::new(
        JsonRpcRequest::new(RequestId::Number(1), Method::ToolsCall, params),
        McpContext {
            session: session.clone(),
            identity: None,
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    );
    req.set_route(Some(Route::new("demo", tool)));
    req
}

fn answer() -> McpService {
    let result: Arc<str> = Arc::from(r#"{"content":[{"type":"text","text":"hello"}]}"#);
    McpService::new(tower::service_fn(move |_req: McpRequest| {
        let result = result.clone();
        async move {
            RawValue::from_string(result.to_string())
                .map(McpResponse::new)
                .map_err(|e| McpError::internal(e.to_string()))
        }
    }))
}

fn failing() -> McpService {
    McpService::new(tower::service_fn(|_req: McpRequest| async {
        Err::<McpResponse, _>(McpError::new(ErrorKind::UpstreamUnavailable, "down"))
    }))
}

/// Per-call times in nanoseconds, sorted.
async fn measure(service: &McpService, tool: &str, expect_ok: bool) -> Vec<u64> {
    let session = Arc::new(SessionInfo::new(None, TransportKind::Stdio));
    let mut times = Vec::with_capacity(CALLS);
    for i in 0..WARMUP + CALLS {
        let req = request(&session, tool);
        let svc = service.clone();
        let start = Instant::now();
        let out = svc.oneshot(req).await;
        let took = start.elapsed();
        assert_eq!(out.is_ok(), expect_ok, "unexpected outcome");
        black_box(out.ok());
        if i >= WARMUP {
            times.push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        }
    }
    times.sort_unstable();
    times
}

fn pct(times: &[u64], p: f64) -> u64 {
    let idx = ((times.len() as f64 - 1.0) * p).round() as usize;
    times[idx.min(times.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let breaker = || CircuitBreakerLayer::new().consecutive_failures(5);
        let retry = || RetryLayer::new().idempotent_tool("idempotent");
        let timeout =
            || TimeoutLayer::new().default_deadline(Deadline::new(Duration::from_secs(30)));
        let full = |inner: McpService| {
            let s = McpService::new(breaker().layer(inner));
            let s = McpService::new(retry().layer(s));
            McpService::new(timeout().layer(s))
        };
        let open = {
            let layer = breaker()
                .consecutive_failures(1)
                .open_for(Duration::from_secs(3600));
            let svc = McpService::new(layer.layer(failing()));
            let session = Arc::new(SessionInfo::new(None, TransportKind::Stdio));
            let _ = svc.clone().oneshot(request(&session, "echo")).await;
            svc
        };
        let cases: Vec<(&str, McpService, &str, bool)> = vec![
            ("plain (boxed inner)", answer(), "echo", true),
            (
                "circuit_breaker",
                McpService::new(breaker().layer(answer())),
                "echo",
                true,
            ),
            (
                "retry, call not safe to repeat",
                McpService::new(retry().layer(answer())),
                "echo",
                true,
            ),
            (
                "retry, idempotent call (copied)",
                McpService::new(retry().layer(answer())),
                "idempotent",
                true,
            ),
            (
                "timeout",
                McpService::new(timeout().layer(answer())),
                "echo",
                true,
            ),
            (
                "full: timeout+retry+breaker",
                full(answer()),
                "idempotent",
                true,
            ),
            ("open circuit: refusal", open, "echo", false),
        ];
        println!(
            "{CALLS} calls per stack after {WARMUP} warm-up, one at a time, current-thread runtime"
        );
        println!(
            "{:<34} {:>8} {:>8} {:>12}",
            "stack", "p50 ns", "p99 ns", "p50 - plain"
        );
        let mut plain = None;
        for (name, svc, tool, ok) in cases {
            let times = measure(&svc, tool, ok).await;
            let p50 = pct(&times, 0.5);
            let base = *plain.get_or_insert(p50);
            println!(
                "{name:<34} {p50:>8} {:>8} {:>12}",
                pct(&times, 0.99),
                i128::from(p50) - i128::from(base)
            );
        }
    });
}
