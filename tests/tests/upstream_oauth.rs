//! OAuth-protected upstreams (issue 11), with real parts on loopback:
//!
//! - a real authorization server: `oidc-provider` (npm) over HTTPS with a certificate from a
//!   private CA made in the test, issuing JWT access tokens by client credentials and by RFC
//!   8693 token exchange (`tests/interop/oauth/server.mjs`);
//! - the protected upstream: a toolgate gateway of our own with `use: auth` validating those
//!   JWTs against the provider's JWKS **over https** (`jwks_url` + `jwks_ca_file`), in front of
//!   demo-server, logging each caller's identity (`use: logging`);
//! - the gateway under test in front of it, with `oauth:` (or `forward_authorization:`).
//!
//! Token caching and refresh are read from the provider's own counts of what it issued.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use toolgate_tests::oauth::{CLIENT_ID, CLIENT_SECRET, OAuthOptions, OAuthProvider};
use toolgate_tests::tls::{Pki, Validity};
use toolgate_tests::{
    Gateway, GatewayConfig, McpSession, Upstream, error_code, gateway_with_tools, paths, text_of,
};

/// The audience the protected upstream accepts (and the gateway asks tokens for).
const UPSTREAM_AUDIENCE: &str = "https://upstream.test/mcp";
/// Issuer and audience of the callers' own JWTs (signed with the keys in
/// `plugins/auth/testdata`).
const CALLER_ISSUER: &str = "https://issuer.example";
const CALLER_AUDIENCE: &str = "toolgate";
const CALLER_KEY: &str = "caller-key-0123456789abcdef";
const READY: Duration = Duration::from_secs(30);

fn testdata(name: &str) -> PathBuf {
    paths::workspace_root()
        .join("plugins/auth/testdata")
        .join(name)
}

fn q(path: &std::path::Path) -> String {
    Value::from(path.display().to_string()).to_string()
}

/// A caller's JWT, as `use: auth` of the gateway under test accepts it.
fn caller_token(sub: &str, extra: Value) -> anyhow::Result<String> {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({"sub": sub, "iss": CALLER_ISSUER, "aud": CALLER_AUDIENCE,
                            "iat": now, "exp": now + 600});
    if let (Some(c), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        c.extend(extra);
    }
    let key = EncodingKey::from_rsa_pem(&std::fs::read(testdata("rsa-private.pem"))?)?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}

/// The provider over HTTPS (its certificate from `pki`), trusting the callers' keys as
/// token-exchange subjects.
async fn provider(pki: &Pki, ttl: u64) -> anyhow::Result<OAuthProvider> {
    let cert = pki.server_cert("oauth", &["127.0.0.1"], Validity::Current)?;
    OAuthProvider::start(OAuthOptions {
        tls: Some((cert.cert, cert.key)),
        token_ttl_secs: ttl,
        trusted_jwks_file: Some(testdata("jwks.json")),
        ..OAuthOptions::default()
    })
    .await
}

/// The protected upstream: toolgate + demo-server, accepting only the provider's JWTs for
/// [`UPSTREAM_AUDIENCE`] (JWKS over https), logging each request's identity.
async fn protected_upstream(provider: &OAuthProvider, pki: &Pki) -> anyhow::Result<Gateway> {
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("secured")?)
        .section(format!(
            "layers:
  - use: auth
    jwt:
      issuer: {issuer}
      audience: {UPSTREAM_AUDIENCE}
      jwks_url: {jwks}
      jwks_ca_file: {ca}
      leeway: 0s
  - use: logging
",
            issuer = provider.issuer(),
            jwks = provider.jwks_url(),
            ca = q(pki.ca_file()),
        ));
    Gateway::start_config(&config).await
}

/// `mcp_servers.u` of the gateway under test: the protected upstream, with `oauth:` as given.
fn front(upstream: &Gateway, pki: &Pki, oauth: &str) -> GatewayConfig {
    GatewayConfig::new()
        .server("u", Upstream::http(upstream.url()))
        .server_key("u", "tls", format!("{{ca_file: {}}}", q(pki.ca_file())))
        .server_key("u", "oauth", oauth.to_owned())
}

fn client_credentials(provider: &OAuthProvider) -> String {
    format!(
        "{{token_url: {}, client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}, audience: {UPSTREAM_AUDIENCE}}}",
        provider.token_url()
    )
}

async fn issued(provider: &OAuthProvider, grant: &str) -> anyhow::Result<u64> {
    let stats = provider.stats().await?;
    stats[grant]
        .as_u64()
        .with_context(|| format!("provider stats: {stats}"))
}

