//! `bench`: toolgate's load generator. It measures what the gateway costs in front of an MCP
//! server, against the same server reached directly.
//!
//! ```text
//! bench [--concurrency 32] [--duration 10s] [--warmup 2s] [--rounds 5]
//!       [--scenarios direct,gateway-http,gateway-stdio] [--bin-dir DIR] [--client-threads 1]
//! ```
//!
//! In one run it starts every scenario's processes itself (from `--bin-dir`, by default the
//! directory of this executable), all on 127.0.0.1:
//!
//! | scenario        | path of a call                                                  |
//! | :-              | :-                                                              |
//! | `direct`        | bench → demo-server (Streamable HTTP)                           |
//! | `gateway-http`  | bench → toolgate → demo-server (Streamable HTTP on both hops)   |
//! | `gateway-stdio` | bench → toolgate (Streamable HTTP) → demo-server child (stdio)  |
//!
//! Load starts once the gateway's `/readyz` answers 200 and lists the upstream's tools.
//! `--concurrency` workers per scenario each open their own MCP session (`initialize`,
//! `notifications/initialized`) on one keep-alive HTTP/1.1 connection with `TCP_NODELAY`, then
//! call the `echo` tool (`demo__echo` through the gateway) back to back with a distinct message
//! per call. Every answer, JSON or SSE, is checked: the right id, no error, and the echoed text
//! equal to what was sent; anything else counts as an error (errors during warm-up count too),
//! and a run with errors says so and exits non-zero.
//!
//! Each scenario is measured for `--duration` in total, cut into `--rounds` slices: the
//! scenarios take turns, one slice each per round in a rotating order, so that a change in the
//! machine's speed (a neighbour's compile, the host) spreads over all scenarios instead of
//! biasing the ratios between them (`--rounds 1`: each scenario in one piece). A scenario's
//! first slice follows `--warmup` of uncounted load, later ones 200 ms. Calls answered inside
//! the slices give calls/s and the latency percentiles; the CPU time (utime + stime from
//! `/proc/<pid>/stat`) of the gateway, the upstream and this process, sampled at the edges of
//! each slice and divided by those calls, gives the CPU cost of one call on each side. The
//! machine's busy time (`/proc/stat`) minus those three shows how much other tenants took.
//!
//! The table is followed by the gateway/direct ratios and by the resident memory (`VmRSS`) of an
//! idle gateway in its default configuration (demo-server on stdio), read once `/readyz`
//! answers 200 and the gateway has been left alone for a second.
//!
//! Children are stopped (SIGTERM, then SIGKILL) at the end, on error, on ctrl-c and on SIGTERM.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

const PROTOCOL_VERSION: &str = "2025-06-18";
/// Longest wait for a child to print its listening line or for `/readyz` to answer 200.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest a single call may take before it counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Between SIGTERM and SIGKILL when stopping a child.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Load before each later slice of a scenario, not counted: the previous scenario's processes
/// go idle and this one's caches refill.
const SETTLE: Duration = Duration::from_millis(200);
/// Stderr lines kept per child, shown when it fails to start.
const TAIL_LINES: usize = 40;

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Load generator: toolgate against a direct MCP server"
)]
struct Cli {
    /// Concurrent workers, each with its own MCP session and connection.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Measured time per scenario, over all rounds (`10s`, `500ms`, `1m`; a bare number is
    /// seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before a scenario's first slice of the window, not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Slices the window is cut into; the scenarios take turns, one slice each per round.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "direct,gateway-http,gateway-stdio"
    )]
    scenarios: Vec<Scenario>,
    /// Where `toolgate` and `demo-server` are (default: this executable's directory).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Threads of the load generator's runtime (1 = a current-thread runtime).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    client_threads: u32,
    /// Skip the idle-RSS measurement of the default gateway.
    #[arg(long)]
    no_idle_rss: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Direct,
    GatewayHttp,
    GatewayStdio,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Direct => "direct",
            Scenario::GatewayHttp => "gateway-http",
            Scenario::GatewayStdio => "gateway-stdio",
        }
    }
}

