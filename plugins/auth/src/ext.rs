//! [`GatewayBuilderExt`]: the same layers as `use: auth` / `use: authorize`, added in Rust.

use toolgate::gateway::GatewayBuilder;
use toolgate::server::HttpService;

use crate::authn::{Auth, AuthenticateLayer, AuthenticateRequest};
use crate::authz::{AccessPolicy, AuthorizeLayer};

/// Adds authentication and authorization to a [`GatewayBuilder`].
pub trait GatewayBuilderExt: Sized {
    /// Authentication (HTTP plane) with everything [`Auth`] carries: the layer, the RFC 9728
    /// metadata routes, and the per-key policy.
    fn auth(self, auth: Auth) -> Self;
    /// Just an authentication layer (for a custom [`AuthenticateRequest`]).
    fn authenticate<A: AuthenticateRequest>(self, layer: AuthenticateLayer<A>) -> Self;
    /// Authorization (MCP plane) with `policy`, deciding per server with the gateway's
    /// aggregate.
    fn authorize(self, policy: impl AccessPolicy) -> Self;
}

/// `builder.with(auth)`: the same as [`GatewayBuilderExt::auth`].
impl toolgate::gateway::Install for Auth {
    fn install(self, builder: GatewayBuilder) -> GatewayBuilder {
        builder.auth(self)
    }
}

impl GatewayBuilderExt for GatewayBuilder {
    fn auth(self, auth: Auth) -> Self {
        let mut b = self.authenticate(auth.layer());
        if let Some(doc) = auth.metadata() {
            for path in doc.paths() {
                let service = doc.service();
                b = b.route(path, move |_| HttpService::new(service));
            }
        }
        if let Some(rules) = auth.key_policy_rules() {
            b = b.authorize(rules.clone());
        }
        b
    }

    fn authenticate<A: AuthenticateRequest>(self, layer: AuthenticateLayer<A>) -> Self {
        self.http_layer(layer)
    }

    fn authorize(self, policy: impl AccessPolicy) -> Self {
        self.layer(AuthorizeLayer::new(policy))
    }
}
