//! The settings of `use: auth` and `use: authorize` in a config file, and how they become an
//! [`Auth`] and a [`Rules`] policy.
//!
//! Every type derives `Deserialize` (unknown keys are errors) and `JsonSchema`; errors name the
//! key path (`api_keys[1].sha256: …`) and say what to write instead.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::authn::jwt::{DEFAULT_JWKS_REFRESH, DEFAULT_LEEWAY};
use crate::authn::{ApiKeys, Auth, JwtVerifier, ProtectedResourceMetadata};
use crate::authz::{Matcher, Rule, Rules};

/// A setting that cannot work: says which key and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }
    /// The same error with `prefix` (a key path and `: `, or `.`) in front.
    #[must_use]
    pub fn prefixed(self, prefix: &str) -> Self {
        ConfigError {
            message: format!("{prefix}{}", self.message),
        }
    }
}

/// Parses settings, naming the key path of the first problem.
pub fn parse<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ConfigError::new(inner.to_string())
        } else {
            ConfigError::new(format!("{path}: {inner}"))
        }
    })
}

/// `use: auth`: who may call the gateway at all (HTTP plane).
///
/// ```yaml
/// - use: auth
///   api_keys:
///     - {name: team-a, key: "${TEAM_A_KEY}", servers: [demo]}
///     - {name: ops, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
///     - {name: ci, env: CI_GATEWAY_KEY}
///   jwt: {issuer: "https://issuer.example", audience: toolgate, jwks_file: ./jwks.json}
///   resource_metadata: {resource: "http://127.0.0.1:4000/mcp"}
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// API keys, sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// JWT bearer tokens.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Serve the OAuth protected-resource metadata (RFC 9728) and point 401 answers at it.
    #[serde(default)]
    pub resource_metadata: Option<ProtectedResourceMetadata>,
    /// The realm in `WWW-Authenticate` (default `toolgate`).
    #[serde(default)]
    pub realm: Option<String>,
}

/// One API key. Give exactly one of `key`, `sha256` or `env`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key's name: the caller's identity (`match: {key: NAME}` in `authorize`).
    pub name: String,
    /// The key itself (use `${VAR}` to keep it out of the file).
    #[serde(default)]
    pub key: Option<String>,
    /// The SHA-256 of the key, 64 hex digits (`printf %s KEY | sha256sum`).
    #[serde(default)]
    pub sha256: Option<String>,
    /// The environment variable holding the key, read at start-up.
    #[serde(default)]
    pub env: Option<String>,
    /// Only these servers (globs of configured server names) for this key.
    #[serde(default)]
    pub servers: Option<Vec<String>>,
    /// Only these tools (globs of exposed names, `server__tool`) for this key.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
}

/// One string or a list of strings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// JWT bearer tokens: `exp`, `nbf`, `iss` and `aud` are checked. Give at least one of
/// `jwks_file`, `jwks_url`, `hs256_secret`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted issuer(s) (`iss`).
    pub issuer: OneOrMany,
    /// Accepted audience(s) (`aud`): this gateway's name or resource URL.
    pub audience: OneOrMany,
    /// A JWKS document with the RS256/ES256 public keys (relative to the working directory).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// An `https://` (or `http://`) URL publishing the JWKS, fetched at start-up and every
    /// `jwks_refresh`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// PEM file of CA certificates trusted for `jwks_url` beside the system's (a private CA).
    #[serde(default)]
    pub jwks_ca_file: Option<PathBuf>,
    /// How often `jwks_url` is fetched again (default 5m).
    #[serde(default)]
    pub jwks_refresh: Option<toolgate::config::Duration>,
    /// The HS256 shared secret, at least 32 bytes (use `${VAR}`).
    #[serde(default)]
    pub hs256_secret: Option<String>,
    /// Clock-skew allowance for `exp` and `nbf` (default 60s).
    #[serde(default)]
    pub leeway: Option<toolgate::config::Duration>,
    /// Claims copied into the caller's identity, for `authorize` rules (`claim: {groups: x}`).
    #[serde(default)]
    pub claims_to_attributes: Vec<String>,
    /// Scopes every token must carry (`scope` or `scp`); otherwise 403 `insufficient_scope`.
    #[serde(default)]
    pub required_scopes: Vec<String>,
}

