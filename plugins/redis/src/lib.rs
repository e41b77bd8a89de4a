//! The shared Redis of toolgate's replicas, for the layers that keep state there
//! (`rate_limit` with `store: redis`, `cache` with `store: redis`), over TCP or TLS
//! (`rediss://`, rustls: the system's roots or `redis.tls.ca_file`, and a client certificate
//! for Redis servers that ask for one).
//!
//! [`SharedRedis`] is made from the config's `redis:` section
//! ([`RedisSettings`]) without connecting: the gateway starts
//! whether Redis is up or not. The first command connects (the `redis` crate's
//! [`ConnectionManager`], which then reconnects by itself); a failed connection attempt is not
//! retried for a second, so that requests meanwhile fail at once instead of queueing behind
//! connection attempts. Nothing waits longer than the settings' `timeout`: every command is
//! bounded, and a layer decides what a [`RedisError`] means for its request. [`Warnings`]
//! logs an outage once a second rather than once per request.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use redis;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use toolgate::config::RedisSettings;

/// How long after a failed connection attempt commands fail at once instead of trying again.
pub const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Why Redis did not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("redis {url}: {message}")]
pub struct RedisError {
    url: String,
    message: String,
}

impl RedisError {
    /// What went wrong, without the URL.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A connection to the shared Redis, made on first use, remade after it fails.
pub struct SharedRedis {
    client: redis::Client,
    url: String,
    prefix: String,
    timeout: Duration,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    last_failure: parking_lot::Mutex<Option<Instant>>,
}

impl fmt::Debug for SharedRedis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRedis")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SharedRedis {
    /// A client for the Redis of `settings` (not connected yet). Fails only on a URL the
    /// `redis` crate cannot use.
    pub fn new(settings: &RedisSettings) -> Result<SharedRedis, RedisError> {
        let fail = |message: String| RedisError {
            url: settings.redacted_url(),
            message,
        };
        let tls = settings.ca_file.is_some() || settings.client_cert.is_some();
        let client = if tls {
            let read = |path: &std::path::Path, what: &str| {
                std::fs::read(path)
                    .map_err(|e| fail(format!("cannot read {what} {}: {e}", path.display())))
            };
            let root_cert = match &settings.ca_file {
                Some(path) => Some(read(path, "redis.tls.ca_file")?),
                None => None,
            };
            let client_tls = match &settings.client_cert {
                Some((cert, key)) => Some(redis::ClientTlsConfig {
                    client_cert: read(cert, "redis.tls.cert_file")?,
                    client_key: read(key, "redis.tls.key_file")?,
                }),
                None => None,
            };
            redis::Client::build_with_tls(
                settings.url.as_str(),
                redis::TlsCertificates {
                    client_tls,
                    root_cert,
                },
            )
        } else {
            redis::Client::open(settings.url.as_str())
        }
        .map_err(|e| fail(e.to_string()))?;
        Ok(SharedRedis {
            client,
            url: settings.redacted_url(),
            prefix: settings.key_prefix.clone(),
            timeout: settings.timeout,
            conn: tokio::sync::Mutex::new(None),
            last_failure: parking_lot::Mutex::new(None),
        })
    }

    /// The URL, password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The longest one command may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `suffix` under the configured key prefix.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    fn error(&self, message: impl Into<String>) -> RedisError {
        RedisError {
            url: self.url.clone(),
            message: message.into(),
        }
    }

    /// The connection, made now if there is none (bounded by the timeout).
    pub async fn connection(&self) -> Result<ConnectionManager, RedisError> {
        if let Some(at) = *self.last_failure.lock()
            && at.elapsed() < RECONNECT_AFTER
        {
            return Err(self.error("not reachable (last attempt under a second ago)"));
        }
        let mut slot = tokio::time::timeout(self.timeout, self.conn.lock())
            .await
            .map_err(|_| self.error("still connecting"))?;
        if let Some(conn) = &*slot {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(0);
        let made = tokio::time::timeout(
            self.timeout * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        match made {
            Ok(Ok(conn)) => {
                *self.last_failure.lock() = None;
                *slot = Some(conn.clone());
                Ok(conn)
            }
            Ok(Err(e)) => {
                *self.last_failure.lock() = Some(Instant::now());
                Err(self.error(e.to_string()))
            }
            Err(_) => {
                *self.last_failure.lock() = Some(Instant::now());
                Err(self.error(format!("no connection within {:?}", self.timeout * 2)))
            }
        }
    }

    /// Runs `command` on the connection, bounded by the timeout.
    pub async fn run<T, F, Fut>(&self, command: F) -> Result<T, RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        tokio::time::timeout(self.timeout, command(conn))
            .await
            .map_err(|_| self.error(format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| self.error(e.to_string()))
    }
}

/// Logs an outage at most once a second.
#[derive(Debug)]
pub struct Warnings {
    started: Instant,
    last: AtomicU64,
}

impl Default for Warnings {
    fn default() -> Self {
        Warnings {
            started: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl Warnings {
    /// Whether to log now (true at most once a second).
    pub fn due(&self) -> bool {
        let second = self.started.elapsed().as_secs() + 1;
        self.last.swap(second, Ordering::Relaxed) != second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_and_is_not_retried_at_once() {
        // Port 1 on loopback: connection refused at once.
        let mut settings = RedisSettings::new("redis://:hunter2@127.0.0.1:1");
        settings.timeout = Duration::from_millis(200);
        let redis = SharedRedis::new(&settings).expect("a valid URL");
        assert!(!format!("{redis:?}").contains("hunter2"));
        let started = Instant::now();
        let Err(first) = redis.connection().await else {
            panic!("nothing listens on port 1");
        };
        assert!(!first.to_string().contains("hunter2"), "{first}");
        let Err(second) = redis.connection().await else {
            panic!("not retried within a second");
        };
        assert!(second.message().contains("under a second ago"), "{second}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(redis.key("rl:x"), "toolgate:rl:x");
    }

    #[test]
    fn warnings_are_due_once_a_second() {
        let w = Warnings::default();
        assert!(w.due());
        assert!(!w.due());
    }
}
