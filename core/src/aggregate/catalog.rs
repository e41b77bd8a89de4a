//! The merged catalog: every upstream's tools, prompts, resources and templates under one
//! namespace, with the exposed-name → (upstream, original name) tables that route calls.
//!
//! Items are kept as JSON objects, not rmcp structs, so fields an upstream sends that this build
//! does not know (newer spec revisions, `_meta`, vendor extensions) reach the client unchanged;
//! only `name` is rewritten. Each list is also pre-serialized, so `tools/list` is a copy.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::arguments::ArgumentCheck;

/// One upstream's lists, as fetched (original names).
#[derive(Debug, Default, Clone)]
pub(crate) struct UpstreamLists {
    pub(crate) tools: Vec<Map<String, Value>>,
    /// Compiled `inputSchema`s by original tool name (empty when arguments are not checked).
    pub(crate) arguments: HashMap<String, Arc<ArgumentCheck>>,
    pub(crate) prompts: Vec<Map<String, Value>>,
    pub(crate) resources: Vec<Map<String, Value>>,
    pub(crate) templates: Vec<Map<String, Value>>,
}

/// Where an exposed tool or prompt lives.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) upstream: usize,
    pub(crate) original: Arc<str>,
    /// For a tool whose arguments are checked: its compiled `inputSchema`.
    pub(crate) arguments: Option<Arc<ArgumentCheck>>,
    /// The item as listed (exposed name): for policies that check what is being called.
    pub(crate) definition: Option<Arc<RawValue>>,
}

/// One merged list: raw items in order.
#[derive(Debug, Default)]
pub(crate) struct MergedList {
    pub(crate) items: Vec<Arc<RawValue>>,
}

impl MergedList {
    /// `{"<key>":[items…],"nextCursor":"…"}` for the page starting at `offset`.
    pub(crate) fn page(&self, key: &str, offset: usize, page_size: usize) -> String {
        let end = if page_size == 0 {
            self.items.len()
        } else {
            offset.saturating_add(page_size).min(self.items.len())
        };
        let start = offset.min(end);
        let len: usize = self.items[start..end]
            .iter()
            .map(|i| i.get().len() + 1)
            .sum();
        let mut out = String::with_capacity(len + key.len() + 32);
        out.push_str("{\"");
        out.push_str(key);
        out.push_str("\":[");
        for (i, item) in self.items[start..end].iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(item.get());
        }
        out.push(']');
        if end < self.items.len() {
            out.push_str(",\"nextCursor\":\"");
            out.push_str(&end.to_string());
            out.push('"');
        }
        out.push('}');
        out
    }
}

/// The merged view across all upstreams.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub(crate) tools: MergedList,
    pub(crate) tool_routes: HashMap<String, Route>,
    pub(crate) prompts: MergedList,
    pub(crate) prompt_routes: HashMap<String, Route>,
    pub(crate) resources: MergedList,
    pub(crate) resource_routes: HashMap<String, usize>,
    pub(crate) templates: MergedList,
    /// (literal prefix of the URI template, upstream), longest prefix first.
    pub(crate) template_routes: Vec<(String, usize)>,
}

/// Which tools of an upstream are exposed (LiteLLM's `allowed_tools` / `disallowed_tools`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    /// Only these original names, when set.
    pub allowed: Option<Vec<String>>,
    /// Never these original names.
    pub denied: Vec<String>,
}

impl ToolFilter {
    pub(crate) fn admits(&self, name: &str) -> bool {
        if self.denied.iter().any(|d| d == name) {
            return false;
        }
        self.allowed
            .as_ref()
            .is_none_or(|a| a.iter().any(|x| x == name))
    }
}

/// Per-upstream inputs to a merge.
pub(crate) struct MergeInput<'a> {
    pub(crate) name: &'a str,
    /// Names are exposed as `{prefix}{separator}{name}` (as they are when empty).
    pub(crate) prefix: &'a str,
    pub(crate) lists: Option<&'a UpstreamLists>,
    pub(crate) filter: &'a ToolFilter,
}

