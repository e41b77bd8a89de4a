//! A real OAuth 2 authorization server as a peer: `tests/interop/oauth/server.mjs`, which runs the
//! npm package `oidc-provider` (installed by `tests/interop/install.sh`) on node.
//!
//! It issues RS256 JWT access tokens (`aud` = the requested `audience`/`resource`) to the client
//! [`CLIENT_ID`] / [`CLIENT_SECRET`] by `client_credentials` and by RFC 8693 token exchange of
//! JWTs signed by a key of [`OAuthOptions::trusted_jwks_file`] (or by itself), and counts what it
//! issued ([`OAuthProvider::stats`]). Its endpoints and env contract are in
//! `tests/interop/oauth/README.md`.
//!
//! Both listeners bind 127.0.0.1 on a port the script picks (`PORT=0`, `ADMIN_PORT=0`) and
//! announce themselves, so there is no free-port race: ready once it prints
//! `oauth-provider listening on <issuer>`. `/test/stats` is read on the plain-HTTP admin listener,
//! so it needs no TLS client even when the provider serves HTTPS.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::Method;

use crate::STARTUP_TIMEOUT;
use crate::paths;
use crate::process::ChildProcess;

/// What the server prints once it serves: `oauth-provider listening on <issuer>`.
pub const LISTENING: &str = "oauth-provider listening on ";
/// What it prints about its plain-HTTP admin listener: `oauth-provider admin on <url>`.
pub const ADMIN: &str = "oauth-provider admin on ";
/// The confidential client it knows (secret by HTTP Basic or in the form body).
pub const CLIENT_ID: &str = "gateway";
/// [`CLIENT_ID`]'s secret.
pub const CLIENT_SECRET: &str = "gateway-secret";
/// The RFC 8693 grant type.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type of a JWT (accepted as `subject_token_type`).
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// RFC 8693 token type of an access token (accepted as `subject_token_type`; the
/// `issued_token_type` of exchanged tokens).
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// How to start the provider.
#[derive(Debug, Clone)]
pub struct OAuthOptions {
    /// `(certificate, key)` PEM files: serve HTTPS with them (issuer `https://127.0.0.1:PORT`).
    /// `None`: plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Access token lifetime (`TOKEN_TTL`); default 300.
    pub token_ttl_secs: u64,
    /// A JSON Web Key Set file whose keys may sign token-exchange subject tokens
    /// (`TRUSTED_JWKS_FILE`, read on every exchange). `None`: only the provider's own tokens.
    pub trusted_jwks_file: Option<PathBuf>,
    /// Audiences accepted besides `http://` and `https://` URLs (`AUDIENCES`).
    pub audiences: Vec<String>,
    /// More environment for the script (`CLIENTS_JSON`, `DEFAULT_AUDIENCE`, `TRUSTED_ISSUER`…).
    pub env: Vec<(String, String)>,
}

impl Default for OAuthOptions {
    fn default() -> Self {
        Self {
            tls: None,
            token_ttl_secs: 300,
            trusted_jwks_file: None,
            audiences: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// A running OAuth 2 authorization server (stopped on drop).
#[derive(Debug)]
pub struct OAuthProvider {
    process: ChildProcess,
    issuer: String,
    admin_url: String,
}

impl OAuthProvider {
    /// Starts `node tests/interop/oauth/server.mjs` and waits until it serves.
    pub async fn start(opts: OAuthOptions) -> anyhow::Result<Self> {
        let script = paths::oauth_server_script()?;
        let mut command = Command::new(paths::node());
        command
            .arg(&script)
            .env("PORT", "0")
            .env("ADMIN_PORT", "0")
            .env("TOKEN_TTL", opts.token_ttl_secs.to_string())
            .env("TOOLGATE_NODE_MODULES", paths::node_modules())
            .env_remove("ISSUER")
            .env_remove("TLS_CERT")
            .env_remove("TLS_KEY")
            .env_remove("TRUSTED_JWKS_FILE");
        if let Some((cert, key)) = &opts.tls {
            command.env("TLS_CERT", cert).env("TLS_KEY", key);
        }
        if let Some(jwks) = &opts.trusted_jwks_file {
            command.env("TRUSTED_JWKS_FILE", jwks);
        }
        if !opts.audiences.is_empty() {
            command.env("AUDIENCES", opts.audiences.join(","));
        }
        command.envs(opts.env.iter().map(|(k, v)| (k, v)));
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        let mut process = ChildProcess::spawn(format!("oauth-provider ({scheme})"), command)?;
        let issuer = process
            .wait_for_listening(LISTENING, STARTUP_TIMEOUT)
            .await
            .context(
                "starting the OAuth authorization server (tests/interop/oauth/server.mjs; \
                 run tests/interop/install.sh if oidc-provider is missing)",
            )?;
        // Printed before the listening line.
        let admin_url = process.wait_for_listening(ADMIN, STARTUP_TIMEOUT).await?;
        Ok(Self {
            process,
            issuer,
            admin_url,
        })
    }

    /// Its issuer identifier, `http(s)://127.0.0.1:PORT` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Its token endpoint, `<issuer>/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// Its JWKS endpoint, `<issuer>/jwks`.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// Its discovery document's URL, `<issuer>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// The plain-HTTP admin listener, `http://127.0.0.1:PORT` (serves `/test/stats` only).
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// What it issued so far: `{"client_credentials": N, "token_exchange": M,
    /// "exchanged_subjects": ["sub", …]}` (read over plain HTTP on the admin listener).
    pub async fn stats(&self) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/test/stats", self.admin_url);
        let response = crate::http::send(Method::GET, &url, None, &[], Bytes::new()).await?;
        if !response.status.is_success() {
            bail!("GET {url}: {}", response.describe());
        }
        response
            .json()
            .with_context(|| format!("GET {url}: not JSON"))
    }

    /// What it has logged so far (token request errors are logged as `grant.error …`).
    pub fn output(&self) -> String {
        self.process.output()
    }
}
