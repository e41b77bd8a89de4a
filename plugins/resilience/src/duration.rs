//! Durations in settings, written as everywhere else in the config.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A config duration (`30`, `"30s"`, `"500ms"`), longer than zero.
pub(crate) fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<toolgate::config::Duration>::deserialize(d)?
        .map(|d| d.positive().map_err(serde::de::Error::custom))
        .transpose()
}
