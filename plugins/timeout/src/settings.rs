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

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `use: timeout`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Deadline of every request through the layer; without it, only servers and tools listed
    /// below get one (and `server.request_timeout` bounds the rest).
    #[serde(default, deserialize_with = "positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub timeout: Option<Duration>,
    /// When set, each progress notification restarts `timeout`, but the request never runs
    /// longer than this in all. Without it progress does not extend the deadline.
    #[serde(default, deserialize_with = "positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
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
    #[serde(default, deserialize_with = "positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub timeout: Option<Duration>,
    /// Progress extends the deadline up to this, in all.
    #[serde(default, deserialize_with = "positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
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
    #[serde(default, deserialize_with = "positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub timeout: Option<Duration>,
    /// Progress extends the deadline up to this, in all.
    #[serde(default, deserialize_with = "positive")]
    #[schemars(with = "Option<toolgate::config::Duration>")]
    pub max_total_timeout: Option<Duration>,
}

/// A deadline: a config duration (`30`, `"30s"`, `"1h30m"`, `"500ms"`), longer than zero.
fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<toolgate::config::Duration>::deserialize(d)?
        .map(|d| d.positive().map_err(serde::de::Error::custom))
        .transpose()
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
