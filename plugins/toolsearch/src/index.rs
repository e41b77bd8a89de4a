//! The search index over one caller's tools: BM25 (the `bm25` crate, English stemming and stop
//! words) over each tool's name split into words, title, description and parameter names.

use std::fmt;

use bm25::{Document, Language, SearchEngine, SearchEngineBuilder};
use serde_json::Value;

/// A searchable catalog of tool definitions (as `tools/list` shows them).
pub struct Index {
    engine: Option<SearchEngine<u32>>,
    tools: Vec<Value>,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("tools", &self.tools.len())
            .finish()
    }
}

impl Index {
    /// Indexes `tools` (tool definitions: `name`, `title`, `description`, `inputSchema`).
    pub fn new(tools: Vec<Value>) -> Index {
        let documents: Vec<Document<u32>> = tools
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some(Document::new(u32::try_from(i).ok()?, words_of(t))))
            .collect();
        let engine = (!documents.is_empty()).then(|| {
            SearchEngineBuilder::<u32>::with_documents(Language::English, documents).build()
        });
        Index { engine, tools }
    }

    /// How many tools it holds.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether it holds no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The best `limit` matches for `query`, best first, with their scores.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(&Value, f32)> {
        let Some(engine) = &self.engine else {
            return Vec::new();
        };
        engine
            .search(&split_words(query), limit)
            .into_iter()
            .filter_map(|r| {
                let i = usize::try_from(r.document.id).ok()?;
                Some((self.tools.get(i)?, r.score))
            })
            .collect()
    }
}

/// What a tool is found by: its name in words (twice, so a name matches above a mention), its
/// title and description, and its parameters' names.
fn words_of(tool: &Value) -> String {
    let mut text = String::new();
    let mut add = |s: &str| {
        text.push_str(s);
        text.push(' ');
    };
    if let Some(name) = tool.get("name").and_then(Value::as_str) {
        let words = split_words(name);
        add(&words);
        add(&words);
    }
    for key in ["title", "description"] {
        if let Some(s) = tool.get(key).and_then(Value::as_str) {
            add(s);
        }
    }
    if let Some(props) = tool
        .get("inputSchema")
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        for name in props.keys() {
            add(&split_words(name));
        }
    }
    text
}

/// `github__create_issue` → `github create issue`; `getWeatherNow` → `get Weather Now`.
fn split_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut prev_lower = false;
    for c in s.chars() {
        if matches!(c, '_' | '-' | '.' | '/' | ':') {
            out.push(' ');
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_are_split_into_words() {
        assert_eq!(split_words("github__create_issue"), "github  create issue");
        assert_eq!(split_words("getWeatherNow"), "get Weather Now");
        assert_eq!(split_words("plain words stay"), "plain words stay");
    }

    #[test]
    fn the_best_match_comes_first() {
        let index = Index::new(vec![
            json!({"name": "github__create_issue", "description": "Open a new issue in a repository.",
                   "inputSchema": {"properties": {"repo": {}, "title": {}}}}),
            json!({"name": "weather__forecast", "description": "Tomorrow's weather for a city.",
                   "inputSchema": {"properties": {"city": {}}}}),
            json!({"name": "files__read_file", "description": "Read a file from disk."}),
        ]);
        let names = |q: &str| -> Vec<String> {
            index
                .search(q, 3)
                .iter()
                .filter_map(|(t, _)| t["name"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(
            names("weather in a city").first().map(String::as_str),
            Some("weather__forecast")
        );
        assert_eq!(
            names("create issues").first().map(String::as_str),
            Some("github__create_issue")
        );
        assert_eq!(
            names("read file").first().map(String::as_str),
            Some("files__read_file")
        );
        assert!(names("zebra").is_empty());
        assert!(Index::new(Vec::new()).search("anything", 5).is_empty());
    }
}
