//! Tool names: MCP allows 1–128 characters (and servers send anything), OpenAI function names
//! must match `^[a-zA-Z0-9_-]{1,64}$`.
//!
//! A valid name is kept as it is. Any other name is mapped deterministically: every run of
//! characters outside `[a-zA-Z0-9_-]` becomes one `_`, the result is cut to a readable prefix,
//! and `_` plus 8 hex digits of the SHA-256 of the original name are appended, so two names
//! that sanitise alike still differ. The mapping cannot be undone by computation, so a
//! [`NameMap`] keeps both directions and a tool call comes back to the tool it was made for.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

/// Longest OpenAI function name.
pub const MAX_NAME_LEN: usize = 64;
/// Hex digits of the hash suffix of a mapped name (more only to break a collision).
const HASH_DIGITS: usize = 8;

/// Whether `name` is a valid OpenAI function name: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn is_valid_openai_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The OpenAI name of the MCP tool `name` on its own (no other names to avoid): `name` itself
/// when valid, else a sanitised prefix plus a short hash of `name`.
///
/// ```
/// use toolgate_openai::convert::openai_name;
/// assert_eq!(openai_name("demo__echo"), "demo__echo");
/// let mapped = openai_name("files.read file");
/// assert!(mapped.starts_with("files_read_file_"), "{mapped}");
/// assert_eq!(mapped.len(), "files_read_file_".len() + 8);
/// ```
pub fn openai_name(name: &str) -> Cow<'_, str> {
    if is_valid_openai_name(name) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(mapped_name(name, HASH_DIGITS))
    }
}

/// `{sanitised prefix}_{hash}`, at most [`MAX_NAME_LEN`] characters.
fn mapped_name(name: &str, digits: usize) -> String {
    let mut sanitised = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            sanitised.push(c);
            in_run = false;
        } else if !in_run {
            sanitised.push('_');
            in_run = true;
        }
    }
    let mut prefix = sanitised.trim_matches('_').to_string();
    if !prefix.bytes().any(|b| b.is_ascii_alphanumeric()) {
        // Nothing readable survived (a name in another script): say what it is instead.
        prefix = "tool".to_string();
    }
    // ASCII only from here on, so byte lengths are character counts.
    prefix.truncate(MAX_NAME_LEN - 1 - digits);
    let prefix = prefix.trim_end_matches('_');
    format!("{prefix}_{}", hex_hash(name, digits))
}

fn hex_hash(name: &str, digits: usize) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out.truncate(digits);
    out
}

/// Both directions of the name mapping for one set of tools.
///
/// Built from the whole list at once, so it is the same whatever order the names come in: valid
/// names keep themselves, then mapped names are assigned in sorted order, and a mapped name that
/// would collide with another gets a longer hash.
///
/// ```
/// use toolgate_openai::convert::NameMap;
/// let names = NameMap::new(["weather.get", "demo__echo"]);
/// let openai = names.to_openai("weather.get").expect("listed");
/// assert_eq!(names.to_mcp(openai), Some("weather.get"));
/// assert_eq!(names.to_openai("demo__echo"), Some("demo__echo"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap {
    to_openai: HashMap<String, String>,
    to_mcp: HashMap<String, String>,
}

