//! A remote server's `tls:`, `oauth:` and `forward_authorization:`, checked: files named,
//! URLs parsed, contradictions refused with the key that causes them.

use std::path::PathBuf;

use super::document::KeyPath;
use super::error::{ConfigErrorKind, Issue, Problem};
use super::file::{self, OAuthClientAuth, OAuthGrant};
use super::validate::Reader;
use super::values::{any_string, non_empty, parse_url};
use crate::http::TlsOptions;
use crate::oauth::{ClientAuth, Grant, OAuthSettings};
use crate::upstream::UpstreamAuth;

impl Reader<'_> {
    /// `tls:` of the server at `at`.
    pub(super) fn tls(
        &mut self,
        tls: Option<file::Tls>,
        at: &KeyPath,
    ) -> Result<TlsOptions, Problem> {
        let Some(tls) = tls else {
            return Ok(TlsOptions::default());
        };
        let at = at.key("tls");
        let key = |k: &str| at.key(k);
        let path = |v: String| -> Result<PathBuf, Issue> { non_empty(v).map(PathBuf::from) };
        let out = TlsOptions {
            ca_file: self.optional(tls.ca_file, &key("ca_file"), path)?,
            cert_file: self.optional(tls.cert_file, &key("cert_file"), path)?,
            key_file: self.optional(tls.key_file, &key("key_file"), path)?,
            server_name: self.optional(tls.server_name, &key("server_name"), non_empty)?,
            insecure_skip_verify: tls.insecure_skip_verify.unwrap_or(false),
            ..TlsOptions::default()
        };
        match (&out.cert_file, &out.key_file) {
            (Some(_), None) => {
                return Err(Problem::at(
                    &key("cert_file"),
                    Issue::new(
                        ConfigErrorKind::MissingKey,
                        "`cert_file` needs `key_file` (the client certificate's private key)",
                    ),
                ));
            }
            (None, Some(_)) => {
                return Err(Problem::at(
                    &key("key_file"),
                    Issue::new(
                        ConfigErrorKind::MissingKey,
                        "`key_file` needs `cert_file` (the client certificate it belongs to)",
                    ),
                ));
            }
            _ => {}
        }
        if out.insecure_skip_verify {
            self.warnings.push(format!(
                "{}: certificate verification is off; anyone on the network path can read and \
                 change this server's traffic",
                key("insecure_skip_verify")
            ));
        }
        Ok(out)
    }

    /// `oauth:` and `forward_authorization:` of the server at `at`.
    pub(super) fn upstream_auth(
        &mut self,
        oauth: Option<file::OAuth>,
        forward: Option<bool>,
        at: &KeyPath,
    ) -> Result<UpstreamAuth, Problem> {
        let forward = forward.unwrap_or(false);
        let mut auth = UpstreamAuth::default().forward_authorization(forward);
        let Some(o) = oauth else {
            return Ok(auth);
        };
        let at = at.key("oauth");
        let key = |k: &str| at.key(k);
        let token_url = self.string(&o.token_url, &key("token_url"), parse_url)?;
        let client_id = self.string(&o.client_id, &key("client_id"), non_empty)?;
        let client_secret = self.string(&o.client_secret, &key("client_secret"), any_string)?;
        let grant = match self.choice(o.grant, &key("grant"))? {
            Some((OAuthGrant::TokenExchange, _)) => Grant::TokenExchange,
            Some((OAuthGrant::ClientCredentials, _)) | None => Grant::ClientCredentials,
        };
        if grant == Grant::TokenExchange && forward {
            return Err(Problem::at(
                &key("grant"),
                Issue::new(
                    ConfigErrorKind::Conflict,
                    "`grant: token_exchange` sends the caller's exchanged token, \
                     `forward_authorization: true` the caller's own; choose one",
                ),
            ));
        }
        let client_auth = match self.choice(o.client_auth, &key("client_auth"))? {
            Some((OAuthClientAuth::Post, _)) => ClientAuth::Post,
            Some((OAuthClientAuth::Basic, _)) | None => ClientAuth::Basic,
        };
        let mut settings = OAuthSettings::new(token_url, client_id, client_secret)
            .grant(grant)
            .client_auth(client_auth);
        settings.scope = self.optional(o.scope, &key("scope"), non_empty)?;
        settings.audience = self.optional(o.audience, &key("audience"), non_empty)?;
        settings.resource = self.optional(o.resource, &key("resource"), parse_url)?;
        auth = auth.oauth(settings);
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigErrorKind, ConfigFormat};
    use crate::oauth::{ClientAuth, Grant};

    fn env(name: &str) -> Option<String> {
        (name == "TG_SECRET").then(|| "s3cret".to_owned())
    }

    fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_str_with_env(text, ConfigFormat::Yaml, env)
    }

    #[test]
    fn tls_and_oauth_settings_are_read() {
        let config = parse(
            "mcp_servers:
  remote:
    url: https://127.0.0.1:8443/mcp
    tls:
      ca_file: /etc/ca.pem
      cert_file: client.pem
      key_file: client-key.pem
      server_name: mcp.internal
    oauth:
      grant: token_exchange
      token_url: https://idp.example/token
      client_id: toolgate
      client_secret: ${TG_SECRET}
      client_auth: client_secret_post
      scope: mcp:tools
      audience: https://127.0.0.1:8443/mcp
",
        )
        .expect("valid");
        let server = &config.servers["remote"];
        assert_eq!(server.tls.ca_file.as_deref(), Some("/etc/ca.pem".as_ref()));
        assert_eq!(server.tls.cert_file.as_deref(), Some("client.pem".as_ref()));
        assert_eq!(server.tls.server_name.as_deref(), Some("mcp.internal"));
        assert!(!server.tls.insecure_skip_verify);
        let oauth = server.auth.oauth.as_ref().expect("oauth");
        assert_eq!(oauth.grant, Grant::TokenExchange);
        assert_eq!(oauth.client_secret, "s3cret");
        assert_eq!(oauth.client_auth, ClientAuth::Post);
        assert_eq!(oauth.scope.as_deref(), Some("mcp:tools"));
        assert!(server.auth.acts_for_callers());
        assert!(
            !format!("{oauth:?}").contains("s3cret"),
            "Debug shows the secret"
        );
    }

    #[test]
    fn contradictions_are_refused_at_their_key() {
        let cases = [
            (
                "mcp_servers:\n  s:\n    command: x\n    tls: {ca_file: a.pem}\n",
                ConfigErrorKind::Conflict,
                "tls",
            ),
            (
                "mcp_servers:\n  s:\n    url: https://h/mcp\n    tls: {cert_file: c.pem}\n",
                ConfigErrorKind::MissingKey,
                "key_file",
            ),
            (
                "mcp_servers:\n  s:\n    url: https://h/mcp\n    forward_authorization: true\n    oauth: {grant: token_exchange, token_url: https://i/t, client_id: a, client_secret: b}\n",
                ConfigErrorKind::Conflict,
                "forward_authorization",
            ),
            (
                "mcp_servers:\n  s:\n    url: https://h/mcp\n    headers: {Authorization: Bearer x}\n    oauth: {token_url: https://i/t, client_id: a, client_secret: b}\n",
                ConfigErrorKind::Conflict,
                "Authorization",
            ),
            (
                "mcp_servers:\n  s:\n    url: https://h/mcp\n    oauth: {token_url: not-a-url, client_id: a, client_secret: b}\n",
                ConfigErrorKind::InvalidValue,
                "token_url",
            ),
            (
                "mcp_servers:\n  s:\n    url: https://h/mcp\n    oauth: {grant: password, token_url: https://i/t, client_id: a, client_secret: b}\n",
                ConfigErrorKind::InvalidValue,
                "grant",
            ),
        ];
        for (text, kind, mentions) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.kind(), kind, "{text}: {err}");
            assert!(err.to_string().contains(mentions), "{text}: {err}");
            assert!(err.line().is_some(), "{text}: {err}");
        }
    }
}
