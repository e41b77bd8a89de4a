//! Unit tests of the cache over a counting inner service.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{Identity, McpContext, McpError, McpRequest, McpResponse, McpService};
use tower::{Layer, ServiceExt};

use super::*;

/// An upstream that answers `result` after `delay`, counting calls.
fn upstream(result: &'static str, delay: Duration) -> (McpService, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let svc = McpService::new(tower::service_fn(move |_req: McpRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            RawValue::from_string(result.to_owned())
                .map(McpResponse::new)
                .map_err(|e| McpError::internal(e.to_string()))
        }
    }));
    (svc, calls)
}

fn failing() -> (McpService, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let svc = McpService::new(tower::service_fn(move |_req: McpRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<McpResponse, _>(McpError::upstream_unavailable("demo", "down"))
        }
    }));
    (svc, calls)
}

fn request(method: &str, params: &str, item: &str, caller: Option<&str>) -> McpRequest {
    let mut req = McpRequest::new(
        JsonRpcRequest::new(
            RequestId::Number(1),
            Method::parse(method),
            RawValue::from_string(params.to_owned()).ok(),
        ),
        McpContext {
            session: Arc::new(SessionInfo::new(None, TransportKind::Stdio)),
            identity: caller.map(|s| Identity {
                subject: s.to_owned(),
                attributes: Vec::new(),
            }),
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    );
    req.set_route(Some(Route::new("demo", item)));
    req
}

fn read(uri: &str) -> McpRequest {
    request(
        "resources/read",
        &format!(r#"{{"uri":"{uri}"}}"#),
        uri,
        None,
    )
}

fn tool_call(tool: &str, definition: Option<&str>, caller: Option<&str>) -> McpRequest {
    let mut req = request(
        "tools/call",
        &format!(r#"{{"name":"demo__{tool}","arguments":{{"q":1}}}}"#),
        tool,
        caller,
    );
    let route = Route::new("demo", tool).with_definition(
        definition.and_then(|d| RawValue::from_string(d.to_owned()).ok().map(Arc::from)),
    );
    req.set_route(Some(route));
    req
}

async fn text(svc: &McpService, req: McpRequest) -> String {
    svc.clone()
        .oneshot(req)
        .await
        .map(|r| r.result.get().to_owned())
        .unwrap_or_else(|e| format!("error {}", e.code()))
}

async fn owned(svc: McpService, req: McpRequest) -> String {
    text(&svc, req).await
}

const READ: &str = r#"{"contents":[{"uri":"file:///a","text":"A"}]}"#;

#[tokio::test]
async fn a_repeated_read_is_answered_from_the_cache() {
    let (inner, calls) = upstream(READ, Duration::ZERO);
    let layer = CacheLayer::new();
    let svc = McpService::new(layer.layer(inner));
    for _ in 0..3 {
        assert_eq!(text(&svc, read("file:///a")).await, READ);
    }
    // `_meta` (a progress token) is not part of what is asked.
    let with_meta = request(
        "resources/read",
        r#"{"uri":"file:///a","_meta":{"progressToken":9}}"#,
        "file:///a",
        None,
    );
    assert_eq!(text(&svc, with_meta).await, READ);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(layer.hits(), 3);
    // Another resource is another entry.
    let _ = text(&svc, read("file:///b")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_burst_of_identical_reads_makes_one_upstream_call() {
    let (inner, calls) = upstream(READ, Duration::from_millis(50));
    let layer = CacheLayer::new();
    let svc = McpService::new(layer.layer(inner));
    let burst: Vec<_> = (0..100)
        .map(|_| owned(svc.clone(), read("file:///a")))
        .collect();
    let answers = futures_join_all(burst).await;
    assert!(answers.iter().all(|a| a == READ), "{answers:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(layer.upstream_calls(), 1);
}

async fn futures_join_all<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

#[tokio::test]
async fn a_failure_reaches_everyone_waiting_and_is_not_kept() {
    let (inner, calls) = failing();
    let svc = McpService::new(CacheLayer::new().layer(inner));
    let burst: Vec<_> = (0..10)
        .map(|_| owned(svc.clone(), read("file:///a")))
        .collect();
    let answers = futures_join_all(burst).await;
    assert!(answers.iter().all(|a| a == "error -31000"), "{answers:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let _ = text(&svc, read("file:///a")).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the failure was not cached"
    );
}

#[tokio::test]
async fn answers_are_kept_per_caller_unless_public() {
    let (inner, calls) = upstream(READ, Duration::ZERO);
    let svc = McpService::new(CacheLayer::new().layer(inner));
    let as_ = |who: &str| {
        request(
            "resources/read",
            r#"{"uri":"file:///a"}"#,
            "file:///a",
            Some(who),
        )
    };
    let _ = text(&svc, as_("alice")).await;
    let _ = text(&svc, as_("alice")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let _ = text(&svc, as_("bob")).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "bob does not get alice's answer"
    );

    const PUBLIC: &str = r#"{"contents":[],"cacheScope":"public","ttlMs":60000}"#;
    let (inner, calls) = upstream(PUBLIC, Duration::ZERO);
    let svc = McpService::new(CacheLayer::new().layer(inner));
    let _ = text(&svc, as_("alice")).await;
    assert_eq!(text(&svc, as_("bob")).await, PUBLIC);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a public answer is shared");
}

#[tokio::test]
async fn only_read_only_or_listed_tools_are_cached_and_tool_errors_never() {
    const OK: &str = r#"{"content":[{"type":"text","text":"sunny"}]}"#;
    let (inner, calls) = upstream(OK, Duration::ZERO);
    let layer = CacheLayer::new().tool("listed");
    let svc = McpService::new(layer.layer(inner));
    let ro = r#"{"name":"ro","annotations":{"readOnlyHint":true}}"#;
    for _ in 0..2 {
        let _ = text(&svc, tool_call("ro", Some(ro), None)).await;
        let _ = text(&svc, tool_call("listed", None, None)).await;
        let _ = text(&svc, tool_call("writes", None, None)).await;
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "ro and listed once each, writes twice"
    );

    const ERR: &str = r#"{"content":[],"isError":true}"#;
    let (inner, calls) = upstream(ERR, Duration::ZERO);
    let svc = McpService::new(CacheLayer::new().layer(inner));
    for _ in 0..2 {
        assert_eq!(text(&svc, tool_call("ro", Some(ro), None)).await, ERR);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    const SHORT: &str = r#"{"contents":[],"ttlMs":100}"#;
    let (inner, calls) = upstream(SHORT, Duration::ZERO);
    let svc = McpService::new(CacheLayer::new().layer(inner));
    let _ = text(&svc, read("file:///a")).await;
    let _ = text(&svc, read("file:///a")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The entry's own lifetime is the point here: wait it out.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let _ = text(&svc, read("file:///a")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn notifications_drop_what_they_make_stale() {
    let (inner, calls) = upstream(READ, Duration::ZERO);
    let layer = CacheLayer::new();
    let svc = McpService::new(layer.layer(inner));
    let _ = text(&svc, read("file:///a")).await;
    let _ = text(&svc, read("file:///b")).await;
    let updated = RawValue::from_string(r#"{"uri":"file:///a"}"#.into()).ok();
    layer.invalidate("notifications/resources/updated", updated.as_deref());
    let _ = text(&svc, read("file:///a")).await;
    let _ = text(&svc, read("file:///b")).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "a was read again, b was not"
    );
    layer.invalidate("notifications/tools/list_changed", None);
    let _ = text(&svc, read("file:///b")).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "a tool list change leaves reads alone"
    );
    layer.invalidate("notifications/resources/list_changed", None);
    let _ = text(&svc, read("file:///b")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[test]
fn settings_say_what_to_write() {
    let parse = |v: serde_json::Value| {
        serde_json::from_value::<CacheSettings>(v)
            .map_err(|e| e.to_string())
            .and_then(|s| CacheLayer::from_settings(&s).map_err(|e| e.to_string()))
    };
    assert!(
        parse(serde_json::json!({"ttl": "1m", "tools": ["get_forecast"], "shared": true})).is_ok()
    );
    for (bad, says) in [
        (
            serde_json::json!({"ttl": "10m", "max_ttl": "1m"}),
            "max_ttl",
        ),
        (serde_json::json!({"max_entries": 0}), "max_entries"),
        (serde_json::json!({"ttl": "0s"}), "30s"),
        (serde_json::json!({"tll": "1s"}), "tll"),
    ] {
        let e = parse(bad.clone()).expect_err("refused");
        assert!(e.contains(says), "{bad}: {e}");
    }
}