impl AuthConfig {
    /// Parses `use: auth` settings.
    pub fn from_value(value: serde_json::Value) -> Result<Self, ConfigError> {
        parse(value)
    }

    /// Checks everything and builds the authentication (reads `env` keys and JWKS files).
    pub fn build(&self) -> Result<Auth, ConfigError> {
        self.build_with_env(|name| std::env::var(name).ok())
    }

    /// [`AuthConfig::build`] with another environment (for tests and embedding).
    pub fn build_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Auth, ConfigError> {
        if self.api_keys.is_empty() && self.jwt.is_none() {
            return Err(ConfigError::new(
                "nothing to authenticate with: configure api_keys, jwt, or both",
            ));
        }
        let mut auth = Auth::new();
        if let Some(realm) = &self.realm {
            auth = auth.realm(realm.clone());
        }
        if !self.api_keys.is_empty() {
            let (keys, policy) = self.api_keys(&env)?;
            auth = auth.api_keys(keys);
            if let Some(policy) = policy {
                auth = auth.key_policy(policy);
            }
        }
        let mut issuers = Vec::new();
        if let Some(jwt) = &self.jwt {
            issuers = jwt.issuer.to_vec();
            auth = auth.jwt(jwt.build().map_err(|e| e.prefixed("jwt: "))?);
        }
        if let Some(doc) = &self.resource_metadata {
            doc.validate()?;
            let mut doc = doc.clone();
            if doc.authorization_servers.is_empty() {
                doc.authorization_servers = issuers;
            }
            auth = auth.resource_metadata(doc);
        }
        Ok(auth)
    }

    fn api_keys(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(ApiKeys, Option<Rules>), ConfigError> {
        let mut keys = ApiKeys::new();
        let mut digests: Vec<(String, [u8; 32])> = Vec::new();
        let mut policy = Rules::allow_by_default();
        let mut limited = false;
        for (i, k) in self.api_keys.iter().enumerate() {
            let at = |m: String| ConfigError::new(format!("api_keys[{i}] ({}): {m}", k.name));
            if k.name.trim().is_empty() {
                return Err(ConfigError::new(format!(
                    "api_keys[{i}].name: give the key a name (it becomes the caller's identity)"
                )));
            }
            if let Some((j, _)) = digests.iter().enumerate().find(|(_, d)| d.0 == k.name) {
                return Err(at(format!(
                    "the name is used by api_keys[{j}] too; names must be unique"
                )));
            }
            let digest = match (&k.key, &k.sha256, &k.env) {
                (Some(key), None, None) => plain_key(key).map_err(at)?,
                (None, Some(hex), None) => {
                    crate::authn::parse_sha256_hex(hex).ok_or_else(|| {
                        at("sha256: expected 64 hex digits, the SHA-256 of the key \
                        (printf %s KEY | sha256sum)"
                            .into())
                    })?
                }
                (None, None, Some(var)) => {
                    let key = env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                        at(format!("env: the environment variable {var} is not set"))
                    })?;
                    plain_key(&key).map_err(at)?
                }
                _ => {
                    return Err(at("give exactly one of key, sha256 or env".into()));
                }
            };
            if let Some((other, _)) = digests.iter().find(|d| d.1 == digest) {
                return Err(at(format!(
                    "the same key is configured for '{other}'; every key must be different"
                )));
            }
            digests.push((k.name.clone(), digest));
            keys = keys.digest(k.name.as_str(), digest);
            if k.servers.is_some() || k.tools.is_some() {
                limited = true;
                let mut rule = Rule::for_key(k.name.clone());
                if let Some(servers) = &k.servers {
                    rule = rule.allow_servers(servers).map_err(|e| at(e.to_string()))?;
                }
                if let Some(tools) = &k.tools {
                    rule = rule.allow_tools(tools).map_err(|e| at(e.to_string()))?;
                }
                policy = policy.rule(rule);
            }
        }
        Ok((keys, limited.then_some(policy)))
    }
}