impl NameMap {
    /// The mapping of `names` (MCP tool names). Duplicates are kept once.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let sorted: BTreeMap<String, ()> = names
            .into_iter()
            .map(|n| (n.as_ref().to_string(), ()))
            .collect();
        let mut map = NameMap::default();
        for name in sorted.keys().filter(|n| is_valid_openai_name(n)) {
            map.insert(name.clone(), name.clone());
        }
        for name in sorted.keys().filter(|n| !is_valid_openai_name(n)) {
            let mut digits = HASH_DIGITS;
            let mut candidate = mapped_name(name, digits);
            while map.to_mcp.contains_key(&candidate) && digits < 32 {
                digits += 4;
                candidate = mapped_name(name, digits);
            }
            map.insert(name.clone(), candidate);
        }
        map
    }

    fn insert(&mut self, mcp: String, openai: String) {
        self.to_mcp.insert(openai.clone(), mcp.clone());
        self.to_openai.insert(mcp, openai);
    }

    /// The OpenAI name of the MCP tool `mcp`, if it was in the list.
    pub fn to_openai(&self, mcp: &str) -> Option<&str> {
        self.to_openai.get(mcp).map(String::as_str)
    }

    /// The MCP tool an OpenAI function name stands for, if it was in the list.
    pub fn to_mcp(&self, openai: &str) -> Option<&str> {
        self.to_mcp.get(openai).map(String::as_str)
    }

    /// How many tools are mapped.
    pub fn len(&self) -> usize {
        self.to_openai.len()
    }

    /// Whether no tool is mapped.
    pub fn is_empty(&self) -> bool {
        self.to_openai.is_empty()
    }

    /// Every (MCP name, OpenAI name) pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.to_openai.iter().map(|(m, o)| (m.as_str(), o.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_valid(name: &str) {
        assert!(
            is_valid_openai_name(name),
            "not a valid OpenAI name: {name:?}"
        );
    }

    #[test]
    fn valid_names_are_kept() {
        for name in ["echo", "demo__echo", "a-b_C9", &"x".repeat(64)] {
            assert_eq!(openai_name(name), name);
        }
    }

    #[test]
    fn names_with_dots_are_mapped_readably() {
        let n = openai_name("files.read");
        assert_valid(&n);
        assert!(n.starts_with("files_read_"), "{n}");
    }

    #[test]
    fn names_with_spaces_are_mapped() {
        let n = openai_name("get weather now");
        assert_valid(&n);
        assert!(n.starts_with("get_weather_now_"), "{n}");
    }

    #[test]
    fn unicode_names_are_mapped_to_valid_names() {
        let n = openai_name("天気");
        assert_valid(&n);
        assert!(n.starts_with("tool_"), "{n}");
        let m = openai_name("météo.prévision");
        assert_valid(&m);
        assert!(m.starts_with("m_t_o_pr_vision_"), "{m}");
        assert_ne!(openai_name("天気"), openai_name("天候"));
    }

    #[test]
    fn two_hundred_character_names_keep_a_prefix_and_a_hash() {
        let long = format!("server__{}", "very_long_tool_name_".repeat(10));
        assert_eq!(long.len(), 208);
        let n = openai_name(&long);
        assert_valid(&n);
        assert_eq!(n.len(), MAX_NAME_LEN);
        assert!(n.starts_with("server__very_long_tool_name_"), "{n}");
        // Same prefix, different tail: different names.
        let other = format!("{long}x");
        assert_ne!(openai_name(&other), n);
    }

    #[test]
    fn mapping_is_deterministic() {
        assert_eq!(openai_name("a.b"), openai_name("a.b"));
        let one = NameMap::new(["a.b", "c d", "ok"]);
        let two = NameMap::new(["ok", "c d", "a.b"]);
        assert_eq!(one, two);
    }

    #[test]
    fn name_map_goes_both_ways() {
        let long = "t".repeat(200);
        let names = ["x.y", "x y", "plain", long.as_str(), "天気"];
        let map = NameMap::new(names);
        assert_eq!(map.len(), names.len());
        for name in names {
            let o = map.to_openai(name).expect("mapped");
            assert_valid(o);
            assert_eq!(map.to_mcp(o), Some(name));
        }
        assert_eq!(map.to_mcp("unknown"), None);
    }

    #[test]
    fn a_mapped_name_never_takes_a_valid_name() {
        // A server could expose, as a valid name, exactly what another name maps to.
        let mapped = openai_name("a.b").into_owned();
        let map = NameMap::new(["a.b", mapped.as_str()]);
        assert_eq!(map.to_openai(&mapped), Some(mapped.as_str()));
        let other = map.to_openai("a.b").expect("mapped");
        assert_ne!(other, mapped);
        assert_valid(other);
        assert_eq!(map.to_mcp(other), Some("a.b"));
    }

    #[test]
    fn empty_and_punctuation_only_names_are_mapped() {
        for name in ["", "...", "  "] {
            let n = openai_name(name);
            assert_valid(&n);
            assert!(n.starts_with("tool_"), "{n}");
        }
    }
}
