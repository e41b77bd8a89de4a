//! Issue 9, fault items end to end, with `fault-server` (tests/src/bin/fault-server.rs) as the
//! upstream that misbehaves on demand. Which item each test pins:
//!
//! 1. An upstream stuck in `initialize` delays no one (`server.startup_grace`):
//!    `a_starting_upstream_never_delays_the_others`,
//!    `the_only_upstream_hanging_in_initialize_still_answers_lists`.
//! 2. Invalid UTF-8 from an upstream is dropped, reading goes on:
//!    `invalid_utf8_on_upstream_stdout_is_dropped_and_reading_goes_on`.
//! 3. An upstream that closes its stdout is dead (calls fail, killed, restarted):
//!    `upstream_closing_stdout_is_treated_as_its_death`.
//! 4. Invalid UTF-8 from the stdio client is a parse error, not the end of the gateway:
//!    `stdio_gateway_answers_invalid_utf8_with_parse_error_and_goes_on`.
//! 5. A session is bound to the identity that opened it:
//!    `a_session_is_usable_only_by_the_identity_that_opened_it`,
//!    `a_legacy_sse_session_is_usable_only_by_the_identity_that_opened_it`.
//! 6. Spec edges: `a_null_request_id_is_an_invalid_request`,
//!    `stdio_gateway_answers_a_null_request_id_with_invalid_request`,
//!    `a_post_accepting_neither_json_nor_sse_is_406`,
//!    `a_post_accepting_only_json_is_answered_with_json`,
//!    `a_post_accepting_only_sse_is_answered_with_sse`,
//!    `rest_tools_call_with_a_non_json_content_type_is_415`,
//!    `deeply_nested_params_are_refused_and_the_upstream_is_unharmed`.
//! 7. Arguments are checked against the tool's inputSchema:
//!    `arguments_are_validated_against_the_input_schema`,
//!    `validate_arguments_false_lets_the_upstream_judge`.
//! 8. Request ids in flight: `a_duplicate_inflight_id_is_refused_and_cancel_reaches_the_first`,
//!    `a_client_that_disconnects_mid_request_frees_its_id`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::time::Instant;
use toolgate_tests::http::{
    ACCEPT_JSON_AND_SSE, HttpResponse, PROTOCOL_VERSION, SESSION_HEADER, VERSION_HEADER, post, send,
};
use toolgate_tests::process::ChildProcess;
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{
    Gateway, GatewayConfig, LegacySession, McpSession, Upstream, error_code, expect_gateway_error,
    gateway_with_tools, paths, procfs, result_of, text_of, within,
};

/// Gateway-local failure: upstream down or not started.
const UPSTREAM_DOWN: i64 = -31000;
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

const KEY_A: &str = "faults-key-a-0123456789abcdef";
const KEY_B: &str = "faults-key-b-0123456789abcdef";

fn no_args() -> Vec<String> {
    Vec::new()
}

/// A gateway whose only upstream is a well-behaved fault-server called `faulty`.
async fn faulty_gateway() -> anyhow::Result<(Gateway, McpSession)> {
    faulty_gateway_with(GatewayConfig::new()).await
}

/// Like [`faulty_gateway`], on top of `config`.
async fn faulty_gateway_with(config: GatewayConfig) -> anyhow::Result<(Gateway, McpSession)> {
    let config = config.server("faulty", Upstream::fault(no_args())?);
    gateway_with_tools(&config, &["faulty__echo"]).await
}

