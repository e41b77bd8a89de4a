//! An example toolgate plugin: tags the text a tool returns, and refuses tools on a deny list.
use toolgate_plugin_sdk::serde_json::Value;
use toolgate_plugin_sdk::{Decision, Interests, Plugin, Request, RpcError, export_plugin};

/// The plugin's settings: the `config:` map of its `layers:` entry.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Put in front of every text a tool returns.
    tag: String,
    /// Exposed tool names (`server__tool`) that may not be called.
    #[serde(default)]
    deny: Vec<String>,
}

/// The plugin: its settings are its state.
struct Tagger(Config);

impl Plugin for Tagger {
    const NAME: &'static str = "tagger";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.tag.is_empty() {
            return Err("tag must not be empty".into());
        }
        Ok(Tagger(config))
    }

    fn interests(&self) -> Interests {
        Interests::none()
            .methods(["tools/call"])
            .requests()
            .responses()
    }

    fn on_request(&self, request: &Request) -> Decision {
        match request.tool_name() {
            Some(name) if self.0.deny.iter().any(|d| d == name) => Decision::Reject(
                RpcError::invalid_params(format!("{name} is not allowed here")),
            ),
            _ => Decision::Continue,
        }
    }

    fn on_response(&self, _request: &Request, result: &Value) -> Decision {
        let mut result = result.clone();
        let items = result.get_mut("content").and_then(Value::as_array_mut);
        for item in items.into_iter().flatten() {
            if let Some(Value::String(text)) = item.get_mut("text") {
                *text = format!("{} {text}", self.0.tag);
            }
        }
        Decision::ContinueWith(result)
    }
}

export_plugin!(Tagger);
