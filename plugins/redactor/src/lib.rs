//! `redactor`: a toolgate plugin that removes secrets — API keys, tokens, private keys — from
//! what tools return, before the client (and the model behind it) sees them.
//!
//! Every string in the result of `tools/call`, `resources/read` and `prompts/get` (configurable)
//! is scanned: text content, `structuredContent`, resource contents. So are the params of the
//! notifications sent while such a request runs. A match is replaced by `[REDACTED:NAME]`
//! (configurable); for patterns like `api_key = VALUE` only the value is replaced.
//!
//! ```yaml
//! plugin_dirs: [./plugins]
//! layers:
//!   - dylib: ./plugins/libtoolgate_plugin_redactor.so
//!     config:
//!       replacement: "[REDACTED:{name}]"    # default
//!       patterns: {employee_id: "EMP-[0-9]{6}"}
//!       disable: [jwt]
//! ```
//!
//! Built-in patterns: `private_key` (PEM and OpenSSH blocks), `aws_access_key_id`,
//! `aws_secret_access_key`, `github_token`, `sk_api_key` (OpenAI/Anthropic-style `sk-…`),
//! `slack_token`, `google_api_key`, `stripe_key`, `jwt`, `bearer_token`, and `assigned_secret`
//! (`api_key: …`, `token=…`, `password: …` and the like).

use std::collections::BTreeMap;

use regex::Regex;
use toolgate_plugin_sdk::serde_json::Value;
use toolgate_plugin_sdk::{
    Decision, Interests, Notification, Plugin, Request, export_plugin, log, rewrite_strings,
};

/// The built-in patterns, applied in this order. A capture group named `secret` limits the
/// replacement to that part of the match.
const BUILTIN: &[(&str, &str)] = &[
    (
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    ),
    (
        "aws_access_key_id",
        r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b",
    ),
    (
        "aws_secret_access_key",
        r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9/+=]{40})"#,
    ),
    (
        "github_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    ),
    ("sk_api_key", r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("stripe_key", r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}"),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    ),
    (
        "bearer_token",
        r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)",
    ),
    (
        "assigned_secret",
        r#"(?i)\b(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|client[_-]?secret|access[_-]?key)["']?\s*[:=]\s*["']?(?P<secret>[^\s"',;\[\]]{8,})"#,
    ),
];

/// The plugin's settings.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What replaces a secret; `{name}` becomes the pattern's name.
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// Extra patterns, name → regular expression (Rust `regex` syntax); a group named
    /// `secret` limits the replacement to that group.
    #[serde(default)]
    pub patterns: BTreeMap<String, String>,
    /// Built-in patterns to switch off, by name.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Methods whose results are scanned.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// Also scan the notifications (progress messages) sent while those requests run.
    #[serde(default = "default_true")]
    pub notifications: bool,
}

fn default_replacement() -> String {
    "[REDACTED:{name}]".into()
}

fn default_methods() -> Vec<String> {
    ["tools/call", "resources/read", "prompts/get"]
        .map(String::from)
        .to_vec()
}

fn default_true() -> bool {
    true
}

/// Removes secrets from results.
#[derive(Debug)]
pub struct Redactor {
    patterns: Vec<(String, Regex)>,
    replacement: String,
    methods: Vec<String>,
    notifications: bool,
}

impl Redactor {
    /// Redacts every secret in `text`; returns the new text and how many were found.
    pub fn redact(&self, text: &str) -> (String, usize) {
        let mut out = text.to_owned();
        let mut found = 0;
        for (name, re) in &self.patterns {
            if !re.is_match(&out) {
                continue;
            }
            let replacement = self.replacement.replace("{name}", name);
            let mut next = String::with_capacity(out.len());
            let mut last = 0;
            for caps in re.captures_iter(&out) {
                let Some(m) = caps.name("secret").or_else(|| caps.get(0)) else {
                    continue;
                };
                next.push_str(&out[last..m.start()]);
                next.push_str(&replacement);
                last = m.end();
                found += 1;
            }
            next.push_str(&out[last..]);
            out = next;
        }
        (out, found)
    }

    /// Redacts every string inside `value`; returns how many secrets were found.
    fn redact_value(&self, value: &mut Value) -> usize {
        let mut found = 0;
        rewrite_strings(value, &mut |s| {
            let (new, n) = self.redact(s);
            found += n;
            (n > 0).then_some(new)
        });
        found
    }
}

impl Plugin for Redactor {
    const NAME: &'static str = "redactor";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        for name in &config.disable {
            if !BUILTIN.iter().any(|(n, _)| n == name) {
                let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "disable: no built-in pattern '{name}'; the built-in patterns are {}",
                    known.join(", ")
                ));
            }
        }
        let mut patterns = Vec::new();
        for (name, re) in BUILTIN {
            if !config.disable.iter().any(|d| d == name) {
                let re = Regex::new(re).map_err(|e| format!("built-in pattern {name}: {e}"))?;
                patterns.push(((*name).to_owned(), re));
            }
        }
        for (name, re) in &config.patterns {
            let re = Regex::new(re).map_err(|e| format!("patterns.{name}: {e}"))?;
            patterns.push((name.clone(), re));
        }
        Ok(Redactor {
            patterns,
            replacement: config.replacement,
            methods: config.methods,
            notifications: config.notifications,
        })
    }

    fn interests(&self) -> Interests {
        let interests = Interests::none()
            .methods(self.methods.iter().cloned())
            .responses();
        if self.notifications {
            interests.notifications()
        } else {
            interests
        }
    }

    fn on_response(&self, request: &Request, result: &Value) -> Decision {
        let mut result = result.clone();
        match self.redact_value(&mut result) {
            0 => Decision::Continue,
            n => {
                log::info(format!(
                    "redacted {n} secret(s) from the result of {} {}",
                    request.method,
                    request.context.target.as_deref().unwrap_or("")
                ));
                Decision::ContinueWith(result)
            }
        }
    }

    fn on_notification(&self, _: &Request, notification: &Notification) -> Decision {
        let mut params = notification.params.clone();
        match self.redact_value(&mut params) {
            0 => Decision::Continue,
            _ => Decision::ContinueWith(params),
        }
    }
}

