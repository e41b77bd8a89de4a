//! `toolgate-test-plugin`: a plugin whose behaviour on `tools/call` is chosen by its config, for
//! the gateway's end-to-end tests of failures: a hook that panics, one that takes its time, and
//! the decisions `respond` and `reject`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use toolgate_plugin_sdk::serde_json::{Value, json};
use toolgate_plugin_sdk::{Decision, Interests, Plugin, Request, RpcError, export_plugin};

/// What `on_request` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Nothing.
    Pass,
    /// Panics.
    Panic,
    /// Sleeps `sleep_ms`, then continues; the result's `_meta` reports how many hooks were
    /// sleeping at once at most.
    Sleep,
    /// Answers `{"content": [{"type": "text", "text": "answered by the plugin"}]}`.
    Respond,
    /// Rejects with -32600.
    Reject,
}

/// The plugin's settings.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What to do.
    pub mode: Mode,
    /// Milliseconds to sleep in `sleep` mode.
    #[serde(default = "default_sleep")]
    pub sleep_ms: u64,
    /// Act only on calls whose params contain this text (anywhere); others pass.
    #[serde(default)]
    pub when: Option<String>,
}

fn default_sleep() -> u64 {
    100
}

/// The configurable test plugin.
#[derive(Debug)]
pub struct TestPlugin {
    config: Config,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The `_meta` key under which `sleep` mode reports the most hooks asleep at once.
pub const MAX_IN_FLIGHT_KEY: &str = "toolgate-test-plugin/maxInFlight";

impl TestPlugin {
    fn applies(&self, request: &Request) -> bool {
        match &self.config.when {
            None => true,
            Some(text) => request.params.to_string().contains(text.as_str()),
        }
    }
}

impl Plugin for TestPlugin {
    const NAME: &'static str = "test-plugin";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(TestPlugin {
            config,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        })
    }

    fn interests(&self) -> Interests {
        Interests::none()
            .methods(["tools/call"])
            .requests()
            .responses()
    }

    fn on_request(&self, request: &Request) -> Decision {
        if !self.applies(request) {
            return Decision::Continue;
        }
        match self.config.mode {
            Mode::Pass => Decision::Continue,
            Mode::Panic => panic!("test-plugin panics as configured"),
            Mode::Sleep => {
                let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.max_in_flight.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(self.config.sleep_ms));
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                Decision::Continue
            }
            Mode::Respond => Decision::Respond(json!({
                "content": [{"type": "text", "text": "answered by the plugin"}]
            })),
            Mode::Reject => Decision::Reject(RpcError::invalid_request("rejected by test-plugin")),
        }
    }

    fn on_response(&self, request: &Request, result: &Value) -> Decision {
        if self.config.mode != Mode::Sleep || !self.applies(request) {
            return Decision::Continue;
        }
        let mut result = result.clone();
        if let Some(obj) = result.as_object_mut() {
            let max = self.max_in_flight.load(Ordering::SeqCst);
            obj.insert("_meta".into(), json!({ MAX_IN_FLIGHT_KEY: max }));
        }
        Decision::ContinueWith(result)
    }
}

export_plugin!(TestPlugin);
