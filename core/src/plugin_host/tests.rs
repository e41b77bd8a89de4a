//! Unit tests of the plugin host: the layer with in-process plugins (same vtable, same JSON
//! boundary, same `catch_unwind` as a loaded library), and the loader's checks before `dlopen`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use toolgate_plugin_sdk::{
    Decision, Interests, Notification, Plugin, Request as PluginRequest, RpcError,
};
use tower::{Layer, ServiceExt};
use tower_test::mock;

use super::*;
use crate::envelope::McpContext;
use crate::jsonrpc::{JsonRpcRequest, Method, RequestId};
use crate::session::{SessionInfo, TransportKind};
use crate::{ErrorKind, Identity};

/// Behaves according to the called tool's name.
struct Scripted;

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoConfig {}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

impl Plugin for Scripted {
    const NAME: &'static str = "scripted";
    const VERSION: &'static str = "0.0.1";
    type Config = NoConfig;

    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(Scripted)
    }
    fn interests(&self) -> Interests {
        Interests::all().methods(["tools/call"])
    }
    fn on_request(&self, request: &PluginRequest) -> Decision {
        match request.tool_name() {
            Some("deny") => Decision::Reject(RpcError::invalid_params("deny is not allowed")),
            Some("answer") => Decision::Respond(json!({"content": [], "answered": "plugin"})),
            Some("rename") => Decision::ContinueWith(json!({"name": "renamed", "arguments": {}})),
            Some("garbage") => Decision::ContinueWith(json!(42)),
            Some("boom") => panic!("scripted panic"),
            Some("sleepy") => {
                std::thread::sleep(Duration::from_millis(200));
                Decision::Continue
            }
            Some("slow") => {
                let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
                MAX_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(150));
                IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                Decision::Continue
            }
            _ => Decision::Continue,
        }
    }
    fn on_response(&self, request: &PluginRequest, result: &Value) -> Decision {
        if request.tool_name() == Some("hide") {
            return Decision::Reject(RpcError::new(-32001, "result withheld"));
        }
        let mut result = result.clone();
        result["tagged"] = json!(true);
        Decision::ContinueWith(result)
    }
    fn on_notification(&self, _: &PluginRequest, n: &Notification) -> Decision {
        match n.params.get("progress").and_then(Value::as_u64) {
            Some(1) => Decision::ContinueWith(json!({"progressToken": "t", "progress": 99})),
            Some(2) => Decision::Reject(RpcError::internal("drop it")),
            _ => Decision::Continue,
        }
    }
}

fn scripted() -> LoadedPlugin {
    LoadedPlugin::linked::<Scripted>(&json!({})).expect("plugin starts")
}

fn request(method: Method, params: Value, downstream: Downstream) -> McpRequest {
    let session = SessionInfo::new(Some("s-1".into()), TransportKind::StreamableHttp);
    session.set_initialized(
        rmcp::model::ProtocolVersion::V_2025_11_25,
        rmcp::model::Implementation::new("test-client", "9.9"),
        rmcp::model::ClientCapabilities::default(),
    );
    let ctx = McpContext {
        session: Arc::new(session),
        identity: Some(Identity {
            subject: "alice".into(),
            attributes: vec![("team".into(), "blue".into())],
        }),
        downstream,
        cancel: CancellationToken::new(),
        extensions: http::Extensions::new(),
    };
    let raw = serde_json::value::to_raw_value(&params).expect("raw");
    McpRequest::new(
        JsonRpcRequest::new(RequestId::Number(1), method, Some(raw)),
        ctx,
    )
}

fn call(name: &str) -> McpRequest {
    request(
        Method::ToolsCall,
        json!({"name": name, "arguments": {}}),
        Downstream::none(),
    )
}

fn result(v: Value) -> McpResponse {
    McpResponse::new(serde_json::value::to_raw_value(&v).expect("raw"))
}

fn json_of(r: &McpResponse) -> Value {
    serde_json::from_str(r.result.get()).expect("result is JSON")
}

type Mocked = Dylib<
    tower::util::MapErr<mock::Mock<McpRequest, McpResponse>, fn(tower::BoxError) -> McpError>,
>;

fn to_mcp(e: tower::BoxError) -> McpError {
    McpError::internal(e.to_string())
}

fn spawn(plugin: LoadedPlugin) -> (mock::Spawn<Mocked>, mock::Handle<McpRequest, McpResponse>) {
    mock::spawn_with(move |m| {
        DylibLayer::new(plugin.clone()).layer(tower::util::MapErr::new(
            m,
            to_mcp as fn(tower::BoxError) -> McpError,
        ))
    })
}

