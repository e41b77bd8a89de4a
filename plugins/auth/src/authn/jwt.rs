//! JWT bearer tokens: signature (HS256 with a shared secret, RS256/ES256 with keys from a JWKS
//! file or URL), `exp`, `nbf`, `iss` and `aud` checked with the `jsonwebtoken` crate.
//!
//! A JWKS URL is fetched when the verifier is built inside a runtime (else on first use) and
//! again every `refresh` interval; a token whose `kid` is unknown triggers an early re-fetch (at
//! most every 30 s), so a key rotation is picked up without a restart. While no keys could ever
//! be fetched, tokens are refused with 503: a key source that fails, fails closed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Limited};
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use toolgate::Identity;
use toolgate::http::{Client, TlsOptions};

use super::error::AuthError;
use crate::attr;
use crate::config::ConfigError;

/// Shortest accepted HS256 secret (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET: usize = 32;
/// Default JWKS re-fetch interval.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// Default clock-skew allowance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// How long one JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Earliest re-fetch after the last one when a token names an unknown `kid`.
const MIN_REFETCH: Duration = Duration::from_secs(30);
/// Most keys tried for a token without `kid`.
const MAX_CANDIDATES: usize = 16;

/// Verifies JWT bearer tokens and turns their claims into an [`Identity`].
#[derive(Clone, Debug)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    hs256: Option<DecodingKey>,
    jwks: Option<Arc<Jwks>>,
    claims_to_attributes: Vec<String>,
    required_scopes: Vec<String>,
}

/// Builds a [`JwtVerifier`]: issuer and audience are required; at least one key source
/// (HS256 secret, JWKS set/file/URL) must be given.
#[derive(Debug)]
pub struct JwtVerifierBuilder {
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    hs256: Option<Vec<u8>>,
    jwks: Option<Jwks>,
    claims_to_attributes: Vec<String>,
    required_scopes: Vec<String>,
}