/// A duration written as in config files (`10s`, `500ms`, `1m`, `2`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    (text.parse::<toolgate::config::Duration>())
        .map(Duration::from)
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = if cli.client_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.client_threads as usize)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Dropping `run` on ctrl-c or SIGTERM drops the children it owns, which stops them.
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = run(cli) => r,
            signal = stop_signal() => Err(anyhow::anyhow!("stopped by {signal}")),
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for ctrl-c or SIGTERM; names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "ctrl-c",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}

/// Runs every scenario and prints the report; `Ok(false)` when some call failed.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    let bins = Binaries::locate(cli.bin_dir.as_deref())?;
    let clock_ticks = clock_ticks_per_second();
    println!(
        "bench: concurrency {}, warm-up {:?}, window {:?} in {} round(s), {} client thread(s); {} CPU(s), load average {}",
        cli.concurrency,
        cli.warmup,
        cli.duration,
        cli.rounds,
        cli.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );

    // Everything is started first; dropping `testbeds` (also on error) stops it all.
    let mut testbeds = Vec::new();
    for &scenario in &cli.scenarios {
        eprintln!("bench: starting {} ...", scenario.name());
        let testbed = Testbed::start(scenario, &bins, cli.concurrency)
            .await
            .with_context(|| format!("scenario {}", scenario.name()))?;
        testbeds.push(testbed);
    }
    let mut results: Vec<ScenarioResult> = testbeds
        .iter()
        .map(|t| ScenarioResult::new(t.scenario, clock_ticks))
        .collect();
    // The scenarios take turns, in a rotating order, so that a change in the machine's speed
    // (a neighbour's compile, the host) spreads over all of them instead of biasing one.
    let slice = cli.duration / cli.rounds;
    for round in 0..cli.rounds as usize {
        eprintln!("bench: round {}/{} ...", round + 1, cli.rounds);
        for k in 0..testbeds.len() {
            let i = (round + k) % testbeds.len();
            let lead_in = if round == 0 {
                cli.warmup
            } else {
                cli.warmup.min(SETTLE)
            };
            let (testbed, result) = (&mut testbeds[i], &mut results[i]);
            testbed
                .measure(lead_in, slice, result)
                .await
                .with_context(|| format!("scenario {}", testbed.scenario.name()))?;
        }
    }
    for (testbed, result) in testbeds.iter().zip(&mut results) {
        result.finish(testbed)?;
    }
    drop(testbeds);
    print_table(&results);
    print_ratios(&results);

    if !cli.no_idle_rss {
        let rss = idle_gateway_rss(&bins).await.context("idle RSS")?;
        println!(
            "idle gateway (default config, demo-server on stdio): VmRSS {:.1} MiB (target <= 30 MiB)",
            rss as f64 / 1024.0
        );
    }

    let errors: u64 = results.iter().map(|r| r.errors).sum();
    if errors > 0 {
        println!("RUN HAD ERRORS ({errors} failed calls): the numbers above are not valid.");
        for r in results.iter().filter(|r| r.errors > 0) {
            for e in &r.sample_errors {
                println!("  {}: {e}", r.scenario.name());
            }
            for log in &r.logs {
                println!("  {}: {log}", r.scenario.name());
            }
        }
    }
    Ok(errors == 0)
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// What one scenario measured, over all of its slices.
#[derive(Debug)]
struct ScenarioResult {
    scenario: Scenario,
    clock_ticks: u64,
    /// Sum of the slices.
    window: Duration,
    /// Nanoseconds, of the calls answered inside the window; sorted by `finish`.
    latencies: Vec<u64>,
    errors: u64,
    sample_errors: Vec<String>,
    /// Stderr of the scenario's processes, kept when some call failed.
    logs: Vec<String>,
    /// CPU clock ticks spent inside the window.
    ticks: CpuTicks,
    /// At the end of the run.
    gateway_rss_kib: Option<u64>,
}

/// CPU clock ticks of each side, and of the whole machine (busy, all CPUs).
#[derive(Clone, Copy, Debug, Default)]
struct CpuTicks {
    gateway: Option<u64>,
    upstream: u64,
    bench: u64,
    machine: u64,
}

