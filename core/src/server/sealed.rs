//! Sealed session ids: a Streamable HTTP session any gateway replica can serve.
//!
//! With a `server.session_secret` shared by the replicas, the `Mcp-Session-Id` a client gets
//! is the session's state — its stable id, negotiated protocol version, client info and
//! capabilities, a fingerprint of the identity that opened it, when it was opened — encrypted
//! and authenticated with ChaCha20-Poly1305 under a key derived from the secret (SHA-256).
//! A replica that has never seen the session opens the id, checks that the caller is the same
//! identity and that the session is younger than its maximum age, and serves it as if it had
//! been initialized there. Nothing is looked up anywhere: a replica that died takes nothing
//! with it but its streams and what was in flight.
//!
//! Format: `s1.` and base64url (no padding) of a 12-byte random nonce followed by the sealed
//! JSON. Without the secret an id is 64 hex digits, as before.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use rmcp::model::{ClientCapabilities, Implementation, ProtocolVersion};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const PREFIX: &str = "s1.";

/// The shortest secret accepted: 32 characters.
pub const MIN_SECRET_LEN: usize = 32;

/// How long a sealed session id is honoured after `initialize` (24 hours): the bound on a
/// session no replica can end for the others.
pub const SEALED_SESSION_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The key sessions are sealed with, derived from `server.session_secret`. Equal when the
/// secrets are; `Debug` shows neither.
#[derive(Clone)]
pub struct SessionSeal {
    key: Arc<LessSafeKey>,
    /// SHA-256 of the derived key: for equality (reload compares settings) without the key.
    fingerprint: [u8; 32],
    max_age: Duration,
}

impl fmt::Debug for SessionSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSeal")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SessionSeal {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint && self.max_age == other.max_age
    }
}

impl Eq for SessionSeal {}

/// What a sealed id carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SealedSession {
    /// The session's stable id (`SessionInfo::id` on every replica).
    pub(crate) id: String,
    /// The negotiated protocol version.
    pub(crate) v: ProtocolVersion,
    /// The client's `clientInfo`.
    pub(crate) ci: Implementation,
    /// The client's capabilities.
    pub(crate) cc: ClientCapabilities,
    /// SHA-256 (base64url) of the identity that opened it; empty for none.
    pub(crate) o: String,
    /// When it was opened, seconds since the epoch.
    pub(crate) t: u64,
}

/// Why a secret cannot seal sessions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "session_secret is {len} characters; use at least {MIN_SECRET_LEN} random ones (e.g. `openssl rand -hex 32`)"
)]
pub struct WeakSecret {
    len: usize,
}

impl SessionSeal {
    /// A seal keyed by `secret` (at least [`MIN_SECRET_LEN`] characters; every replica must
    /// use the same one).
    pub fn new(secret: &str) -> Result<SessionSeal, WeakSecret> {
        if secret.chars().count() < MIN_SECRET_LEN {
            return Err(WeakSecret {
                len: secret.chars().count(),
            });
        }
        let derived: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let fingerprint: [u8; 32] = Sha256::digest(derived).into();
        let key =
            UnboundKey::new(&CHACHA20_POLY1305, &derived).map_err(|_| WeakSecret { len: 0 })?;
        Ok(SessionSeal {
            key: Arc::new(LessSafeKey::new(key)),
            fingerprint,
            max_age: SEALED_SESSION_MAX_AGE,
        })
    }

    /// The same seal honouring ids for `max_age` after `initialize`.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> SessionSeal {
        self.max_age = max_age;
        self
    }

    /// The fingerprint of an owner (`Owner`'s text), as sealed.
    pub(crate) fn owner_fingerprint(owner: Option<&str>) -> String {
        owner.map_or_else(String::new, |o| {
            URL_SAFE_NO_PAD.encode(Sha256::digest(o.as_bytes()))
        })
    }

    /// `session` as a session id; `None` only if the system's random source fails.
    pub(crate) fn seal(&self, session: &SealedSession) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut data = serde_json::to_vec(session).ok()?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(PREFIX.as_bytes()),
                &mut data,
            )
            .ok()?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Some(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The session an id seals, if it was sealed with this key and is not too old.
    pub(crate) fn open(&self, id: &str) -> Option<SealedSession> {
        let raw = URL_SAFE_NO_PAD.decode(id.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(PREFIX.as_bytes()), &mut sealed)
            .ok()?;
        let session: SealedSession = serde_json::from_slice(plain).ok()?;
        let age = now_secs().saturating_sub(session.t);
        (Duration::from_secs(age) <= self.max_age).then_some(session)
    }
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(t: u64) -> SealedSession {
        SealedSession {
            id: "abc".into(),
            v: ProtocolVersion::V_2025_06_18,
            ci: Implementation::new("client", "1"),
            cc: ClientCapabilities::default(),
            o: SessionSeal::owner_fingerprint(Some("alice")),
            t,
        }
    }

    #[test]
    fn an_id_opens_with_the_same_secret_only_and_not_when_tampered_or_old() {
        let seal = SessionSeal::new("0123456789abcdef0123456789abcdef").expect("long enough");
        let id = seal.seal(&session(now_secs())).expect("sealed");
        assert!(id.starts_with("s1."));
        let opened = seal.open(&id).expect("opens");
        assert_eq!(opened.id, "abc");
        assert_eq!(opened.o, SessionSeal::owner_fingerprint(Some("alice")));
        // Another replica with the same secret opens it; another secret does not.
        let same = SessionSeal::new("0123456789abcdef0123456789abcdef").expect("long enough");
        assert!(same.open(&id).is_some());
        assert_eq!(same, seal);
        let other = SessionSeal::new("another secret of at least 32 chars!").expect("long");
        assert!(other.open(&id).is_none());
        assert_ne!(other, seal);
        // One flipped character, a truncated id, plain hex ids: nothing.
        let mut tampered = id.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            seal.open(&String::from_utf8(tampered).expect("ascii"))
                .is_none()
        );
        assert!(seal.open(&id[..20]).is_none());
        assert!(seal.open(&"ab".repeat(32)).is_none());
        // Too old.
        let old = seal
            .seal(&session(now_secs() - SEALED_SESSION_MAX_AGE.as_secs() - 10))
            .expect("sealed");
        assert!(seal.open(&old).is_none());
        // Two seals of one session differ (random nonces).
        assert_ne!(seal.seal(&session(1)), seal.seal(&session(1)));
    }

    #[test]
    fn a_short_secret_is_refused() {
        let e = SessionSeal::new("short").expect_err("too short");
        assert!(e.to_string().contains("at least 32"), "{e}");
    }
}
