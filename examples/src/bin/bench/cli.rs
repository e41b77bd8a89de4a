//! The command line: which scenarios to run, for how long, at what concurrency, and where the
//! binaries are.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Load generator: toolgate against a direct MCP server"
)]
pub(crate) struct Cli {
    /// Concurrent workers, each with its own MCP session and connection.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) concurrency: u32,
    /// Measured time per scenario, over all rounds (`10s`, `500ms`, `1m`; a bare number is
    /// seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    /// Load before a scenario's first slice of the window, not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) warmup: Duration,
    /// Slices the window is cut into; the scenarios take turns, one slice each per round.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,
    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "direct,gateway-http,gateway-stdio"
    )]
    pub(crate) scenarios: Vec<Scenario>,
    /// Where `toolgate` and `demo-server` are (default: this executable's directory).
    #[arg(long)]
    pub(crate) bin_dir: Option<PathBuf>,
    /// Threads of the load generator's runtime (1 = a current-thread runtime).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) client_threads: u32,
    /// Skip the idle-RSS measurement of the default gateway.
    #[arg(long)]
    pub(crate) no_idle_rss: bool,
    /// `dist/index.js` of `@modelcontextprotocol/server-everything`, for the `everything-*`
    /// scenarios (default: where `tests/interop/install.sh` puts it, in the workspace of this
    /// executable or of the current directory).
    #[arg(long, value_name = "PATH")]
    pub(crate) everything: Option<PathBuf>,
    /// The node executable that runs server-everything.
    #[arg(long, value_name = "PATH", default_value = "node")]
    pub(crate) node: PathBuf,
    /// Another toolgate binary (an earlier build, say) for the `baseline-http` and
    /// `baseline-stdio` scenarios: the same set-ups as `gateway-http` and `gateway-stdio`,
    /// measured in the same run for a before/after comparison.
    #[arg(long, value_name = "PATH")]
    pub(crate) baseline_toolgate: Option<PathBuf>,
    /// Stay in the current network namespace instead of a private one (then `conns/1k` also
    /// counts every other process's TCP connections).
    #[arg(long)]
    pub(crate) shared_netns: bool,
    /// The haproxy executable of the `replicas-*` scenarios (default: `haproxy` on the PATH,
    /// else /usr/sbin/haproxy or /usr/local/sbin/haproxy).
    #[arg(long, value_name = "PATH")]
    pub(crate) haproxy: Option<PathBuf>,
    /// The redis-server executable of the `replicas-N` scenarios (default: `redis-server` on
    /// the PATH, else /usr/bin/redis-server or /usr/local/bin/redis-server).
    #[arg(long, value_name = "PATH")]
    pub(crate) redis_server: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    Direct,
    GatewayHttp,
    GatewayStdio,
    EverythingDirect,
    GatewayEverything,
    BaselineHttp,
    BaselineStdio,
    #[value(name = "replicas-1")]
    Replicas1,
    #[value(name = "replicas-2")]
    Replicas2,
    #[value(name = "replicas-3")]
    Replicas3,
    #[value(name = "replicas-1-local")]
    Replicas1Local,
}

/// The set-up of a `replicas-*` scenario: `replicas` gateways (each with its own demo-server
/// on stdio, all with one `server.session_secret`) behind one haproxy, and with `redis` one
/// redis-server they all keep a `rate_limit` budget in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ScaleOut {
    pub(crate) replicas: u32,
    pub(crate) redis: bool,
}

impl Scenario {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Direct => "direct",
            Scenario::GatewayHttp => "gateway-http",
            Scenario::GatewayStdio => "gateway-stdio",
            Scenario::EverythingDirect => "everything-direct",
            Scenario::GatewayEverything => "gateway-everything",
            Scenario::BaselineHttp => "baseline-http",
            Scenario::BaselineStdio => "baseline-stdio",
            Scenario::Replicas1 => "replicas-1",
            Scenario::Replicas2 => "replicas-2",
            Scenario::Replicas3 => "replicas-3",
            Scenario::Replicas1Local => "replicas-1-local",
        }
    }

    /// Its replicas behind haproxy, if it is a `replicas-*` scenario.
    pub(crate) fn scale_out(self) -> Option<ScaleOut> {
        let (replicas, redis) = match self {
            Scenario::Replicas1 => (1, true),
            Scenario::Replicas2 => (2, true),
            Scenario::Replicas3 => (3, true),
            Scenario::Replicas1Local => (1, false),
            _ => return None,
        };
        Some(ScaleOut { replicas, redis })
    }

    /// Whether its upstream is server-everything (on node).
    pub(crate) fn uses_everything(self) -> bool {
        matches!(
            self,
            Scenario::EverythingDirect | Scenario::GatewayEverything
        )
    }

    /// Whether its gateway is the `--baseline-toolgate` binary.
    pub(crate) fn uses_baseline(self) -> bool {
        matches!(self, Scenario::BaselineHttp | Scenario::BaselineStdio)
    }

    /// Whether the bench's calls go through a gateway.
    pub(crate) fn through_gateway(self) -> bool {
        self.direct_counterpart().is_some()
    }

    /// The scenario this one's ratios are taken against, if this one has a gateway: the same
    /// upstream reached without the gateway — except for the `replicas-*` scenarios, whose
    /// question is what haproxy, more replicas and Redis change against one gateway reached
    /// directly, so theirs is `gateway-stdio` (the same gateway set-up, demo-server on stdio,
    /// without haproxy, `session_secret` or Redis). The report has no targets for that ratio.
    pub(crate) fn direct_counterpart(self) -> Option<Scenario> {
        match self {
            Scenario::Direct | Scenario::EverythingDirect => None,
            Scenario::GatewayHttp
            | Scenario::GatewayStdio
            | Scenario::BaselineHttp
            | Scenario::BaselineStdio => Some(Scenario::Direct),
            Scenario::GatewayEverything => Some(Scenario::EverythingDirect),
            Scenario::Replicas1
            | Scenario::Replicas2
            | Scenario::Replicas3
            | Scenario::Replicas1Local => Some(Scenario::GatewayStdio),
        }
    }
}

/// A duration written as in config files (`10s`, `500ms`, `1m`, `2`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    (text.parse::<toolgate::config::Duration>())
        .map(Duration::from)
        .map_err(|e| e.to_string())
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
    fn scenario_names_are_their_command_line_values() {
        for scenario in Scenario::value_variants() {
            let value = scenario.to_possible_value().expect("no variant is skipped");
            assert_eq!(value.get_name(), scenario.name());
        }
    }

    #[test]
    fn replica_scenarios_parse_and_say_their_set_up() {
        let cli = Cli::try_parse_from([
            "bench",
            "--scenarios",
            "replicas-1-local,replicas-1,replicas-2,replicas-3",
        ])
        .expect("the replica scenarios parse");
        let set_ups: Vec<_> = cli.scenarios.iter().map(|s| s.scale_out()).collect();
        let scale = |replicas, redis| Some(ScaleOut { replicas, redis });
        assert_eq!(
            set_ups,
            [
                scale(1, false),
                scale(1, true),
                scale(2, true),
                scale(3, true)
            ]
        );
        assert!(cli.scenarios.iter().all(|s| s.through_gateway()));
        assert_eq!(Scenario::GatewayStdio.scale_out(), None);
    }

    #[test]
    fn the_default_scenarios_leave_out_server_everything() {
        let cli = Cli::try_parse_from(["bench"]).expect("the defaults parse");
        assert_eq!(
            cli.scenarios,
            [
                Scenario::Direct,
                Scenario::GatewayHttp,
                Scenario::GatewayStdio
            ]
        );
    }
}