impl JwtVerifier {
    /// A builder for tokens from `issuer` meant for `audience`.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            issuers: vec![issuer.into()],
            audiences: vec![audience.into()],
            leeway: DEFAULT_LEEWAY,
            hs256: None,
            jwks: None,
            claims_to_attributes: Vec::new(),
            required_scopes: Vec::new(),
        }
    }

    /// The accepted issuers.
    pub fn issuers(&self) -> &[String] {
        &self.inner.issuers
    }

    /// Verifies `token`: the caller's identity, or why not.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::invalid(format!("the bearer token is not a valid JWT: {e}")))?;
        let claims = match header.alg {
            Algorithm::HS256 => {
                let key = self.inner.hs256.as_ref().ok_or_else(|| {
                    AuthError::invalid("HS256 tokens are not accepted here (no hs256_secret)")
                })?;
                self.decode(token, Algorithm::HS256, key)?
            }
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.inner.jwks.as_ref().ok_or_else(|| {
                    AuthError::invalid(format!(
                        "{:?} tokens are not accepted here (no JWKS configured)",
                        header.alg
                    ))
                })?;
                self.decode_with_jwks(jwks, token, header.alg, header.kid.as_deref())
                    .await?
            }
            other => {
                return Err(AuthError::invalid(format!(
                    "the token's algorithm {other:?} is not accepted; use HS256, RS256 or ES256"
                )));
            }
        };
        self.identity(claims)
    }

    async fn decode_with_jwks(
        &self,
        jwks: &Arc<Jwks>,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Map<String, Value>, AuthError> {
        let mut keys = jwks.keys().await?;
        let mut candidates = keys.candidates(alg, kid);
        if candidates.is_empty() && kid.is_some() && jwks.refetch_for_unknown_kid().await {
            keys = jwks.keys().await?;
            candidates = keys.candidates(alg, kid);
        }
        if candidates.is_empty() {
            return Err(AuthError::invalid(match kid {
                Some(kid) => format!("no {alg:?} signing key with kid '{kid}' is known"),
                None => format!("no {alg:?} signing key is known"),
            }));
        }
        let mut last = None;
        for key in candidates.into_iter().take(MAX_CANDIDATES) {
            match self.decode(token, alg, &key.key) {
                Ok(claims) => return Ok(claims),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| AuthError::invalid("the token's signature does not verify")))
    }

    fn decode(
        &self,
        token: &str,
        alg: Algorithm,
        key: &DecodingKey,
    ) -> Result<Map<String, Value>, AuthError> {
        let mut v = Validation::new(alg);
        v.set_issuer(&self.inner.issuers);
        v.set_audience(&self.inner.audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = true;
        v.leeway = self.inner.leeway.as_secs();
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &v)
            .map(|t| t.claims)
            .map_err(|e| self.explain(e))
    }

    fn explain(&self, e: jsonwebtoken::errors::Error) -> AuthError {
        AuthError::invalid(match e.kind() {
            JwtErrorKind::ExpiredSignature => "the token has expired (exp)".to_string(),
            JwtErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_string(),
            JwtErrorKind::InvalidIssuer => format!(
                "the token's issuer (iss) is not {}",
                self.inner.issuers.join(" or ")
            ),
            JwtErrorKind::InvalidAudience => format!(
                "the token's audience (aud) does not include {}",
                self.inner.audiences.join(" or ")
            ),
            JwtErrorKind::InvalidSignature => "the token's signature does not verify".to_string(),
            JwtErrorKind::MissingRequiredClaim(c) => format!("the token has no '{c}' claim"),
            JwtErrorKind::InvalidClaimFormat(c) => format!("the token's '{c}' claim is malformed"),
            JwtErrorKind::InvalidAlgorithm => {
                "the token's algorithm does not match its key".to_string()
            }
            _ => format!("the bearer token is not a valid JWT: {e}"),
        })
    }

    fn identity(&self, claims: Map<String, Value>) -> Result<Identity, AuthError> {
        let subject = ["sub", "client_id", "azp"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::invalid("the token names no subject (sub)"))?
            .to_string();
        let scopes = scopes(&claims);
        let missing: Vec<&str> = self
            .inner
            .required_scopes
            .iter()
            .filter(|s| !scopes.contains(s.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(AuthError::insufficient_scope(
                self.inner.required_scopes.join(" "),
            ));
        }
        let mut attributes = vec![(attr::METHOD.to_string(), attr::METHOD_JWT.to_string())];
        if let Some(iss) = claims.get("iss").and_then(Value::as_str) {
            attributes.push((attr::ISSUER.to_string(), iss.to_string()));
        }
        for name in &self.inner.claims_to_attributes {
            let Some(value) = claims.get(name) else {
                continue;
            };
            let split = name == "scope" || name == "scp";
            let mut push = |v: &Value| match v {
                Value::String(s) if split => attributes.extend(
                    s.split_whitespace()
                        .map(|part| (name.clone(), part.to_string())),
                ),
                Value::String(s) => attributes.push((name.clone(), s.clone())),
                Value::Number(n) => attributes.push((name.clone(), n.to_string())),
                Value::Bool(b) => attributes.push((name.clone(), b.to_string())),
                _ => {}
            };
            match value {
                Value::Array(items) => items.iter().for_each(&mut push),
                other => push(other),
            }
        }
        Ok(Identity {
            subject,
            attributes,
        })
    }
}

/// The token's scopes: `scope` (space-separated) and `scp` (a list or a string).
fn scopes(claims: &Map<String, Value>) -> HashSet<&str> {
    let mut out = HashSet::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_whitespace()),
            Some(Value::Array(items)) => out.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    out
}

