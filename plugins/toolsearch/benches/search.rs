//! A search over 1,000 tools from 20 upstreams against a plain `tools/list` of the same
//! catalog, in one run: `cargo bench -p toolgate-toolsearch`.
//!
//! The inner service answers `tools/list` with the whole catalog at once (as the aggregate
//! does, from its merged list); the search layer's index is built on the first search (timed
//! separately) and kept. Each request is timed alone; the table shows p50 and p99.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{McpContext, McpError, McpRequest, McpResponse, McpService};
use toolgate_toolsearch::ToolSearchLayer;
use tower::{Layer, ServiceExt};

const CALLS: usize = 5_000;
const WARMUP: usize = 500;

const VERBS: [&str; 10] = [
    "get", "list", "create", "update", "delete", "search", "read", "write", "send", "run",
];
const NOUNS: [&str; 10] = [
    "issue", "file", "message", "event", "invoice", "user", "page", "record", "ticket", "report",
];

/// 1,000 tools: 20 servers × 50 tools, names and descriptions from a small vocabulary.
fn catalog() -> Value {
    let mut tools = Vec::new();
    for s in 0..20 {
        for t in 0..50 {
            let verb = VERBS[t % 10];
            let noun = NOUNS[(t / 10 + s) % 10];
            tools.push(json!({
                "name": format!("server{s}__{verb}_{noun}_{t}"),
                "description": format!("{verb} a {noun} in system {s}; returns the {noun} as JSON with its id, owner and status."),
                "inputSchema": {"type": "object", "properties": {
                    format!("{noun}_id"): {"type": "string"}, "owner": {"type": "string"}, "limit": {"type": "integer"}
                }}
            }));
        }
    }
    json!({ "tools": tools })
}

fn request(method: Method, params: Value) -> McpRequest {
    McpRequest::new(
        JsonRpcRequest::new(
            RequestId::Number(1),
            method,
            toolgate::jsonrpc::to_raw(&params).ok(),
        ),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: None,
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    )
}

fn pct(times: &[u64], p: f64) -> u64 {
    let idx = ((times.len() as f64 - 1.0) * p).round() as usize;
    times[idx.min(times.len() - 1)]
}

async fn measure(svc: &McpService, make: impl Fn() -> McpRequest) -> Vec<u64> {
    let mut times = Vec::with_capacity(CALLS);
    for i in 0..WARMUP + CALLS {
        let req = make();
        let start = Instant::now();
        let out = svc.clone().oneshot(req).await;
        let took = start.elapsed();
        assert!(out.is_ok(), "{:?}", out.err());
        black_box(out.ok());
        if i >= WARMUP {
            times.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        }
    }
    times.sort_unstable();
    times
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let list = Arc::new(
            toolgate::jsonrpc::to_raw(&catalog()).expect("the catalog serializes"),
        );
        let inner = McpService::new(tower::service_fn(move |_req: McpRequest| {
            let list = list.clone();
            async move { Ok::<_, McpError>(McpResponse::new((*list).clone())) }
        }));
        let plain = inner.clone();
        let searching = McpService::new(ToolSearchLayer::new().layer(inner));
        let search = |query: &'static str| {
            move || {
                request(
                    Method::ToolsCall,
                    json!({"name": "search_tools", "arguments": {"query": query}}),
                )
            }
        };

        let cold = Instant::now();
        let _ = searching.clone().oneshot(search("create a ticket")()).await;
        let build = cold.elapsed();

        println!("1,000 tools across 20 upstreams; {CALLS} requests per row after {WARMUP} warm-up, one at a time");
        println!("first search (lists the catalog and builds the index): {:.1} ms", build.as_secs_f64() * 1e3);
        println!("{:<44} {:>8} {:>8}", "request", "p50 µs", "p99 µs");
        let rows: Vec<(&str, Vec<u64>)> = vec![
            ("plain tools/list (the whole catalog)", measure(&plain, || request(Method::ToolsList, json!({}))).await),
            ("tools/list through tool_search", measure(&searching, || request(Method::ToolsList, json!({}))).await),
            ("search_tools \"create a ticket\"", measure(&searching, search("create a ticket")).await),
            ("search_tools \"owner of the invoice report\"", measure(&searching, search("owner of the invoice report")).await),
        ];
        for (name, times) in rows {
            println!("{name:<44} {:>8} {:>8}", pct(&times, 0.5), pct(&times, 0.99));
        }
    });
}