impl ScenarioResult {
    fn new(scenario: Scenario, clock_ticks: u64) -> Self {
        ScenarioResult {
            scenario,
            clock_ticks,
            window: Duration::ZERO,
            latencies: Vec::new(),
            errors: 0,
            sample_errors: Vec::new(),
            logs: Vec::new(),
            ticks: CpuTicks::default(),
            gateway_rss_kib: None,
        }
    }

    fn add(&mut self, stats: WorkerStats) {
        self.latencies.extend(stats.latencies);
        self.errors += stats.errors;
        for e in stats.sample_errors {
            if self.sample_errors.len() < 5 {
                self.sample_errors.push(e);
            }
        }
    }

    /// Sorts the latencies and reads what only the live processes can tell.
    fn finish(&mut self, testbed: &Testbed) -> anyhow::Result<()> {
        self.latencies.sort_unstable();
        self.gateway_rss_kib = testbed.gateway_pid.map(vm_rss_kib).transpose()?;
        if self.errors > 0 {
            // What the servers said may explain the errors.
            self.logs = testbed.processes.iter().map(Process::describe).collect();
        }
        Ok(())
    }

    fn calls(&self) -> u64 {
        self.latencies.len() as u64
    }
    fn calls_per_second(&self) -> Option<f64> {
        (!self.window.is_zero()).then(|| self.calls() as f64 / self.window.as_secs_f64())
    }
    fn percentile_us(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies, p).map(|ns| ns as f64 / 1000.0)
    }
    /// CPU microseconds per call answered in the window.
    fn per_call_us(&self, ticks: u64) -> Option<f64> {
        (self.calls() > 0)
            .then(|| ticks as f64 / self.clock_ticks as f64 * 1e6 / self.calls() as f64)
    }
    /// Share of the machine's CPU capacity that other processes (and steal) used in the window.
    fn others_share(&self) -> Option<f64> {
        let cpus = std::thread::available_parallelism().ok()?.get() as f64;
        let capacity = self.window.as_secs_f64() * cpus * self.clock_ticks as f64;
        let t = &self.ticks;
        let ours = t.gateway.unwrap_or(0) + t.upstream + t.bench;
        (capacity > 0.0).then(|| t.machine.saturating_sub(ours) as f64 / capacity)
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// One scenario's processes and open sessions, ready to be driven.
#[derive(Debug)]
struct Testbed {
    scenario: Scenario,
    tool: &'static str,
    gateway_pid: Option<u32>,
    upstream_pid: u32,
    // Dropped in this order: connections, then processes, then the config file they read.
    clients: Vec<McpClient>,
    processes: Vec<Process>,
    _config: Option<TempFile>,
}

impl Testbed {
    /// Starts the scenario's processes and opens `concurrency` sessions.
    async fn start(scenario: Scenario, bins: &Binaries, concurrency: u32) -> anyhow::Result<Self> {
        let mut processes: Vec<Process> = Vec::new();
        let mut config: Option<TempFile> = None;
        let (url, tool, gateway_pid, upstream_pid) = match scenario {
            Scenario::Direct => {
                let (demo, url) = bins.start_demo_http().await?;
                let pid = demo.pid();
                processes.push(demo);
                (url, "echo", None, pid)
            }
            Scenario::GatewayHttp => {
                let (demo, demo_url) = bins.start_demo_http().await?;
                let upstream = demo.pid();
                processes.push(demo);
                let file = TempFile::write(
                    "gateway-http.yaml",
                    &format!(
                        "mcp_servers:\n  demo:\n    url: {}\n",
                        serde_json::to_string(&demo_url)?
                    ),
                )?;
                let (gateway, url) = bins.start_gateway(Some(file.path())).await?;
                config = Some(file);
                let pid = gateway.pid();
                processes.push(gateway);
                (url, "demo__echo", Some(pid), upstream)
            }
            Scenario::GatewayStdio => {
                let command = bins
                    .demo_server
                    .to_str()
                    .with_context(|| format!("{} is not UTF-8", bins.demo_server.display()))?;
                let file = TempFile::write(
                    "gateway-stdio.yaml",
                    &format!(
                        "mcp_servers:\n  demo:\n    command: {}\n",
                        serde_json::to_string(command)?
                    ),
                )?;
                let (gateway, url) = bins.start_gateway(Some(file.path())).await?;
                config = Some(file);
                let pid = gateway.pid();
                processes.push(gateway);
                let upstream = child_pid_named(pid, "demo-server")?;
                (url, "demo__echo", Some(pid), upstream)
            }
        };
        let endpoint = Arc::new(Endpoint::parse(&url)?);
        let mut clients = Vec::with_capacity(concurrency as usize);
        for _ in 0..concurrency {
            let mut client = McpClient::new(Arc::clone(&endpoint));
            client
                .initialize()
                .await
                .context("opening an MCP session")?;
            clients.push(client);
        }
        Ok(Testbed {
            scenario,
            tool,
            gateway_pid,
            upstream_pid,
            clients,
            processes,
            _config: config,
        })
    }

    /// Drives load for `lead_in` (not counted), then for `window`, and adds what the window
    /// saw to `into`.
    async fn measure(
        &mut self,
        lead_in: Duration,
        window: Duration,
        into: &mut ScenarioResult,
    ) -> anyhow::Result<()> {
        let start = Instant::now() + lead_in;
        let plan = Plan {
            start,
            end: start + window,
        };
        let tool = self.tool;
        let workers: Vec<_> = std::mem::take(&mut self.clients)
            .into_iter()
            .enumerate()
            .map(|(n, client)| tokio::spawn(worker(client, tool, n, plan)))
            .collect();

        tokio::time::sleep_until(plan.start.into()).await;
        let before = self.cpu_ticks()?;
        tokio::time::sleep_until(plan.end.into()).await;
        let after = self.cpu_ticks()?;

        for w in workers {
            let (client, stats) = tokio::time::timeout(CALL_TIMEOUT + Duration::from_secs(5), w)
                .await
                .context("a worker did not stop")?
                .context("a worker panicked")?;
            self.clients.push(client);
            into.add(stats);
        }
        into.window += window;
        let t = &mut into.ticks;
        if let (Some(a), Some(b)) = (before.gateway, after.gateway) {
            *t.gateway.get_or_insert(0) += b.saturating_sub(a);
        }
        t.upstream += after.upstream.saturating_sub(before.upstream);
        t.bench += after.bench.saturating_sub(before.bench);
        t.machine += after.machine.saturating_sub(before.machine);
        Ok(())
    }

    /// CPU clock ticks used so far by each side, and by the whole machine.
    fn cpu_ticks(&self) -> anyhow::Result<CpuTicks> {
        Ok(CpuTicks {
            gateway: self.gateway_pid.map(cpu_ticks).transpose()?,
            upstream: cpu_ticks(self.upstream_pid)?,
            bench: cpu_ticks_self()?,
            machine: machine_busy_ticks()?,
        })
    }
}

/// One measured slice; calls answered before `start` are warm-up.
#[derive(Clone, Copy, Debug)]
struct Plan {
    start: Instant,
    end: Instant,
}

#[derive(Debug, Default)]
struct WorkerStats {
    latencies: Vec<u64>,
    errors: u64,
    sample_errors: Vec<String>,
}

/// Calls `tool` back to back until the window ends; hands the client back.
async fn worker(
    mut client: McpClient,
    tool: &'static str,
    n: usize,
    plan: Plan,
) -> (McpClient, WorkerStats) {
    let mut stats = WorkerStats::default();
    loop {
        let begin = Instant::now();
        if begin >= plan.end {
            break;
        }
        // Unique in the run: this worker, and the id the request is about to get.
        let message = format!("hello {n}-{}", client.next_id);
        let outcome =
            match tokio::time::timeout(CALL_TIMEOUT, client.call_echo(tool, &message)).await {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!("no answer within {CALL_TIMEOUT:?}")),
            };
        let done = Instant::now();
        match outcome {
            Ok(()) => {
                if done >= plan.start && done < plan.end {
                    let ns = u64::try_from((done - begin).as_nanos()).unwrap_or(u64::MAX);
                    stats.latencies.push(ns);
                }
            }
            Err(e) => {
                stats.errors += 1;
                if stats.sample_errors.len() < 3 {
                    // When, relative to the slice's start (negative: warm-up or settling).
                    let at = if done >= plan.start {
                        (done - plan.start).as_secs_f64()
                    } else {
                        -(plan.start - done).as_secs_f64()
                    };
                    stats.sample_errors.push(format!("at {at:+.3}s: {e:#}"));
                }
                // Whatever state the connection is in, start afresh (same session).
                client.sender = None;
            }
        }
    }
    (client, stats)
}

