//! What the slices add up to: calls, latency percentiles, and the CPU time of each side from
//! `/proc` (utime + stime of the gateway — every gateway process of a `replicas-*` scenario
//! together —, the upstream — each replica's demo-server together —, haproxy, redis-server and
//! this process; the machine's busy time), plus the few other things read there (resident
//! memory, a child's pid).

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::cli::Scenario;
use crate::procs::Process;
use crate::testbed::{Testbed, WorkerStats};

/// What one scenario measured, over all of its slices.
#[derive(Debug)]
pub(crate) struct ScenarioResult {
    pub(crate) scenario: Scenario,
    clock_ticks: u64,
    /// Sum of the slices.
    pub(crate) window: Duration,
    /// Nanoseconds, of the calls answered inside the window; sorted by `finish`.
    latencies: Vec<u64>,
    pub(crate) errors: u64,
    pub(crate) sample_errors: Vec<String>,
    /// Stderr of the scenario's processes, kept when some call failed.
    pub(crate) logs: Vec<String>,
    /// CPU clock ticks spent inside the window.
    pub(crate) ticks: CpuTicks,
    /// TCP connections the upstream accepted inside the window.
    upstream_conns: u64,
    /// At the end of the run; of all the scenario's gateway processes together.
    pub(crate) gateway_rss_kib: Option<u64>,
}

/// What is read at each edge of a slice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Edge {
    pub(crate) ticks: CpuTicks,
    /// TCP connections accepted so far in this network namespace, by anyone.
    pub(crate) passive_opens: u64,
    /// TCP connections this process has opened so far to the scenario's endpoint.
    pub(crate) bench_connects: u64,
}

/// CPU clock ticks of each side, and of the whole machine (busy, all CPUs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CpuTicks {
    /// All the scenario's gateway processes (none: `direct`).
    pub(crate) gateway: Option<u64>,
    /// The upstream server, or every replica's demo-server.
    pub(crate) upstream: u64,
    /// haproxy (`replicas-*` only).
    pub(crate) balancer: Option<u64>,
    /// redis-server (`replicas-N` only).
    pub(crate) store: Option<u64>,
    pub(crate) bench: u64,
    pub(crate) machine: u64,
}

impl ScenarioResult {
    pub(crate) fn new(scenario: Scenario, clock_ticks: u64) -> Self {
        ScenarioResult {
            scenario,
            clock_ticks,
            window: Duration::ZERO,
            latencies: Vec::new(),
            errors: 0,
            sample_errors: Vec::new(),
            logs: Vec::new(),
            ticks: CpuTicks::default(),
            upstream_conns: 0,
            gateway_rss_kib: None,
        }
    }

    /// Adds what happened between the edges of a slice that lasted `window`.
    pub(crate) fn add_slice(&mut self, window: Duration, before: &Edge, after: &Edge) {
        self.window += window;
        let (a, b) = (&before.ticks, &after.ticks);
        let t = &mut self.ticks;
        for (sum, a, b) in [
            (&mut t.gateway, a.gateway, b.gateway),
            (&mut t.balancer, a.balancer, b.balancer),
            (&mut t.store, a.store, b.store),
        ] {
            if let (Some(a), Some(b)) = (a, b) {
                *sum.get_or_insert(0) += b.saturating_sub(a);
            }
        }
        t.upstream += b.upstream.saturating_sub(a.upstream);
        t.bench += b.bench.saturating_sub(a.bench);
        t.machine += b.machine.saturating_sub(a.machine);
        // Every connection accepted in the namespace is the upstream's, except the ones this
        // process opened to a gateway (normally none: the workers' connections are opened
        // before the first slice and kept; a failed call reopens one). Behind haproxy the
        // upstreams are on stdio: what is left is the connections haproxy opened to the
        // gateways and any a gateway opened to Redis.
        let accepted = after.passive_opens.saturating_sub(before.passive_opens);
        let to_gateway = if self.scenario.through_gateway() {
            after.bench_connects.saturating_sub(before.bench_connects)
        } else {
            0
        };
        self.upstream_conns += accepted.saturating_sub(to_gateway);
    }

    pub(crate) fn add(&mut self, stats: WorkerStats) {
        self.latencies.extend(stats.latencies);
        self.errors += stats.errors;
        for e in stats.sample_errors {
            if self.sample_errors.len() < 5 {
                self.sample_errors.push(e);
            }
        }
    }

    /// Sorts the latencies and reads what only the live processes can tell.
    pub(crate) fn finish(&mut self, testbed: &Testbed) -> anyhow::Result<()> {
        self.latencies.sort_unstable();
        self.gateway_rss_kib = if testbed.gateway_pids.is_empty() {
            None
        } else {
            let pids = testbed.gateway_pids.iter();
            Some(pids.map(|&p| vm_rss_kib(p)).sum::<anyhow::Result<u64>>()?)
        };
        if self.errors > 0 {
            // What the servers said may explain the errors.
            self.logs = testbed.processes.iter().map(Process::describe).collect();
        }
        Ok(())
    }