impl JwtVerifierBuilder {
    /// Accepts tokens from this issuer too.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }
    /// Accepts tokens for this audience too.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }
    /// Clock-skew allowance for `exp` and `nbf` (default 60 s).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
    /// Accepts HS256 tokens signed with `secret` (at least 32 bytes).
    #[must_use]
    pub fn hs256_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.hs256 = Some(secret.into());
        self
    }
    /// Accepts RS256/ES256 tokens signed by a key of `set`.
    pub fn jwks(mut self, set: &JwkSet) -> Result<Self, ConfigError> {
        self.jwks = Some(Jwks::fixed(set)?);
        Ok(self)
    }
    /// Accepts RS256/ES256 tokens signed by a key of the JWKS document in `path`.
    pub fn jwks_file(self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(format!("cannot read the JWKS file {}: {e}", path.display()))
        })?;
        let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
            ConfigError::new(format!(
                "{} is not a JWKS document ({{\"keys\": [...]}}): {e}",
                path.display()
            ))
        })?;
        self.jwks(&set)
            .map_err(|e| e.prefixed(&format!("{}: ", path.display())))
    }
    /// Accepts RS256/ES256 tokens signed by a key published at `url` (`https://`, or
    /// `http://` on a trusted network), re-fetched every `refresh`; https servers are trusted
    /// by the system's roots.
    pub fn jwks_url(self, url: &str, refresh: Duration) -> Result<Self, ConfigError> {
        self.jwks_url_with_tls(url, refresh, TlsOptions::default())
    }
    /// [`jwks_url`](Self::jwks_url) with its own TLS trust (a private CA, say).
    pub fn jwks_url_with_tls(
        mut self,
        url: &str,
        refresh: Duration,
        tls: TlsOptions,
    ) -> Result<Self, ConfigError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| ConfigError::new(format!("jwks_url '{url}' is not a URL: {e}")))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.authority().is_some() => {}
            _ => {
                return Err(ConfigError::new(format!(
                    "jwks_url '{url}' must be an absolute https:// (or http://) URL"
                )));
            }
        }
        if refresh < Duration::from_secs(1) {
            return Err(ConfigError::new("jwks_refresh must be at least 1s"));
        }
        let client = Client::builder()
            .connect_timeout(FETCH_TIMEOUT)
            .tls(tls)
            .build()
            .map_err(|e| ConfigError::new(format!("jwks_url '{url}': {e}")))?;
        self.jwks = Some(Jwks::url(uri, refresh, client));
        Ok(self)
    }
    /// Copies these claims into the identity's attributes (`scope` is split at spaces; list
    /// claims give one attribute per element).
    #[must_use]
    pub fn claims_to_attributes<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.claims_to_attributes
            .extend(claims.into_iter().map(Into::into));
        self
    }
    /// Refuses tokens (403 `insufficient_scope`) that lack any of these scopes.
    #[must_use]
    pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The verifier. Starts fetching a JWKS URL when called inside a tokio runtime.
    pub fn build(self) -> Result<JwtVerifier, ConfigError> {
        if self.issuers.iter().any(String::is_empty) {
            return Err(ConfigError::new("issuer must not be empty"));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new("audience must not be empty"));
        }
        if let Some(bad) = self
            .claims_to_attributes
            .iter()
            .find(|c| c.starts_with(attr::RESERVED_PREFIX))
        {
            return Err(ConfigError::new(format!(
                "claims_to_attributes: '{bad}' starts with '{}', which is reserved for \
                 attributes the gateway sets",
                attr::RESERVED_PREFIX
            )));
        }
        let hs256 = match self.hs256 {
            Some(secret) if secret.len() < MIN_HS256_SECRET => {
                return Err(ConfigError::new(format!(
                    "hs256_secret is {} bytes long; use at least {MIN_HS256_SECRET}",
                    secret.len()
                )));
            }
            Some(secret) => Some(DecodingKey::from_secret(&secret)),
            None => None,
        };
        if hs256.is_none() && self.jwks.is_none() {
            return Err(ConfigError::new(
                "no signing keys: set jwks_file, jwks_url or hs256_secret",
            ));
        }
        let jwks = self.jwks.map(Arc::new);
        if let Some(jwks) = &jwks
            && tokio::runtime::Handle::try_current().is_ok()
        {
            jwks.start();
        }
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                issuers: self.issuers,
                audiences: self.audiences,
                leeway: self.leeway,
                hs256,
                jwks,
                claims_to_attributes: self.claims_to_attributes,
                required_scopes: self.required_scopes,
            }),
        })
    }
}

// ---------------------------------------------------------------------------
// JWKS

