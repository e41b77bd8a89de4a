//! The operator's commands: `toolgate tools` and `toolgate call` start the config's upstreams
//! in-process and use the gateway's MCP plane like a client would (every policy applies);
//! `toolgate status URL` reads a running gateway's admin API. And the start-up report: one line
//! per upstream as it becomes ready or fails, with the reason.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use toolgate::dispatcher::Inbound;
use toolgate::gateway::Gateway;
use toolgate::jsonrpc::Message;
use toolgate::session::{Session, SessionInfo, TransportKind};
use toolgate::upstream::UpstreamStatus;

/// How long `tools` and `call` wait for upstreams still starting.
const STARTUP_WAIT: Duration = Duration::from_secs(30);

/// Prints one line per upstream to stderr as it becomes ready, goes down or comes back, until
/// the gateway stops.
pub(crate) fn report_upstreams(gateway: &Gateway) {
    for member in gateway.aggregate().members() {
        let upstream = member.upstream.clone();
        let stop = gateway.shutdown_token();
        tokio::spawn(async move {
            let mut rx = upstream.watch_status();
            let mut last: Option<bool> = None;
            loop {
                let line = match &*rx.borrow_and_update() {
                    UpstreamStatus::Ready(info) if last != Some(true) => {
                        last = Some(true);
                        Some(format!(
                            "upstream {} ready: {} {}, protocol {}",
                            upstream.name(),
                            info.server_info.name,
                            info.server_info.version,
                            info.protocol_version
                        ))
                    }
                    UpstreamStatus::Down { reason }
                        if last != Some(false) && reason != toolgate::upstream::STOPPED =>
                    {
                        last = Some(false);
                        Some(format!("upstream {} down: {reason}", upstream.name()))
                    }
                    _ => None,
                };
                if let Some(line) = line {
                    eprintln!("{line}");
                }
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { return },
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
}

/// Waits until no upstream is still on its first start (at most [`STARTUP_WAIT`]).
async fn settled(gateway: &Gateway) {
    let all = async {
        for member in gateway.aggregate().members() {
            let mut rx = member.upstream.watch_status();
            let _ = rx
                .wait_for(|s| !matches!(s, UpstreamStatus::Starting))
                .await;
        }
    };
    let _ = tokio::time::timeout(STARTUP_WAIT, all).await;
}

/// An in-process MCP client of `gateway`'s dispatcher.
struct Client {
    gateway: Gateway,
    session: Arc<Session>,
    next: i64,
}

impl Client {
    async fn connect(gateway: Gateway) -> anyhow::Result<Client> {
        settled(&gateway).await;
        let mut client = Client {
            session: Arc::new(Session::new(SessionInfo::new(None, TransportKind::Stdio))),
            gateway,
            next: 1,
        };
        client
            .request(
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "toolgate-cli", "version": env!("CARGO_PKG_VERSION")}}),
            )
            .await?;
        client
            .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(client)
    }

    async fn send(&self, message: Value) -> anyhow::Result<Option<Value>> {
        let bytes = serde_json::to_vec(&message)?;
        let msg = Message::parse(&bytes).map_err(|f| anyhow::anyhow!("{}", f.error.message()))?;
        let Some(frame) = self
            .gateway
            .dispatcher()
            .handle(&self.session, msg, Inbound::default())
            .await
        else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(&frame)?))
    }

    /// The result of `method`, or its JSON-RPC error as the error.
    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next;
        self.next += 1;
        let answer = self
            .send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?
            .with_context(|| format!("{method}: no answer"))?;
        if let Some(e) = answer.get("error") {
            bail!(
                "{method}: {} ({})",
                e["message"].as_str().unwrap_or("error"),
                e["code"]
            );
        }
        Ok(answer["result"].clone())
    }

    async fn tools(&mut self) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.request("tools/list", params).await?;
            all.extend(page["tools"].as_array().cloned().unwrap_or_default());
            cursor = page["nextCursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        Ok(all)
    }
}

/// `toolgate tools`: the merged catalog as a table, or JSON.
pub(crate) async fn tools(gateway: Gateway, as_json: bool) -> anyhow::Result<()> {
    let mut client = Client::connect(gateway.clone()).await?;
    let tools = client.tools().await;
    print_down(&gateway);
    let tools = tools?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&tools)?);
        return Ok(());
    }
    let width = tools
        .iter()
        .filter_map(|t| t["name"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  DESCRIPTION", "TOOL");
    for t in &tools {
        let description = t["description"].as_str().unwrap_or("");
        let first = description.lines().next().unwrap_or("");
        println!("{:width$}  {first}", t["name"].as_str().unwrap_or("?"));
    }
    eprintln!("{} tool(s)", tools.len());
    Ok(())
}

/// `toolgate call TOOL ARGS`: the tool's result as JSON; a tool error fails the command.
pub(crate) async fn call(gateway: Gateway, tool: &str, arguments: &str) -> anyhow::Result<()> {
    let arguments: Value = serde_json::from_str(arguments)
        .with_context(|| format!("the arguments are not JSON: {arguments}"))?;
    if !arguments.is_object() {
        bail!("the arguments must be a JSON object, such as '{{\"message\": \"hi\"}}'");
    }
    let mut client = Client::connect(gateway.clone()).await?;
    let result = client
        .request("tools/call", json!({"name": tool, "arguments": arguments}))
        .await;
    print_down(&gateway);
    let result = result?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    if result["isError"] == true {
        bail!("{tool} answered with a tool error");
    }
    Ok(())
}

/// Upstreams that are not ready, to stderr, so an incomplete catalog says why.
fn print_down(gateway: &Gateway) {
    for h in gateway.aggregate().health() {
        match &h.status {
            UpstreamStatus::Ready(_) => {}
            UpstreamStatus::Starting => eprintln!("upstream {}: still starting", h.name),
            UpstreamStatus::Down { reason } => eprintln!("upstream {} down: {reason}", h.name),
        }
    }
}

/// `toolgate status URL`: a running gateway's upstreams and sessions, from `/admin/api/status`.
pub(crate) async fn status(url: &str, as_json: bool) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/');
    let base = base.strip_suffix("/mcp").unwrap_or(base);
    let target = format!("{base}/admin/api/status");
    let client = toolgate::http::Client::new().context("cannot make an HTTP client")?;
    let response = client
        .get(&target)
        .await
        .with_context(|| format!("GET {target}"))?;
    let code = response.status();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .with_context(|| format!("reading {target}"))?
        .to_bytes();
    if !code.is_success() {
        bail!(
            "GET {target}: {code}: {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    let status: Value =
        serde_json::from_slice(&body).with_context(|| format!("{target} did not answer JSON"))?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!(
        "{:16} {:9} {:>5} {:>9}  DETAIL",
        "UPSTREAM", "STATUS", "TOOLS", "IN FLIGHT"
    );
    for u in status["upstreams"].as_array().into_iter().flatten() {
        let detail = u["reason"].as_str().map(str::to_owned).unwrap_or_else(|| {
            format!(
                "{} {}",
                u["server"].as_str().unwrap_or(""),
                u["protocolVersion"].as_str().unwrap_or("")
            )
        });
        println!(
            "{:16} {:9} {:>5} {:>9}  {}",
            u["name"].as_str().unwrap_or("?"),
            u["status"].as_str().unwrap_or("?"),
            u["tools"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            u["inflight"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            detail.trim()
        );
    }
    println!(
        "sessions: {} Streamable HTTP, {} legacy SSE",
        status["sessions"]["streamable_http"], status["sessions"]["sse"]
    );
    Ok(())
}