impl Catalog {
    /// Builds the merged catalog. On an exposed-name collision the first upstream (config
    /// order) wins and the other item is left out with a warning.
    pub(crate) fn merge(inputs: &[MergeInput<'_>], separator: Option<&str>) -> Catalog {
        let mut c = Catalog::default();
        for (idx, input) in inputs.iter().enumerate() {
            let Some(lists) = input.lists else { continue };
            for tool in &lists.tools {
                let Some(name) = tool.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if !input.filter.admits(name) {
                    continue;
                }
                add_named(
                    &mut c.tools,
                    &mut c.tool_routes,
                    tool,
                    input,
                    name,
                    separator,
                    Route {
                        upstream: idx,
                        original: name.into(),
                        arguments: lists.arguments.get(name).cloned(),
                        definition: None,
                    },
                    "tool",
                );
            }
            for prompt in &lists.prompts {
                let Some(name) = prompt.get("name").and_then(Value::as_str) else {
                    continue;
                };
                add_named(
                    &mut c.prompts,
                    &mut c.prompt_routes,
                    prompt,
                    input,
                    name,
                    separator,
                    Route {
                        upstream: idx,
                        original: name.into(),
                        arguments: None,
                        definition: None,
                    },
                    "prompt",
                );
            }
            for res in &lists.resources {
                let Some(uri) = res.get("uri").and_then(Value::as_str) else {
                    continue;
                };
                if c.resource_routes.contains_key(uri) {
                    tracing::warn!(
                        upstream = input.name,
                        uri,
                        "resource URI already served by another upstream; left out"
                    );
                    continue;
                }
                c.resource_routes.insert(uri.to_string(), idx);
                push_raw(
                    &mut c.resources,
                    &prefixed_name(res, input.prefix, separator),
                );
            }
            for t in &lists.templates {
                let Some(tpl) = t.get("uriTemplate").and_then(Value::as_str) else {
                    continue;
                };
                let prefix = tpl.split('{').next().unwrap_or(tpl).to_string();
                c.template_routes.push((prefix, idx));
                push_raw(&mut c.templates, &prefixed_name(t, input.prefix, separator));
            }
        }
        c.template_routes
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        c
    }

    /// Which upstream serves `uri`: an exact resource first, then the longest template prefix.
    pub(crate) fn resource_upstream(&self, uri: &str) -> Option<usize> {
        if let Some(i) = self.resource_routes.get(uri) {
            return Some(*i);
        }
        self.template_routes
            .iter()
            .find(|(prefix, _)| !prefix.is_empty() && uri.starts_with(prefix.as_str()))
            .map(|(_, i)| *i)
    }
}

#[allow(clippy::too_many_arguments)]
fn add_named(
    list: &mut MergedList,
    routes: &mut HashMap<String, Route>,
    item: &Map<String, Value>,
    input: &MergeInput<'_>,
    name: &str,
    separator: Option<&str>,
    mut route: Route,
    what: &str,
) {
    let exposed = exposed_name(input.prefix, separator, name);
    if routes.contains_key(&exposed) {
        tracing::warn!(upstream = input.name, name = %exposed, "{what} name collides with one already exposed; left out");
        return;
    }
    let mut item = item.clone();
    item.insert("name".into(), Value::String(exposed.clone()));
    route.definition = push_raw(list, &item);
    routes.insert(exposed, route);
}

/// Resources keep their URI (clients and links use it) but get a prefixed `name`, so the merged
/// list says where each came from.
fn prefixed_name(
    item: &Map<String, Value>,
    prefix: &str,
    separator: Option<&str>,
) -> Map<String, Value> {
    let mut item = item.clone();
    if let Some(Value::String(n)) = item.get("name") {
        let n = exposed_name(prefix, separator, n);
        item.insert("name".into(), Value::String(n));
    }
    item
}

/// `{prefix}{separator}{name}`, or `name` unchanged when the prefix is empty or there is no
/// separator (one upstream behind a bridge).
fn exposed_name(prefix: &str, separator: Option<&str>, name: &str) -> String {
    match separator {
        Some(sep) if !prefix.is_empty() => format!("{prefix}{sep}{name}"),
        _ => name.to_string(),
    }
}

/// Appends `item`, encoded once; returns it as stored.
fn push_raw(list: &mut MergedList, item: &Map<String, Value>) -> Option<Arc<RawValue>> {
    match serde_json::value::to_raw_value(item) {
        Ok(raw) => {
            let raw: Arc<RawValue> = Arc::from(raw);
            list.items.push(raw.clone());
            Some(raw)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not encode a list item");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Map<String, Value> {
        let v = serde_json::json!({"name": name, "inputSchema": {"type": "object"}, "x-vendor": 1});
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn same_tool_name_on_two_servers_is_namespaced() {
        let a = UpstreamLists {
            tools: vec![tool("echo")],
            ..Default::default()
        };
        let b = a.clone();
        let f = ToolFilter::default();
        let c = Catalog::merge(
            &[
                MergeInput {
                    name: "a",
                    prefix: "a",
                    lists: Some(&a),
                    filter: &f,
                },
                MergeInput {
                    name: "b",
                    prefix: "b",
                    lists: Some(&b),
                    filter: &f,
                },
            ],
            Some("__"),
        );
        assert_eq!(c.tools.items.len(), 2);
        assert_eq!(c.tool_routes["a__echo"].upstream, 0);
        assert_eq!(c.tool_routes["b__echo"].upstream, 1);
        assert_eq!(&*c.tool_routes["b__echo"].original, "echo");
        let page: Value = serde_json::from_str(&c.tools.page("tools", 0, 0)).expect("json");
        assert_eq!(page["tools"][1]["name"], "b__echo");
        assert_eq!(
            page["tools"][1]["x-vendor"], 1,
            "unknown fields pass through"
        );
    }

    #[test]
    fn exposed_name_collision_keeps_the_first() {
        let a = UpstreamLists {
            tools: vec![tool("y__z")],
            ..Default::default()
        };
        let b = UpstreamLists {
            tools: vec![tool("z")],
            ..Default::default()
        };
        let f = ToolFilter::default();
        let c = Catalog::merge(
            &[
                MergeInput {
                    name: "x",
                    prefix: "x",
                    lists: Some(&a),
                    filter: &f,
                },
                MergeInput {
                    name: "x__y",
                    prefix: "x__y",
                    lists: Some(&b),
                    filter: &f,
                },
            ],
            Some("__"),
        );
        assert_eq!(c.tools.items.len(), 1);
        assert_eq!(c.tool_routes["x__y__z"].upstream, 0);
    }

    #[test]
    fn pages_carry_a_cursor_until_the_end() {
        let lists = UpstreamLists {
            tools: (0..5).map(|i| tool(&format!("t{i}"))).collect(),
            ..Default::default()
        };
        let f = ToolFilter::default();
        let c = Catalog::merge(
            &[MergeInput {
                name: "s",
                prefix: "s",
                lists: Some(&lists),
                filter: &f,
            }],
            Some("__"),
        );
        let p: Value = serde_json::from_str(&c.tools.page("tools", 0, 2)).expect("json");
        assert_eq!(p["tools"].as_array().map(Vec::len), Some(2));
        assert_eq!(p["nextCursor"], "2");
        let p: Value = serde_json::from_str(&c.tools.page("tools", 4, 2)).expect("json");
        assert_eq!(p["tools"].as_array().map(Vec::len), Some(1));
        assert!(p.get("nextCursor").is_none());
    }

    #[test]
    fn filters_hide_tools() {
        let lists = UpstreamLists {
            tools: vec![tool("a"), tool("b"), tool("c")],
            ..Default::default()
        };
        let f = ToolFilter {
            allowed: Some(vec!["a".into(), "b".into()]),
            denied: vec!["b".into()],
        };
        let c = Catalog::merge(
            &[MergeInput {
                name: "s",
                prefix: "s",
                lists: Some(&lists),
                filter: &f,
            }],
            Some("__"),
        );
        assert!(c.tool_routes.contains_key("s__a"));
        assert!(!c.tool_routes.contains_key("s__b"));
        assert!(!c.tool_routes.contains_key("s__c"));
    }

    #[test]
    fn templates_route_by_longest_prefix() {
        let t = |u: &str| match serde_json::json!({"uriTemplate": u, "name": "t"}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let a = UpstreamLists {
            templates: vec![t("demo://{x}")],
            ..Default::default()
        };
        let b = UpstreamLists {
            templates: vec![t("demo://echo/{x}")],
            ..Default::default()
        };
        let f = ToolFilter::default();
        let c = Catalog::merge(
            &[
                MergeInput {
                    name: "a",
                    prefix: "a",
                    lists: Some(&a),
                    filter: &f,
                },
                MergeInput {
                    name: "b",
                    prefix: "b",
                    lists: Some(&b),
                    filter: &f,
                },
            ],
            Some("__"),
        );
        assert_eq!(c.resource_upstream("demo://echo/hi"), Some(1));
        assert_eq!(c.resource_upstream("demo://other"), Some(0));
        assert_eq!(c.resource_upstream("file:///x"), None);
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    fn tool(name: &str) -> Map<String, Value> {
        match serde_json::json!({"name": name, "inputSchema": {"type": "object"}}) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_prefix_replaces_the_server_name_and_an_empty_one_exposes_names_as_they_are() {
        let a = UpstreamLists {
            tools: vec![tool("echo"), tool("add")],
            ..Default::default()
        };
        let b = UpstreamLists {
            tools: vec![tool("echo"), tool("sum")],
            ..Default::default()
        };
        let f = ToolFilter::default();
        let c = Catalog::merge(
            &[
                MergeInput {
                    name: "first",
                    prefix: "",
                    lists: Some(&a),
                    filter: &f,
                },
                MergeInput {
                    name: "second",
                    prefix: "two",
                    lists: Some(&b),
                    filter: &f,
                },
            ],
            Some("__"),
        );
        assert_eq!(c.tool_routes["echo"].upstream, 0);
        assert_eq!(&*c.tool_routes["echo"].original, "echo");
        assert_eq!(c.tool_routes["add"].upstream, 0);
        assert_eq!(c.tool_routes["two__echo"].upstream, 1);
        assert_eq!(&*c.tool_routes["two__sum"].original, "sum");
        assert!(!c.tool_routes.contains_key("second__echo"));
    }

    #[test]
    fn with_two_unprefixed_servers_a_colliding_name_keeps_the_first() {
        let a = UpstreamLists {
            tools: vec![tool("echo")],
            ..Default::default()
        };
        let b = a.clone();
        let f = ToolFilter::default();
        let c = Catalog::merge(
            &[
                MergeInput {
                    name: "a",
                    prefix: "",
                    lists: Some(&a),
                    filter: &f,
                },
                MergeInput {
                    name: "b",
                    prefix: "",
                    lists: Some(&b),
                    filter: &f,
                },
            ],
            Some("__"),
        );
        assert_eq!(c.tools.items.len(), 1);
        assert_eq!(c.tool_routes["echo"].upstream, 0);
    }
}
