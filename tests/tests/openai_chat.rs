//! Chat completions through the gateway, and the seed flow three ways.
//!
//! There is no real LLM here (no network, no API key): every model behind the gateway is
//! [`ScriptedLlm`], a scripted OpenAI-compatible server on loopback that stands in for a paid
//! LLM API and answers by fixed rules (see its module doc) — e.g. it calls any offered tool whose
//! name contains `echo` with the quoted part of the user's message, and answers
//! `The tool said: …` once it sees the tool's result.

use std::time::Duration;

use anyhow::Context as _;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use toolgate_tests::http::{HttpResponse, post, post_stream, send};
use toolgate_tests::process::run_command;
use toolgate_tests::{
    Gateway, GatewayConfig, McpSession, ScriptedLlm, Upstream, paths, run_python,
};

const PYTHON_TIMEOUT: Duration = Duration::from_secs(90);

/// The gateway's config: demo-server as `demo` (separator `sep`) and these models, all served by
/// `llm`: `gpt` (the rules), `limited` (429), `broken` (503, not JSON), `looper` (always a tool
/// call), `offline` (nothing listens there).
fn config(llm: &ScriptedLlm, sep: &str) -> anyhow::Result<String> {
    let mut yaml = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .separator(sep)
        .to_yaml();
    let base = llm.base_url();
    let offline = format!("http://127.0.0.1:{}/v1", toolgate_tests::free_port()?);
    yaml.push_str(&format!(
        r#"model_list:
  - model_name: gpt
    litellm_params: {{model: openai/scripted-tools, api_base: "{base}", api_key: "${{TOOLGATE_TEST_UNSET_KEY:-sk-scripted}}", temperature: 0.25, rpm: 100}}
  - model_name: limited
    litellm_params: {{model: openai/scripted-error, api_base: "{base}", api_key: sk-scripted}}
  - model_name: broken
    litellm_params: {{model: openai/scripted-broken, api_base: "{base}"}}
  - model_name: looper
    litellm_params: {{model: openai/scripted-loop, api_base: "{base}"}}
  - model_name: offline
    litellm_params: {{model: openai/x, api_base: "{offline}"}}
"#
    ));
    Ok(yaml)
}

async fn start(llm: &ScriptedLlm, extra: &[&str]) -> anyhow::Result<(Gateway, McpSession)> {
    start_sep(llm, "__", "demo__echo", extra).await
}

async fn start_sep(
    llm: &ScriptedLlm,
    sep: &str,
    echo: &str,
    extra: &[&str],
) -> anyhow::Result<(Gateway, McpSession)> {
    let gateway = Gateway::start_with(Some(&config(llm, sep)?), extra).await?;
    let session = gateway.session().await?;
    session
        .wait_for_tools(&[echo], toolgate_tests::gateway::UPSTREAM_READY_TIMEOUT)
        .await
        .with_context(|| gateway.output())?;
    Ok((gateway, session))
}

fn chat_url(gateway: &Gateway) -> String {
    format!("http://{}/v1/chat/completions", gateway.addr())
}

async fn chat(gateway: &Gateway, body: Value) -> anyhow::Result<HttpResponse> {
    post(&chat_url(gateway), None, &[], body.to_string()).await
}

fn mcp_tool(approval: Option<&str>) -> Value {
    let mut t = json!({"type": "mcp", "server_label": "toolgate", "server_url": "litellm_proxy"});
    if let Some(a) = approval {
        t["require_approval"] = json!(a);
    }
    t
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[tokio::test]
async fn chat_is_forwarded_to_the_configured_model() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    for path in ["/v1/chat/completions", "/chat/completions"] {
        let body = json!({"model": "gpt", "messages": user("hello there")});
        let resp = post(
            &format!("http://{}{path}", gateway.addr()),
            None,
            &[],
            body.to_string(),
        )
        .await?;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
        let completion = resp.json()?;
        assert_eq!(completion["object"], "chat.completion");
        assert_eq!(
            completion["choices"][0]["message"]["content"],
            "You said: hello there"
        );
    }
    let sent = llm.chat_requests();
    assert_eq!(sent.len(), 2);
    let first = &sent[0];
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(
        first.body["model"], "scripted-tools",
        "provider prefix removed"
    );
    assert_eq!(
        first.header("authorization"),
        Some("Bearer sk-scripted"),
        "api_key, ${{VAR:-default}} expanded"
    );
    assert_eq!(first.body["temperature"], 0.25, "litellm_params default");
    assert!(
        first.body.get("rpm").is_none(),
        "LiteLLM settings stay home"
    );
    Ok(())
}