// ---------------------------------------------------------------------------------------------
// The MCP client: one session on one keep-alive HTTP/1.1 connection

/// Where the MCP endpoint is.
#[derive(Debug)]
struct Endpoint {
    addr: SocketAddr,
    host: HeaderValue,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
        ensure!(
            uri.scheme_str() == Some("http"),
            "{url}: only http:// is supported"
        );
        let authority = uri.authority().with_context(|| format!("{url}: no host"))?;
        let addr: SocketAddr = authority
            .as_str()
            .parse()
            .with_context(|| format!("{url}: the host must be IP:PORT"))?;
        Ok(Endpoint {
            addr,
            host: HeaderValue::from_str(authority.as_str())?,
            path: uri.path().to_owned(),
        })
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; a failure shows on the sender.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

#[derive(Debug)]
struct McpClient {
    endpoint: Arc<Endpoint>,
    sender: Option<SendRequest<Full<Bytes>>>,
    session: Option<HeaderValue>,
    next_id: u64,
}

/// An HTTP answer, body read to the end.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    is_sse: bool,
    session: Option<HeaderValue>,
    body: Bytes,
}

impl McpClient {
    fn new(endpoint: Arc<Endpoint>) -> Self {
        McpClient {
            endpoint,
            sender: None,
            session: None,
            next_id: 0,
        }
    }

