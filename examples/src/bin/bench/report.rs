//! The report: one table row per scenario, then the gateway/direct ratios.

use crate::cli::Scenario;
use crate::measure::ScenarioResult;

pub(crate) fn print_table(results: &[ScenarioResult]) {
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

pub(crate) fn print_ratios(results: &[ScenarioResult]) {
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