    pub(crate) fn calls(&self) -> u64 {
        self.latencies.len() as u64
    }
    pub(crate) fn calls_per_second(&self) -> Option<f64> {
        (!self.window.is_zero()).then(|| self.calls() as f64 / self.window.as_secs_f64())
    }
    pub(crate) fn percentile_us(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies, p).map(|ns| ns as f64 / 1000.0)
    }
    /// CPU microseconds per call answered in the window.
    pub(crate) fn per_call_us(&self, ticks: u64) -> Option<f64> {
        (self.calls() > 0)
            .then(|| ticks as f64 / self.clock_ticks as f64 * 1e6 / self.calls() as f64)
    }
    /// TCP connections the upstream accepted per 1,000 calls answered in the window.
    pub(crate) fn conns_per_1k_calls(&self) -> Option<f64> {
        (self.calls() > 0).then(|| self.upstream_conns as f64 * 1000.0 / self.calls() as f64)
    }
    /// Share of the machine's CPU capacity that other processes (and steal) used in the window.
    pub(crate) fn others_share(&self) -> Option<f64> {
        let cpus = std::thread::available_parallelism().ok()?.get() as f64;
        let capacity = self.window.as_secs_f64() * cpus * self.clock_ticks as f64;
        let t = &self.ticks;
        let ours = t.gateway.unwrap_or(0)
            + t.upstream
            + t.balancer.unwrap_or(0)
            + t.store.unwrap_or(0)
            + t.bench;
        (capacity > 0.0).then(|| t.machine.saturating_sub(ours) as f64 / capacity)
    }
}

/// Nearest-rank percentile of sorted samples.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}
// ---------------------------------------------------------------------------------------------
// /proc

/// Clock ticks per second of `/proc/<pid>/stat` times. The workspace forbids the unsafe
/// `sysconf` call, so ask `getconf`; Linux has used 100 (USER_HZ) everywhere for decades.
pub(crate) fn clock_ticks_per_second() -> u64 {
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
pub(crate) fn stat_fields(stat: &str) -> anyhow::Result<(&str, Vec<&str>)> {
    let open = stat.find('(').context("no '(' in stat")?;
    let close = stat.rfind(')').context("no ')' in stat")?;
    let comm = stat.get(open + 1..close).context("bad comm in stat")?;
    let rest = stat
        .get(close + 1..)
        .context("nothing after comm in stat")?;
    Ok((comm, rest.split_whitespace().collect()))
}

pub(crate) fn cpu_ticks_in(path: &str) -> anyhow::Result<u64> {
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

pub(crate) fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    cpu_ticks_in(&format!("/proc/{pid}/stat"))
}

pub(crate) fn cpu_ticks_self() -> anyhow::Result<u64> {
    cpu_ticks_in("/proc/self/stat")
}

/// Busy time of all CPUs (everything but idle and iowait) from `/proc/stat`.
pub(crate) fn machine_busy_ticks() -> anyhow::Result<u64> {
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

/// TCP connections accepted so far in this network namespace: `Tcp: PassiveOpens` of
/// `/proc/net/snmp` (the namespace of the reading process).
pub(crate) fn passive_opens() -> anyhow::Result<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").context("reading /proc/net/snmp")?;
    snmp_counter(&snmp, "Tcp", "PassiveOpens").context("/proc/net/snmp: no Tcp PassiveOpens")
}

/// A counter of `/proc/net/snmp`: each protocol has a line of names, then a line of values.
fn snmp_counter(snmp: &str, protocol: &str, name: &str) -> Option<u64> {
    let mut lines = snmp
        .lines()
        .filter_map(|l| l.strip_prefix(protocol)?.strip_prefix(':'));
    let (names, values) = (lines.next()?, lines.next()?);
    let index = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(index)?.parse().ok()
}

pub(crate) fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
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
pub(crate) fn child_pid_named(parent: u32, name: &str) -> anyhow::Result<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn snmp_counters_are_found_by_protocol_and_name() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens\n\
                    Tcp: 1 200 120000 -1 26266 25001\n\
                    Udp: InDatagrams\nUdp: 7\n";
        assert_eq!(snmp_counter(snmp, "Tcp", "PassiveOpens"), Some(25001));
        assert_eq!(snmp_counter(snmp, "Tcp", "ActiveOpens"), Some(26266));
        assert_eq!(snmp_counter(snmp, "Udp", "PassiveOpens"), None);
        assert_eq!(snmp_counter(snmp, "Icmp", "InMsgs"), None);
    }

    #[test]
    fn this_namespace_has_a_passive_opens_counter() {
        passive_opens().expect("/proc/net/snmp has Tcp PassiveOpens");
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