    async fn post(&mut self, body: String) -> anyhow::Result<Answer> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => self.sender.insert(self.endpoint.connect().await?),
        };
        let mut request = Request::post(self.endpoint.path.as_str())
            .header(header::HOST, self.endpoint.host.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(Full::new(Bytes::from(body)))?;
        if let Some(session) = &self.session {
            let headers = request.headers_mut();
            headers.insert("mcp-session-id", session.clone());
            headers.insert(
                "mcp-protocol-version",
                HeaderValue::from_static(PROTOCOL_VERSION),
            );
        }
        sender.ready().await.context("connection not ready")?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let headers = response.headers();
        let is_sse = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let session = headers.get("mcp-session-id").cloned();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            is_sse,
            session,
            body,
        })
    }

    /// `initialize` then `notifications/initialized`; keeps the session id.
    async fn initialize(&mut self) -> anyhow::Result<()> {
        let id = self.take_id();
        let answer = self
            .post(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"bench","version":"0"}}}}}}"#
            ))
            .await?;
        ensure!(
            answer.status == StatusCode::OK,
            "initialize: HTTP {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        let _: serde::de::IgnoredAny = find_result(&answer, id).context("initialize")?;
        self.session = Some(answer.session.context("initialize: no Mcp-Session-Id")?);
        let answer = self
            .post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned())
            .await?;
        ensure!(
            answer.status == StatusCode::ACCEPTED,
            "notifications/initialized: HTTP {} (expected 202)",
            answer.status
        );
        Ok(())
    }

    /// One `tools/call` of the echo tool; checks that `message` comes back.
    async fn call_echo(&mut self, tool: &str, message: &str) -> anyhow::Result<()> {
        let id = self.take_id();
        // `tool` and `message` are ours (no characters that JSON would escape).
        let answer = self
            .post(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"message":"{message}"}}}}}}"#
            ))
            .await?;
        ensure!(
            answer.status == StatusCode::OK,
            "tools/call: HTTP {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        let result: CallToolResult = find_result(&answer, id)?;
        ensure!(
            result.is_error != Some(true),
            "tool error: {:?}",
            result.content
        );
        let text = match result.content.as_slice() {
            [
                Content {
                    kind,
                    text: Some(text),
                },
            ] if kind == "text" => text,
            other => bail!("expected one text content, got {other:?}"),
        };
        ensure!(text == message, "sent {message:?}, got back {text:?}");
        Ok(())
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

#[derive(Deserialize, Debug)]
struct Reply<R> {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    method: Option<String>,
    result: Option<R>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize, Debug)]
