//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that tells an MCP client
//! which authorization server issues tokens for this gateway.
//!
//! It is served at `/.well-known/oauth-protected-resource` plus the resource's path (RFC 9728
//! §3.1: `http://host/mcp` → `/.well-known/oauth-protected-resource/mcp`) and, for clients that
//! look there, at the bare well-known path. Both are public: the authentication layer lets
//! them through, and 401 answers point at the first one in `resource_metadata="…"`.

use std::convert::Infallible;
use std::future::Ready;
use std::task::{Context, Poll};

use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolgate::server::McpBody;
use tower::Service;

use crate::config::ConfigError;

/// The well-known path prefix of RFC 9728.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The metadata document (the fields an MCP client uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectedResourceMetadata {
    /// This gateway's resource identifier: the absolute URL clients use for the MCP endpoint
    /// (`http://127.0.0.1:4000/mcp`). Tokens should name it as their audience.
    pub resource: String,
    /// Issuer URLs of the authorization servers that issue tokens for it. Default: the JWT
    /// issuer, when one is configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes clients may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// How bearer tokens are sent (default `["header"]`).
    #[serde(default = "header_only")]
    pub bearer_methods_supported: Vec<String>,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// A page for people about this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

fn header_only() -> Vec<String> {
    vec!["header".into()]
}

impl ProtectedResourceMetadata {
    /// A document for `resource`.
    pub fn new(resource: impl Into<String>) -> Self {
        ProtectedResourceMetadata {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: None,
            bearer_methods_supported: header_only(),
            resource_name: None,
            resource_documentation: None,
        }
    }
    /// Adds an authorization server.
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Checks that `resource` is an absolute http(s) URL without a fragment (RFC 9728 §1.2).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let uri: http::Uri = self.resource.parse().map_err(|e| {
            ConfigError::new(format!(
                "resource_metadata.resource '{}' is not a URL: {e}",
                self.resource
            ))
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https"))
            || uri.authority().is_none()
            || self.resource.contains('#')
        {
            return Err(ConfigError::new(format!(
                "resource_metadata.resource '{}' must be an absolute http(s) URL without a \
                 fragment, such as http://127.0.0.1:4000/mcp",
                self.resource
            )));
        }
        Ok(())
    }

    /// The path of the resource identifier (`/mcp`), without a trailing `/`; empty for `/`.
    fn resource_path(&self) -> String {
        self.resource
            .parse::<http::Uri>()
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    /// The paths the document is served at: the RFC 9728 one first.
    pub fn paths(&self) -> Vec<String> {
        let path = self.resource_path();
        if path.is_empty() {
            vec![WELL_KNOWN.to_string()]
        } else {
            vec![format!("{WELL_KNOWN}{path}"), WELL_KNOWN.to_string()]
        }
    }

    /// The document's absolute URL, for `WWW-Authenticate: Bearer resource_metadata="…"`.
    pub fn url(&self) -> String {
        let origin = self
            .resource
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)))
            .unwrap_or_default();
        format!("{origin}{WELL_KNOWN}{}", self.resource_path())
    }

    /// A service answering `GET` with the document.
    pub fn service(&self) -> MetadataService {
        MetadataService {
            body: serde_json::to_string(self).unwrap_or_else(|_| "{}".into()),
        }
    }
}

/// Serves one metadata document: 200 JSON on `GET`/`HEAD`, 405 otherwise.
#[derive(Debug, Clone)]
pub struct MetadataService {
    body: String,
}

impl<B> Service<Request<B>> for MetadataService {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<McpBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let response = if req.method() == Method::GET || req.method() == Method::HEAD {
            let mut r = Response::new(McpBody::full(self.body.clone()));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
            r
        } else {
            let mut r = toolgate::server::plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "the protected-resource metadata is read with GET",
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        };
        std::future::ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_url_follow_rfc_9728() {
        let m = ProtectedResourceMetadata::new("http://127.0.0.1:4000/mcp");
        assert_eq!(
            m.paths(),
            [
                "/.well-known/oauth-protected-resource/mcp",
                "/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            m.url(),
            "http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp"
        );
        let root = ProtectedResourceMetadata::new("https://gw.example/");
        assert_eq!(root.paths(), ["/.well-known/oauth-protected-resource"]);
        assert_eq!(
            root.url(),
            "https://gw.example/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn the_resource_must_be_an_absolute_url() {
        assert!(ProtectedResourceMetadata::new("/mcp").validate().is_err());
        assert!(
            ProtectedResourceMetadata::new("http://h/mcp#x")
                .validate()
                .is_err()
        );
        assert!(
            ProtectedResourceMetadata::new("ftp://h/mcp")
                .validate()
                .is_err()
        );
        assert!(
            ProtectedResourceMetadata::new("http://h/mcp")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn the_document_has_the_rfc_member_names() {
        let m = ProtectedResourceMetadata::new("http://h/mcp").authorization_server("https://as");
        let v: serde_json::Value =
            serde_json::from_str(&m.service().body).expect("the document is JSON");
        assert_eq!(v["resource"], "http://h/mcp");
        assert_eq!(v["authorization_servers"][0], "https://as");
        assert_eq!(v["bearer_methods_supported"][0], "header");
    }
}
