//! The settings of `use: timeout`, as config files write them.
//!
//! ```yaml
//! layers:
//!   - use: timeout
//!     timeout: 30s                  # every request through the layer
//!     servers:
//!       demo:
//!         timeout: 10s              # requests for this server
//!         max_total_timeout: 2m     # progress pushes the deadline on, up to 2 minutes in all
//!         tools:
//!           sleep: {timeout: 1s, max_total_timeout: 3s}
//! ```
//!
//! Each level falls back to the one around it key by key: a tool without `max_total_timeout`
//! takes its server's, a server without `timeout` the top level's.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `use: timeout`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Deadline of every request through the layer; without it, only servers and tools listed
    /// below get one (and `server.request_timeout` bounds the rest).
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(with = "Option<DurationSchema>")]
    pub timeout: Option<Duration>,
    /// When set, each progress notification restarts `timeout`, but the request never runs
    /// longer than this in all. Without it progress does not extend the deadline.
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(with = "Option<DurationSchema>")]
    pub max_total_timeout: Option<Duration>,
    /// Per upstream server (by its name in `mcp_servers`).
    #[serde(default)]
    pub servers: BTreeMap<String, ServerTimeouts>,
}

/// Deadlines of one upstream server.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerTimeouts {
    /// Deadline of every request for this server.
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(with = "Option<DurationSchema>")]
    pub timeout: Option<Duration>,
    /// Progress extends the deadline up to this, in all.
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(with = "Option<DurationSchema>")]
    pub max_total_timeout: Option<Duration>,
    /// Per tool, by the server's own name for it (without the prefix).
    #[serde(default)]
    pub tools: BTreeMap<String, ToolTimeouts>,
}

/// Deadlines of one tool.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolTimeouts {
    /// Deadline of a call of this tool.
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(with = "Option<DurationSchema>")]
    pub timeout: Option<Duration>,
    /// Progress extends the deadline up to this, in all.
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(with = "Option<DurationSchema>")]
    pub max_total_timeout: Option<Duration>,
}

/// A duration as the config file writes it: seconds, or `"30s"`, `"5m"`, `"1h30m"`, `"500ms"`.
fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw<'a> {
        Seconds(u64),
        #[serde(borrow)]
        Text(Cow<'a, str>),
    }
    let help =
        "expected a number of seconds, or a string such as \"30s\", \"5m\", \"1h30m\" or \"500ms\"";
    match Option::<Raw<'de>>::deserialize(d)
        .map_err(|_| serde::de::Error::custom(format!("invalid duration: {help}")))?
    {
        None => Ok(None),
        Some(Raw::Seconds(0)) => Err(serde::de::Error::custom(format!(
            "the duration must be greater than zero ({help})"
        ))),
        Some(Raw::Seconds(s)) => Ok(Some(Duration::from_secs(s))),
        Some(Raw::Text(t)) => toolgate::config::parse_duration(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// JSON Schema of a config duration.
struct DurationSchema;

impl schemars::JsonSchema for DurationSchema {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Whole seconds, or a string such as \"30s\", \"5m\", \"1h30m\", \"500ms\".",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^\\s*([0-9]+(ms|s|m|h))+\\s*$|^\\s*[0-9]+\\s*$"}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_like_everywhere_else_in_the_config() {
        let s: TimeoutSettings = serde_json::from_value(serde_json::json!({
            "timeout": 30,
            "servers": {"demo": {"timeout": "1m30s", "tools": {"sleep": {"timeout": "500ms", "max_total_timeout": "3s"}}}}
        }))
        .expect("parses");
        assert_eq!(s.timeout, Some(Duration::from_secs(30)));
        assert_eq!(s.servers["demo"].timeout, Some(Duration::from_secs(90)));
        let tool = &s.servers["demo"].tools["sleep"];
        assert_eq!(tool.timeout, Some(Duration::from_millis(500)));
        assert_eq!(tool.max_total_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn bad_durations_and_keys_say_what_to_write() {
        for bad in [
            serde_json::json!("soon"),
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!("0s"),
        ] {
            let e = serde_json::from_value::<TimeoutSettings>(serde_json::json!({"timeout": bad}))
                .expect_err("bad duration");
            assert!(e.to_string().contains("30s"), "{bad}: {e}");
        }
        let e = serde_json::from_value::<TimeoutSettings>(
            serde_json::json!({"servers": {"a": {"timout": 1}}}),
        )
        .expect_err("typo");
        assert!(e.to_string().contains("timout"), "{e}");
    }
}
