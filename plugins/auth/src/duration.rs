//! Durations in layer settings: whole seconds, or strings such as `30s`, `5m`, `1h30m`,
//! `500ms`, parsed by the config loader's own `toolgate::config::parse_duration`.

use std::borrow::Cow;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// A duration read from a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        let parsed = match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => toolgate::config::parse_duration(&t),
        };
        parsed.map(ConfigDuration).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ConfigDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Whole seconds, or a string such as \"30s\", \"5m\", \"1h\", \"1h30m\" or \"500ms\".",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_unit_strings_parse() {
        let d = |v: serde_json::Value| serde_json::from_value::<ConfigDuration>(v).map(|d| d.0);
        assert_eq!(d(serde_json::json!(30)).ok(), Some(Duration::from_secs(30)));
        assert_eq!(
            d(serde_json::json!("1h30m")).ok(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            d(serde_json::json!("500ms")).ok(),
            Some(Duration::from_millis(500))
        );
        assert!(d(serde_json::json!("5 minutes")).is_err());
        assert!(d(serde_json::json!("")).is_err());
    }
}
