//! tower-test unit tests of the logging layer, reading its events as JSON lines.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use toolgate::aggregate::Route;
use toolgate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use toolgate::session::{Downstream, SessionInfo, TransportKind};
use toolgate::{Identity, McpContext, McpError, McpRequest, McpResponse};
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_test::mock;

use super::*;

type Handle = mock::Handle<McpRequest, McpResponse>;

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
    /// The access events written so far.
    fn events(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("JSON log line"))
            .filter(|v| v["target"] == TARGET)
            .collect()
    }
}

/// Captures JSON log output on this thread while the guard lives.
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    (out, tracing::subscriber::set_default(subscriber))
}

const SESSION: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A request as the gateway's routing step hands it on (routed with [`resolver`]).
fn request(method: &str, params: Option<Value>, caller: Option<&str>) -> McpRequest {
    let params = params.map(|p| RawValue::from_string(p.to_string()).expect("raw"));
    let mut req = McpRequest::new(
        JsonRpcRequest::new(RequestId::Number(7), Method::parse(method), params),
        McpContext {
            session: Arc::new(SessionInfo::new(
                Some(SESSION.into()),
                TransportKind::StreamableHttp,
            )),
            identity: caller.map(|s| Identity {
                subject: s.to_owned(),
                attributes: Vec::new(),
            }),
            downstream: Downstream::none(),
            cancel: CancellationToken::new(),
            extensions: Default::default(),
        },
    );
    req.route_with(Arc::new(resolver()));
    req
}

fn resolver() -> impl toolgate::aggregate::Resolve {
    |_: &Method, name: &str| {
        let (server, original) = name.split_once("__")?;
        Some(Route::new(server, original))
    }
}

fn stack(
    layer: LoggingLayer,
) -> (
    impl Service<McpRequest, Response = McpResponse, Error = McpError>,
    Handle,
) {
    let (mock, handle) = mock::pair::<McpRequest, McpResponse>();
    let to_mcp: fn(BoxError) -> McpError = |e| match e.downcast::<McpError>() {
        Ok(e) => *e,
        Err(e) => McpError::internal(e.to_string()),
    };
    (layer.layer(mock.map_err(to_mcp)), handle)
}

/// Sends `req` and answers it from the mock with `answer`.
async fn run<S>(
    svc: &mut S,
    handle: &mut Handle,
    req: McpRequest,
    answer: Result<&str, McpError>,
) -> Result<McpResponse, McpError>
where
    S: Service<McpRequest, Response = McpResponse, Error = McpError>,
{
    handle.allow(1);
    let fut = svc.ready().await.expect("ready").call(req);
    let (_seen, send) = handle.next_request().await.expect("forwarded");
    match answer {
        Ok(result) => send.send_response(McpResponse::new(
            RawValue::from_string(result.to_owned()).expect("raw"),
        )),
        Err(e) => send.send_error(e),
    }
    fut.await
}

