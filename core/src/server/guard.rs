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
///
/// Hosts are names (ports ignored, case ignored; `*` allows any). Origins are
/// `scheme://host[:port]` entries: scheme and host must match, and the port too when the entry
/// names one; `*` allows any origin, and the origin `null` is allowed only by `*`.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    hosts: Vec<String>,
    origins: Vec<String>,
}

const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl Default for OriginPolicy {
    /// Loopback only: what a gateway bound to 127.0.0.1 should accept — hosts `localhost`,
    /// `127.0.0.1`, `[::1]`, and http(s) origins on them, any port.
    fn default() -> Self {
        OriginPolicy {
            hosts: LOOPBACK.iter().map(|s| s.to_string()).collect(),
            origins: ["http", "https"]
                .iter()
                .flat_map(|scheme| LOOPBACK.iter().map(move |h| format!("{scheme}://{h}")))
                .collect(),
        }
    }
}

impl OriginPolicy {
    /// A policy with these allow-lists.
    pub fn new(hosts: Vec<String>, origins: Vec<String>) -> Self {
        OriginPolicy { hosts, origins }
    }

    /// Whether a `Host` header value is allowed.
    pub fn host_allowed(&self, host: &str) -> bool {
        let (host, _) = split_host_port(host.trim());
        self.hosts
            .iter()
            .any(|entry| entry == "*" || split_host_port(entry).0.eq_ignore_ascii_case(host))
    }

    /// Whether an `Origin` header value is allowed.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        if self.origins.iter().any(|entry| entry == "*") {
            return true;
        }
        let Some(origin) = parse_origin(origin.trim()) else {
            return false;
        };
        self.origins.iter().any(|entry| {
            parse_origin(entry).is_some_and(|allowed| {
                allowed.scheme == origin.scheme
                    && allowed.host == origin.host
                    && (allowed.port.is_none() || allowed.port == origin.port)
            })
        })
    }
}

/// Splits `host[:port]` (with `[v6]` brackets kept on the host); the host is as written.
pub(crate) fn split_host_port(value: &str) -> (&str, Option<&str>) {
    if value.starts_with('[') {
        if let Some(end) = value.find(']') {
            let (host, rest) = value.split_at(end + 1);
            return (host, rest.strip_prefix(':'));
        }
        return (value, None);
    }
    match value.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (value, None),
    }
}

/// An origin split into lower-case scheme and host, and the port if given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

/// Parses `http(s)://host[:port]` (a single trailing `/` is tolerated).
pub(crate) fn parse_origin(value: &str) -> Option<Origin> {
    let (scheme, rest) = value.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty()
        || rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '?' | '#'))
    {
        return None;
    }
    let (host, port) = split_host_port(rest);
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => None,
    };
    Some(Origin {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
    })
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
            Some(h) if !self.policy.host_allowed(&h) => Some(
                "Host is not allowed (DNS rebinding protection); add it to server.allowed_hosts",
            ),
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
        let p = OriginPolicy::new(vec!["localhost".into()], vec!["https://app.example".into()]);
        assert!(p.origin_allowed("https://app.example"));
        assert!(!p.origin_allowed("http://localhost:3000"));
    }
}
