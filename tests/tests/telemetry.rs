//! Telemetry end to end: spans exported over OTLP to a stand-in collector (names, attributes,
//! parents, the caller's trace continued and passed upstream), Prometheus metrics at
//! `/metrics`, and config reload (layers change while a session stays open; a bad config is
//! rejected and the old one keeps running).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use toolgate_tests::gateway::UPSTREAM_READY_TIMEOUT;
use toolgate_tests::http::{send, text_of};
use toolgate_tests::otlp::{Collector, KIND_CLIENT, KIND_SERVER, ReceivedSpan};
use toolgate_tests::{Gateway, GatewayConfig, Upstream, within};

/// The caller's trace: every span of a request it sends with this must continue it.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// How long spans may take to reach the collector (batches are sent every 200 ms here).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the probe upstream saw of one `tools/call`.
#[derive(Debug, Clone)]
struct Seen {
    header: Option<String>,
    meta: Value,
}

/// A minimal Streamable HTTP MCP server with one tool, `probe`, that records the trace context
/// each call arrives with (the `traceparent` header and `params._meta`).
struct ProbeUpstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl ProbeUpstream {
    async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let store = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| probe(req, store.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, seen, task })
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for ProbeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn probe(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let reply = |status: StatusCode, body: Option<Value>| {
        let mut r = Response::new(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )));
        *r.status_mut() = status;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok(r)
    };
    if req.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, None);
    }
    let header = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Ok(body) = Limited::new(req.into_body(), 1 << 20).collect().await else {
        return reply(StatusCode::BAD_REQUEST, None);
    };
    let Ok(msg) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return reply(StatusCode::BAD_REQUEST, None);
    };
    let Some(id) = msg.get("id").cloned() else {
        return reply(StatusCode::ACCEPTED, None);
    };
    let result = match msg["method"].as_str() {
        Some("initialize") => json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "probe", "version": "1"},
        }),
        Some("tools/list") => json!({"tools": [{
            "name": "probe",
            "description": "Records the trace context it was called with.",
            "inputSchema": {"type": "object"},
        }]}),
        Some("tools/call") => {
            let meta = msg["params"]["_meta"].clone();
            if let Ok(mut s) = seen.lock() {
                s.push(Seen {
                    header: header.clone(),
                    meta: meta.clone(),
                });
            }
            json!({"content": [{"type": "text", "text": "probed"}]})
        }
        _ => {
            return reply(
                StatusCode::OK,
                Some(json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32601, "message": "method not found"}})),
            );
        }
    };
    reply(
        StatusCode::OK,
        Some(json!({"jsonrpc": "2.0", "id": id, "result": result})),
    )
}

fn tracing_layers(collector: &Collector) -> String {
    format!(
        "layers:\n  - use: tracing\n    service_name: toolgate-e2e\n    otlp: {{endpoint: \"{}\", schedule_delay: 200ms}}\n",
        collector.endpoint()
    )
}

fn traceparent_span(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(2)
}