/// The identities the protected upstream's access log shows for `tools/call`.
fn callers_seen(upstream: &Gateway) -> Vec<String> {
    upstream
        .output()
        .lines()
        .filter(|l| l.contains("tools/call"))
        .filter_map(|l| {
            let at = l.find("identity=")? + "identity=".len();
            Some(
                l[at..]
                    .split_whitespace()
                    .next()?
                    .trim_matches('"')
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn client_credentials_token_is_fetched_once_cached_and_refreshed() -> anyhow::Result<()> {
    let pki = Pki::new("oauth-cc")?;
    let provider = provider(&pki, 3).await?;
    let upstream = protected_upstream(&provider, &pki).await?;
    let config = front(&upstream, &pki, &client_credentials(&provider));
    let (_gateway, session) = gateway_with_tools(&config, &["u__demo__whoami"]).await?;

    for _ in 0..3 {
        let result = session.call_tool_ok("u__demo__whoami", json!({})).await?;
        assert_eq!(text_of(&result), "secured");
    }
    // initialize, notifications, listings and three calls: one token.
    assert_eq!(issued(&provider, "client_credentials").await?, 1);
    assert!(
        callers_seen(&upstream).iter().all(|c| c == CLIENT_ID),
        "the upstream saw the gateway's client as the caller: {:?}\n{}",
        callers_seen(&upstream),
        upstream.output()
    );

    // The token lives 3 s; past its refresh point the next call fetches a new one first.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let result = session.call_tool_ok("u__demo__whoami", json!({})).await?;
    assert_eq!(text_of(&result), "secured");
    assert_eq!(issued(&provider, "client_credentials").await?, 2);
    Ok(())
}

/// Without credentials the upstream answers 401 with `WWW-Authenticate`: the upstream stays
/// down and says so, naming the server and quoting the challenge; a wrong client secret is the
/// token endpoint's refusal, named as such.
#[tokio::test]
async fn refusals_are_named_with_their_reason() -> anyhow::Result<()> {
    let pki = Pki::new("oauth-refusals")?;
    let provider = provider(&pki, 300).await?;
    let upstream = protected_upstream(&provider, &pki).await?;
    let config = GatewayConfig::new()
        .server("bare", Upstream::http(upstream.url()))
        .server("wrong", Upstream::http(upstream.url()))
        .server_key("wrong", "tls", format!("{{ca_file: {}}}", q(pki.ca_file())))
        .server_key(
            "wrong",
            "oauth",
            format!(
                "{{token_url: {}, client_id: {CLIENT_ID}, client_secret: not-the-secret, audience: {UPSTREAM_AUDIENCE}}}",
                provider.token_url()
            ),
        );
    let gateway = Gateway::start_config(&config).await?;

    let bare = gateway.wait_upstream("bare", "down", READY).await?;
    let reason = bare["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("'bare'")
            && reason.contains("401")
            && reason.contains("WWW-Authenticate: Bearer"),
        "the reason names the server, the 401 and its challenge: {reason}"
    );
    let wrong = gateway.wait_upstream("wrong", "down", READY).await?;
    let reason = wrong["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("token endpoint") && reason.contains("invalid_client"),
        "the reason is the token endpoint's refusal: {reason}"
    );
    let session = gateway.session().await?;
    let response = session.call_tool("bare__demo__whoami", json!({})).await?;
    assert_eq!(error_code(&response), Some(-31000), "{response}");
    let message = response["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("401"), "the caller learns why: {message}");
    Ok(())
}

/// RFC 8693: each caller's validated JWT is exchanged for an upstream token with the caller as
/// subject (cached per caller); the gateway's own requests use its client-credentials token;
/// a caller without a JWT is refused rather than served with the gateway's rights.
#[tokio::test]
async fn token_exchange_acts_for_each_caller() -> anyhow::Result<()> {
    let pki = Pki::new("oauth-exchange")?;
    let provider = provider(&pki, 300).await?;
    let upstream = protected_upstream(&provider, &pki).await?;
    let config = front(
        &upstream,
        &pki,
        &format!(
            "{{grant: token_exchange, token_url: {}, client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}, audience: {UPSTREAM_AUDIENCE}}}",
            provider.token_url()
        ),
    )
    .section(format!(
        "layers:
  - use: auth
    api_keys:
      - {{name: robot, key: {CALLER_KEY}}}
    jwt:
      issuer: {CALLER_ISSUER}
      audience: {CALLER_AUDIENCE}
      jwks_file: {jwks}
",
        jwks = q(&testdata("jwks.json"))
    ));
    let gateway = Gateway::start_config(&config).await?;
    gateway.wait_upstream("u", "ready", READY).await?;

    let alice_token = caller_token("alice", json!({}))?;
    let auth = format!("Bearer {alice_token}");
    let alice = McpSession::connect_with(gateway.url(), &[("authorization", &auth)]).await?;
    for _ in 0..2 {
        let result = alice.call_tool_ok("u__demo__whoami", json!({})).await?;
        assert_eq!(text_of(&result), "secured");
    }
    let bob_token = caller_token("bob", json!({}))?;
    let auth = format!("Bearer {bob_token}");
    let bob = McpSession::connect_with(gateway.url(), &[("authorization", &auth)]).await?;
    bob.call_tool_ok("u__demo__whoami", json!({})).await?;

    assert_eq!(
        issued(&provider, "token_exchange").await?,
        2,
        "one exchange per caller, cached: {}",
        provider.stats().await?
    );
    assert_eq!(
        callers_seen(&upstream),
        ["alice", "alice", "bob"],
        "the upstream saw each caller as the subject:\n{}",
        upstream.output()
    );

    let robot = McpSession::connect_with(gateway.url(), &[("x-api-key", CALLER_KEY)]).await?;
    let listed = robot.tool_names().await?;
    assert!(listed.iter().any(|n| n == "u__demo__whoami"), "{listed:?}");
    let refused = robot.call_tool("u__demo__whoami", json!({})).await?;
    assert_eq!(error_code(&refused), Some(-31004), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'u'") && message.contains("JWT"),
        "the refusal names the server and what is missing: {message}"
    );
    assert_eq!(
        callers_seen(&upstream).len(),
        3,
        "the refused call never left the gateway"
    );
    Ok(())
}

/// `forward_authorization: true`: the caller's own JWT goes to an upstream that trusts the same
/// issuer; the gateway's own requests carry its static API key. The upstream's 403 to a caller
/// reaches that caller as -31004 with the upstream's challenge.
#[tokio::test]
async fn forward_authorization_passes_the_callers_jwt() -> anyhow::Result<()> {
    const GATEWAY_KEY: &str = "gateway-key-0123456789abcdef";
    let jwt = format!(
        "    jwt:
      issuer: {CALLER_ISSUER}
      audience: {CALLER_AUDIENCE}
      jwks_file: {jwks}
",
        jwks = q(&testdata("jwks.json"))
    );
    let upstream = Gateway::start_config(
        &GatewayConfig::new()
            .server("demo", Upstream::demo("shared-issuer")?)
            .section(format!(
                "layers:
  - use: auth
    api_keys:
      - {{name: front-gateway, key: {GATEWAY_KEY}}}
{jwt}      required_scopes: [upstream]
  - use: logging
"
            )),
    )
    .await?;
    let config = GatewayConfig::new()
        .server("u", Upstream::http(upstream.url()))
        .server_key("u", "headers", format!("{{X-API-Key: {GATEWAY_KEY}}}"))
        .server_key("u", "forward_authorization", "true")
        .section(format!("layers:\n  - use: auth\n{jwt}"));
    let gateway = Gateway::start_config(&config).await?;
    gateway.wait_upstream("u", "ready", READY).await?;

    let token = caller_token("carol", json!({"scope": "upstream"}))?;
    let auth = format!("Bearer {token}");
    let carol = McpSession::connect_with(gateway.url(), &[("authorization", &auth)]).await?;
    let result = carol.call_tool_ok("u__demo__whoami", json!({})).await?;
    assert_eq!(text_of(&result), "shared-issuer");
    assert_eq!(callers_seen(&upstream), ["carol"], "{}", upstream.output());

    let token = caller_token("dave", json!({}))?;
    let auth = format!("Bearer {token}");
    let dave = McpSession::connect_with(gateway.url(), &[("authorization", &auth)]).await?;
    let refused = dave.call_tool("u__demo__whoami", json!({})).await?;
    assert_eq!(error_code(&refused), Some(-31004), "{refused}");
    let data = &refused["error"]["data"];
    assert_eq!(data["http_status"], 403, "{refused}");
    assert!(
        data["www_authenticate"]
            .as_str()
            .is_some_and(|c| c.contains("insufficient_scope")),
        "the upstream's challenge is passed on: {refused}"
    );
    Ok(())
}