#[tokio::test(flavor = "current_thread")]
async fn one_event_per_request_with_its_fields() {
    let (out, _guard) = capture();
    let (mut svc, mut handle) = stack(LoggingLayer::default());
    let call = request(
        "tools/call",
        Some(serde_json::json!({"name": "demo__echo", "arguments": {"message": "hi"}})),
        Some("alice"),
    );
    run(&mut svc, &mut handle, call, Ok(r#"{"content":[]}"#))
        .await
        .expect("ok");
    run(
        &mut svc,
        &mut handle,
        request("tools/list", None, None),
        Ok(r#"{"tools":[]}"#),
    )
    .await
    .expect("ok");

    let events = out.events();
    assert_eq!(events.len(), 2, "one event per request: {events:?}");
    let e = &events[0];
    assert_eq!(e["level"], "INFO");
    let f = &e["fields"];
    assert_eq!(f["message"], "mcp request");
    assert_eq!(f["method"], "tools/call");
    assert_eq!(f["name"], "demo__echo");
    assert_eq!(f["server"], "demo");
    assert_eq!(f["tool"], "echo");
    assert_eq!(f["identity"], "alice");
    assert_eq!(f["session"], "01234567", "only a prefix of the session id");
    assert_eq!(f["request_id"], "7");
    assert_eq!(f["status"], "ok");
    assert!(f["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{f}");
    assert!(f.get("code").is_none() && f.get("params").is_none(), "{f}");
    assert!(
        !out.text().contains(SESSION),
        "the whole session id never reaches the log"
    );

    let f = &events[1]["fields"];
    assert_eq!(f["method"], "tools/list");
    assert_eq!(f["identity"], "anonymous");
    assert!(f.get("server").is_none() && f.get("name").is_none(), "{f}");
}

#[tokio::test(flavor = "current_thread")]
async fn errors_and_tool_errors_are_told_apart() {
    let (out, _guard) = capture();
    let settings = LoggingSettings {
        error_level: Some(Level::Warn),
        ..Default::default()
    };
    let (mut svc, mut handle) = stack(LoggingLayer::new(&settings));
    let call = |name: &str| {
        request(
            "tools/call",
            Some(serde_json::json!({"name": name, "arguments": {}})),
            None,
        )
    };
    let _ = run(
        &mut svc,
        &mut handle,
        call("demo__fail"),
        Ok(r#"{"content":[],"isError":true}"#),
    )
    .await;
    let _ = run(
        &mut svc,
        &mut handle,
        call("demo__nope"),
        Err(McpError::invalid_params("unknown tool: demo__nope")),
    )
    .await;
    let events = out.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["fields"]["status"], "tool_error");
    assert_eq!(events[0]["level"], "INFO");
    let f = &events[1]["fields"];
    assert_eq!(events[1]["level"], "WARN");
    assert_eq!(f["status"], "error");
    assert_eq!(f["code"], -32602);
    assert_eq!(f["error"], "unknown tool: demo__nope");
}

#[tokio::test(flavor = "current_thread")]
async fn params_are_logged_only_when_asked_and_never_with_secrets() {
    let (out, _guard) = capture();
    let settings = LoggingSettings {
        params: true,
        redact_keys: vec!["tenant".into()],
        ..Default::default()
    };
    let (mut svc, mut handle) = stack(LoggingLayer::new(&settings));
    let params = serde_json::json!({
        "name": "demo__fetch",
        "arguments": {
            "url": "https://api.example.com/v1?api_key=SECRET-IN-URL&q=1",
            "api_key": "SECRET-KEY-VALUE",
            "headers": {"Authorization": "Bearer SECRET-TOKEN-123"},
            "note": "Bearer SECRET-INLINE-456",
            "tenant_id": "SECRET-TENANT",
            "query": "weather"
        }
    });
    run(
        &mut svc,
        &mut handle,
        request("tools/call", Some(params), None),
        Ok("{}"),
    )
    .await
    .expect("ok");
    let text = out.text();
    assert!(
        !text.contains("SECRET"),
        "a secret reached the log:\n{text}"
    );
    let events = out.events();
    let logged: Value =
        serde_json::from_str(events[0]["fields"]["params"].as_str().expect("params"))
            .expect("json");
    assert_eq!(logged["arguments"]["query"], "weather");
    assert_eq!(logged["arguments"]["api_key"], REDACTED);
    assert_eq!(
        logged["arguments"]["url"],
        "https://api.example.com/v1?api_key=[REDACTED]&q=1"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn long_params_are_cut() {
    let (out, _guard) = capture();
    let settings = LoggingSettings {
        params: true,
        max_params_bytes: 64,
        ..Default::default()
    };
    let (mut svc, mut handle) = stack(LoggingLayer::new(&settings));
    let params = serde_json::json!({"name": "x", "arguments": {"blob": "y".repeat(10_000)}});
    run(
        &mut svc,
        &mut handle,
        request("tools/call", Some(params), None),
        Ok("{}"),
    )
    .await
    .expect("ok");
    let logged = out.events()[0]["fields"]["params"]
        .as_str()
        .expect("params")
        .to_owned();
    assert!(logged.len() < 100, "{logged}");
    assert!(logged.ends_with("bytes)"), "{logged}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_dropped_before_its_answer_is_logged_once() {
    let (out, _guard) = capture();
    let (mut svc, mut handle) = stack(LoggingLayer::default());
    handle.allow(1);
    let fut = svc.ready().await.expect("ready").call(request(
        "tools/call",
        Some(serde_json::json!({"name": "a"})),
        None,
    ));
    let (_seen, _send) = handle.next_request().await.expect("forwarded");
    drop(fut);
    let events = out.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["fields"]["status"], "dropped");
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_requests_are_not_errors() {
    let (out, _guard) = capture();
    let settings = LoggingSettings {
        error_level: Some(Level::Error),
        ..Default::default()
    };
    let (mut svc, mut handle) = stack(LoggingLayer::new(&settings));
    let _ = run(
        &mut svc,
        &mut handle,
        request("tools/call", Some(serde_json::json!({"name": "a"})), None),
        Err(McpError::cancelled()),
    )
    .await;
    let events = out.events();
    assert_eq!(events[0]["fields"]["status"], "cancelled");
    assert_eq!(events[0]["level"], "INFO");
}

#[tokio::test(flavor = "current_thread")]
async fn builder_extension_adds_the_layer() {
    let (out, _guard) = capture();
    let builder = tower::ServiceBuilder::new().mcp_logging(LoggingLayer::default());
    let (mock, mut handle) = mock::pair::<McpRequest, McpResponse>();
    let to_mcp: fn(BoxError) -> McpError = |e| McpError::internal(e.to_string());
    let mut svc = builder.service(mock.map_err(to_mcp));
    run(
        &mut svc,
        &mut handle,
        request(
            "resources/read",
            Some(serde_json::json!({"uri": "demo://readme"})),
            None,
        ),
        Ok("{}"),
    )
    .await
    .expect("ok");
    let events = out.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["fields"]["uri"], "demo://readme");
}

#[test]
fn the_factory_refuses_unknown_keys() {
    use toolgate::gateway::GatewayBuilder;
    use toolgate::registry::LayerFactory;
    let e = LoggingFactory
        .apply(serde_json::json!({"levle": "info"}), GatewayBuilder::new())
        .expect_err("typo");
    assert!(e.to_string().contains("levle"), "{e}");
    let e = LoggingFactory
        .apply(serde_json::json!({"level": "loud"}), GatewayBuilder::new())
        .expect_err("bad level");
    assert!(e.to_string().contains("loud"), "{e}");
    assert!(
        LoggingFactory
            .apply(serde_json::json!({}), GatewayBuilder::new())
            .is_ok()
    );
}
