//! One scenario's processes and open MCP sessions, and a slice of load driven through them:
//! every worker calls the echo tool back to back and times the calls answered in the slice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::Scenario;
use crate::client::{Endpoint, McpClient};
use crate::measure::{
    CpuTicks, ScenarioResult, child_pid_named, cpu_ticks, cpu_ticks_self, machine_busy_ticks,
};
use crate::procs::{Binaries, Process, TempFile};

/// Longest a single call may take before it counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One scenario's processes and open sessions, ready to be driven.
#[derive(Debug)]
pub(crate) struct Testbed {
    pub(crate) scenario: Scenario,
    tool: &'static str,
    pub(crate) gateway_pid: Option<u32>,
    upstream_pid: u32,
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
    pub(crate) fn cpu_ticks(&self) -> anyhow::Result<CpuTicks> {
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
pub(crate) async fn worker(
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
