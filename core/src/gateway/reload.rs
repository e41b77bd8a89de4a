//! Reloading a running gateway from a new builder: the MCP-plane layers, every upstream's
//! layers, the HTTP-plane layers, routes and Host/Origin policy are swapped in; sessions and
//! upstream connections stay. What a reload cannot change is reported, not applied.

use std::sync::Arc;

use super::{Gateway, GatewayBuilder, GatewayParts, stacks};
use crate::aggregate::ToolFilter;
use crate::server::HttpOptions;
use crate::upstream::{OutlierDetection, UpstreamOptions, UpstreamSpec};

/// The settings a reload cannot change: upstreams and transport limits.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RestartSettings {
    /// Name, specs (of every replica), filter, argument checks and outlier detection of each
    /// upstream (its layers can be reloaded).
    upstreams: Vec<(
        String,
        Vec<UpstreamSpec>,
        ToolFilter,
        bool,
        OutlierDetection,
    )>,
    separator: Option<String>,
    page_size: usize,
    http: HttpOptions,
    upstream_options: UpstreamOptions,
}

impl RestartSettings {
    pub(super) fn of(b: &GatewayBuilder) -> Self {
        RestartSettings {
            upstreams: b
                .upstreams
                .iter()
                .map(|u| {
                    (
                        u.name.clone(),
                        std::iter::once(&u.spec)
                            .chain(&u.replicas)
                            .cloned()
                            .collect(),
                        u.filter.clone(),
                        u.validate_arguments,
                        u.outlier,
                    )
                })
                .collect(),
            separator: b.separator.clone(),
            page_size: b.page_size,
            http: b.http.clone(),
            upstream_options: b.upstream_options.clone(),
        }
    }

    /// What `new` changes, in config-file terms.
    pub(super) fn changes(&self, new: &RestartSettings) -> Vec<String> {
        let mut out = Vec::new();
        for entry in &new.upstreams {
            let name = &entry.0;
            match self.upstreams.iter().find(|u| &u.0 == name) {
                None => out.push(format!("mcp_servers.{name} added")),
                Some(old) if old != entry => out.push(format!("mcp_servers.{name} changed")),
                Some(_) => {}
            }
        }
        for (name, ..) in &self.upstreams {
            if !new.upstreams.iter().any(|u| &u.0 == name) {
                out.push(format!("mcp_servers.{name} removed"));
            }
        }
        let (o, n) = (&self.http, &new.http);
        let (ou, nu) = (&self.upstream_options, &new.upstream_options);
        for (changed, what) in [
            (self.separator != new.separator, "server.separator"),
            (self.page_size != new.page_size, "page size"),
            (
                o.max_body_bytes != n.max_body_bytes,
                "server.max_body_bytes",
            ),
            (
                o.session_idle_timeout != n.session_idle_timeout,
                "server.session_idle_timeout",
            ),
            (o.keep_alive != n.keep_alive, "server.keep_alive"),
            (o.session_seal != n.session_seal, "server.session_secret"),
            (
                o.max_sessions != n.max_sessions || o.stream_queue != n.stream_queue,
                "HTTP session limits",
            ),
            (
                ou.request_timeout != nu.request_timeout,
                "server.request_timeout",
            ),
            (
                ou.connect_timeout != nu.connect_timeout
                    || ou.initial_backoff != nu.initial_backoff
                    || ou.max_backoff != nu.max_backoff,
                "upstream connection settings",
            ),
        ] {
            if changed {
                out.push(format!("{what} changed"));
            }
        }
        out
    }
}

/// What [`Gateway::reload`] did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Reloaded {
    /// Settings the new builder changes that take effect only after a restart (upstreams,
    /// transport limits), in config-file terms: `mcp_servers.github changed`.
    pub needs_restart: Vec<String>,
}

impl Gateway {
    /// Rebuilds the MCP-plane stack, each upstream's layers, the HTTP-plane layers, the extra
    /// routes, the MCP path and the Host/Origin policy from `builder`, and swaps them in while
    /// serving: sessions stay open, requests in flight finish on the old stacks, new ones take
    /// the new. Upstream connections and transport limits stay as they are; where `builder`
    /// differs there, the difference is listed in [`Reloaded::needs_restart`]. Must run inside a
    /// tokio runtime.
    pub fn reload(&self, builder: GatewayBuilder) -> Reloaded {
        let needs_restart = self.inner.settings.changes(&RestartSettings::of(&builder));
        let old = &self.inner.parts;
        old.aggregate.replace_stacks(stacks::upstream_stacks(
            &old.aggregate,
            builder.upstreams,
            &builder.per_upstream,
            &builder.upstream_options,
        ));
        old.aggregate.replace_checks(builder.checks);
        let service = stacks::mcp_plane(builder.stack, &old.aggregate);
        let parts = GatewayParts {
            service: service.clone(),
            ..old.clone()
        };
        let guarded = stacks::http_plane(
            &parts,
            &builder.mcp_path,
            builder.routes,
            builder.http_stack,
            builder.origin,
        );
        for f in builder.assembled {
            f(&parts);
        }
        old.dispatcher.replace_service(service);
        self.inner.router.guarded.store(Arc::new(guarded));
        Reloaded { needs_restart }
    }
}