#[tokio::test]
async fn continue_passes_the_request_and_the_response_hook_rewrites_the_result() {
    let (mut svc, mut handle) = spawn(scripted());
    assert!(svc.poll_ready().is_ready());
    let fut = svc.call(call("echo"));
    let upstream = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.expect("request reaches inner");
        assert_eq!(req.target(), Some("echo"));
        send.send_response(result(json!({"content": [{"type": "text", "text": "hi"}]})));
    });
    let r = fut.await.expect("ok");
    upstream.await.expect("upstream task");
    assert_eq!(json_of(&r)["tagged"], true);
    assert_eq!(json_of(&r)["content"][0]["text"], "hi");
}

#[tokio::test]
async fn methods_the_plugin_does_not_want_bypass_it() {
    let (mut svc, mut handle) = spawn(scripted());
    assert!(svc.poll_ready().is_ready());
    let fut = svc.call(request(Method::ToolsList, json!({}), Downstream::none()));
    let upstream = tokio::spawn(async move {
        let (_, send) = handle.next_request().await.expect("request reaches inner");
        send.send_response(result(json!({"tools": []})));
    });
    let r = fut.await.expect("ok");
    upstream.await.expect("upstream task");
    assert_eq!(
        json_of(&r),
        json!({"tools": []}),
        "no tag: on_response not called"
    );
}

#[tokio::test]
async fn continue_with_replaces_params_and_the_target_is_read_again() {
    let (mut svc, mut handle) = spawn(scripted());
    assert!(svc.poll_ready().is_ready());
    let fut = svc.call(call("rename"));
    let upstream = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.expect("request reaches inner");
        assert_eq!(req.target(), Some("renamed"));
        assert_eq!(req.message.id, RequestId::Number(1));
        send.send_response(result(json!({"content": []})));
    });
    fut.await.expect("ok");
    upstream.await.expect("upstream task");
}

#[tokio::test]
async fn respond_answers_without_calling_upstream() {
    let (mut svc, mut handle) = spawn(scripted());
    assert!(svc.poll_ready().is_ready());
    let r = svc.call(call("answer")).await.expect("ok");
    assert_eq!(json_of(&r)["answered"], "plugin");
    assert!(
        handle.next_request().now_or_never().is_none(),
        "the inner service got a request"
    );
}

#[tokio::test]
async fn reject_fails_the_request_with_the_plugins_error() {
    let (mut svc, mut handle) = spawn(scripted());
    assert!(svc.poll_ready().is_ready());
    let e = svc.call(call("deny")).await.expect_err("rejected");
    assert_eq!(e.code(), -32602);
    assert_eq!(e.kind(), ErrorKind::InvalidParams);
    assert_eq!(e.message(), "deny is not allowed");
    assert_eq!(
        e.data(),
        Some(&json!({"source": "plugin", "plugin": "scripted"}))
    );
    assert!(handle.next_request().now_or_never().is_none());
}

#[tokio::test]
async fn response_hook_can_reject_with_an_application_code() {
    let (mut svc, mut handle) = spawn(scripted());
    assert!(svc.poll_ready().is_ready());
    let fut = svc.call(call("hide"));
    let upstream = tokio::spawn(async move {
        let (_, send) = handle.next_request().await.expect("request reaches inner");
        send.send_response(result(json!({"content": []})));
    });
    let e = fut.await.expect_err("withheld");
    upstream.await.expect("upstream task");
    assert_eq!(e.code(), -32001);
}

#[tokio::test]
async fn a_panicking_hook_fails_that_request_with_32603_and_the_next_one_works() {
    let (mut svc, mut handle) = spawn(scripted());
    assert!(svc.poll_ready().is_ready());
    let e = svc.call(call("boom")).await.expect_err("panicked");
    assert_eq!(e.code(), -32603);
    assert!(e.message().contains("scripted"), "{}", e.message());
    assert!(
        !e.message().contains("scripted panic"),
        "the panic message stays in the log: {}",
        e.message()
    );
    assert!(svc.poll_ready().is_ready());
    let fut = svc.call(call("echo"));
    let upstream = tokio::spawn(async move {
        let (_, send) = handle.next_request().await.expect("request reaches inner");
        send.send_response(result(json!({"content": []})));
    });
    assert!(fut.await.is_ok());
    upstream.await.expect("upstream task");
}

#[tokio::test]
async fn params_that_are_not_an_object_are_refused_with_32603() {
    let (mut svc, _handle) = spawn(scripted());
    assert!(svc.poll_ready().is_ready());
    let e = svc.call(call("garbage")).await.expect_err("bad output");
    assert_eq!(e.code(), -32603);
}