/// One usable verification key.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The keys known right now, and why the last fetch failed (if it did).
#[derive(Default)]
struct KeySet {
    keys: Vec<Arc<Key>>,
    error: Option<String>,
}

impl KeySet {
    fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Vec<Arc<Key>> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg && (kid.is_none() || k.kid.as_deref() == kid))
            .cloned()
            .collect()
    }
}

/// A JWKS: fixed, or fetched from a URL and refreshed.
struct Jwks {
    current: RwLock<Arc<KeySet>>,
    url: Option<UrlSource>,
}

struct UrlSource {
    uri: http::Uri,
    client: Client,
    refresh: Duration,
    started: std::sync::Once,
    /// Completed fetches, successful or not.
    fetches: tokio::sync::watch::Sender<u64>,
    last_fetch: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.current.read().keys.len();
        f.debug_struct("Jwks")
            .field("keys", &n)
            .field("url", &self.url.as_ref().map(|u| u.uri.to_string()))
            .finish()
    }
}

/// The usable keys of `set`: RS256 and ES256 (P-256) signature keys. Others are skipped.
fn usable_keys(set: &JwkSet) -> Result<Vec<Arc<Key>>, String> {
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(alg) = algorithm_of(jwk) else {
            continue;
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| {
            format!(
                "key '{}' is not usable: {e}",
                jwk.common.key_id.as_deref().unwrap_or("(no kid)")
            )
        })?;
        keys.push(Arc::new(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        }));
    }
    if keys.is_empty() {
        return Err("the JWKS has no RS256 or ES256 (P-256) signature key".into());
    }
    Ok(keys)
}

fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    match (jwk.common.key_algorithm, &jwk.algorithm) {
        (Some(KeyAlgorithm::RS256), AlgorithmParameters::RSA(_)) => Some(Algorithm::RS256),
        (Some(KeyAlgorithm::ES256), AlgorithmParameters::EllipticCurve(p))
            if p.curve == EllipticCurve::P256 =>
        {
            Some(Algorithm::ES256)
        }
        (None, AlgorithmParameters::RSA(_)) => Some(Algorithm::RS256),
        (None, AlgorithmParameters::EllipticCurve(p)) if p.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}

impl Jwks {
    fn fixed(set: &JwkSet) -> Result<Jwks, ConfigError> {
        let keys = usable_keys(set).map_err(ConfigError::new)?;
        Ok(Jwks {
            current: RwLock::new(Arc::new(KeySet { keys, error: None })),
            url: None,
        })
    }