export_plugin!(Redactor);

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_plugin_sdk::serde_json::{self, json};

    fn redactor(config: Value) -> Redactor {
        let config: Config = serde_json::from_value(config).expect("config");
        Redactor::new(config).expect("builds")
    }

    #[test]
    fn each_builtin_pattern_is_redacted() {
        let r = redactor(json!({}));
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        let cases = [
            ("private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----".to_owned()),
            ("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----".to_owned()),
            ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE".to_owned()),
            ("github_token", format!("ghp_{}", "a1B2".repeat(9))),
            ("sk_api_key", "sk-proj-abcdefghijklmnopqrstuvwx1234".to_owned()),
            ("sk_api_key", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz".to_owned()),
            ("slack_token", "xoxb-1234567890-abcdefghij".to_owned()),
            ("google_api_key", format!("AIza{}", "x".repeat(35))),
            ("stripe_key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_owned()),
            ("jwt", jwt.to_owned()),
        ];
        for (name, secret) in cases {
            let text = format!("before {secret} after");
            let (out, n) = r.redact(&text);
            assert_eq!(n, 1, "{name}: {out}");
            assert_eq!(out, format!("before [REDACTED:{name}] after"), "{name}");
        }
    }

    #[test]
    fn assignments_and_bearer_tokens_keep_their_label() {
        let r = redactor(json!({}));
        assert_eq!(
            r.redact("api_key=hunter2hunter2 rest").0,
            "api_key=[REDACTED:assigned_secret] rest"
        );
        assert_eq!(
            r.redact(r#"{"password": "correcthorse"}"#).0,
            r#"{"password": "[REDACTED:assigned_secret]"}"#
        );
        assert_eq!(
            r.redact("Authorization: Bearer abcdefghijklmnop1234").0,
            "Authorization: Bearer [REDACTED:bearer_token]"
        );
        assert_eq!(
            r.redact("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
                .0,
            "aws_secret_access_key = [REDACTED:aws_secret_access_key]"
        );
        // A secret already replaced by a specific pattern is not redacted twice.
        let token = format!("ghp_{}", "Z9".repeat(20));
        assert_eq!(
            r.redact(&format!("token: {token}")).0,
            "token: [REDACTED:github_token]"
        );
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let r = redactor(json!({}));
        for text in [
            "the token is valid",
            "sky-high prices",
            "password reset sent",
            "ask-me-anything",
            "AKIA is a prefix",
        ] {
            assert_eq!(r.redact(text), (text.to_owned(), 0), "{text}");
        }
    }

    #[test]
    fn results_are_rewritten_everywhere_and_untouched_ones_continue() {
        let r = redactor(json!({}));
        let req = Request {
            method: "tools/call".into(),
            ..Request::default()
        };
        let result = json!({
            "content": [{"type": "text", "text": "key AKIAIOSFODNN7EXAMPLE"}],
            "structuredContent": {"nested": ["sk-abcdefghijklmnopqrstuvwxyz"]},
            "isError": false
        });
        let Decision::ContinueWith(out) = r.on_response(&req, &result) else {
            panic!("expected a rewrite");
        };
        assert_eq!(
            out["content"][0]["text"],
            "key [REDACTED:aws_access_key_id]"
        );
        assert_eq!(
            out["structuredContent"]["nested"][0],
            "[REDACTED:sk_api_key]"
        );
        assert_eq!(out["isError"], false);
        let clean = json!({"content": [{"type": "text", "text": "hello"}]});
        assert_eq!(r.on_response(&req, &clean), Decision::Continue);
    }

    #[test]
    fn config_adds_disables_and_rewords() {
        let r = redactor(json!({
            "replacement": "<{name}>",
            "patterns": {"employee_id": "EMP-[0-9]{6}"},
            "disable": ["aws_access_key_id"],
            "methods": ["tools/call"],
            "notifications": false
        }));
        assert_eq!(r.redact("EMP-123456").0, "<employee_id>");
        assert_eq!(r.redact("AKIAIOSFODNN7EXAMPLE").1, 0);
        let i = r.interests();
        assert!(i.wants("tools/call") && !i.wants("resources/read"));
        assert!(i.response && !i.notification && !i.request);
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let bad: Config =
            serde_json::from_value(json!({"patterns": {"broken": "(unclosed"}})).expect("parses");
        let e = Redactor::new(bad).expect_err("bad regex");
        assert!(e.contains("patterns.broken"), "{e}");
        let bad: Config = serde_json::from_value(json!({"disable": ["nope"]})).expect("parses");
        let e = Redactor::new(bad).expect_err("unknown pattern");
        assert!(e.contains("'nope'") && e.contains("private_key"), "{e}");
        assert!(serde_json::from_value::<Config>(json!({"replacment": "x"})).is_err());
    }
}
