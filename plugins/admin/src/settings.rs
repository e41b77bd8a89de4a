//! `use: admin` settings as written in the config file.

use schemars::JsonSchema;
use serde::Deserialize;

/// `use: admin`: who may see the admin page besides loopback callers without authentication.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Identity subjects (API key `name`, token `sub`) allowed to see the page and its API.
    #[serde(default)]
    pub callers: Vec<String>,
}