struct CallToolResult {
    content: Vec<Content>,
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
}

#[derive(Deserialize, Debug)]
struct Content {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

/// The result of the response to request `id`, from a JSON body or from the SSE events of the
/// body (other messages on the stream, such as notifications, are skipped).
fn find_result<R: serde::de::DeserializeOwned>(answer: &Answer, id: u64) -> anyhow::Result<R> {
    let check = |reply: Reply<R>| -> anyhow::Result<R> {
        ensure!(
            reply.id.as_ref().and_then(serde_json::Value::as_u64) == Some(id),
            "answer to id {:?}, expected {id}",
            reply.id
        );
        if let Some(error) = reply.error {
            bail!("JSON-RPC error: {error}");
        }
        reply
            .result
            .context("response has neither result nor error")
    };
    if !answer.is_sse {
        let reply: Reply<R> = serde_json::from_slice(&answer.body).context("JSON body")?;
        return check(reply);
    }
    let mut data = String::new();
    let text = std::str::from_utf8(&answer.body).context("SSE body is not UTF-8")?;
    // A trailing empty line dispatches the last event even if the stream lacked one.
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() {
                let reply: Reply<R> = serde_json::from_str(&data).context("SSE event data")?;
                let is_ours = reply.method.is_none()
                    && reply.id.as_ref().and_then(serde_json::Value::as_u64) == Some(id);
                if is_ours {
                    return check(reply);
                }
                data.clear();
            }
        } else if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    bail!("the SSE stream ended without the response to id {id}")
}

