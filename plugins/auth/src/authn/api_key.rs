//! API keys: the [`KeyStore`] extension point and the built-in [`ApiKeys`] list.
//!
//! [`ApiKeys`] keeps only the SHA-256 of each key and compares the digest of a presented key
//! with every stored digest in constant time (`subtle`), so neither the match nor its position
//! shows in the timing. A [`KeyStore`] that cannot answer returns an error: the request is then
//! refused with 503, never let through.

use std::future::Future;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use toolgate::Identity;

use crate::BoxFuture;
use crate::attr;

/// A key store could not answer (database down, timeout …). The request fails closed.
#[derive(Debug, thiserror::Error)]
#[error("key store unavailable: {message}")]
pub struct KeyStoreError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl KeyStoreError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        KeyStoreError {
            message: message.into(),
            source: None,
        }
    }
    /// An error caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        KeyStoreError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Looks API keys up: `Ok(Some(identity))` for a known key, `Ok(None)` for an unknown one, and
/// `Err` when the store cannot tell (the request is refused with 503).
///
/// Closures implement it:
///
/// ```
/// use toolgate::Identity;
/// use toolgate_auth::authn::{KeyStore, KeyStoreError};
///
/// let store = |key: &str| {
///     let known = key == "s3cret-from-somewhere";
///     async move {
///         Ok::<_, KeyStoreError>(known.then(|| Identity { subject: "ops".into(), attributes: vec![] }))
///     }
/// };
/// # fn is_store(_: impl KeyStore) {}
/// is_store(store);
/// ```
pub trait KeyStore: Send + Sync + 'static {
    /// Looks `key` up.
    fn lookup(&self, key: &str) -> BoxFuture<Result<Option<Identity>, KeyStoreError>>;
}

impl<F, Fut> KeyStore for F
where
    F: Fn(&str) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Identity>, KeyStoreError>> + Send + 'static,
{
    fn lookup(&self, key: &str) -> BoxFuture<Result<Option<Identity>, KeyStoreError>> {
        Box::pin(self(key))
    }
}

impl<K: KeyStore + ?Sized> KeyStore for Arc<K> {
    fn lookup(&self, key: &str) -> BoxFuture<Result<Option<Identity>, KeyStoreError>> {
        (**self).lookup(key)
    }
}

/// A fixed list of named API keys, stored as SHA-256 digests.
#[derive(Clone, Default)]
pub struct ApiKeys {
    entries: Vec<(Arc<str>, [u8; 32])>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field(
                "names",
                &self.entries.iter().map(|e| &*e.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The SHA-256 of `key`.
pub fn sha256(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Parses 64 hex digits into a digest.
pub fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl ApiKeys {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds the key `key` under `name`.
    #[must_use]
    pub fn key(self, name: impl Into<Arc<str>>, key: &str) -> Self {
        self.digest(name, sha256(key))
    }
    /// Adds a key known only by its SHA-256 under `name`.
    #[must_use]
    pub fn digest(mut self, name: impl Into<Arc<str>>, sha256: [u8; 32]) -> Self {
        self.entries.push((name.into(), sha256));
        self
    }
    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| &*e.0)
    }

    /// The name of `key`, comparing its digest with every entry in constant time.
    pub fn find(&self, key: &str) -> Option<&str> {
        let presented = sha256(key);
        let mut found: Option<&str> = None;
        for (name, digest) in &self.entries {
            // Every entry is compared; the first match is kept without branching early.
            let hit: bool = digest.ct_eq(&presented).into();
            if hit && found.is_none() {
                found = Some(name);
            }
        }
        found
    }

    /// The identity an API key called `name` gets.
    pub fn identity(name: &str) -> Identity {
        Identity {
            subject: name.to_string(),
            attributes: vec![
                (attr::METHOD.into(), attr::METHOD_API_KEY.into()),
                (attr::KEY.into(), name.to_string()),
            ],
        }
    }
}

impl KeyStore for ApiKeys {
    fn lookup(&self, key: &str) -> BoxFuture<Result<Option<Identity>, KeyStoreError>> {
        let found = self.find(key).map(ApiKeys::identity);
        Box::pin(std::future::ready(Ok(found)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_value_and_by_digest() {
        let digest = parse_sha256_hex(
            // sha256("beta-key-0123456789")
            &sha256("beta-key-0123456789")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        )
        .expect("hex");
        let keys = ApiKeys::new()
            .key("alpha", "alpha-key-0123456789")
            .digest("beta", digest);
        assert_eq!(keys.find("alpha-key-0123456789"), Some("alpha"));
        assert_eq!(keys.find("beta-key-0123456789"), Some("beta"));
        assert_eq!(keys.find("alpha-key-012345678"), None);
        assert_eq!(keys.find(""), None);
    }

    #[test]
    fn hex_digests_must_be_64_hex_digits() {
        assert!(parse_sha256_hex(&"ab".repeat(32)).is_some());
        assert!(parse_sha256_hex(&"AB".repeat(32)).is_some());
        assert!(parse_sha256_hex(&"ab".repeat(31)).is_none());
        assert!(parse_sha256_hex(&"zz".repeat(32)).is_none());
        assert!(parse_sha256_hex(&"é".repeat(32)).is_none());
    }

    #[tokio::test]
    async fn the_identity_names_the_key() {
        let keys = ApiKeys::new().key("alpha", "alpha-key-0123456789");
        let id = keys
            .lookup("alpha-key-0123456789")
            .await
            .expect("no store error")
            .expect("known key");
        assert_eq!(id.subject, "alpha");
        assert!(id.attributes.contains(&(attr::KEY.into(), "alpha".into())));
    }
}