/// Minimum key length below which a warning is logged.
const SHORT_KEY: usize = 16;

fn plain_key(key: &str) -> Result<[u8; 32], String> {
    if key.is_empty() {
        return Err("key: the key is empty".into());
    }
    if key.trim() != key || key.chars().any(|c| c.is_control()) {
        return Err("key: the key has leading/trailing spaces or control characters".into());
    }
    if key.len() < SHORT_KEY {
        tracing::warn!(
            "an API key is shorter than {SHORT_KEY} characters; long random keys are much harder to guess"
        );
    }
    Ok(crate::authn::sha256(key))
}

impl JwtConfig {
    /// The verifier these settings describe.
    pub fn build(&self) -> Result<JwtVerifier, ConfigError> {
        let issuers = self.issuer.to_vec();
        let audiences = self.audience.to_vec();
        let (Some(first_iss), Some(first_aud)) = (issuers.first(), audiences.first()) else {
            return Err(ConfigError::new(
                "issuer and audience must name at least one value each",
            ));
        };
        let mut b = JwtVerifier::builder(first_iss.clone(), first_aud.clone())
            .leeway(self.leeway.map_or(DEFAULT_LEEWAY, |d| d.0))
            .claims_to_attributes(self.claims_to_attributes.iter().cloned())
            .required_scopes(self.required_scopes.iter().cloned());
        for iss in issuers.iter().skip(1) {
            b = b.issuer(iss.clone());
        }
        for aud in audiences.iter().skip(1) {
            b = b.audience(aud.clone());
        }
        if let Some(secret) = &self.hs256_secret {
            b = b.hs256_secret(secret.as_bytes());
        }
        match (&self.jwks_file, &self.jwks_url) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new("give jwks_file or jwks_url, not both"));
            }
            (Some(path), None) => b = b.jwks_file(path).map_err(|e| e.prefixed("jwks_file: "))?,
            (None, Some(url)) => {
                let refresh = self.jwks_refresh.map_or(DEFAULT_JWKS_REFRESH, |d| d.0);
                let tls = match &self.jwks_ca_file {
                    Some(ca) => toolgate::http::TlsOptions::default().ca_file(ca),
                    None => toolgate::http::TlsOptions::default(),
                };
                b = b.jwks_url_with_tls(url, refresh, tls)?;
            }
            (None, None) => {}
        }
        if self.jwks_ca_file.is_some() && self.jwks_url.is_none() {
            return Err(ConfigError::new("jwks_ca_file applies only with jwks_url"));
        }
        b.build()
    }
}

/// `use: authorize`: which servers, tools, prompts and resources each caller may see and use
/// (MCP plane).
///
/// ```yaml
/// - use: authorize
///   default: deny
///   rules:
///     - match: {key: team-a}
///       allow_servers: [demo]
///       deny_tools: ["demo__crash"]
///     - match: {claim: {groups: admins}}
///       allow_servers: ["*"]
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeConfig {
    /// The rules; every rule whose `match` fits the caller applies.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// What a caller no rule matches gets (default `deny`).
    #[serde(default)]
    pub default: Decision,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Everything is visible.
    Allow,
    /// Nothing is visible.
    #[default]
    Deny,
}