#[tokio::test]
async fn spans_continue_the_callers_trace_and_go_upstream_as_children() -> anyhow::Result<()> {
    let collector = Collector::start().await?;
    let upstream = ProbeUpstream::start().await?;
    let config = GatewayConfig::new().server("probe", Upstream::http(upstream.url()));
    let yaml = config.to_yaml() + &tracing_layers(&collector);
    let gateway = Gateway::start(&yaml).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&["probe__probe"], UPSTREAM_READY_TIMEOUT)
        .await?;

    // Trace context in `params._meta`.
    let caller = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let response = session
        .request(
            "tools/call",
            Some(
                json!({"name": "probe__probe", "arguments": {}, "_meta": {"traceparent": caller}}),
            ),
        )
        .await?;
    assert_eq!(text_of(&response["result"]), "probed", "{response}");

    // Trace context only in the HTTP header.
    let header_trace = "11111111111111111111111111111111";
    let body = json!({"jsonrpc": "2.0", "id": 90, "method": "tools/call",
        "params": {"name": "probe__probe", "arguments": {}}});
    let traceparent = format!("00-{header_trace}-2222222222222222-01");
    let http = session
        .post(&[("traceparent", traceparent.as_str())], body.to_string())
        .await?;
    assert_eq!(http.status, StatusCode::OK, "{}", http.describe());

    // The upstream got the trace in `_meta` and in its HTTP header, with a new parent span.
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let sent = seen[0].meta["traceparent"]
        .as_str()
        .context("no _meta.traceparent upstream")?;
    assert!(sent.starts_with(&format!("00-{TRACE_ID}-")), "{sent}");
    assert_ne!(
        traceparent_span(sent),
        Some(CALLER_SPAN),
        "a new span upstream"
    );
    assert_eq!(seen[0].header.as_deref(), Some(sent), "header = _meta");
    let sent_by_header = seen[1].meta["traceparent"].as_str().unwrap_or_default();
    assert!(
        sent_by_header.starts_with(&format!("00-{header_trace}-")),
        "{sent_by_header}"
    );

    let is_server = |s: &ReceivedSpan, trace: &str| {
        s.kind == KIND_SERVER && s.trace_id == trace && s.name == "tools/call probe__probe"
    };
    let spans = collector
        .wait_for(
            "the server and client spans of both calls",
            EXPORT_TIMEOUT,
            |spans| {
                spans.iter().any(|s| is_server(s, TRACE_ID))
                    && spans.iter().any(|s| is_server(s, header_trace))
                    && spans
                        .iter()
                        .filter(|s| s.kind == KIND_CLIENT && s.name == "tools/call probe")
                        .count()
                        >= 2
            },
        )
        .await?;
    let server = spans
        .iter()
        .find(|s| is_server(s, TRACE_ID))
        .context("server span")?;
    assert_eq!(server.service, "toolgate-e2e");
    assert_eq!(server.parent_span_id, CALLER_SPAN);
    assert_eq!(server.attr("mcp.method.name"), Some("tools/call"));
    assert_eq!(server.attr("gen_ai.tool.name"), Some("probe__probe"));
    assert_eq!(server.attr("mcp.session.id"), Some(session.id()));
    assert_eq!(server.attr("mcp.protocol.version"), Some("2025-11-25"));
    assert_eq!(server.attr("toolgate.upstream"), Some("probe"));
    assert!(server.attr("jsonrpc.request.id").is_some(), "{server:?}");
    assert_eq!(server.status_code, 0, "not an error: {server:?}");

    let client = spans
        .iter()
        .find(|s| s.kind == KIND_CLIENT && s.trace_id == TRACE_ID)
        .context("client span")?;
    assert_eq!(client.name, "tools/call probe");
    assert_eq!(
        client.parent_span_id, server.span_id,
        "child of the server span"
    );
    assert_eq!(Some(client.span_id.as_str()), traceparent_span(sent));
    assert_eq!(client.attr("gen_ai.tool.name"), Some("probe"));

    let by_header = spans
        .iter()
        .find(|s| is_server(s, header_trace))
        .context("server span of the header call")?;
    assert_eq!(by_header.parent_span_id, "2222222222222222");
    assert_eq!(by_header.attr("jsonrpc.request.id"), Some("90"));
    Ok(())
}

#[tokio::test]
async fn errors_are_error_spans_with_the_jsonrpc_code() -> anyhow::Result<()> {
    let collector = Collector::start().await?;
    let config = GatewayConfig::new().server("demo", Upstream::demo("demo")?);
    let yaml = config.to_yaml() + &tracing_layers(&collector);
    let gateway = Gateway::start(&yaml).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&["demo__echo"], UPSTREAM_READY_TIMEOUT)
        .await?;
    let response = session.call_tool("demo__nope", json!({})).await?;
    assert_eq!(response["error"]["code"], -32602, "{response}");
    let failed = session
        .call_tool("demo__fail", json!({"message": "broken"}))
        .await?;
    assert_eq!(failed["result"]["isError"], true, "{failed}");

    let spans = collector
        .wait_for("the two failed calls", EXPORT_TIMEOUT, |spans| {
            spans.iter().any(|s| s.name == "tools/call demo__nope")
                && spans
                    .iter()
                    .any(|s| s.name == "tools/call demo__fail" && s.kind == KIND_SERVER)
        })
        .await?;
    let unknown = spans
        .iter()
        .find(|s| s.name == "tools/call demo__nope")
        .context("span")?;
    assert_eq!(unknown.attr("error.type"), Some("-32602"));
    assert_eq!(unknown.attr("rpc.response.status_code"), Some("-32602"));
    assert_eq!(unknown.status_code, 2, "error status: {unknown:?}");
    let tool_error = spans
        .iter()
        .find(|s| s.name == "tools/call demo__fail" && s.kind == KIND_SERVER)
        .context("span")?;
    assert_eq!(tool_error.attr("error.type"), Some("tool_error"));
    Ok(())
}

async fn get(gateway: &Gateway, path: &str) -> anyhow::Result<toolgate_tests::HttpResponse> {
    let url = format!("http://{}{path}", gateway.addr());
    send(Method::GET, &url, None, &[], Bytes::new()).await
}