#[tokio::test]
async fn a_hook_over_the_timeout_fails_with_32603() {
    let plugin = scripted();
    let inner = tower::service_fn(|_: McpRequest| async { Ok::<_, McpError>(result(json!({}))) });
    let svc = DylibLayer::new(plugin)
        .hook_timeout(Duration::from_millis(20))
        .layer(inner);
    let e = svc.oneshot(call("sleepy")).await.expect_err("timed out");
    assert_eq!(e.code(), -32603);
    assert!(
        e.message().contains("did not finish in time"),
        "{}",
        e.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn slow_hooks_leave_the_runtime_free_and_run_in_parallel() {
    let inner = tower::service_fn(|_: McpRequest| async { Ok::<_, McpError>(result(json!({}))) });
    let svc = DylibLayer::new(scripted()).layer(inner);
    // One worker thread: a hook run on it would stall this task's timer until it returned.
    let calls: Vec<_> = (0..4)
        .map(|_| tokio::spawn(svc.clone().oneshot(call("slow"))))
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        calls.iter().all(|c| !c.is_finished()),
        "a timer on the only worker fired while the hooks were still sleeping"
    );
    for c in calls {
        c.await.expect("task").expect("ok");
    }
    assert!(
        MAX_IN_FLIGHT.load(Ordering::SeqCst) >= 2,
        "the hooks ran one after another"
    );
}

#[tokio::test]
async fn notifications_pass_the_hook_in_order_and_before_the_response() {
    let (tx, mut rx) = mpsc::channel(16);
    let inner = tower::service_fn(|req: McpRequest| async move {
        for progress in [1, 2, 3] {
            let p = serde_json::value::to_raw_value(
                &json!({"progressToken": "t", "progress": progress}),
            )
            .expect("raw");
            req.ctx
                .downstream
                .notify("notifications/progress", Some(&p));
        }
        Ok::<_, McpError>(result(json!({"content": []})))
    });
    let svc = DylibLayer::new(scripted()).layer(inner);
    svc.oneshot(request(
        Method::ToolsCall,
        json!({"name": "echo"}),
        Downstream::new(tx),
    ))
    .await
    .expect("ok");
    let mut got = Vec::new();
    while let Ok(message) = rx.try_recv() {
        let frame = message.to_json().expect("a JSON-RPC message");
        let v: Value = serde_json::from_slice(&frame).expect("frame is JSON");
        got.push(v["params"]["progress"].clone());
    }
    assert_eq!(
        got,
        vec![json!(99), json!(3)],
        "1 rewritten, 2 dropped, 3 passed"
    );
}

#[test]
fn the_request_json_is_what_the_sdk_reads() {
    let req = request(
        Method::ToolsCall,
        json!({"name": "demo__echo", "arguments": {"message": "hi"}}),
        Downstream::none(),
    );
    let bytes = context::request_json(&req, false);
    let parsed: PluginRequest = serde_json::from_slice(&bytes).expect("SDK parses it");
    assert_eq!(parsed.method, "tools/call");
    assert_eq!(parsed.tool_name(), Some("demo__echo"));
    assert_eq!(parsed.params["arguments"]["message"], "hi");
    let c = &parsed.context;
    assert_eq!(c.session_id.as_deref(), Some("s-1"));
    assert_eq!(c.transport.as_deref(), Some("streamable_http"));
    assert_eq!(c.protocol_version.as_deref(), Some("2025-11-25"));
    assert_eq!(
        c.client.as_ref().map(|c| c.name.as_str()),
        Some("test-client")
    );
    let identity = c.identity.as_ref().expect("identity");
    assert_eq!(identity.subject, "alice");
    assert_eq!(
        identity.attributes,
        vec![("team".to_owned(), "blue".to_owned())]
    );
    assert_eq!(c.target.as_deref(), Some("demo__echo"));
    let wrapped = context::response_json(
        &bytes,
        &serde_json::value::to_raw_value(&json!({"x": 1})).expect("raw"),
    );
    let v: Value = serde_json::from_slice(&wrapped).expect("JSON");
    assert_eq!(v["result"]["x"], 1);
    assert_eq!(v["request"]["method"], "tools/call");
}

// ---- the loader's checks, before anything is loaded ----

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "toolgate-plugin-host-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        set_mode(&dir, 0o755);
        TempDir(dir)
    }
    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write");
        set_mode(&path, 0o644);
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn load(path: &Path, sha256: Option<&str>, dirs: &[PathBuf]) -> LoadError {
    PluginHost::new()
        .load(path, sha256, &json!({}), dirs)
        .expect_err("must not load")
}