/// One rule. Lists are globs (`*`, `?`, `[abc]`, `{a,b}`); an absent `allow_*` allows all.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Which callers the rule is about.
    #[serde(rename = "match")]
    pub matcher: MatchConfig,
    /// Only these servers (configured names).
    #[serde(default)]
    pub allow_servers: Option<Vec<String>>,
    /// Never these servers.
    #[serde(default)]
    pub deny_servers: Option<Vec<String>>,
    /// Only these tools (exposed names, `server__tool`).
    #[serde(default)]
    pub allow_tools: Option<Vec<String>>,
    /// Never these tools.
    #[serde(default)]
    pub deny_tools: Option<Vec<String>>,
    /// Only these prompts (exposed names).
    #[serde(default)]
    pub allow_prompts: Option<Vec<String>>,
    /// Never these prompts.
    #[serde(default)]
    pub deny_prompts: Option<Vec<String>>,
    /// Only these resources (URIs or URI templates).
    #[serde(default)]
    pub allow_resources: Option<Vec<String>>,
    /// Never these resources.
    #[serde(default)]
    pub deny_resources: Option<Vec<String>>,
}

/// Which callers a rule is about; every criterion given must hold.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// The API key's name.
    #[serde(default)]
    pub key: Option<String>,
    /// The identity's subject (JWT `sub`, or an API key's name).
    #[serde(default)]
    pub subject: Option<String>,
    /// Attributes (JWT claims listed in `claims_to_attributes`) and the value each must have.
    #[serde(default)]
    pub claim: Option<BTreeMap<String, String>>,
    /// `true`: callers without an identity (stdio, or no `auth` layer).
    #[serde(default)]
    pub anonymous: Option<bool>,
}

impl AuthorizeConfig {
    /// Parses `use: authorize` settings.
    pub fn from_value(value: serde_json::Value) -> Result<Self, ConfigError> {
        parse(value)
    }

