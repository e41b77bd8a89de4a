//! One scenario's processes and open MCP sessions, and a slice of load driven through them:
//! every worker calls the echo tool back to back and times the calls answered in the slice.
//! A `replicas-*` scenario's processes are haproxy, its gateways (each with its demo-server
//! child) and, but for `replicas-1-local`, one redis-server they share.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::{ScaleOut, Scenario};
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
    /// Every gateway process: none (direct), one, or one per replica.
    pub(crate) gateway_pids: Vec<u32>,
    /// The upstream server, or each replica's demo-server child.
    upstream_pids: Vec<u32>,
    /// haproxy, in the `replicas-*` scenarios.
    balancer_pid: Option<u32>,
    /// redis-server, in the `replicas-N` scenarios.
    store_pid: Option<u32>,
    /// Where the workers send their calls.
    endpoint: Arc<Endpoint>,
    // Dropped in this order: connections, then processes, then the config files they read.
    clients: Vec<McpClient>,
    pub(crate) processes: Vec<Process>,
    _files: Vec<TempFile>,
}

/// A scenario's processes, started and serving, before any session is opened.
#[derive(Debug, Default)]
struct SetUp {
    url: String,
    tool: String,
    echo_prefix: &'static str,
    gateway_pids: Vec<u32>,
    upstream_pids: Vec<u32>,
    balancer_pid: Option<u32>,
    store_pid: Option<u32>,
    /// Stopped in this order (front first).
    processes: Vec<Process>,
    files: Vec<TempFile>,
}

/// The `server.session_secret` of every replica (the sessions are the bench's own, on
/// loopback: it need not be secret, only the same everywhere and at least 32 characters).
const SESSION_SECRET: &str = "toolgate-bench-replicas-session-secret-0123456789";

impl Testbed {
    /// Starts the scenario's processes and opens `concurrency` sessions.
    pub(crate) async fn start(
        scenario: Scenario,
        bins: &Binaries,
        concurrency: u32,
    ) -> anyhow::Result<Self> {
        let set_up = match scenario.scale_out() {
            Some(scale) => SetUp::replicas(scenario, scale, bins).await?,
            None => SetUp::single(scenario, bins).await?,
        };
        let endpoint = Arc::new(Endpoint::parse(&set_up.url)?);
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
            tool: set_up.tool,
            echo_prefix: set_up.echo_prefix,
            gateway_pids: set_up.gateway_pids,
            upstream_pids: set_up.upstream_pids,
            balancer_pid: set_up.balancer_pid,
            store_pid: set_up.store_pid,
            endpoint,
            clients,
            processes: set_up.processes,
            _files: set_up.files,
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
                gateway: (!self.gateway_pids.is_empty())
                    .then(|| cpu_ticks_sum(&self.gateway_pids))
                    .transpose()?,
                upstream: cpu_ticks_sum(&self.upstream_pids)?,
                balancer: self.balancer_pid.map(cpu_ticks).transpose()?,
                store: self.store_pid.map(cpu_ticks).transpose()?,
                bench: cpu_ticks_self()?,
                machine: machine_busy_ticks()?,
            },
            passive_opens: passive_opens()?,
            bench_connects: self.endpoint.connects(),
        })
    }
}

