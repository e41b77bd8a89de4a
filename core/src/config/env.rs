//! Environment variable expansion in configuration string values.
//!
//! Supported forms, anywhere inside a string value:
//! - `${NAME}`: the value of `NAME`; an error if it is not set.
//! - `${NAME:-default}`: the value of `NAME`, or `default` when `NAME` is unset or
//!   empty. The default may itself contain `${...}` references.
//! - `$$`: a literal `$`.
//!
//! A `$` followed by anything else is kept as it is. In addition, LiteLLM's
//! `os.environ/NAME`, when it is the whole string value, is replaced by the value
//! of `NAME` (an error if it is not set).

use super::error::{ConfigErrorKind, Issue};

/// Looks up an environment variable by name.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The lookup used by default: the process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// Expands environment variable references in `input`.
pub(crate) fn expand(input: &str, env: EnvLookup<'_>) -> Result<String, Issue> {
    if let Some(name) = input.strip_prefix("os.environ/")
        && is_var_name(name)
    {
        return env(name).ok_or_else(|| {
            Issue::new(
                ConfigErrorKind::MissingVariable,
                format!(
                    "environment variable '{name}' is not set (referenced as os.environ/{name})"
                ),
            )
        });
    }
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut parser = Parser {
        text: input,
        pos: 0,
        env,
    };
    let out = parser.expand_until(false, true)?;
    Ok(out)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Parser<'t, 'e> {
    text: &'t str,
    pos: usize,
    env: EnvLookup<'e>,
}

impl<'t> Parser<'t, '_> {
    fn rest(&self) -> &'t str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// Expands text up to the end of input or, when `nested`, up to the `}` that
    /// closes the current `${NAME:-...}` default (consumed). With `evaluate` false,
    /// unset variables are not errors (the text is a default that is not used).
    fn expand_until(&mut self, nested: bool, evaluate: bool) -> Result<String, Issue> {
        let mut out = String::new();
        loop {
            let rest = self.rest();
            let Some(offset) = rest.find(if nested { &['$', '}'][..] } else { &['$'][..] }) else {
                if nested {
                    return Err(self.unterminated());
                }
                out.push_str(rest);
                self.pos = self.text.len();
                return Ok(out);
            };
            out.push_str(&rest[..offset]);
            let special = &rest[offset..];
            self.pos += offset;
            if special.starts_with('}') {
                self.pos += 1;
                return Ok(out);
            }
            if special.starts_with("$$") {
                out.push('$');
                self.pos += 2;
            } else if special.starts_with("${") {
                self.pos += 2;
                let value = self.reference(evaluate)?;
                out.push_str(&value);
            } else {
                out.push('$');
                self.pos += 1;
            }
        }
    }

    /// Parses `NAME}` or `NAME:-default}` after a `${`.
    fn reference(&mut self, evaluate: bool) -> Result<String, Issue> {
        let start = self.pos - 2;
        let rest = self.rest();
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let after = &rest[name_len..];
        if !is_var_name(name) || !(after.starts_with('}') || after.starts_with(":-")) {
            if !after.contains('}') {
                return Err(self.unterminated_at(start));
            }
            let shown: String = self.text[start..].chars().take(40).collect();
            return Err(Issue::invalid(format!(
                "invalid variable reference '{shown}': expected ${{NAME}} or ${{NAME:-default}} \
                 where NAME is letters, digits and _ (write $$ for a literal $)"
            )));
        }
        self.pos += name_len;
        let value = if evaluate { (self.env)(name) } else { None };
        if after.starts_with('}') {
            self.pos += 1;
            if !evaluate {
                return Ok(String::new());
            }
            return value.ok_or_else(|| {
                Issue::new(
                    ConfigErrorKind::MissingVariable,
                    format!(
                        "environment variable '{name}' is not set \
                         (write ${{{name}:-default}} to give a default)"
                    ),
                )
            });
        }
        self.pos += 2;
        let use_default = value.as_deref().is_none_or(str::is_empty);
        let default = self.expand_until(true, evaluate && use_default)?;
        Ok(match value {
            Some(value) if !use_default => value,
            _ => default,
        })
    }

    fn unterminated(&self) -> Issue {
        let start = self.text[..self.pos].rfind("${").unwrap_or(0);
        self.unterminated_at(start)
    }

    fn unterminated_at(&self, start: usize) -> Issue {
        let shown: String = self.text[start..].chars().take(40).collect();
        Issue::invalid(format!(
            "unterminated variable reference '{shown}': missing '}}' (write $$ for a literal $)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME_DIR" => Some("/home/me".to_owned()),
            "EMPTY" => Some(String::new()),
            "TOKEN" => Some("s3cret".to_owned()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, Issue> {
        expand(text, &env)
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(run("hello world").as_deref(), Ok("hello world"));
        assert_eq!(run("cost $5 and $").as_deref(), Ok("cost $5 and $"));
    }

    #[test]
    fn braces_and_defaults() {
        assert_eq!(run("${HOME_DIR}/x").as_deref(), Ok("/home/me/x"));
        assert_eq!(run("a${TOKEN}b${TOKEN}").as_deref(), Ok("as3cretbs3cret"));
        assert_eq!(run("${NOPE:-fallback}").as_deref(), Ok("fallback"));
        assert_eq!(run("${EMPTY:-fallback}").as_deref(), Ok("fallback"));
        assert_eq!(run("${TOKEN:-fallback}").as_deref(), Ok("s3cret"));
        assert_eq!(run("${NOPE:-}").as_deref(), Ok(""));
        assert_eq!(run("${NOPE:-${TOKEN}}!").as_deref(), Ok("s3cret!"));
        assert_eq!(run("${TOKEN:-${NOPE}}").as_deref(), Ok("s3cret"));
        assert_eq!(run("${NOPE:-a $$ b}").as_deref(), Ok("a $ b"));
    }

    #[test]
    fn dollar_dollar_is_literal() {
        assert_eq!(run("$${TOKEN}").as_deref(), Ok("${TOKEN}"));
        assert_eq!(run("a$$b").as_deref(), Ok("a$b"));
    }

    #[test]
    fn os_environ() {
        assert_eq!(run("os.environ/TOKEN").as_deref(), Ok("s3cret"));
        let err = run("os.environ/NOPE").err();
        assert_eq!(err.map(|e| e.kind), Some(ConfigErrorKind::MissingVariable));
        assert_eq!(
            run("x os.environ/TOKEN").as_deref(),
            Ok("x os.environ/TOKEN")
        );
    }

    #[test]
    fn errors() {
        let missing = run("${NOPE}").err();
        assert!(
            matches!(&missing, Some(i) if i.kind == ConfigErrorKind::MissingVariable && i.message.contains("'NOPE'"))
        );
        for bad in ["${TOKEN", "${", "${NOPE:-abc", "${1X}", "${A B}"] {
            let issue = run(bad).err();
            assert!(
                matches!(&issue, Some(i) if i.kind == ConfigErrorKind::InvalidValue),
                "{bad}: {issue:?}"
            );
        }
    }
}