#[tokio::test]
async fn request_values_win_over_model_defaults() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let resp = chat(
        &gateway,
        json!({"model": "gpt", "messages": user("hi"), "temperature": 0.9}),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    assert_eq!(llm.chat_requests()[0].body["temperature"], 0.9);
    Ok(())
}

#[tokio::test]
async fn streamed_chunks_are_passed_on_as_they_arrive() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    llm.hold_streams();
    let body = json!({"model": "gpt", "messages": user("stream me"), "stream": true,
                      "stream_options": {"include_usage": true}});
    let mut stream = post_stream(&chat_url(&gateway), &[], body.to_string()).await?;
    assert_eq!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    // The model has sent only its first chunk and waits: the gateway must not.
    let first = stream
        .next_event(Duration::from_secs(20))
        .await?
        .context("stream ended early")?;
    let first: Value = serde_json::from_str(&first.data)?;
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    llm.release_streams();
    let mut text = String::new();
    let mut usage = None;
    let mut done = false;
    while let Some(event) = stream.next_event(Duration::from_secs(20)).await? {
        if event.data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(&event.data)?;
        if let Some(t) = chunk["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
        if chunk["usage"].is_object() {
            usage = Some(chunk["usage"].clone());
        }
    }
    assert!(done, "no [DONE]");
    assert_eq!(text, "You said: stream me");
    assert_eq!(usage.context("no usage chunk")?["total_tokens"], 15);
    Ok(())
}

#[tokio::test]
async fn model_errors_come_back_with_their_status_and_message() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    for stream in [false, true] {
        let resp = chat(
            &gateway,
            json!({"model": "limited", "messages": user("hi"), "stream": stream}),
        )
        .await?;
        assert_eq!(
            resp.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            resp.describe()
        );
        assert_eq!(
            resp.header("retry-after"),
            Some("20"),
            "{}",
            resp.describe()
        );
        assert_eq!(resp.header("x-ratelimit-limit-requests"), Some("3"));
        assert_eq!(
            resp.header("set-cookie"),
            None,
            "only useful headers are relayed"
        );
        let body = resp.json()?;
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Rate limit reached for scripted-error")),
            "{body}"
        );
    }
    let resp = chat(&gateway, json!({"model": "broken", "messages": user("hi")})).await?;
    assert_eq!(
        resp.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        resp.describe()
    );
    let message = resp.json()?["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("model 'broken'"), "{message}");
    assert!(message.contains("upstream connect error"), "{message}");
    Ok(())
}

#[tokio::test]
async fn unreachable_models_are_502_naming_the_model() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let resp = chat(
        &gateway,
        json!({"model": "offline", "messages": user("hi")}),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY, "{}", resp.describe());
    let body = resp.json()?;
    assert_eq!(body["error"]["code"], "model_unreachable");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not reach model 'offline'")),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_models_are_404_in_openai_shape() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let resp = chat(&gateway, json!({"model": "gpt-5", "messages": user("hi")})).await?;
    assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.describe());
    let body = resp.json()?;
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "model");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'gpt-5'") && message.contains("gpt, limited"),
        "{message}"
    );
    assert!(llm.chat_requests().is_empty());

    for (body, param) in [
        (json!({"messages": user("hi")}), "model"),
        (
            json!({"model": "gpt", "messages": user("hi"), "tools": [{"type": "mcp", "server_url": "https://elsewhere.example/mcp"}]}),
            "tools",
        ),
        (
            json!({"model": "gpt", "messages": user("hi"), "tools": [{"type": "mcp", "server_lable": "x"}]}),
            "tools",
        ),
    ] {
        let resp = chat(&gateway, body.clone()).await?;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            resp.describe()
        );
        assert_eq!(resp.json()?["error"]["param"], param, "{body}");
    }
    let resp = post(&chat_url(&gateway), None, &[], "{not json").await?;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.describe());
    Ok(())
}