fn call(id: Value, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

/// The JSON-RPC message answering `id` in an HTTP answer (JSON or SSE), if any.
fn answer_to(http: &HttpResponse, id: &Value) -> anyhow::Result<Option<Value>> {
    if http.body.is_empty() {
        return Ok(None);
    }
    Ok(http.messages()?.into_iter().find(|m| {
        m.get("id") == Some(id) && (m.get("result").is_some() || m.get("error").is_some())
    }))
}

fn error_message(response: &Value) -> String {
    response["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// 1. Start-up

#[tokio::test]
async fn a_starting_upstream_never_delays_the_others() -> anyhow::Result<()> {
    let config = GatewayConfig::new()
        .server("hang", Upstream::fault(["--hang-initialize"])?)
        .server("demo", Upstream::demo("demo")?);
    let (gateway, session) = gateway_with_tools(&config, &["demo__echo"]).await?;

    let second = Duration::from_secs(2);
    for i in 0..5 {
        let response = within(
            second,
            &format!("demo__echo call {i} while `hang` is starting"),
            session.call_tool("demo__echo", json!({"message": format!("m{i}")})),
        )
        .await??;
        assert_eq!(text_of(result_of(&response)?), format!("m{i}"));
    }
    let names = within(second, "tools/list while `hang` is starting", async {
        session.tool_names().await
    })
    .await??;
    ensure!(names.iter().any(|n| n == "demo__echo"), "{names:?}");

    let response = within(
        second,
        "hang__echo while `hang` is starting",
        session.call_tool("hang__echo", json!({"message": "x"})),
    )
    .await??;
    expect_gateway_error(&response, UPSTREAM_DOWN, "hang")?;

    let ready = send(
        Method::GET,
        &format!("http://{}/readyz", gateway.addr()),
        None,
        &[],
        Bytes::new(),
    )
    .await?;
    let body = ready.json()?;
    let hang = body["upstreams"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["name"] == "hang"))
        .with_context(|| format!("/readyz does not list `hang`:\n{}", ready.describe()))?;
    ensure!(hang["status"] == "starting", "/readyz: {body}");
    ensure!(
        hang["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "/readyz says why `hang` is still starting (a non-empty `reason`): {body}"
    );
    Ok(())
}

#[tokio::test]
async fn the_only_upstream_hanging_in_initialize_still_answers_lists() -> anyhow::Result<()> {
    let config = GatewayConfig::new().server("hang", Upstream::fault(["--hang-initialize"])?);
    let gateway = Gateway::start_config(&config).await?;
    let session = gateway.session().await?;

    let list = within(
        Duration::from_secs(5),
        "the first tools/list with only a hanging upstream",
        session.result("tools/list", None),
    )
    .await??;
    ensure!(
        list["tools"].as_array().is_some_and(Vec::is_empty),
        "no tools while the only upstream is starting: {list}"
    );

    let response = within(
        Duration::from_secs(2),
        "hang__echo after the first list",
        session.call_tool("hang__echo", json!({"message": "x"})),
    )
    .await??;
    expect_gateway_error(&response, UPSTREAM_DOWN, "hang")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2, 3. Upstream stdout

#[tokio::test]
async fn invalid_utf8_on_upstream_stdout_is_dropped_and_reading_goes_on() -> anyhow::Result<()> {
    let (gateway, session) = faulty_gateway().await?;

    let result = within(
        Duration::from_secs(10),
        "faulty__garbage_line (a line of invalid UTF-8 before its answer)",
        session.call_tool_ok("faulty__garbage_line", json!({})),
    )
    .await??;
    assert_eq!(text_of(&result), "after garbage");

    let result = within(
        Duration::from_secs(10),
        "faulty__echo after the garbage line",
        session.call_tool_ok("faulty__echo", json!({"message": "still reading"})),
    )
    .await??;
    assert_eq!(text_of(&result), "still reading");

    let output = gateway.output();
    ensure!(
        output
            .lines()
            .any(|l| l.contains("WARN") && l.contains("faulty")),
        "the dropped line is logged as a warning naming the server `faulty`; gateway log:\n{output}"
    );
    Ok(())
}

#[tokio::test]
async fn upstream_closing_stdout_is_treated_as_its_death() -> anyhow::Result<()> {
    let (_gateway, session) = faulty_gateway().await?;
    let old_pid: u32 = text_of(&session.call_tool_ok("faulty__pid", json!({})).await?)
        .parse()
        .context("faulty__pid answers a number")?;

    let (pending, closing) = within(
        Duration::from_secs(5),
        "calls in flight when the upstream closes its stdout",
        async {
            tokio::join!(
                session.call_tool("faulty__sleep", json!({"ms": 60_000})),
                async {
                    // Let the sleep reach the upstream first.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    session.call_tool("faulty__close_stdout", json!({})).await
                }
            )
        },
    )
    .await?;
    expect_gateway_error(&pending?, UPSTREAM_DOWN, "faulty").context("the pending sleep")?;
    expect_gateway_error(&closing?, UPSTREAM_DOWN, "faulty").context("close_stdout")?;

    let left = procfs::wait_gone(&[old_pid], Duration::from_secs(5)).await;
    ensure!(
        left.is_empty(),
        "the upstream that closed its stdout (pid {old_pid}) is still running 5 s later"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = session.call_tool("faulty__pid", json!({})).await?;
        if let Some(result) = response.get("result") {
            let pid: u32 = text_of(result)
                .parse()
                .context("faulty__pid answers a number")?;
            ensure!(
                pid != old_pid,
                "faulty__pid still answers from the old process {pid}"
            );
            return Ok(());
        }
        ensure!(
            error_code(&response) == Some(UPSTREAM_DOWN),
            "while the upstream restarts, calls fail with {UPSTREAM_DOWN}: {response}"
        );
        if Instant::now() >= deadline {
            bail!("faulty was not restarted within 10 s; last answer: {response}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 4, 6. The stdio gateway

/// `toolgate --stdio` driven by the test: JSON-RPC lines in, answers read from its stdout.
struct StdioGateway {
    process: ChildProcess,
    _scratch: ScratchDir,
}

impl StdioGateway {
    async fn start() -> anyhow::Result<Self> {
        let scratch = ScratchDir::new("stdio-faults")?;
        let config = GatewayConfig::new().server("faulty", Upstream::fault(no_args())?);
        let file = scratch.write("toolgate.yaml", &config.to_yaml())?;
        let mut command = std::process::Command::new(paths::toolgate()?);
        command.arg("--stdio").arg("--config").arg(&file);
        let mut this = Self {
            process: ChildProcess::spawn_with_stdin("toolgate --stdio", command)?,
            _scratch: scratch,
        };
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "toolgate-tests", "version": "0"}}});
        this.write(format!("{init}\n").as_bytes())?;
        let answer = this
            .wait_for(Duration::from_secs(20), |m| m["id"] == 1)
            .await?;
        result_of(&answer).context("initialize over stdio")?;
        this.write(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")?;
        Ok(this)
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let stdin = self.process.stdin().context("stdin already closed")?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .context("writing to toolgate's stdin")
    }

    /// The JSON messages it wrote to stdout so far.
    fn messages(&self) -> Vec<Value> {
        self.process
            .output()
            .lines()
            .filter_map(|l| l.strip_prefix("[stdout] "))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits for a message on stdout for which `pred` holds.
    async fn wait_for(
        &mut self,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = self.messages().into_iter().find(|m| pred(m)) {
                return Ok(found);
            }
            if let Some(status) = self.process.exit_status() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                bail!(
                    "toolgate --stdio exited ({status}); its output:\n{}",
                    self.process.output()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "no such message within {limit:?}; output so far:\n{}",
                    self.process.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn stdio_gateway_answers_invalid_utf8_with_parse_error_and_goes_on() -> anyhow::Result<()> {
    let mut gateway = StdioGateway::start().await?;
    gateway.write(b"\xff\xfe{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n")?;
    gateway.write(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n")?;

    let error = gateway
        .wait_for(Duration::from_secs(5), |m| error_code(m).is_some())
        .await
        .context("waiting for the answer to the invalid UTF-8 line")?;
    ensure!(
        error_code(&error) == Some(PARSE_ERROR) && error["id"].is_null(),
        "invalid UTF-8 is a parse error with id null: {error}"
    );
    let pong = gateway
        .wait_for(Duration::from_secs(5), |m| m["id"] == 2)
        .await
        .context("waiting for the ping after the invalid line")?;
    result_of(&pong)?;
    ensure!(
        gateway.process.exit_status().is_none(),
        "toolgate --stdio must keep running"
    );
    Ok(())
}

#[tokio::test]
async fn stdio_gateway_answers_a_null_request_id_with_invalid_request() -> anyhow::Result<()> {
    let mut gateway = StdioGateway::start().await?;
    gateway.write(b"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"tools/list\"}\n")?;
    let error = gateway
        .wait_for(Duration::from_secs(5), |m| error_code(m).is_some())
        .await
        .context("waiting for the answer to a request with id null")?;
    ensure!(
        error_code(&error) == Some(INVALID_REQUEST) && error["id"].is_null(),
        "a request with id null is an invalid request (id null): {error}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 5. Sessions bound to identity

fn keys_config() -> anyhow::Result<GatewayConfig> {
    Ok(GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .section(format!(
            "layers:\n  - use: auth\n    api_keys:\n      - {{name: a, key: {KEY_A}}}\n      - {{name: b, key: {KEY_B}}}\n"
        )))
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

#[tokio::test]
async fn a_session_is_usable_only_by_the_identity_that_opened_it() -> anyhow::Result<()> {
    let gateway = Gateway::start_config(&keys_config()?).await?;
    let (auth_a, auth_b) = (bearer(KEY_A), bearer(KEY_B));
    let a = McpSession::connect_with(gateway.url(), &[("authorization", &auth_a)]).await?;
    a.wait_for_tools(&["demo__echo"], Duration::from_secs(20))
        .await?;
    let made_up = "f".repeat(64);
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}).to_string();

    // What B gets on A's session must be what B gets on a session that does not exist.
    let b_on = |method: Method, session: String, accept: &'static str, body: String| {
        let url = gateway.url().to_owned();
        let auth_b = auth_b.clone();
        async move {
            let headers = [
                ("authorization", auth_b.as_str()),
                (VERSION_HEADER, PROTOCOL_VERSION),
                ("accept", accept),
            ];
            within(
                Duration::from_secs(10),
                &format!("{method} with key B"),
                send(method.clone(), &url, Some(&session), &headers, body),
            )
            .await?
        }
    };
    for (method, accept, body) in [
        (Method::POST, ACCEPT_JSON_AND_SSE, list.clone()),
        (Method::GET, "text/event-stream", String::new()),
        (Method::DELETE, ACCEPT_JSON_AND_SSE, String::new()),
    ] {
        let on_a = b_on(method.clone(), a.id().to_owned(), accept, body.clone()).await?;
        let on_none = b_on(method.clone(), made_up.clone(), accept, body).await?;
        ensure!(
            on_a.status == StatusCode::NOT_FOUND,
            "{method} with key B on A's session must be 404:\n{}",
            on_a.describe()
        );
        ensure!(
            on_a.status == on_none.status && on_a.body == on_none.body,
            "{method} with key B: A's session must look like no session.\non A's:\n{}\non a made-up one:\n{}",
            on_a.describe(),
            on_none.describe()
        );
    }

    let names = a
        .tool_names()
        .await
        .context("A's session after B's tries")?;
    ensure!(names.iter().any(|n| n == "demo__echo"), "{names:?}");
    let deleted = a.delete().await?;
    ensure!(
        deleted.status == StatusCode::OK,
        "DELETE with key A: {}",
        deleted.describe()
    );
    Ok(())
}

#[tokio::test]
async fn a_legacy_sse_session_is_usable_only_by_the_identity_that_opened_it() -> anyhow::Result<()>
{
    let gateway = Gateway::start_config(&keys_config()?).await?;
    let (auth_a, auth_b) = (bearer(KEY_A), bearer(KEY_B));
    let sse_url = format!("http://{}/sse", gateway.addr());
    let mut a = LegacySession::open_with(&sse_url, &[("authorization", &auth_a)]).await?;
    a.initialize().await?;

    let stolen = json!({"jsonrpc": "2.0", "id": "stolen-1", "method": "tools/list"});
    let by_b = post(
        a.endpoint(),
        None,
        &[("authorization", &auth_b)],
        stolen.to_string(),
    )
    .await?;
    ensure!(
        by_b.status == StatusCode::NOT_FOUND,
        "a POST with key B to A's legacy session must be 404:\n{}",
        by_b.describe()
    );
    // Nothing for B's request may show up on A's stream.
    match a
        .stream()
        .wait_for_message(Duration::from_secs(1), |m| m["id"] == "stolen-1")
        .await
    {
        Ok(message) => bail!("B's request was answered on A's stream: {message}"),
        Err(e) => ensure!(
            format!("{e:#}").contains("no SSE event within"),
            "A's stream failed while waiting: {e:#}"
        ),
    }

    let response = a.request("tools/list", None).await?;
    result_of(&response).context("tools/list with key A on its own legacy session")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 6. Spec edges at the HTTP edge

#[tokio::test]
async fn a_null_request_id_is_an_invalid_request() -> anyhow::Result<()> {
    let (_gateway, session) = faulty_gateway().await?;
    let http = session
        .post(&[], r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#)
        .await?;
    ensure!(
        http.status == StatusCode::BAD_REQUEST,
        "a request with id null is answered 400:\n{}",
        http.describe()
    );
    let body = http.json()?;
    ensure!(
        error_code(&body) == Some(INVALID_REQUEST) && body.get("id") == Some(&Value::Null),
        "-32600 with id null: {body}"
    );
    Ok(())
}

fn echo_request() -> String {
    call(json!(1), "faulty__echo", json!({"message": "accept"})).to_string()
}

#[tokio::test]
async fn a_post_accepting_neither_json_nor_sse_is_406() -> anyhow::Result<()> {
    let (_gateway, session) = faulty_gateway().await?;
    let http = session
        .post(&[("accept", "text/html")], echo_request())
        .await?;
    ensure!(
        http.status == StatusCode::NOT_ACCEPTABLE,
        "Accept: text/html: {}",
        http.describe()
    );
    Ok(())
}

#[tokio::test]
async fn a_post_accepting_only_json_is_answered_with_json() -> anyhow::Result<()> {
    let (_gateway, session) = faulty_gateway().await?;
    let http = session
        .post(&[("accept", "application/json")], echo_request())
        .await?;
    ensure!(
        http.status == StatusCode::OK && http.content_type().as_deref() == Some("application/json"),
        "Accept: application/json: {}",
        http.describe()
    );
    assert_eq!(text_of(&http.json()?["result"]), "accept");
    Ok(())
}

#[tokio::test]
async fn a_post_accepting_only_sse_is_answered_with_sse() -> anyhow::Result<()> {
    let (_gateway, session) = faulty_gateway().await?;
    let http = session
        .post(&[("accept", "text/event-stream")], echo_request())
        .await?;
    ensure!(
        http.status == StatusCode::OK && http.is_sse(),
        "Accept: text/event-stream: {}",
        http.describe()
    );
    let response = answer_to(&http, &json!(1))?
        .with_context(|| format!("no response in the SSE body:\n{}", http.describe()))?;
    assert_eq!(text_of(result_of(&response)?), "accept");
    Ok(())
}

#[tokio::test]
async fn rest_tools_call_with_a_non_json_content_type_is_415() -> anyhow::Result<()> {
    // The REST routes are on in the toolgate binary (the openai adapter is installed by default).
    let (gateway, _session) = faulty_gateway().await?;
    let body = json!({"name": "faulty__echo", "arguments": {"message": "rest"}}).to_string();
    let url = format!("http://{}/mcp/tools/call", gateway.addr());
    let json_ok = post(&url, None, &[], body.clone()).await?;
    ensure!(
        json_ok.status == StatusCode::OK,
        "the same call as JSON works: {}",
        json_ok.describe()
    );
    let http = post(&url, None, &[("content-type", "text/plain")], body).await?;
    ensure!(
        http.status == StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type: text/plain: {}",
        http.describe()
    );
    Ok(())
}

/// A `tools/call` of `faulty__raw_args` with `{"x": [[…]]}`, `depth` arrays deep, as text
/// (built as a string: a `Value` that deep would overflow the stack when dropped).
fn nested_call(id: u32, depth: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"faulty__raw_args","arguments":{{"x":{}{}}}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[tokio::test]
async fn deeply_nested_params_are_refused_and_the_upstream_is_unharmed() -> anyhow::Result<()> {
    let (_gateway, session) = faulty_gateway().await?;
    for depth in [100_000, 200] {
        let http = within(
            Duration::from_secs(10),
            &format!("params nested {depth} levels deep"),
            session.post(&[], nested_call(1, depth)),
        )
        .await??;
        ensure!(
            http.status == StatusCode::BAD_REQUEST,
            "{depth} levels: {}",
            http.describe()
        );
        let body = http.json()?;
        let message = error_message(&body).to_lowercase();
        ensure!(
            error_code(&body) == Some(INVALID_REQUEST)
                && (message.contains("nest") || message.contains("depth")),
            "{depth} levels: -32600 naming the nesting: {body}"
        );
        let echo = within(
            Duration::from_secs(10),
            &format!("faulty__echo after {depth} levels"),
            session.call_tool_ok("faulty__echo", json!({"message": "unharmed"})),
        )
        .await??;
        assert_eq!(text_of(&echo), "unharmed");
    }

    let http = within(
        Duration::from_secs(10),
        "params nested 20 levels deep",
        session.post(&[], nested_call(2, 20)),
    )
    .await??;
    let response = answer_to(&http, &json!(2))?
        .with_context(|| format!("20 levels: no response:\n{}", http.describe()))?;
    let seen: Value =
        serde_json::from_str(&text_of(result_of(&response)?)).context("raw_args answers JSON")?;
    let mut x = json!([]);
    for _ in 1..20 {
        x = json!([x]);
    }
    assert_eq!(seen, json!({"x": x}), "20 levels reach the upstream intact");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 7. Argument validation

#[tokio::test]
async fn arguments_are_validated_against_the_input_schema() -> anyhow::Result<()> {
    let config = GatewayConfig::new().server("demo", Upstream::demo("demo")?);
    let (gateway, session) = faulty_gateway_with(config).await?;
    session
        .wait_for_tools(&["demo__add"], Duration::from_secs(20))
        .await?;
    // 2025-06-18 lists invalid arguments among the protocol errors (-32602); from 2025-11-25
    // (SEP-1303) they are tool execution errors, so that the model sees what to fix.
    let older = McpSession::connect_version(gateway.url(), "2025-06-18", &[]).await?;
    assert_eq!(older.protocol_version(), "2025-06-18");
    assert_eq!(session.protocol_version(), "2025-11-25");

    let ok = session
        .call_tool_ok("faulty__echo", json!({"message": "valid"}))
        .await?;
    assert_eq!(text_of(&ok), "valid");

    // Arguments that are not an object are a malformed request in every version.
    for s in [&session, &older] {
        let response = s.call_tool("faulty__echo", json!("text")).await?;
        let message = error_message(&response);
        ensure!(
            error_code(&response) == Some(INVALID_PARAMS)
                && message.contains("arguments")
                && message.contains("object"),
            "arguments that are not an object: -32602 saying they must be an object: {response}"
        );
    }

    // A missing required property and a property of the wrong type, as each version wants it.
    for (tool, args, names) in [
        ("faulty__echo", json!({}), "message"),
        ("demo__add", json!({"a": "x", "b": 2}), "/a"),
    ] {
        let response = older.call_tool(tool, args.clone()).await?;
        let message = error_message(&response);
        ensure!(
            error_code(&response) == Some(INVALID_PARAMS)
                && message.contains(names)
                && message.contains("invalid arguments"),
            "2025-06-18, {tool} {args}: the gateway's -32602 naming {names:?}: {response}"
        );
        let response = session.call_tool(tool, args.clone()).await?;
        let result = result_of(&response)
            .with_context(|| format!("2025-11-25, {tool} {args}: a tool result"))?;
        let text = text_of(result);
        ensure!(
            result["isError"] == true && text.contains(names) && text.contains("invalid arguments"),
            "2025-11-25, {tool} {args}: isError naming {names:?}, from the gateway: {response}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn validate_arguments_false_lets_the_upstream_judge() -> anyhow::Result<()> {
    let config = GatewayConfig::new().server_key("faulty", "validate_arguments", "false");
    let (_gateway, session) = faulty_gateway_with(config).await?;

    let result = session
        .call_tool_ok("faulty__raw_args", json!({"anything": 1}))
        .await?;
    let seen: Value = serde_json::from_str(&text_of(&result)).context("raw_args answers JSON")?;
    assert_eq!(seen, json!({"anything": 1}));

    let response = session.call_tool("faulty__echo", json!({})).await?;
    ensure!(
        error_code(&response) == Some(INVALID_PARAMS)
            && error_message(&response) == "fault-server: missing message",
        "with validate_arguments: false the upstream answers itself: {response}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 8. Request ids in flight

#[tokio::test]
async fn a_duplicate_inflight_id_is_refused_and_cancel_reaches_the_first() -> anyhow::Result<()> {
    let (_gateway, session) = faulty_gateway().await?;
    let session = Arc::new(session);

    let first = tokio::spawn({
        let session = Arc::clone(&session);
        async move {
            let body = call(json!(5), "faulty__sleep", json!({"ms": 5000}));
            session.post(&[], body.to_string()).await
        }
    });
    // No way to observe "in flight" from outside: give the first request time to get there.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let second = session
        .post(
            &[],
            call(json!(5), "faulty__echo", json!({"message": "dup"})).to_string(),
        )
        .await?;
    let response = answer_to(&second, &json!(5))?
        .with_context(|| format!("no answer to the duplicate:\n{}", second.describe()))?;
    ensure!(
        error_code(&response) == Some(INVALID_REQUEST)
            && error_message(&response).to_lowercase().contains("flight"),
        "a second request with the id of one in flight: -32600 saying so: {response}"
    );

    let cancel = session
        .notify(
            "notifications/cancelled",
            Some(json!({"requestId": 5, "reason": "test"})),
        )
        .await?;
    ensure!(
        cancel.status == StatusCode::ACCEPTED,
        "{}",
        cancel.describe()
    );

    let first = within(
        Duration::from_secs(3),
        "the cancelled request's POST",
        first,
    )
    .await?
    .context("the first request's task")??;
    // A cancelled request gets no JSON-RPC answer: its JSON POST ends with 202 and no body.
    ensure!(
        first.status == StatusCode::ACCEPTED && first.body.is_empty(),
        "the cancelled request must not be answered:\n{}",
        first.describe()
    );
    Ok(())
}

/// POSTs `body` on a connection of its own and hangs up after `after`, before the answer.
async fn post_and_hang_up(
    session: &McpSession,
    body: String,
    after: Duration,
) -> anyhow::Result<()> {
    let url: http::Uri = session.url().parse()?;
    let authority = url.authority().context("no authority in the URL")?.as_str();
    let tcp = tokio::net::TcpStream::connect(authority).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
    let connection = tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::POST)
        .uri(url.path())
        .header("host", authority)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_JSON_AND_SSE)
        .header(SESSION_HEADER, session.id())
        .header(VERSION_HEADER, session.protocol_version())
        .body(Full::new(Bytes::from(body)))?;
    let exchange = tokio::spawn(async move { sender.send_request(request).await });
    tokio::time::sleep(after).await;
    ensure!(
        !exchange.is_finished(),
        "the request was answered before the hang-up"
    );
    exchange.abort();
    connection.abort();
    let _ = exchange.await;
    let _ = connection.await;
    Ok(())
}

#[tokio::test]
async fn a_client_that_disconnects_mid_request_frees_its_id() -> anyhow::Result<()> {
    let (_gateway, session) = faulty_gateway().await?;
    let sleep = call(json!(9), "faulty__sleep", json!({"ms": 30_000})).to_string();
    post_and_hang_up(&session, sleep, Duration::from_millis(300)).await?;

    let deadline = Instant::now() + Duration::from_secs(3);
    let again = call(json!(9), "faulty__echo", json!({"message": "again"})).to_string();
    loop {
        let http = session.post(&[], again.clone()).await?;
        let response = answer_to(&http, &json!(9))?;
        if let Some(result) = response.as_ref().and_then(|r| r.get("result")) {
            assert_eq!(text_of(result), "again");
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "id 9 is still taken 3 s after its client hung up; last answer:\n{}",
                http.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
