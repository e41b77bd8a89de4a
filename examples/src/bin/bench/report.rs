//! The report: one table row per scenario, then each gateway scenario against the same upstream
//! reached directly (a `replicas-*` scenario against `gateway-stdio`).

use crate::measure::ScenarioResult;
use crate::netns::Namespace;

/// The scenario column is at least this wide (the width of the default scenarios' table).
const NAME_WIDTH: usize = 14;

pub(crate) fn print_table(results: &[ScenarioResult], namespace: &Namespace) {
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let w = name_width(results);
    println!();
    println!(
        "{:<w$} {:>9} {:>10} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>7} {:>8}",
        "scenario",
        "calls",
        "calls/s",
        "p50 µs",
        "p99 µs",
        "errors",
        "gw µs/call",
        "up µs/call",
        "lb µs/call",
        "kv µs/call",
        "bn µs/call",
        "gw RSS",
        "others",
        "conns/1k",
    );
    for r in results {
        println!(
            "{:<w$} {:>9} {:>10} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>7} {:>8}",
            r.scenario.name(),
            r.calls(),
            r.calls_per_second()
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}")),
            us(r.percentile_us(50.0)),
            us(r.percentile_us(99.0)),
            r.errors,
            us(r.ticks.gateway.and_then(|t| r.per_call_us(t))),
            us(r.per_call_us(r.ticks.upstream)),
            us(r.ticks.balancer.and_then(|t| r.per_call_us(t))),
            us(r.ticks.store.and_then(|t| r.per_call_us(t))),
            us(r.per_call_us(r.ticks.bench)),
            r.gateway_rss_kib
                .map_or_else(|| "-".to_owned(), |k| format!("{:.1}M", k as f64 / 1024.0)),
            r.others_share()
                .map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            us(r.conns_per_1k_calls()),
        );
    }
    let counted_in = match namespace {
        Namespace::Private => "this run's private network namespace".to_owned(),
        Namespace::Shared(why) => format!(
            "the shared network namespace ({why}), so other processes' connections count too"
        ),
    };
    println!(
        "(µs/call = CPU time of the gateway (gw), the upstream server (up), haproxy (lb), redis-server (kv)\n and this load generator (bn) over the window, divided by the calls answered in it; for replicas-N,\n gw and up are the N gateways and their N demo-servers together; gw RSS = gateway VmRSS at the end\n of the run (replicas: all of them together); others = CPU used by every other process on the\n machine (and steal), as a share of all CPUs; conns/1k = TCP connections the upstream accepted per\n 1,000 calls answered (replicas: that haproxy opened to the gateways), counted by the kernel\n in {counted_in})"
    );
}

pub(crate) fn print_ratios(results: &[ScenarioResult]) {
    let w = name_width(results);
    let mut first = true;
    for r in results {
        let Some(counterpart) = r.scenario.direct_counterpart() else {
            continue;
        };
        let Some(direct) = results.iter().find(|d| d.scenario == counterpart) else {
            continue;
        };
        if std::mem::take(&mut first) {
            println!();
        }
        let ratio = match (r.calls_per_second(), direct.calls_per_second()) {
            (Some(g), Some(d)) if d > 0.0 => format!("{:.2}x", g / d),
            _ => "-".to_owned(),
        };
        let added = match (r.percentile_us(50.0), direct.percentile_us(50.0)) {
            (Some(g), Some(d)) => format!("{:+.1} µs", g - d),
            _ => "-".to_owned(),
        };
        if counterpart.through_gateway() {
            // Replicas behind haproxy against one gateway reached directly: no targets.
            println!(
                "{:<w$} throughput {ratio} {}; added p50 {added}",
                r.scenario.name(),
                counterpart.name(),
            );
            continue;
        }
        let (throughput_target, latency_target) = if r.scenario.uses_everything() {
            // Issue 16's targets for a Node upstream that answers SSE-framed.
            ("0.70x at concurrency 1", "300 µs at concurrency 1")
        } else {
            ("0.70x at concurrency 32", "50 µs at concurrency 1")
        };
        println!(
            "{:<w$} throughput {ratio} {} (target >= {throughput_target}); added p50 {added} (target <= {latency_target})",
            r.scenario.name(),
            counterpart.name(),
        );
    }
}

/// Wide enough for every scenario's name.
fn name_width(results: &[ScenarioResult]) -> usize {
    results
        .iter()
        .map(|r| r.scenario.name().len())
        .fold(NAME_WIDTH, usize::max)
}