#[tokio::test]
async fn models_are_listed() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    for path in ["/v1/models", "/models"] {
        let resp = send(
            Method::GET,
            &format!("http://{}{path}", gateway.addr()),
            None,
            &[],
            "",
        )
        .await?;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
        let body = resp.json()?;
        assert_eq!(body["object"], "list");
        let ids: Vec<&str> = body["data"]
            .as_array()
            .context("data")?
            .iter()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(ids, ["gpt", "limited", "broken", "looper", "offline"]);
    }
    Ok(())
}

#[tokio::test]
async fn the_gateway_runs_mcp_tools_for_the_model() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let resp = chat(
        &gateway,
        json!({"model": "gpt", "messages": user("Please echo 'ping from chat'"),
               "tools": [mcp_tool(Some("never"))]}),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    let completion = resp.json()?;
    assert_eq!(
        completion["choices"][0]["message"]["content"],
        "The tool said: ping from chat"
    );
    assert_eq!(
        completion["usage"]["total_tokens"], 30,
        "usage of both rounds"
    );

    let sent = llm.chat_requests();
    assert_eq!(
        sent.len(),
        2,
        "one round with a tool call, one with its result"
    );
    let offered: Vec<&str> = sent[0].body["tools"]
        .as_array()
        .context("tools offered")?
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(offered.contains(&"demo__echo"), "{offered:?}");
    assert!(
        sent[0].body["tools"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t["type"] == "function"))
    );
    assert_eq!(sent[0].body["stream"], false);
    let messages = sent[1].body["messages"].as_array().context("messages")?;
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[1]["tool_calls"][0]["function"]["name"],
        "demo__echo"
    );
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(
        messages[2]["tool_call_id"],
        messages[1]["tool_calls"][0]["id"]
    );
    assert_eq!(messages[2]["content"], "ping from chat");
    Ok(())
}

#[tokio::test]
async fn server_side_tools_with_stream_send_the_final_answer_as_chunks() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let body = json!({"model": "gpt", "messages": user("echo 'streamed tools'"), "stream": true,
                      "stream_options": {"include_usage": true},
                      "tools": [mcp_tool(Some("never"))]});
    let mut stream = post_stream(&chat_url(&gateway), &[], body.to_string()).await?;
    let mut text = String::new();
    let mut finish = None;
    let mut usage = None;
    let mut done = false;
    while let Some(event) = stream.next_event(Duration::from_secs(20)).await? {
        if event.data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(&event.data)?;
        assert_eq!(chunk["object"], "chat.completion.chunk");
        if let Some(t) = chunk["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
        if let Some(f) = chunk["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
        if chunk["usage"].is_object() {
            usage = Some(chunk["usage"].clone());
        }
    }
    assert!(done);
    assert_eq!(text, "The tool said: streamed tools");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert_eq!(usage.context("usage chunk")?["total_tokens"], 30);
    // The rounds themselves were not streamed from the model.
    assert!(
        llm.chat_requests()
            .iter()
            .all(|r| r.body["stream"] == false)
    );
    assert!(
        llm.chat_requests()
            .iter()
            .all(|r| r.body.get("stream_options").is_none())
    );
    Ok(())
}

#[tokio::test]
async fn with_approval_required_the_tool_calls_go_back_to_the_client() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    // No require_approval: the Responses API's default is to ask.
    for tool in [mcp_tool(None), mcp_tool(Some("always"))] {
        let resp = chat(
            &gateway,
            json!({"model": "gpt", "messages": user("echo 'needs approval'"), "tools": [tool]}),
        )
        .await?;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
        let choice = &resp.json()?["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "demo__echo");
        assert_eq!(
            serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap_or("{}"))?,
            json!({"message": "needs approval"})
        );
    }
    assert_eq!(
        llm.chat_requests().len(),
        2,
        "one model round per request, nothing run"
    );
    Ok(())
}

#[tokio::test]
async fn allowed_tools_limit_what_the_model_is_offered() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let mut tool = mcp_tool(Some("never"));
    tool["allowed_tools"] = json!(["add", "demo__whoami"]);
    let resp = chat(
        &gateway,
        json!({"model": "gpt", "messages": user("hi"), "tools": [tool]}),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    let sent = llm.chat_requests();
    let mut offered: Vec<&str> = sent[0].body["tools"]
        .as_array()
        .context("tools")?
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    offered.sort_unstable();
    assert_eq!(offered, ["demo__add", "demo__whoami"]);
    Ok(())
}

