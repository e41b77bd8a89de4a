//! Keeping the catalog current: one refresher task per upstream re-lists it on status changes
//! and `notifications/*/list_changed`, and tells every downstream session what changed.

use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::catalog::{Catalog, MergeInput, UpstreamLists};
use super::{Aggregate, Inner, MAX_PAGES};
use crate::arguments;
use crate::error::McpError;
use crate::outbound::Outbound;
use crate::session::Downstream;
use crate::upstream::{ListKind, Upstream, UpstreamEvent, UpstreamStatus};

impl Aggregate {
    /// Re-lists `kinds` of upstream `idx` (or forgets it when it is not ready) and, if
    /// `announce`, tells clients about merged lists that changed.
    async fn refresh(inner: &Arc<Inner>, idx: usize, kinds: &[ListKind], announce: bool) {
        let Some(member) = inner.members.get(idx) else {
            return;
        };
        let upstream = &member.upstream;
        let new_lists = match upstream.status() {
            UpstreamStatus::Ready(info) => {
                let mut lists = inner
                    .lists
                    .lock()
                    .get(idx)
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                let caps = &info.capabilities;
                for kind in kinds {
                    match kind {
                        ListKind::Tools if caps.tools.is_some() => {
                            lists.tools = fetch_all(upstream, "tools/list", "tools").await;
                            lists.arguments = if member.validate_arguments {
                                arguments::compile_all(upstream.name(), &lists.tools)
                            } else {
                                Default::default()
                            };
                        }
                        ListKind::Prompts if caps.prompts.is_some() => {
                            lists.prompts = fetch_all(upstream, "prompts/list", "prompts").await;
                        }
                        ListKind::Resources if caps.resources.is_some() => {
                            lists.resources =
                                fetch_all(upstream, "resources/list", "resources").await;
                            lists.templates = fetch_all(
                                upstream,
                                "resources/templates/list",
                                "resourceTemplates",
                            )
                            .await;
                        }
                        _ => {}
                    }
                }
                Some(lists)
            }
            _ => None,
        };
        // Slot update, merge and swap under one lock: two upstreams refreshing at once must not
        // publish a merge that misses the other's lists.
        let (old, new) = {
            let mut lists = inner.lists.lock();
            if let Some(slot) = lists.get_mut(idx) {
                *slot = new_lists;
            }
            let new = Arc::new(Self::rebuild(inner, &lists));
            let old = std::mem::replace(&mut *inner.catalog.write(), new.clone());
            (old, new)
        };
        for (changed, method) in [
            (
                !same(&old.tools.items, &new.tools.items),
                "notifications/tools/list_changed",
            ),
            (
                !same(&old.prompts.items, &new.prompts.items),
                "notifications/prompts/list_changed",
            ),
            (
                !same(&old.resources.items, &new.resources.items)
                    || !same(&old.templates.items, &new.templates.items),
                "notifications/resources/list_changed",
            ),
        ] {
            if changed && announce {
                let _ = inner
                    .notifications
                    .send(Outbound::notification(method, None));
            }
        }
    }

    fn rebuild(inner: &Inner, lists: &[Option<UpstreamLists>]) -> Catalog {
        let inputs: Vec<MergeInput<'_>> = inner
            .members
            .iter()
            .zip(lists.iter())
            .map(|(m, l)| MergeInput {
                name: m.upstream.name(),
                prefix: &m.prefix,
                lists: l.as_ref(),
                filter: &m.filter,
            })
            .collect();
        Catalog::merge(&inputs, inner.separator.as_deref())
    }
}

fn same(a: &[Arc<RawValue>], b: &[Arc<RawValue>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.get() == y.get())
}

const ALL_KINDS: [ListKind; 3] = [ListKind::Tools, ListKind::Prompts, ListKind::Resources];

/// Keeps one upstream's share of the catalog current.
pub(super) async fn refresher(inner: std::sync::Weak<Inner>, idx: usize) {
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let Some(member) = strong.members.get(idx) else {
        return;
    };
    let mut events = member.upstream.events();
    let mut status = member.upstream.watch_status();
    let upstream_ready = status
        .wait_for(|s| !matches!(s, UpstreamStatus::Starting))
        .await
        .is_ok_and(|s| s.is_ready());
    if upstream_ready {
        // The first listing is start-up, not a change worth announcing — unless it comes after
        // the start-up grace, when clients may already have listed without it.
        let late = strong.grace_over();
        Aggregate::refresh(&strong, idx, &ALL_KINDS, late).await;
    }
    strong.settled.send_modify(|c| *c += 1);
    drop(strong);
    loop {
        let event = events.recv().await;
        let Some(inner) = inner.upgrade() else { return };
        match event {
            Ok(UpstreamEvent::StatusChanged(_)) | Err(broadcast::error::RecvError::Lagged(_)) => {
                Aggregate::refresh(&inner, idx, &ALL_KINDS, true).await
            }
            Ok(UpstreamEvent::ListChanged(_, kind)) => {
                Aggregate::refresh(&inner, idx, &[kind], true).await
            }
            Ok(UpstreamEvent::ResourceUpdated(_, params)) => {
                super::subscriptions::updated(&inner, idx, params)
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Fetches every page of one list. A failing upstream yields what it gave so far.
async fn fetch_all(upstream: &Upstream, method: &str, key: &str) -> Vec<Map<String, Value>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        next_cursor: Option<String>,
        #[serde(flatten)]
        rest: Map<String, Value>,
    }
    let never = CancellationToken::new();
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor
            .as_ref()
            .and_then(|c| serde_json::value::to_raw_value(&serde_json::json!({"cursor": c})).ok());
        let limit = upstream.options().request_timeout;
        let call = upstream.call(method, params.as_deref(), Downstream::none(), &never);
        let result = match tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(McpError::internal(format!(
                "no answer to {method} within {limit:?}"
            )))
        }) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(upstream = upstream.name(), method, error = %e, "listing failed");
                break;
            }
        };
        let Ok(mut page) = serde_json::from_str::<Page>(result.get()) else {
            tracing::warn!(
                upstream = upstream.name(),
                method,
                "upstream sent a malformed list"
            );
            break;
        };
        if let Some(Value::Array(list)) = page.rest.remove(key) {
            items.extend(list.into_iter().filter_map(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            }));
        }
        match page.next_cursor {
            Some(c) if !c.is_empty() && Some(&c) != cursor.as_ref() => cursor = Some(c),
            _ => break,
        }
    }
    items
}