#[test]
fn without_plugin_dirs_nothing_loads() {
    let dir = TempDir::new("nodirs");
    let f = dir.file("libx.so", b"x");
    let e = load(&f, None, &[]);
    assert_eq!(e.kind(), LoadErrorKind::OutsidePluginDirs);
    assert!(e.to_string().contains("plugin_dirs"), "{e}");
    assert!(e.to_string().contains("libx.so"), "{e}");
}

#[test]
fn a_file_outside_the_plugin_dirs_is_refused() {
    let plugins = TempDir::new("plugins");
    let elsewhere = TempDir::new("elsewhere");
    let f = elsewhere.file("libx.so", b"x");
    let e = load(&f, None, std::slice::from_ref(&plugins.0));
    assert_eq!(e.kind(), LoadErrorKind::OutsidePluginDirs);
    assert!(
        e.to_string().contains("outside the plugin directories"),
        "{e}"
    );
    // A `..` that climbs out is resolved before the check.
    let sneaky = plugins
        .0
        .join("..")
        .join(elsewhere.0.file_name().expect("name"))
        .join("libx.so");
    assert_eq!(
        load(&sneaky, None, std::slice::from_ref(&plugins.0)).kind(),
        LoadErrorKind::OutsidePluginDirs
    );
}

#[test]
fn a_symlink_inside_pointing_outside_is_refused() {
    let plugins = TempDir::new("plugins");
    let elsewhere = TempDir::new("elsewhere");
    let target = elsewhere.file("libx.so", b"x");
    let link = plugins.0.join("libx.so");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let e = load(&link, None, std::slice::from_ref(&plugins.0));
    assert_eq!(e.kind(), LoadErrorKind::OutsidePluginDirs);
}

#[test]
fn world_writable_files_and_directories_are_refused() {
    let plugins = TempDir::new("plugins");
    let f = plugins.file("libx.so", b"x");
    set_mode(&f, 0o666);
    let e = load(&f, None, std::slice::from_ref(&plugins.0));
    assert_eq!(e.kind(), LoadErrorKind::Permissions);
    assert!(e.to_string().contains("world-writable"), "{e}");

    let sub = plugins.0.join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    set_mode(&sub, 0o777);
    let f = sub.join("liby.so");
    std::fs::write(&f, b"y").expect("write");
    set_mode(&f, 0o644);
    let e = load(&f, None, std::slice::from_ref(&plugins.0));
    assert_eq!(e.kind(), LoadErrorKind::Permissions);
    assert!(e.to_string().contains("directory"), "{e}");
}

#[test]
fn a_missing_file_says_where_it_looked() {
    let plugins = TempDir::new("plugins");
    let e = load(
        &plugins.0.join("nope.so"),
        None,
        std::slice::from_ref(&plugins.0),
    );
    assert_eq!(e.kind(), LoadErrorKind::NotFound);
    assert!(e.to_string().contains("nope.so"), "{e}");
}

#[test]
fn a_wrong_pin_is_refused_before_loading_and_shows_the_real_hash() {
    let plugins = TempDir::new("plugins");
    let f = plugins.file("libx.so", b"not a library");
    let e = load(&f, Some(&"0".repeat(64)), std::slice::from_ref(&plugins.0));
    assert_eq!(e.kind(), LoadErrorKind::HashMismatch);
    use sha2::Digest;
    let real: String = sha2::Sha256::digest(b"not a library")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(e.to_string().contains("sha256 mismatch"), "{e}");
    assert!(
        e.to_string().contains(&real),
        "the message shows the file's hash: {e}"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_an_error_not_a_crash() {
    let plugins = TempDir::new("plugins");
    let f = plugins.file("libx.so", b"not a library");
    let e = load(&f, None, std::slice::from_ref(&plugins.0));
    assert_eq!(e.kind(), LoadErrorKind::Open);
    assert!(e.to_string().contains("libx.so"), "{e}");
}

#[test]
fn enum_choices_are_spelled_out() {
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        /// First.
        Pass,
        /// Second.
        Panic,
    }
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Config {
        mode: Mode,
    }
    let schema = serde_json::to_value(schemars::schema_for!(Config)).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let config = json!({"mode": "explode"});
    let error = validator.iter_errors(&config).next().expect("one error");
    assert_eq!(
        loader::choices(&schema, &error.schema_path().to_string()).as_deref(),
        Some(r#""pass", "panic""#)
    );
    assert_eq!(loader::choices(&schema, "/properties/mode/type"), None);
}