impl SetUp {
    /// `direct`, `gateway-*`, `everything-*`, `baseline-*`: at most one gateway, in front of
    /// one upstream.
    async fn single(scenario: Scenario, bins: &Binaries) -> anyhow::Result<Self> {
        let mut set_up = SetUp::default();
        // The upstream first: on HTTP it is a process of ours, named in the gateway's config.
        let upstream = match scenario {
            Scenario::Direct | Scenario::GatewayHttp | Scenario::BaselineHttp => {
                let (demo, url) = bins.start_demo_http().await?;
                let pid = demo.pid();
                set_up.processes.push(demo);
                UpstreamAt::Http { url, pid }
            }
            Scenario::EverythingDirect | Scenario::GatewayEverything => {
                let (everything, url) = bins.start_everything().await?;
                let pid = everything.pid();
                set_up.processes.push(everything);
                set_up.echo_prefix = "Echo: ";
                UpstreamAt::Http { url, pid }
            }
            Scenario::GatewayStdio | Scenario::BaselineStdio => UpstreamAt::Stdio,
            Scenario::Replicas1
            | Scenario::Replicas2
            | Scenario::Replicas3
            | Scenario::Replicas1Local => {
                anyhow::bail!("{} is set up by SetUp::replicas", scenario.name())
            }
        };
        let server = if scenario.uses_everything() {
            "everything"
        } else {
            "demo"
        };
        match upstream {
            UpstreamAt::Http { url, pid } if !scenario.through_gateway() => {
                set_up.url = url;
                set_up.tool = "echo".to_owned();
                set_up.upstream_pids.push(pid);
            }
            upstream => {
                let entry = match &upstream {
                    UpstreamAt::Http { url, .. } => format!("url: {}", serde_json::to_string(url)?),
                    UpstreamAt::Stdio => format!("command: {}", demo_command(bins)?),
                };
                let file = TempFile::write(
                    &format!("{}.yaml", scenario.name()),
                    &format!("mcp_servers:\n  {server}:\n    {entry}\n"),
                )?;
                let (gateway, url) = bins
                    .start_gateway(Some(file.path()), scenario.uses_baseline())
                    .await?;
                set_up.files.push(file);
                let pid = gateway.pid();
                set_up.processes.push(gateway);
                let upstream_pid = match upstream {
                    UpstreamAt::Http { pid, .. } => pid,
                    UpstreamAt::Stdio => child_pid_named(pid, "demo-server")?,
                };
                set_up.url = url;
                set_up.tool = format!("{server}__echo");
                set_up.gateway_pids.push(pid);
                set_up.upstream_pids.push(upstream_pid);
            }
        }
        Ok(set_up)
    }

    /// `replicas-*`: haproxy in front of `scale.replicas` gateways, each with its own
    /// demo-server on stdio (as `gateway-stdio`) and all with one `server.session_secret`; with
    /// `scale.redis`, one redis-server and a `rate_limit` `store: redis` layer on each gateway
    /// whose one rule (a budget for every request together, far above any rate reached here)
    /// never refuses but costs every request one round trip to Redis.
    async fn replicas(
        scenario: Scenario,
        scale: ScaleOut,
        bins: &Binaries,
    ) -> anyhow::Result<Self> {
        let mut set_up = SetUp::default();
        let mut config = format!(
            "server:\n  session_secret: {}\n",
            serde_json::to_string(SESSION_SECRET)?
        );
        let mut redis = None;
        if scale.redis {
            let (process, url) = bins.start_redis().await?;
            config.push_str(&format!(
                "redis:\n  url: {}\nlayers:\n  - use: rate_limit\n    store: redis\n    rules:\n      - {{rate: 1000000/s}}\n",
                serde_json::to_string(&url)?
            ));
            set_up.store_pid = Some(process.pid());
            redis = Some(process);
        }
        config.push_str(&format!(
            "mcp_servers:\n  demo:\n    command: {}\n",
            demo_command(bins)?
        ));
        let file = TempFile::write(&format!("{}.yaml", scenario.name()), &config)?;
        let mut gateways = Vec::new();
        let mut backends = Vec::new();
        for _ in 0..scale.replicas {
            let (gateway, url) = bins.start_gateway(Some(file.path()), false).await?;
            let pid = gateway.pid();
            gateways.push(gateway);
            set_up.gateway_pids.push(pid);
            set_up
                .upstream_pids
                .push(child_pid_named(pid, "demo-server")?);
            backends.push(Endpoint::parse(&url)?.addr());
        }
        set_up.files.push(file);
        let (haproxy, url, haproxy_config) = bins.start_haproxy(scenario.name(), &backends).await?;
        set_up.balancer_pid = Some(haproxy.pid());
        set_up.files.push(haproxy_config);
        // Stopped front first: haproxy, the gateways, then the Redis they use.
        set_up.processes.push(haproxy);
        set_up.processes.extend(gateways);
        set_up.processes.extend(redis);
        set_up.url = url;
        set_up.tool = "demo__echo".to_owned();
        Ok(set_up)
    }
}

/// The demo-server's path as a YAML (JSON) string, for a gateway's stdio `command:`.
fn demo_command(bins: &Binaries) -> anyhow::Result<String> {
    let command = bins
        .demo_server
        .to_str()
        .with_context(|| format!("{} is not UTF-8", bins.demo_server.display()))?;
    Ok(serde_json::to_string(command)?)
}

/// The CPU clock ticks of `pids` together.
fn cpu_ticks_sum(pids: &[u32]) -> anyhow::Result<u64> {
    pids.iter().map(|&pid| cpu_ticks(pid)).sum()
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