    /// The policy these settings describe.
    pub fn build(&self) -> Result<Rules, ConfigError> {
        let mut rules = match self.default {
            Decision::Allow => Rules::allow_by_default(),
            Decision::Deny => Rules::deny_by_default(),
        };
        for (i, r) in self.rules.iter().enumerate() {
            let at = |e: ConfigError| e.prefixed(&format!("rules[{i}]."));
            let m = &r.matcher;
            let matcher = Matcher::from_parts(
                m.key.clone(),
                m.subject.clone(),
                m.claim
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                m.anonymous.unwrap_or(false),
            );
            let mut rule = Rule::new(matcher).map_err(at)?;
            macro_rules! apply {
                ($($field:ident),*) => {$(
                    if let Some(globs) = &r.$field {
                        rule = rule.$field(globs).map_err(at)?;
                    }
                )*};
            }
            apply!(
                allow_servers,
                deny_servers,
                allow_tools,
                deny_tools,
                allow_prompts,
                deny_prompts,
                allow_resources,
                deny_resources
            );
            rules = rules.rule(rule);
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{AccessPolicy, Item, ItemKind};
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        (name == "CI_KEY").then(|| "ci-key-0123456789abcdef".to_string())
    }

    fn auth_err(v: serde_json::Value) -> String {
        match AuthConfig::from_value(v).and_then(|c| c.build_with_env(env)) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let e = auth_err(json!({"api_keys": [{"name": "a", "kye": "x"}]}));
        assert!(e.starts_with("api_keys[0]"), "{e}");
        assert!(e.contains("kye"), "{e}");
        let e = AuthorizeConfig::from_value(json!({"rules": [{"match": {"kee": "a"}}]}))
            .expect_err("unknown key");
        assert!(e.to_string().contains("rules[0].match"), "{e}");
    }

    #[test]
    fn key_entries_need_exactly_one_source_and_unique_names_and_values() {
        assert!(auth_err(json!({"api_keys": [{"name": "a"}]})).contains("exactly one"));
        assert!(
            auth_err(json!({"api_keys": [{"name": "a", "key": "k", "env": "X"}]}))
                .contains("exactly one")
        );
        let e = auth_err(json!({"api_keys": [{"name": "a", "env": "NOPE"}]}));
        assert!(e.contains("NOPE is not set") && e.contains("(a)"), "{e}");
        let e = auth_err(json!({"api_keys": [{"name": "a", "sha256": "abc"}]}));
        assert!(e.contains("64 hex digits"), "{e}");
        let e = auth_err(json!({"api_keys": [
            {"name": "a", "key": "same-key-0123456789"},
            {"name": "b", "key": "same-key-0123456789"}]}));
        assert!(e.contains("'a'"), "{e}");
        let e = auth_err(json!({"api_keys": [
            {"name": "a", "key": "key-one-0123456789"},
            {"name": "a", "key": "key-two-0123456789"}]}));
        assert!(e.contains("unique"), "{e}");
        assert!(auth_err(json!({})).contains("api_keys, jwt"));
    }

    #[test]
    fn durations_are_seconds_and_unit_strings() {
        let leeway = |v: serde_json::Value| {
            parse::<JwtConfig>(json!({"issuer": "i", "audience": "a", "leeway": v}))
                .map(|c| c.leeway.map(|d| d.0))
        };
        use std::time::Duration;
        assert_eq!(leeway(json!(30)), Ok(Some(Duration::from_secs(30))));
        assert_eq!(leeway(json!("1h30m")), Ok(Some(Duration::from_secs(5400))));
        assert_eq!(leeway(json!("500ms")), Ok(Some(Duration::from_millis(500))));
        assert_eq!(leeway(json!(0)), Ok(Some(Duration::ZERO)));
        for bad in [json!("5 minutes"), json!("")] {
            let e = leeway(bad).expect_err("not a duration");
            assert!(e.to_string().contains("\"30s\""), "{e}");
        }
    }

    #[test]
    fn env_keys_are_read_at_build_time() {
        let auth = AuthConfig::from_value(json!({"api_keys": [{"name": "ci", "env": "CI_KEY"}]}))
            .and_then(|c| c.build_with_env(env));
        assert!(auth.is_ok());
    }

    #[test]
    fn per_key_limits_become_a_policy_that_leaves_other_callers_alone() {
        let auth = AuthConfig::from_value(json!({"api_keys": [
            {"name": "a", "key": "key-a-0123456789abc", "servers": ["demo"]},
            {"name": "b", "key": "key-b-0123456789abc"}]}))
        .and_then(|c| c.build_with_env(env))
        .expect("valid");
        let policy = auth.key_policy_rules().expect("a policy").clone();
        let other = Item {
            kind: ItemKind::Tool,
            name: "other__x",
            server: Some("other"),
        };
        assert!(!policy.allows(Some(&ApiKeys::identity("a")), &other));
        assert!(policy.allows(Some(&ApiKeys::identity("b")), &other));
        let plain = AuthConfig::from_value(
            json!({"api_keys": [{"name": "b", "key": "key-b-0123456789abc"}]}),
        )
        .and_then(|c| c.build_with_env(env))
        .expect("valid");
        assert!(plain.key_policy_rules().is_none());
    }

    #[test]
    fn metadata_defaults_to_the_jwt_issuer() {
        let auth = AuthConfig::from_value(json!({
            "jwt": {"issuer": "https://issuer.example", "audience": "toolgate",
                    "hs256_secret": "an-hs256-secret-that-is-long-enough-0123"},
            "resource_metadata": {"resource": "http://127.0.0.1:4000/mcp"}}))
        .and_then(|c| c.build_with_env(env))
        .expect("valid");
        let doc = auth.metadata().expect("metadata");
        assert_eq!(doc.authorization_servers, ["https://issuer.example"]);
    }

    #[test]
    fn authorize_rules_build_and_errors_name_the_rule() {
        let rules = AuthorizeConfig::from_value(json!({
            "default": "deny",
            "rules": [{"match": {"key": "a"}, "allow_servers": ["demo"], "deny_tools": ["demo__crash"]}]
        }))
        .and_then(|c| c.build())
        .expect("valid");
        assert_eq!(rules.rules().len(), 1);
        let e = AuthorizeConfig::from_value(json!({"rules": [{"match": {}}]}))
            .and_then(|c| c.build())
            .expect_err("empty match");
        assert!(e.to_string().starts_with("rules[0].match"), "{e}");
        let e = AuthorizeConfig::from_value(json!({"default": "maybe"})).expect_err("bad default");
        assert!(e.to_string().contains("default"), "{e}");
    }
}