/// The value of the sample line that starts with `series` (labels in Prometheus' sorted order).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_show_durations_errors_health_and_sessions() -> anyhow::Result<()> {
    let config = GatewayConfig::new().server("demo", Upstream::demo("demo")?);
    let yaml = config.to_yaml() + "layers:\n  - use: metrics\n";
    let gateway = Gateway::start(&yaml).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&["demo__echo"], UPSTREAM_READY_TIMEOUT)
        .await?;
    for _ in 0..2 {
        session
            .call_tool_ok("demo__echo", json!({"message": "hi"}))
            .await?;
    }
    let unknown = session.call_tool("demo__nope", json!({})).await?;
    assert_eq!(unknown["error"]["code"], -32602);

    let metrics = get(&gateway, "/metrics").await?;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.describe());
    assert_eq!(
        metrics.content_type().as_deref(),
        Some("text/plain"),
        "{}",
        metrics.describe()
    );
    let text = metrics.text();
    assert_eq!(
        sample(
            &text,
            r#"mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="demo__echo",mcp_method_name="tools/call",server="demo"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        text.contains(r#"mcp_server_operation_duration_seconds_bucket{error_type="",gen_ai_tool_name="demo__echo",mcp_method_name="tools/call",server="demo",le="300"} 2"#),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"toolgate_mcp_errors_total{error_type="-32602",mcp_method_name="tools/call",server=""}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"toolgate_upstream_up{server="demo"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"toolgate_sessions_open{transport="streamable_http"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, r#"toolgate_upstream_tools{server="demo"}"#).is_some_and(|n| n >= 1.0),
        "{text}"
    );

    // /readyz says which upstreams are connected.
    let ready = get(&gateway, "/readyz").await?;
    assert_eq!(ready.status, StatusCode::OK);
    let body = ready.json()?;
    assert_eq!(body["upstreams"][0]["name"], "demo");
    assert_eq!(body["upstreams"][0]["status"], "ready");
    Ok(())
}

/// Polls `check` until it holds, at most 15 s (the gateway checks its file every second).
async fn eventually<F, Fut>(what: &str, gateway: &Gateway, check: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    within(Duration::from_secs(15), what, async {
        loop {
            if check().await? {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .with_context(|| format!("gateway output:\n{}", gateway.output()))?
}

fn rewrite(gateway: &Gateway, yaml: &str) -> anyhow::Result<()> {
    let path = gateway
        .config_path()
        .context("started with a config file")?;
    std::fs::write(path, yaml).with_context(|| format!("rewriting {}", path.display()))
}

#[tokio::test]
async fn reload_changes_layers_keeps_sessions_and_rejects_bad_configs() -> anyhow::Result<()> {
    let base = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .to_yaml();
    let gateway = Gateway::start(&base).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&["demo__echo"], UPSTREAM_READY_TIMEOUT)
        .await?;
    session
        .call_tool_ok("demo__echo", json!({"message": "before"}))
        .await?;
    assert_eq!(
        get(&gateway, "/metrics").await?.status,
        StatusCode::NOT_FOUND
    );

    // A new layer appears; the session opened before keeps working and is measured.
    rewrite(&gateway, &(base.clone() + "layers:\n  - use: metrics\n"))?;
    eventually("/metrics to appear after the reload", &gateway, || async {
        Ok(get(&gateway, "/metrics").await?.status == StatusCode::OK)
    })
    .await?;
    session
        .call_tool_ok("demo__echo", json!({"message": "after"}))
        .await?;
    let text = get(&gateway, "/metrics").await?.text();
    assert_eq!(
        sample(
            &text,
            r#"mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="demo__echo",mcp_method_name="tools/call",server="demo"}"#
        ),
        Some(1.0),
        "{text}"
    );

    // A broken config is rejected with its error; the running one stays.
    rewrite(
        &gateway,
        &(base.clone() + "layers:\n  - use: no_such_layer\n"),
    )?;
    eventually("the rejection to be logged", &gateway, || async {
        Ok(gateway.output().contains("config reload rejected"))
    })
    .await?;
    let output = gateway.output();
    assert!(output.contains("no_such_layer"), "{output}");
    assert_eq!(get(&gateway, "/metrics").await?.status, StatusCode::OK);
    session
        .call_tool_ok("demo__echo", json!({"message": "still"}))
        .await?;

    // Upstream changes are reported as needing a restart, not applied silently.
    let two = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .server("other", Upstream::demo("other")?)
        .to_yaml();
    rewrite(&gateway, &(two + "layers:\n  - use: metrics\n"))?;
    eventually("the restart warning", &gateway, || async {
        Ok(gateway.output().contains("mcp_servers.other added"))
    })
    .await?;
    assert!(
        !session
            .tool_names()
            .await?
            .iter()
            .any(|n| n == "other__echo"),
        "upstreams do not change on reload"
    );

    // SIGHUP re-reads the file even when it did not change.
    let pid = gateway.pid().to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .context("running kill -HUP")?;
    assert!(status.success());
    eventually("the SIGHUP reload", &gateway, || async {
        Ok(gateway.output().contains("config reloaded (SIGHUP)"))
    })
    .await?;
    session
        .call_tool_ok("demo__echo", json!({"message": "after SIGHUP"}))
        .await?;
    Ok(())
}