#[tokio::test]
async fn tool_rounds_are_bounded() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &["--chat-max-tool-rounds", "2"]).await?;
    let resp = chat(
        &gateway,
        json!({"model": "looper", "messages": user("go"), "tools": [mcp_tool(Some("never"))]}),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY, "{}", resp.describe());
    let body = resp.json()?;
    assert_eq!(body["error"]["code"], "tool_rounds_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("after 2 rounds")),
        "{body}"
    );
    assert_eq!(
        llm.chat_requests().len(),
        3,
        "2 rounds run, the third answer refused"
    );
    Ok(())
}

#[tokio::test]
async fn mapped_tool_names_come_back_to_the_right_tool() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start_sep(&llm, ".", "demo.echo", &[]).await?;
    let resp = chat(
        &gateway,
        json!({"model": "gpt", "messages": user("echo 'dots in names'"), "tools": [mcp_tool(Some("never"))]}),
    )
    .await?;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.describe());
    assert_eq!(
        resp.json()?["choices"][0]["message"]["content"],
        "The tool said: dots in names"
    );
    let sent = llm.chat_requests();
    let name = sent[1].body["messages"][1]["tool_calls"][0]["function"]["name"]
        .as_str()
        .context("tool call name")?;
    assert!(name.starts_with("demo_echo_"), "{name}");
    Ok(())
}

#[tokio::test]
async fn openai_python_sdk_uses_the_chat_endpoint() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let base = format!("http://{}/v1", gateway.addr());
    run_python("openai_chat.py", [base.as_str()], PYTHON_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn seed_flow_with_the_python_mcp_and_openai_sdks() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let base = format!("http://{}", gateway.addr());
    let out = run_python(
        "openai_seed_flow.py",
        [
            base.as_str(),
            "--model",
            "gpt",
            "--text",
            "seeded in python",
        ],
        PYTHON_TIMEOUT,
    )
    .await?;
    assert!(
        out.stdout
            .contains("final answer: The tool said: seeded in python"),
        "{}",
        out.stdout
    );
    let sent = llm.chat_requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body["messages"][2]["content"], "seeded in python");
    Ok(())
}

#[tokio::test]
async fn seed_flow_with_the_rust_client_example() -> anyhow::Result<()> {
    let llm = ScriptedLlm::start().await?;
    let (gateway, _s) = start(&llm, &[]).await?;
    let client = paths::binary("client")?;
    let base = format!("http://{}", gateway.addr());
    let out = run_command(
        "client",
        client,
        [
            "--gateway",
            base.as_str(),
            "--model",
            "gpt",
            "--prompt",
            "Please echo 'hello from rust'",
        ],
        &[],
        Duration::from_secs(60),
    )
    .await?;
    let out = out.expect_success()?;
    assert_eq!(
        out.stdout.trim(),
        "The tool said: hello from rust",
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("demo__echo"), "{}", out.describe());
    let sent = llm.chat_requests();
    assert_eq!(sent.len(), 2);
    let offered = sent[0].body["tools"].as_array().context("tools")?;
    assert!(
        offered
            .iter()
            .any(|t| t["function"]["name"] == "demo__echo")
    );
    Ok(())
}

#[tokio::test]
async fn a_model_that_cannot_be_served_is_refused_by_check_and_at_start() -> anyhow::Result<()> {
    let yaml = "mcp_servers: {}\nmodel_list:\n  - model_name: claude\n    litellm_params: {model: anthropic/claude-3}\n";
    let scratch = toolgate_tests::scratch::ScratchDir::new("openai-check")?;
    let file = scratch.write("toolgate.yaml", yaml)?;
    let out = toolgate_tests::gateway::run_toolgate([
        "check".as_ref(),
        "--config".as_ref(),
        file.as_os_str(),
    ])
    .await?;
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("model 'claude'") && out.stderr.contains("api_base is needed"),
        "{}",
        out.describe()
    );
    let started = Gateway::start(yaml).await;
    let error = format!("{:#}", started.err().context("the gateway started anyway")?);
    assert!(error.contains("api_base is needed"), "{error}");
    Ok(())
}
