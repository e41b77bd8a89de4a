//! Parsers and checks for individual configuration values (URLs, names, header names, host
//! and origin patterns), and the "did you mean" hint.
//!
//! Each takes the value after environment expansion and returns an [`Issue`]
//! describing what is wrong; the caller attaches the key path and line.

use crate::server::guard::{parse_origin, split_host_port};
use std::net::SocketAddr;

use super::error::Issue;

/// Checks a server name: non-empty, `[A-Za-z0-9_-]+`.
pub(crate) fn check_server_name(name: &str) -> Result<(), Issue> {
    if name.is_empty() {
        return Err(Issue::invalid(
            "a server name may not be empty (it becomes the prefix of the server's tool names)",
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(Issue::invalid(format!(
            "invalid server name '{name}': it contains {bad:?}, but may only contain letters, \
             digits, '_' and '-' (it becomes the prefix of the server's tool names)"
        )));
    }
    Ok(())
}

/// Rejects an empty string.
pub(crate) fn non_empty(value: String) -> Result<String, Issue> {
    if value.trim().is_empty() {
        Err(Issue::invalid("must not be empty"))
    } else {
        Ok(value)
    }
}

/// Any string, unchanged.
pub(crate) fn any_string(value: String) -> Result<String, Issue> {
    Ok(value)
}

/// Checks an upstream URL: `http://` or `https://` with a host.
pub(crate) fn parse_url(value: String) -> Result<String, Issue> {
    let bad = |why: &str| {
        Issue::invalid(format!(
            "invalid url '{value}': {why} (expected an http:// or https:// URL such as \
             https://example.com/mcp)"
        ))
    };
    let uri: http::Uri = match value.parse() {
        Ok(uri) => uri,
        Err(err) => return Err(bad(&err.to_string())),
    };
    match uri.scheme_str() {
        Some(scheme)
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {}
        Some(scheme) => return Err(bad(&format!("the scheme '{scheme}' is not supported"))),
        None => return Err(bad("it has no scheme")),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(value),
        _ => Err(bad("it has no host")),
    }
}

/// Whether an upstream URL's path ends in `/sse` (LiteLLM's rule for inferring SSE).
pub(crate) fn url_looks_like_sse(url: &str) -> bool {
    let path = url
        .parse::<http::Uri>()
        .map(|uri| uri.path().to_owned())
        .unwrap_or_default();
    path.trim_end_matches('/').ends_with("/sse")
}

/// Checks an HTTP header name.
pub(crate) fn check_header_name(name: &str) -> Result<(), Issue> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| {
            Issue::invalid(format!(
                "invalid HTTP header name '{name}': header names are letters, digits and \
                 !#$%&'*+-.^_`|~ without spaces or ':'"
            ))
        })
}

/// Checks an HTTP header value (no control characters such as newlines).
pub(crate) fn header_value(value: String) -> Result<String, Issue> {
    http::HeaderValue::from_str(&value)
        .map(|_| value.clone())
        .map_err(|_| {
            Issue::invalid(
                "invalid HTTP header value: it contains a newline or other control character",
            )
        })
}

/// Checks an environment variable name for a stdio server's `env`.
pub(crate) fn check_env_name(name: &str) -> Result<(), Issue> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        Err(Issue::invalid(format!(
            "invalid environment variable name '{name}': it may not be empty or contain '=' or NUL"
        )))
    } else {
        Ok(())
    }
}