    fn url(uri: http::Uri, refresh: Duration, client: Client) -> Jwks {
        Jwks {
            current: RwLock::new(Arc::new(KeySet::default())),
            url: Some(UrlSource {
                uri,
                client,
                refresh,
                started: std::sync::Once::new(),
                fetches: tokio::sync::watch::Sender::new(0),
                last_fetch: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.current.read().clone()
    }

    /// Starts the refresher task of a URL source (once; needs a tokio runtime).
    fn start(self: &Arc<Self>) {
        let Some(url) = &self.url else { return };
        url.started.call_once(|| {
            tokio::spawn(refresher(Arc::downgrade(self)));
        });
    }

    /// The current keys; for a URL source that never answered yet, waits for the first fetch.
    async fn keys(self: &Arc<Self>) -> Result<Arc<KeySet>, AuthError> {
        let Some(url) = &self.url else {
            return Ok(self.snapshot());
        };
        self.start();
        let mut fetches = url.fetches.subscribe();
        if *fetches.borrow() == 0 {
            let _ = tokio::time::timeout(FETCH_TIMEOUT, fetches.wait_for(|n| *n > 0)).await;
        }
        let set = self.snapshot();
        if set.keys.is_empty() {
            let why = set.error.as_deref().unwrap_or("no answer yet");
            return Err(AuthError::unavailable(format!(
                "the token signing keys could not be fetched from {}: {why}",
                url.uri
            )));
        }
        Ok(set)
    }

    /// Re-fetches now unless the last fetch was less than [`MIN_REFETCH`] ago; true if it did.
    async fn refetch_for_unknown_kid(&self) -> bool {
        let Some(url) = &self.url else { return false };
        let recent = url
            .last_fetch
            .lock()
            .is_some_and(|t| t.elapsed() < MIN_REFETCH);
        if recent {
            return false;
        }
        self.fetch().await;
        true
    }

    /// Fetches the URL once and installs the keys (a failure keeps the old keys).
    async fn fetch(&self) {
        let Some(url) = &self.url else { return };
        let _one_at_a_time = url.fetching.lock().await;
        *url.last_fetch.lock() = Some(Instant::now());
        let result = tokio::time::timeout(FETCH_TIMEOUT, fetch_jwks(&url.client, &url.uri))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {FETCH_TIMEOUT:?}")))
            .and_then(|set| usable_keys(&set));
        let old = self.snapshot();
        let new = match result {
            Ok(keys) => {
                tracing::debug!(url = %url.uri, keys = keys.len(), "JWKS fetched");
                KeySet { keys, error: None }
            }
            Err(error) => {
                tracing::warn!(url = %url.uri, %error, "JWKS fetch failed; keeping the keys we had");
                KeySet {
                    keys: old.keys.clone(),
                    error: Some(error),
                }
            }
        };
        *self.current.write() = Arc::new(new);
        url.fetches.send_modify(|n| *n += 1);
    }
}

async fn refresher(jwks: Weak<Jwks>) {
    loop {
        let Some(strong) = jwks.upgrade() else { return };
        strong.fetch().await;
        let every = strong
            .url
            .as_ref()
            .map_or(DEFAULT_JWKS_REFRESH, |u| u.refresh);
        drop(strong);
        tokio::time::sleep(every).await;
    }
}

async fn fetch_jwks(client: &Client, uri: &http::Uri) -> Result<JwkSet, String> {
    let request = http::Request::get(uri.clone())
        .header(http::header::ACCEPT, "application/json")
        .body(Default::default())
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("HTTP {}", response.status()));
    }
    let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading the document: {e}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("not a JWKS document: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    pub(crate) const SECRET: &str = "an-hs256-secret-that-is-long-enough-0123";

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn hs(claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encode")
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::builder("https://issuer.example", "toolgate")
            .hs256_secret(SECRET)
            .leeway(Duration::from_secs(0))
            .claims_to_attributes(["groups", "scope"])
            .build()
            .expect("verifier")
    }

    fn good() -> Value {
        json!({"sub": "alice", "iss": "https://issuer.example", "aud": "toolgate",
               "exp": now() + 600, "groups": ["admins", "dev"], "scope": "mcp:read mcp:write"})
    }

    async fn err(claims: Value) -> String {
        match verifier().verify(&hs(claims)).await {
            Ok(id) => panic!("expected a rejection, got {id:?}"),
            Err(e) => e.message().to_string(),
        }
    }

    #[tokio::test]
    async fn a_valid_token_gives_subject_and_claims() {
        let id = verifier().verify(&hs(good())).await.expect("valid");
        assert_eq!(id.subject, "alice");
        let groups: Vec<&str> = attr::values(&id, "groups").collect();
        assert_eq!(groups, ["admins", "dev"]);
        let scopes: Vec<&str> = attr::values(&id, "scope").collect();
        assert_eq!(scopes, ["mcp:read", "mcp:write"]);
        assert_eq!(
            attr::values(&id, attr::METHOD).next(),
            Some(attr::METHOD_JWT)
        );
    }

    #[tokio::test]
    async fn expired_wrong_issuer_wrong_audience_and_not_yet_valid_are_refused() {
        let mut c = good();
        c["exp"] = json!(now() - 10);
        assert!(err(c).await.contains("expired"));
        let mut c = good();
        c["iss"] = json!("https://evil.example");
        assert!(err(c).await.contains("issuer"));
        let mut c = good();
        c["aud"] = json!("someone-else");
        assert!(err(c).await.contains("audience"));
        let mut c = good();
        c["nbf"] = json!(now() + 600);
        assert!(err(c).await.contains("not valid yet"));
        let mut c = good();
        c.as_object_mut().map(|m| m.remove("aud"));
        assert!(err(c).await.contains("'aud'"));
    }

    #[tokio::test]
    async fn a_token_signed_with_another_secret_is_refused() {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &good(),
            &EncodingKey::from_secret(b"another-secret-that-is-long-enough-4567"),
        )
        .expect("encode");
        let e = verifier().verify(&token).await.expect_err("refused");
        assert!(e.message().contains("signature"), "{e}");
    }

    #[tokio::test]
    async fn required_scopes_are_enforced() {
        let v = JwtVerifier::builder("https://issuer.example", "toolgate")
            .hs256_secret(SECRET)
            .required_scopes(["mcp:admin"])
            .build()
            .expect("verifier");
        let e = v.verify(&hs(good())).await.expect_err("refused");
        assert_eq!(e.kind(), super::super::AuthErrorKind::InsufficientScope);
    }

    fn testdata(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        std::fs::read_to_string(&path).expect("test key")
    }

    fn signed(alg: Algorithm, kid: Option<&str>, pem: &str, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .expect("key");
        jsonwebtoken::encode(&header, claims, &key).expect("encode")
    }

    #[tokio::test]
    async fn rs256_and_es256_tokens_verify_against_the_jwks_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/jwks.json");
        let v = JwtVerifier::builder("https://issuer.example", "toolgate")
            .jwks_file(&path)
            .expect("jwks")
            .build()
            .expect("verifier");
        let rsa = testdata("rsa-private.pem");
        let ec = testdata("ec-private.pem");
        for token in [
            signed(Algorithm::RS256, Some("rsa-1"), &rsa, &good()),
            signed(Algorithm::RS256, None, &rsa, &good()),
            signed(Algorithm::ES256, Some("ec-1"), &ec, &good()),
        ] {
            assert_eq!(v.verify(&token).await.expect("valid").subject, "alice");
        }
        let other = testdata("rsa-other-private.pem");
        let e = v
            .verify(&signed(Algorithm::RS256, Some("rsa-1"), &other, &good()))
            .await
            .expect_err("a key not in the JWKS");
        assert!(e.message().contains("signature"), "{e}");
        let e = v
            .verify(&signed(Algorithm::RS256, Some("nope"), &rsa, &good()))
            .await
            .expect_err("unknown kid");
        assert!(e.message().contains("kid 'nope'"), "{e}");
        let e = v.verify(&hs(good())).await.expect_err("no HS256 here");
        assert!(e.message().contains("HS256"), "{e}");
    }

