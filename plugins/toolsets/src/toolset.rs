//! [`Toolset`]: which exposed tool names belong to a toolset, and a `tools/list` answer cut
//! down to them.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use indexmap::IndexMap;
use serde_json::value::RawValue;
use toolgate::{McpError, McpResponse};

use crate::error::Error;

/// A named bundle of tools: exposed names or globs over them, from any servers. Cheap to clone.
#[derive(Clone)]
pub struct Toolset {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    patterns: Vec<String>,
    globs: GlobSet,
}

impl fmt::Debug for Toolset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toolset")
            .field("name", &self.inner.name)
            .field("tools", &self.inner.patterns)
            .finish()
    }
}

/// Whether `name` can be the last segment of a toolset's path.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::new(format!(
            "toolset name '{name}' must be letters, digits, '_' and '-' only (it is the last \
             segment of the toolset's path)"
        )));
    }
    Ok(())
}

impl Toolset {
    /// The toolset `name` of the tools whose exposed names match one of `tools` (exact names
    /// or globs such as `github__search_*`).
    pub fn new<I, S>(name: &str, tools: I) -> Result<Toolset, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        check_name(name)?;
        let patterns: Vec<String> = tools.into_iter().map(Into::into).collect();
        if patterns.is_empty() {
            return Err(Error::new(format!(
                "toolsets.{name}.tools is empty; list the tools (exposed names or globs such \
                 as github__search_*)"
            )));
        }
        let mut b = GlobSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            let glob = Glob::new(p).map_err(|e| {
                Error::new(format!(
                    "toolsets.{name}.tools[{i}]: invalid glob '{p}': {e}"
                ))
            })?;
            b.add(glob);
        }
        let globs = b
            .build()
            .map_err(|e| Error::new(format!("toolsets.{name}.tools: {e}")))?;
        Ok(Toolset {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                patterns,
                globs,
            }),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether the tool exposed as `tool` is in it.
    pub fn admits(&self, tool: &str) -> bool {
        self.inner.globs.is_match(tool)
    }

    /// A `tools/list` answer with only this toolset's tools; everything else in it (the
    /// cursor, each tool as written) kept. An answer that is not a tool list passes unchanged.
    pub(crate) fn cut_list(&self, resp: McpResponse) -> Result<McpResponse, McpError> {
        #[derive(serde::Deserialize)]
        struct Named<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
        }
        let Ok(mut top) = serde_json::from_str::<IndexMap<&str, &RawValue>>(resp.result.get())
        else {
            return Ok(resp);
        };
        let Some(Ok(items)) = top
            .get("tools")
            .map(|t| serde_json::from_str::<Vec<&RawValue>>(t.get()))
        else {
            return Ok(resp);
        };
        let kept: Vec<&RawValue> = items
            .into_iter()
            .filter(|item| {
                serde_json::from_str::<Named<'_>>(item.get()).is_ok_and(|n| self.admits(&n.name))
            })
            .collect();
        let tools = serde_json::value::to_raw_value(&kept)
            .map_err(|e| McpError::internal(format!("toolset list: {e}")))?;
        top.insert("tools", &tools);
        let result = serde_json::value::to_raw_value(&top)
            .map_err(|e| McpError::internal(format!("toolset list: {e}")))?;
        Ok(McpResponse::new(result))
    }
}