/// Checks the tool-name separator: non-empty, characters of `[A-Za-z0-9_.-]`.
pub(crate) fn parse_separator(value: String) -> Result<String, Issue> {
    if value.is_empty() {
        return Err(Issue::invalid("the tool-name separator may not be empty"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(Issue::invalid(format!(
            "invalid separator '{value}': it contains {bad:?}, but may only contain letters, \
             digits, '_', '.' and '-' (MCP tool names allow no other characters)"
        )));
    }
    Ok(value)
}

/// Checks the MCP endpoint path: starts with `/`, no whitespace, query or fragment.
pub(crate) fn parse_mcp_path(value: String) -> Result<String, Issue> {
    if !value.starts_with('/') {
        return Err(Issue::invalid(format!(
            "invalid path '{value}': it must start with '/', such as /mcp"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(Issue::invalid(format!(
            "invalid path '{value}': it may not contain whitespace, '?' or '#'"
        )));
    }
    Ok(value)
}

/// Parses the listen address, such as `127.0.0.1:4000` or `[::1]:4000`.
pub(crate) fn parse_listen(value: String) -> Result<SocketAddr, Issue> {
    value.trim().parse().map_err(|_| {
        Issue::invalid(format!(
            "invalid listen address '{value}': expected an IP address and port such as \
             127.0.0.1:4000, 0.0.0.0:4000 or [::1]:4000"
        ))
    })
}

/// Checks an `allowed_hosts` entry: `*`, or a host name or IP (a port, if given, is ignored).
pub(crate) fn parse_host_entry(value: String) -> Result<String, Issue> {
    if value == "*" {
        return Ok(value);
    }
    let (host, _) = split_host_port(&value);
    if host.is_empty()
        || host.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | ',' | '?' | '#')
        })
    {
        return Err(Issue::invalid(format!(
            "invalid host '{value}': expected a host name or IP address such as localhost, \
             127.0.0.1 or [::1], or \"*\" to allow any host"
        )));
    }
    Ok(value)
}

/// Checks an `allowed_origins` entry: `*`, or `http(s)://host[:port]`.
pub(crate) fn parse_origin_entry(value: String) -> Result<String, Issue> {
    if value == "*" || parse_origin(&value).is_some() {
        Ok(value)
    } else {
        Err(Issue::invalid(format!(
            "invalid origin '{value}': expected \"*\" or an origin such as \
             http://localhost or https://app.example.com:8443 (scheme, host and optional port, \
             no path)"
        )))
    }
}

/// A close match for `word` among `candidates`, for "did you mean" hints.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let normalized = |s: &str| s.to_ascii_lowercase().replace(['-', '_'], "");
    candidates
        .iter()
        .map(|c| {
            let distance = if normalized(c) == normalized(word) {
                0
            } else {
                levenshtein(&lower, &c.to_ascii_lowercase())
            };
            (distance, *c)
        })
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 4) && *distance < c.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            let insertion = current[j] + 1;
            let deletion = previous[j + 1] + 1;
            current.push(substitution.min(insertion).min(deletion));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(parse_url("https://example.com/mcp".into()).is_ok());
        assert!(parse_url("http://localhost:8080/sse".into()).is_ok());
        assert!(parse_url("ftp://example.com".into()).is_err());
        assert!(parse_url("example.com/mcp".into()).is_err());
        assert!(parse_url("https://".into()).is_err());
        assert!(url_looks_like_sse("http://h/sse"));
        assert!(url_looks_like_sse("http://h/a/sse/?x=1"));
        assert!(!url_looks_like_sse("http://h/mcp"));
        assert!(!url_looks_like_sse("http://h/?path=/sse"));
    }

    #[test]
    fn hosts_and_origins() {
        assert_eq!(
            split_host_port("localhost:4000"),
            ("localhost", Some("4000"))
        );
        assert_eq!(split_host_port("[::1]:4000"), ("[::1]", Some("4000")));
        assert_eq!(split_host_port("[::1]"), ("[::1]", None));
        assert_eq!(split_host_port("::1"), ("::1", None));
        assert!(parse_origin("http://localhost:3000").is_some());
        assert!(parse_origin("https://[::1]").is_some());
        assert!(parse_origin("http://localhost/path").is_none());
        assert!(parse_origin("null").is_none());
        assert!(parse_origin_entry("ftp://x".into()).is_err());
        assert!(parse_host_entry("bad host".into()).is_err());
    }

    #[test]
    fn names() {
        assert!(check_server_name("my-server_1").is_ok());
        assert!(check_server_name("").is_err());
        assert!(check_server_name("a.b").is_err());
        assert!(parse_separator("__".into()).is_ok());
        assert!(parse_separator("".into()).is_err());
        assert!(parse_separator("/".into()).is_err());
        assert_eq!(
            suggest("comand", &["url", "command", "args"]),
            Some("command")
        );
        assert_eq!(
            suggest("mcpservers", &["mcp_servers", "mcpServers"]),
            Some("mcp_servers")
        );
        assert_eq!(suggest("zzz", &["url", "command"]), None);
    }
}