/// `GET path` on a fresh connection: the status and the body.
async fn get(endpoint: &Endpoint, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    let stream = tokio::net::TcpStream::connect(endpoint.addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(path)
        .header(header::HOST, endpoint.host.clone())
        .body(Empty::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Polls `/readyz` until it answers 200 and every upstream is ready with its tools listed.
///
/// 200 alone is not enough: the gateway reports an upstream ready as soon as its handshake is
/// done, and lists its tools just after; a call in between gets "unknown tool".
async fn wait_ready(endpoint: &Endpoint) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct Readyz {
        upstreams: Vec<Member>,
    }
    #[derive(Deserialize)]
    struct Member {
        status: String,
        #[serde(default)]
        tools: u64,
    }
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let last = get(endpoint, "/readyz").await;
        if let Ok((StatusCode::OK, body)) = &last
            && let Ok(readyz) = serde_json::from_slice::<Readyz>(body)
            && readyz
                .upstreams
                .iter()
                .all(|m| m.status == "ready" && m.tools > 0)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let last =
                last.map(|(status, body)| format!("{status} {}", String::from_utf8_lossy(&body)));
            bail!(
                "/readyz did not show every upstream ready with tools within {STARTUP_TIMEOUT:?} (last: {last:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

#[derive(Debug)]
struct Binaries {
    toolgate: PathBuf,
    demo_server: PathBuf,
}

impl Binaries {
    fn locate(dir: Option<&Path>) -> anyhow::Result<Self> {
        let dir = match dir {
            Some(d) => d.to_owned(),
            None => std::env::current_exe()
                .context("cannot locate the bench executable")?
                .parent()
                .context("the bench executable has no directory")?
                .to_owned(),
        };
        let find = |name: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            ensure!(
                path.is_file(),
                "{} not found; build it with `cargo build --release -p toolgate-examples --bins` or pass --bin-dir",
                path.display()
            );
            Ok(path)
        };
        Ok(Binaries {
            toolgate: find("toolgate")?,
            demo_server: find("demo-server")?,
        })
    }

    async fn start_demo_http(&self) -> anyhow::Result<(Process, String)> {
        let mut command = Command::new(&self.demo_server);
        command.args(["--transport", "http", "--listen", "127.0.0.1:0"]);
        // Its own default filter logs nothing per call.
        command.env_remove("RUST_LOG");
        let mut process = Process::spawn("demo-server", command)?;
        let url = process
            .wait_for_listening("demo-server listening on ")
            .await?;
        Ok((process, url))
    }

    /// Starts the gateway and waits until `/readyz` says an upstream is ready.
    async fn start_gateway(&self, config: Option<&Path>) -> anyhow::Result<(Process, String)> {
        let mut command = Command::new(&self.toolgate);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn");
        let mut process = Process::spawn("toolgate", command)?;
        let url = process.wait_for_listening("toolgate listening on ").await?;
        let endpoint = Endpoint::parse(&url)?;
        wait_ready(&endpoint)
            .await
            .with_context(|| process.describe())?;
        Ok((process, url))
    }
}

/// A child process, stopped and reaped on drop; its stderr is drained by a thread.
#[derive(Debug)]
struct Process {
    name: &'static str,
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Process {
    fn spawn(name: &'static str, mut command: Command) -> anyhow::Result<Self> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1");
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {command:?}"))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let keep = Arc::clone(&tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                let mut tail = keep.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        Ok(Process {
            name,
            child,
            lines,
            tail,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its name, pid and last words, for error messages.
    fn describe(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
        format!(
            "{} (pid {}), last stderr lines:\n{}",
            self.name,
            self.pid(),
            lines.join("\n")
        )
    }

    /// Waits for a stderr line `"<marker><url>"` and returns the URL.
    async fn wait_for_listening(&mut self, marker: &str) -> anyhow::Result<String> {
        let wait = async {
            while let Some(line) = self.lines.recv().await {
                if let Some((_, rest)) = line.split_once(marker) {
                    return rest
                        .split_whitespace()
                        .next()
                        .map(str::to_owned)
                        .with_context(|| format!("no URL in {line:?}"));
                }
            }
            bail!("exited ({:?}) before listening", self.child.try_wait());
        };
        match tokio::time::timeout(STARTUP_TIMEOUT, wait).await {
            Ok(Ok(url)) => Ok(url),
            Ok(Err(e)) => Err(e.context(self.describe())),
            Err(_) => Err(anyhow::anyhow!(
                "did not listen within {STARTUP_TIMEOUT:?}: {}",
                self.describe()
            )),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // std has no SIGTERM and the workspace forbids unsafe: ask kill(1).
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file in the temporary directory, removed on drop.
#[derive(Debug)]
struct TempFile(PathBuf);

impl TempFile {
    fn write(name: &str, contents: &str) -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("toolgate-bench-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        Ok(TempFile(path))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Resident memory of an idle gateway in its default configuration, in KiB.
async fn idle_gateway_rss(bins: &Binaries) -> anyhow::Result<u64> {
    let (gateway, _url) = bins.start_gateway(None).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    vm_rss_kib(gateway.pid())
}

// ---------------------------------------------------------------------------------------------
// /proc

/// Clock ticks per second of `/proc/<pid>/stat` times. The workspace forbids the unsafe
/// `sysconf` call, so ask `getconf`; Linux has used 100 (USER_HZ) everywhere for decades.
fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(100)
}

/// The fields of a `/proc/<pid>/stat` line after `(comm)`: field 3 (state) is index 0.
fn stat_fields(stat: &str) -> anyhow::Result<(&str, Vec<&str>)> {
    let open = stat.find('(').context("no '(' in stat")?;
    let close = stat.rfind(')').context("no ')' in stat")?;
    let comm = stat.get(open + 1..close).context("bad comm in stat")?;
    let rest = stat
        .get(close + 1..)
        .context("nothing after comm in stat")?;
    Ok((comm, rest.split_whitespace().collect()))
}

fn cpu_ticks_in(path: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let (_, fields) = stat_fields(&stat)?;
    // utime and stime are fields 14 and 15.
    let field = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .with_context(|| format!("{path}: too few fields"))?
            .parse()
            .with_context(|| format!("{path}: field {} is not a number", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    cpu_ticks_in(&format!("/proc/{pid}/stat"))
}

fn cpu_ticks_self() -> anyhow::Result<u64> {
    cpu_ticks_in("/proc/self/stat")
}

/// Busy time of all CPUs (everything but idle and iowait) from `/proc/stat`.
fn machine_busy_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("/proc/stat: no cpu line")?;
    let mut busy = 0;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    for (i, field) in line.split_whitespace().skip(1).take(8).enumerate() {
        let ticks: u64 = field
            .parse()
            .with_context(|| format!("/proc/stat: bad field {field:?}"))?;
        if i != 3 && i != 4 {
            busy += ticks;
        }
    }
    Ok(busy)
}

fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{path}: no VmRSS"))
}

/// The pid of `parent`'s child whose command name is `name` (the gateway's stdio upstream).
fn child_pid_named(parent: u32, name: &str) -> anyhow::Result<u32> {
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // Processes come and go while we look; one that vanished is simply not it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Ok((comm, fields)) = stat_fields(&stat) else {
            continue;
        };
        // ppid is field 4.
        if comm == name && fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            return Ok(pid);
        }
    }
    bail!("no child process {name:?} of pid {parent}")
}

// ---------------------------------------------------------------------------------------------
// Report

fn print_table(results: &[ScenarioResult]) {
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    println!();
    println!(
        "{:<14} {:>9} {:>10} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>8} {:>7}",
        "scenario",
        "calls",
        "calls/s",
        "p50 µs",
        "p99 µs",
        "errors",
        "gw µs/call",
        "up µs/call",
        "bn µs/call",
        "gw RSS",
        "others",
    );
    for r in results {
        println!(
            "{:<14} {:>9} {:>10} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>8} {:>7}",
            r.scenario.name(),
            r.calls(),
            r.calls_per_second()
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}")),
            us(r.percentile_us(50.0)),
            us(r.percentile_us(99.0)),
            r.errors,
            us(r.ticks.gateway.and_then(|t| r.per_call_us(t))),
            us(r.per_call_us(r.ticks.upstream)),
            us(r.per_call_us(r.ticks.bench)),
            r.gateway_rss_kib
                .map_or_else(|| "-".to_owned(), |k| format!("{:.1}M", k as f64 / 1024.0)),
            r.others_share()
                .map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0)),
        );
    }
    println!(
        "(µs/call = CPU time of the gateway (gw), the upstream demo-server (up) and this load generator (bn)\n over the window, divided by the calls answered in it; gw RSS = gateway VmRSS at the end of the run;\n others = CPU used by every other process on the machine (and steal), as a share of all CPUs)"
    );
}

fn print_ratios(results: &[ScenarioResult]) {
    let Some(direct) = results.iter().find(|r| r.scenario == Scenario::Direct) else {
        return;
    };
    println!();
    for r in results.iter().filter(|r| r.scenario != Scenario::Direct) {
        let ratio = match (r.calls_per_second(), direct.calls_per_second()) {
            (Some(g), Some(d)) if d > 0.0 => format!("{:.2}x", g / d),
            _ => "-".to_owned(),
        };
        let added = match (r.percentile_us(50.0), direct.percentile_us(50.0)) {
            (Some(g), Some(d)) => format!("{:+.1} µs", g - d),
            _ => "-".to_owned(),
        };
        println!(
            "{:<14} throughput {ratio} direct (target >= 0.70x at concurrency 32); added p50 {added} (target <= 50 µs at concurrency 1)",
            r.scenario.name(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn sse_body_skips_other_messages() {
        let body = "id: 1\nretry: 3000\ndata: \n\n\
                    data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n";
        let answer = Answer {
            status: StatusCode::OK,
            is_sse: true,
            session: None,
            body: Bytes::from(body),
        };
        let result: CallToolResult = find_result(&answer, 4).expect("the response is found");
        assert_eq!(result.content[0].text.as_deref(), Some("hi"));
        assert!(find_result::<CallToolResult>(&answer, 5).is_err());
    }

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let (comm, fields) =
            stat_fields("42 (a) b) S 1 2 3 4 5 6 7 8 9 10 11 12 13").expect("parses");
        assert_eq!(comm, "a) b");
        assert_eq!(fields[0], "S");
        assert_eq!(fields[1], "1");
    }
}
