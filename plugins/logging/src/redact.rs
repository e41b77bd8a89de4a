//! Secret redaction for anything that goes into a log line.
//!
//! Two rules: a value under a key that names a secret (`authorization`, `api_key`, `token`,
//! `secret`, `password`, `cookie`, `credential`, … ignoring case, `-` and `_`) is replaced by
//! `[REDACTED]` when it is a string (numbers such as `max_tokens: 100` stay); and any string
//! that looks like a credential — `Bearer …`/`Basic …`, a JWT, well-known API-key shapes
//! (`sk-…`, `ghp_…`, `xoxb-…`, `AKIA…`, `AIza…`, `glpat-…`), or `token=…`/`api_key=…` in a URL
//! or text — has that part replaced.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Key fragments (lower case, without `-` and `_`) that mark a secret.
const SECRET_KEYS: &[&str] = &[
    "authorization",
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "cookie",
    "credential",
    "privatekey",
    "accesskey",
    "signature",
    "sessionid",
];

struct Pattern {
    regex: Regex,
    replacement: &'static str,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    [
        // Authorization header values.
        (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}", "$1 [REDACTED]"),
        // JSON Web Tokens.
        (
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            REDACTED,
        ),
        // Well-known API key shapes.
        (
            r"\b(?:sk|rk|pk)[-_](?:live_|test_|proj-|ant-)?[A-Za-z0-9_-]{16,}",
            REDACTED,
        ),
        (r"\bgh[pousr]_[A-Za-z0-9]{20,}", REDACTED),
        (r"\bgithub_pat_[A-Za-z0-9_]{20,}", REDACTED),
        (r"\bxox[abprs]-[A-Za-z0-9-]{10,}", REDACTED),
        (r"\bAKIA[0-9A-Z]{16}\b", REDACTED),
        (r"\bAIza[0-9A-Za-z_-]{35}", REDACTED),
        (r"\bglpat-[A-Za-z0-9_-]{20,}", REDACTED),
        // `token=…`, `api_key=…`, `password=…` in URLs and text.
        (
            r"(?i)\b([a-z0-9_-]*(?:api[_-]?key|token|secret|password|passwd|signature|sig))=([^&\s]+)",
            "$1=[REDACTED]",
        ),
    ]
    .into_iter()
    .filter_map(|(re, replacement)| match Regex::new(re) {
        Ok(regex) => Some(Pattern { regex, replacement }),
        Err(e) => {
            tracing::error!(pattern = re, error = %e, "redaction pattern does not compile");
            None
        }
    })
    .collect()
});

fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Redacts secrets in log output: the built-in rules plus extra secret key fragments.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    extra_keys: Vec<String>,
}

impl Redactor {
    /// The built-in rules.
    pub fn new() -> Self {
        Self::default()
    }
    /// Also treats keys containing any of `keys` (ignoring case, `-` and `_`) as secrets.
    #[must_use]
    pub fn with_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.extra_keys.extend(
            keys.into_iter()
                .map(|k| normalize(k.as_ref()))
                .filter(|k| !k.is_empty()),
        );
        self
    }

    /// Whether values under `key` are secrets.
    pub fn is_secret_key(&self, key: &str) -> bool {
        let k = normalize(key);
        SECRET_KEYS.iter().any(|s| k.contains(s))
            || self.extra_keys.iter().any(|s| k.contains(s.as_str()))
    }

    /// `text` with credential-looking parts replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for p in PATTERNS.iter() {
            if let Cow::Owned(s) = p.regex.replace_all(&out, p.replacement) {
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// Redacts `value` in place.
    pub fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(r) = self.text(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if self.is_secret_key(k) {
                        blank_strings(v);
                    } else {
                        self.value(v);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Replaces every string inside `value` (a secret's value may be a list or a map of strings).
fn blank_strings(value: &mut Value) {
    match value {
        Value::String(s) => *s = REDACTED.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(blank_strings),
        Value::Object(map) => map.values_mut().for_each(blank_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_redacted_whatever_their_spelling() {
        let mut v = serde_json::json!({
            "name": "demo__fetch",
            "arguments": {
                "url": "https://example.com/a?x=1",
                "API-Key": "k-123",
                "apiKey": "k-456",
                "headers": {"Authorization": "whatever", "Accept": "text/plain", "X-Api-Key": ["a", "b"]},
                "client_secret": "s",
                "password": "hunter2",
                "max_tokens": 100,
                "note": "fine"
            }
        });
        Redactor::new().value(&mut v);
        let a = &v["arguments"];
        assert_eq!(a["API-Key"], REDACTED);
        assert_eq!(a["apiKey"], REDACTED);
        assert_eq!(a["headers"]["Authorization"], REDACTED);
        assert_eq!(a["headers"]["Accept"], "text/plain");
        assert_eq!(
            a["headers"]["X-Api-Key"],
            serde_json::json!([REDACTED, REDACTED])
        );
        assert_eq!(a["client_secret"], REDACTED);
        assert_eq!(a["password"], REDACTED);
        assert_eq!(a["max_tokens"], 100, "numbers are not secrets");
        assert_eq!(a["note"], "fine");
        assert_eq!(v["name"], "demo__fetch");
    }

    #[test]
    fn credential_looking_strings_are_redacted_anywhere() {
        let r = Redactor::new();
        let cases = [
            ("Bearer abcdef123456", "Bearer [REDACTED]"),
            (
                "use sk-proj-abcdefghijklmnopqrstuv now",
                "use [REDACTED] now",
            ),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123", REDACTED),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
                REDACTED,
            ),
            (
                "https://h/x?api_key=abc123&page=2",
                "https://h/x?api_key=[REDACTED]&page=2",
            ),
            ("AKIAABCDEFGHIJKLMNOP", REDACTED),
            ("xoxb-1234567890-abc", REDACTED),
        ];
        for (input, want) in cases {
            assert_eq!(r.text(input), want, "{input}");
        }
        assert!(matches!(r.text("hello world"), Cow::Borrowed(_)));
    }

    #[test]
    fn extra_keys_extend_the_rules() {
        let r = Redactor::new().with_keys(["X-Internal"]);
        let mut v = serde_json::json!({"x_internal_id": "abc", "other": "x"});
        r.value(&mut v);
        assert_eq!(v["x_internal_id"], REDACTED);
        assert_eq!(v["other"], "x");
    }
}