    #[tokio::test]
    async fn an_unreachable_jwks_url_fails_closed_with_503() {
        // A port nothing listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let v = JwtVerifier::builder("https://issuer.example", "toolgate")
            .jwks_url(
                &format!("http://127.0.0.1:{port}/jwks.json"),
                Duration::from_secs(60),
            )
            .expect("url")
            .build()
            .expect("verifier");
        let rsa = testdata("rsa-private.pem");
        let e = v
            .verify(&signed(Algorithm::RS256, Some("rsa-1"), &rsa, &good()))
            .await
            .expect_err("no keys");
        assert_eq!(e.kind(), super::super::AuthErrorKind::Unavailable);
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let e = JwtVerifier::builder("i", "a")
            .hs256_secret("short")
            .build()
            .expect_err("short secret");
        assert!(e.to_string().contains("at least 32"), "{e}");
        let e = JwtVerifier::builder("i", "a").build().expect_err("no keys");
        assert!(e.to_string().contains("jwks_file"), "{e}");
        let e = JwtVerifier::builder("i", "a")
            .jwks_url("ftp://idp.example/jwks", Duration::from_secs(60))
            .expect_err("ftp");
        assert!(e.to_string().contains("https://"), "{e}");
        let e = JwtVerifier::builder("i", "a")
            .hs256_secret(SECRET)
            .claims_to_attributes(["auth.key"])
            .build()
            .expect_err("reserved");
        assert!(e.to_string().contains("reserved"), "{e}");
    }
}
