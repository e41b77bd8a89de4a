//! One scenario's processes and open MCP sessions, and a slice of load driven through them:
//! every worker calls the echo tool back to back and times the calls answered in the slice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::Scenario;
use crate::client::{Endpoint, McpClient};
use crate::measure::{
    CpuTicks, Edge, ScenarioResult, child_pid_named, cpu_ticks, cpu_ticks_self, machine_busy_ticks,
    passive_opens,
};
use crate::procs::{Binaries, Process, TempFile};

/// Longest a single call may take before it counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One scenario's processes and open sessions, ready to be driven.
#[derive(Debug)]
pub(crate) struct Testbed {
    pub(crate) scenario: Scenario,
    tool: String,
    /// What the echo tool puts before the message.
    echo_prefix: &'static str,
    pub(crate) gateway_pid: Option<u32>,
    upstream_pid: u32,
    /// Where the workers send their calls.
    endpoint: Arc<Endpoint>,
    // Dropped in this order: connections, then processes, then the config file they read.
    clients: Vec<McpClient>,
    pub(crate) processes: Vec<Process>,
    _config: Option<TempFile>,
}

impl Testbed {
    /// Starts the scenario's processes and opens `concurrency` sessions.
    pub(crate) async fn start(
        scenario: Scenario,
        bins: &Binaries,
        concurrency: u32,
    ) -> anyhow::Result<Self> {
        let mut processes: Vec<Process> = Vec::new();
        // The upstream first: on HTTP it is a process of ours, named in the gateway's config.
        let (upstream, echo_prefix) = match scenario {
            Scenario::Direct | Scenario::GatewayHttp | Scenario::BaselineHttp => {
                let (demo, url) = bins.start_demo_http().await?;
                let pid = demo.pid();
                processes.push(demo);
                (UpstreamAt::Http { url, pid }, "")
            }
            Scenario::EverythingDirect | Scenario::GatewayEverything => {
                let (everything, url) = bins.start_everything().await?;
                let pid = everything.pid();
                processes.push(everything);
                (UpstreamAt::Http { url, pid }, "Echo: ")
            }
            Scenario::GatewayStdio | Scenario::BaselineStdio => (UpstreamAt::Stdio, ""),
        };
        let server = if scenario.uses_everything() {
            "everything"
        } else {
            "demo"
        };
        let mut config = None;
        let (url, tool, gateway_pid, upstream_pid) = match upstream {
            UpstreamAt::Http { url, pid } if !scenario.through_gateway() => {
                (url, "echo".to_owned(), None, pid)
            }
            upstream => {
                let entry = match &upstream {
                    UpstreamAt::Http { url, .. } => format!("url: {}", serde_json::to_string(url)?),
                    UpstreamAt::Stdio => {
                        let command = bins.demo_server.to_str().with_context(|| {
                            format!("{} is not UTF-8", bins.demo_server.display())
                        })?;
                        format!("command: {}", serde_json::to_string(command)?)
                    }
                };
                let file = TempFile::write(
                    &format!("{}.yaml", scenario.name()),
                    &format!("mcp_servers:\n  {server}:\n    {entry}\n"),
                )?;
                let (gateway, url) = bins
                    .start_gateway(Some(file.path()), scenario.uses_baseline())
                    .await?;
                config = Some(file);
                let pid = gateway.pid();
                processes.push(gateway);
                let upstream_pid = match upstream {
                    UpstreamAt::Http { pid, .. } => pid,
                    UpstreamAt::Stdio => child_pid_named(pid, "demo-server")?,
                };
                (url, format!("{server}__echo"), Some(pid), upstream_pid)
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
            echo_prefix,
            gateway_pid,
            upstream_pid,
            endpoint,
            clients,
            processes,
            _config: config,
        })
    }

    /// Drives load for `lead_in` (not counted), then for `window`, and adds what the window
    /// saw to `into`.
    pub(crate) async fn measure(
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
        let workers: Vec<_> = std::mem::take(&mut self.clients)
            .into_iter()
            .enumerate()
            .map(|(n, client)| {
                let echo = Echo {
                    tool: self.tool.clone(),
                    prefix: self.echo_prefix,
                };
                tokio::spawn(worker(client, echo, n, plan))
            })
            .collect();

        tokio::time::sleep_until(plan.start.into()).await;
        let before = self.edge()?;
        tokio::time::sleep_until(plan.end.into()).await;
        let after = self.edge()?;

        for w in workers {
            let (client, stats) = tokio::time::timeout(CALL_TIMEOUT + Duration::from_secs(5), w)
                .await
                .context("a worker did not stop")?
                .context("a worker panicked")?;
            self.clients.push(client);
            into.add(stats);
        }
        into.add_slice(window, &before, &after);
        Ok(())
    }

    /// What the slice's edges read: CPU clock ticks used so far by each side and by the whole
    /// machine, and the TCP connections opened so far.
    fn edge(&self) -> anyhow::Result<Edge> {
        Ok(Edge {
            ticks: CpuTicks {
                gateway: self.gateway_pid.map(cpu_ticks).transpose()?,
                upstream: cpu_ticks(self.upstream_pid)?,
                bench: cpu_ticks_self()?,
                machine: machine_busy_ticks()?,
            },
            passive_opens: passive_opens()?,
            bench_connects: self.endpoint.connects(),
        })
    }
}

/// Where a scenario's upstream is, once started.
#[derive(Debug)]
enum UpstreamAt {
    /// A process of ours serving Streamable HTTP at `url`.
    Http { url: String, pid: u32 },
    /// A child the gateway starts (demo-server on stdio).
    Stdio,
}

/// The tool a worker calls and what its answer starts with.
#[derive(Debug)]
struct Echo {
    tool: String,
    prefix: &'static str,
}

/// One measured slice; calls answered before `start` are warm-up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    start: Instant,
    end: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct WorkerStats {
    pub(crate) latencies: Vec<u64>,
    pub(crate) errors: u64,
    pub(crate) sample_errors: Vec<String>,
}

/// Calls `tool` back to back until the window ends; hands the client back.
async fn worker(
    mut client: McpClient,
    echo: Echo,
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
        let outcome = match tokio::time::timeout(
            CALL_TIMEOUT,
            client.call_echo(&echo.tool, &message, echo.prefix),
        )
        .await
        {
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
