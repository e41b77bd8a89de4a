//! `client`: the seed flow in Rust — MCP tools handed to a model through the gateway.
//!
//! ```text
//! client --gateway http://127.0.0.1:4000 --model gpt-4o --prompt "Echo 'hello' with the echo tool"
//! ```
//!
//! 1. connects to the gateway's MCP endpoint (`{gateway}/mcp`) with rmcp's Streamable HTTP client;
//! 2. loads the tools in OpenAI form (`toolgate_openai::client::load_mcp_tools`);
//! 3. asks the model through the gateway's chat endpoint (`{gateway}/v1/chat/completions`);
//! 4. runs each tool call the model makes through MCP (`OpenAiTools::call`) and sends the
//!    results back, until the model answers;
//! 5. prints the final answer on stdout (progress goes to stderr).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use rmcp::ServiceExt as _;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};
use toolgate_openai::client::{Format, load_mcp_tools};
use toolgate_openai::convert::{OpenAiTools, ToolCall, call_result_to_message};

#[derive(Parser, Debug)]
#[command(
    name = "client",
    about = "Ask a model through toolgate, with the gateway's MCP tools"
)]
struct Cli {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:4000")]
    gateway: String,
    /// The model, as named in the gateway's `model_list`.
    #[arg(long)]
    model: String,
    /// What to ask.
    #[arg(long, default_value = "Use the echo tool to echo 'hello from rust'.")]
    prompt: String,
    /// Sent as `Authorization: Bearer …` to the chat endpoint, if the gateway wants one.
    #[arg(long, env = "TOOLGATE_API_KEY")]
    api_key: Option<String>,
    /// Most rounds of tool calls before giving up.
    #[arg(long, default_value_t = 8)]
    max_rounds: usize,
    /// Seconds one model request may take.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("client: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<String> {
    let base = cli.gateway.trim_end_matches('/');
    let mcp_url = format!("{base}/mcp");
    let mcp = ()
        .serve(StreamableHttpClientTransport::from_uri(mcp_url.as_str()))
        .await
        .with_context(|| format!("connecting to the MCP endpoint {mcp_url}"))?;
    let tools = load_mcp_tools(&mcp, Format::OpenAi)
        .await?
        .into_openai()
        .context("the tools did not load in OpenAI form")?;
    eprintln!(
        "loaded {} tool(s): {}",
        tools.tools().len(),
        tools
            .tools()
            .iter()
            .map(|t| t.function.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let answer = converse(&cli, base, &mcp, &tools).await;
    // Ends the MCP session (DELETE) whatever the outcome.
    let _ = mcp.cancel().await;
    answer
}

async fn converse(
    cli: &Cli,
    base: &str,
    mcp: &rmcp::Peer<rmcp::RoleClient>,
    tools: &OpenAiTools,
) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(cli.timeout))
        .build()?;
    let chat_url = format!("{base}/v1/chat/completions");
    let mut messages = vec![json!({"role": "user", "content": cli.prompt})];
    for _ in 0..=cli.max_rounds {
        let mut request = http.post(&chat_url).json(&json!({
            "model": cli.model,
            "messages": messages,
            "tools": tools.tools(),
        }));
        if let Some(key) = &cli.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {chat_url}"))?;
        let status = response.status();
        let body: Value = response.json().await.context("reading the chat answer")?;
        if !status.is_success() {
            bail!("the chat endpoint answered {status}: {body}");
        }
        let message = body
            .pointer("/choices/0/message")
            .cloned()
            .with_context(|| format!("no choices[0].message in {body}"))?;
        let calls: Vec<ToolCall> = match message.get("tool_calls") {
            None | Some(Value::Null) => Vec::new(),
            Some(calls) => serde_json::from_value(calls.clone()).context("reading tool_calls")?,
        };
        if calls.is_empty() {
            return Ok(message["content"].as_str().unwrap_or_default().to_string());
        }
        messages.push(message);
        for call in &calls {
            eprintln!(
                "tool call {}: {}({})",
                call.id, call.function.name, call.function.arguments
            );
            let result = tools.call(mcp, call).await?;
            let reply = call_result_to_message(&call.id, &result);
            eprintln!("tool result {}: {}", call.id, reply.content);
            messages.push(serde_json::to_value(reply)?);
        }
    }
    bail!(
        "the model still asked for tools after {} rounds",
        cli.max_rounds
    )
}
