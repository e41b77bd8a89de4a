//! HTTP plane: `Host` and `Origin` checks against DNS rebinding, as a tower layer.
//!
//! A request whose `Host` is not an allowed name, or whose `Origin` is present and not allowed,
//! is answered 403 before anything else sees it. Like every HTTP-plane layer it never returns
//! `Err`: it answers with a status.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode, header};
use tower::{Layer, Service};

use super::body::McpBody;

/// Which `Host` and `Origin` values are accepted.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    hosts: Vec<String>,
    origins: Vec<String>,
}

const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl Default for OriginPolicy {
    /// Loopback only: what a gateway bound to 127.0.0.1 should accept.
    fn default() -> Self {
        OriginPolicy {
            hosts: LOOPBACK.iter().map(|s| s.to_string()).collect(),
            origins: Vec::new(),
        }
    }
}

impl OriginPolicy {
    /// Allowed host names (port ignored; `*` allows any). Empty means loopback names.
    #[must_use]
    pub fn hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.hosts = hosts.into_iter().map(|h| h.into().to_ascii_lowercase()).collect();
        if self.hosts.is_empty() {
            self.hosts = LOOPBACK.iter().map(|s| s.to_string()).collect();
        }
        self
    }
    /// Allowed origins (`scheme://host[:port]`, or `*`). Empty means any http(s) origin on a
    /// loopback host.
    #[must_use]
    pub fn origins(mut self, origins: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.origins = origins.into_iter().map(|o| o.into().to_ascii_lowercase()).collect();
        self
    }

    /// Whether a `Host` header value is allowed.
    pub fn host_allowed(&self, host: &str) -> bool {
        if self.hosts.iter().any(|h| h == "*") {
            return true;
        }
        let name = strip_port(&host.to_ascii_lowercase());
        self.hosts.iter().any(|h| *h == name)
    }

    /// Whether an `Origin` header value is allowed.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.origins.iter().any(|o| o == "*" || *o == origin) {
            return true;
        }
        if !self.origins.is_empty() {
            return false;
        }
        let Some(rest) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        LOOPBACK.contains(&strip_port(rest).as_str())
    }
}

fn strip_port(hostport: &str) -> String {
    if let Some(end) = hostport.find(']') {
        return hostport[..=end].to_string();
    }
    hostport.split(':').next().unwrap_or("").to_string()
}

/// Adds [`OriginGuard`].
#[derive(Debug, Clone, Default)]
pub struct OriginGuardLayer {
    policy: Arc<OriginPolicy>,
}

impl OriginGuardLayer {
    /// A guard with `policy`.
    pub fn new(policy: OriginPolicy) -> Self {
        OriginGuardLayer {
            policy: Arc::new(policy),
        }
    }
}

impl<S> Layer<S> for OriginGuardLayer {
    type Service = OriginGuard<S>;
    fn layer(&self, inner: S) -> OriginGuard<S> {
        OriginGuard {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// Answers 403 to requests from hosts or origins the policy does not allow.
#[derive(Debug, Clone)]
pub struct OriginGuard<S> {
    inner: S,
    policy: Arc<OriginPolicy>,
}

impl<S, B> Service<Request<B>> for OriginGuard<S>
where
    S: Service<Request<B>, Response = Response<McpBody>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        let verdict = match host {
            None => Some("the request has no Host header"),
            Some(h) if !self.policy.host_allowed(&h) => {
                Some("Host is not allowed (DNS rebinding protection); add it to server.allowed_hosts")
            }
            _ => match req.headers().get(header::ORIGIN).map(|o| o.to_str()) {
                Some(Ok(o)) if !self.policy.origin_allowed(o) => {
                    Some("Origin is not allowed; add it to server.allowed_origins")
                }
                Some(Err(_)) => Some("Origin header is not valid"),
                _ => None,
            },
        };
        match verdict {
            Some(why) => Box::pin(async move { Ok(super::plain(StatusCode::FORBIDDEN, why)) }),
            None => Box::pin(self.inner.call(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_origins_pass_by_default() {
        let p = OriginPolicy::default();
        assert!(p.host_allowed("127.0.0.1:4000"));
        assert!(p.host_allowed("localhost"));
        assert!(p.host_allowed("[::1]:4000"));
        assert!(!p.host_allowed("evil.example:4000"));
        assert!(p.origin_allowed("http://localhost:3000"));
        assert!(p.origin_allowed("https://127.0.0.1"));
        assert!(!p.origin_allowed("http://evil.example"));
        assert!(!p.origin_allowed("null"));
    }

    #[test]
    fn configured_origins_replace_the_default() {
        let p = OriginPolicy::default().origins(["https://app.example"]);
        assert!(p.origin_allowed("https://app.example"));
        assert!(!p.origin_allowed("http://localhost:3000"));
    }
}
