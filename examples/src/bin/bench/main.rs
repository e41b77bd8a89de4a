//! `bench`: toolgate's load generator. It measures what the gateway costs in front of an MCP
//! server, against the same server reached directly.
//!
//! ```text
//! bench [--concurrency 32] [--duration 10s] [--warmup 2s] [--rounds 5]
//!       [--scenarios direct,gateway-http,gateway-stdio] [--bin-dir DIR] [--client-threads 1]
//!       [--haproxy PATH] [--redis-server PATH]
//! ```
//!
//! In one run it starts every scenario's processes itself (from `--bin-dir`, by default the
//! directory of this executable), all on 127.0.0.1:
//!
//! | scenario           | path of a call                                                  |
//! | :-                 | :-                                                              |
//! | `direct`           | bench → demo-server (Streamable HTTP)                           |
//! | `gateway-http`     | bench → toolgate → demo-server (Streamable HTTP on both hops)   |
//! | `gateway-stdio`    | bench → toolgate (Streamable HTTP) → demo-server child (stdio)  |
//! | `replicas-N`       | bench → haproxy → one of N toolgates → its demo-server (stdio); the toolgates share one redis-server (N = 1, 2, 3) |
//! | `replicas-1-local` | bench → haproxy → toolgate → demo-server child (stdio), no Redis |
//!
//! The `replicas-*` scenarios (not in the default set) measure scale-out. haproxy (`mode http`,
//! `balance roundrobin`, no stickiness and no health checks, keep-alive to the client and to
//! the gateways, `timeout connect 1s`, `timeout client`/`server` 60s) sends each request to the
//! next gateway, so one worker's calls go round all of them in its one session: every gateway
//! has the same `server.session_secret`, so each serves a session another opened. In
//! `replicas-N` each gateway also has the top-level `redis:` section (the scenario's own
//! redis-server, `--save "" --appendonly no` on a free loopback port) and a `rate_limit` layer
//! with `store: redis` and one rule, `1000000/s` for all requests together: it never refuses
//! here, but every request costs one atomic round trip to Redis. `replicas-1-local` is
//! `replicas-1` without Redis and the layer, so that the two, in one run, give the cost of that
//! round trip. Their ratios are against `gateway-stdio` (one gateway, no haproxy, no secret,
//! no Redis), when it is in the run: what haproxy, more replicas and Redis change, not what the
//! gateway costs (that ratio has no target).
//!
//! Load starts once the gateway's `/readyz` answers 200 and lists the upstream's tools (behind
//! haproxy: every gateway's, then once more through haproxy).
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
//! each slice and divided by those calls, gives the CPU cost of one call on each side. In the
//! `replicas-*` scenarios the gateway side (`gw`) is all N toolgate processes together and the
//! upstream side (`up`) all N demo-servers together; haproxy (`lb`) and redis-server (`kv`)
//! have their own columns, so a replica scenario's whole server-side cost per call is
//! gw + up + lb + kv (the bench's own `bn` apart). The machine's busy time (`/proc/stat`)
//! minus all of those shows how much other tenants took.
//!
//! The table is followed by the gateway/direct ratios (replicas/`gateway-stdio`) and by the
//! resident memory (`VmRSS`) of an idle gateway in its default configuration (demo-server on
//! stdio), read once `/readyz` answers 200 and the gateway has been left alone for a second.
//!
//! Children are stopped (SIGTERM, then SIGKILL) at the end, on error, on ctrl-c and on SIGTERM.
//!
//! The modules: [`cli`] the options, [`procs`] the child processes, [`client`] the MCP client
//! and its answer checks, [`testbed`] one scenario's processes and sessions and a slice of load
//! through them, [`measure`] what the slices add up to (CPU from `/proc`, percentiles),
//! [`report`] the table and the ratios.

mod cli;
mod client;
mod measure;
mod netns;
mod procs;
mod report;
mod testbed;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;

use crate::cli::Cli;
use crate::measure::{ScenarioResult, clock_ticks_per_second};
use crate::netns::Namespace;
use crate::procs::{Binaries, idle_gateway_rss};
use crate::report::{print_ratios, print_table};
use crate::testbed::Testbed;

/// Load before each later slice of a scenario, not counted: the previous scenario's processes
/// go idle and this one's caches refill.
const SETTLE: Duration = Duration::from_millis(200);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread or child exists: this may re-execute the process.
    let namespace = match netns::isolate(cli.shared_netns) {
        Ok(namespace) => namespace,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Namespace::Shared(why) = &namespace
        && !cli.shared_netns
    {
        eprintln!(
            "bench: no private network namespace ({why}); conns/1k counts every process's TCP connections"
        );
    }
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
            r = run(cli, namespace) => r,
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
async fn run(cli: Cli, namespace: Namespace) -> anyhow::Result<bool> {
    let bins = Binaries::locate(&cli)?;
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
    print_table(&results, &namespace);
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
