//! The second level in the shared Redis (`store: redis`): what one gateway replica kept,
//! every replica may answer with.
//!
//! An answer kept locally is also written to Redis (`SET … PX ttl`, in the background); a
//! local miss looks there before going upstream, and a hit is kept locally for the time it
//! has left. Keys are `{prefix}cache:{kind}:{item hash}:{rest hash}` — SHA-256 of the item
//! (tool, prompt, URI) and of server, params and caller — so a list change drops one kind with
//! one `SCAN MATCH`, and a resource update one URI. Redis being away never fails a request:
//! the cache works locally meanwhile and logs the outage once a second.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use toolgate::config::RedisSettings;
use toolgate_redis::{RedisError, SharedRedis, Warnings, redis};

use crate::error::Error;
use crate::key::{Key, Kind};

/// Keys dropped per `SCAN` step when invalidating.
const SCAN_COUNT: usize = 500;

/// The shared store.
pub(crate) struct Remote {
    redis: SharedRedis,
    warnings: Warnings,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.redis.fmt(f)
    }
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    let digest = Sha256::digest(bytes.as_ref());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Read => "read",
        Kind::Prompt => "prompt",
        Kind::Tool => "tool",
    }
}

impl Remote {
    pub(crate) fn new(settings: &RedisSettings) -> Result<Remote, Error> {
        Ok(Remote {
            redis: SharedRedis::new(settings).map_err(|e| Error::new(e.to_string()))?,
            warnings: Warnings::default(),
        })
    }

    fn redis_key(&self, key: &Key) -> String {
        self.redis.key(&format!(
            "cache:{}:{}:{}",
            kind_name(key.kind),
            hex(key.item.as_bytes()),
            hex(key.rest())
        ))
    }

    fn warn(&self, e: &RedisError) {
        if self.warnings.due() {
            tracing::warn!(error = %e, "cache: the shared store did not answer; answering from this replica only");
        }
    }

    /// The answer kept under `key` and how long it has left, if any.
    pub(crate) async fn get(&self, key: &Key) -> Option<(Box<RawValue>, Duration)> {
        let k = self.redis_key(key);
        let got = self
            .redis
            .run(|mut conn| async move {
                redis::pipe()
                    .get(&k)
                    .pttl(&k)
                    .query_async::<(Option<String>, i64)>(&mut conn)
                    .await
            })
            .await;
        match got {
            Ok((Some(text), left_ms)) if left_ms > 0 => {
                let result = RawValue::from_string(text).ok()?;
                Some((result, Duration::from_millis(left_ms.unsigned_abs())))
            }
            Ok(_) => None,
            Err(e) => {
                self.warn(&e);
                None
            }
        }
    }

    /// Keeps `result` under `key` for `ttl`, in the background.
    pub(crate) fn put(self: &Arc<Self>, key: &Key, result: &RawValue, ttl: Duration) {
        let k = self.redis_key(key);
        let text = result.get().to_owned();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let this = self.clone();
        tokio::spawn(async move {
            let set = this
                .redis
                .run(|mut conn| async move {
                    redis::cmd("SET")
                        .arg(&k)
                        .arg(text)
                        .arg("PX")
                        .arg(ms)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await;
            if let Err(e) = set {
                this.warn(&e);
            }
        });
    }

    /// Drops, in the background, every answer of `kind` (of resource `uri` only, if given).
    pub(crate) fn invalidate(self: &Arc<Self>, kind: Kind, uri: Option<&str>) {
        let pattern = self.redis.key(&format!(
            "cache:{}:{}:*",
            kind_name(kind),
            uri.map_or_else(|| "*".to_owned(), |u| hex(u.as_bytes()))
        ));
        let this = self.clone();
        tokio::spawn(async move {
            let mut cursor: u64 = 0;
            loop {
                let step = this
                    .redis
                    .run(|mut conn| {
                        let pattern = pattern.clone();
                        async move {
                            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(&pattern)
                                .arg("COUNT")
                                .arg(SCAN_COUNT)
                                .query_async(&mut conn)
                                .await?;
                            if !keys.is_empty() {
                                redis::cmd("UNLINK")
                                    .arg(&keys)
                                    .query_async::<()>(&mut conn)
                                    .await?;
                            }
                            Ok(next)
                        }
                    })
                    .await;
                match step {
                    Ok(0) => return,
                    Ok(next) => cursor = next,
                    Err(e) => {
                        this.warn(&e);
                        return;
                    }
                }
            }
        });
    }
}
