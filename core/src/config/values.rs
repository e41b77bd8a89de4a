//! Parsers and checks for individual configuration values (durations, sizes, URLs,
//! names, header names, host and origin patterns).
//!
//! Each takes the value after environment expansion and returns an [`Issue`]
//! describing what is wrong; the caller attaches the key path and line.

use crate::server::guard::{parse_origin, split_host_port};
use std::net::SocketAddr;
use std::time::Duration;

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

const DURATION_HELP: &str = "expected a number of seconds, or a string such as \"30s\", \"5m\", \
                             \"1h\", \"1h30m\" or \"500ms\"";

/// A duration given as a whole number of seconds.
pub(crate) fn duration_from_secs(secs: u64) -> Result<Duration, Issue> {
    if secs == 0 {
        return Err(Issue::invalid(format!(
            "the duration must be greater than zero ({DURATION_HELP})"
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// Parses a duration string: whole seconds (`"30"`) or number-unit pairs with units
/// `ms`, `s`, `m`, `h` (`"30s"`, `"5m"`, `"1h30m"`).
pub(crate) fn parse_duration(value: String) -> Result<Duration, Issue> {
    let text = value.trim();
    let bad = || Issue::invalid(format!("invalid duration '{value}': {DURATION_HELP}"));
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return duration_from_secs(text.parse().map_err(|_| bad())?);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(number.checked_mul(3600).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    if total.is_zero() {
        return Err(Issue::invalid(format!(
            "the duration must be greater than zero ({DURATION_HELP})"
        )));
    }
    Ok(total)
}

const SIZE_HELP: &str =
    "expected a number of bytes, or a string such as \"4194304\", \"512KiB\", \"4MiB\" or \"1GiB\"";

/// A size given as a whole number of bytes.
pub(crate) fn size_from_u64(bytes: u64) -> Result<usize, Issue> {
    if bytes == 0 {
        return Err(Issue::invalid(format!(
            "the size must be greater than zero ({SIZE_HELP})"
        )));
    }
    usize::try_from(bytes).map_err(|_| Issue::invalid(format!("the size {bytes} is too large")))
}

/// Parses a size string: bytes, or a number with suffix `KiB`, `MiB` or `GiB`.
pub(crate) fn parse_size(value: String) -> Result<usize, Issue> {
    let text = value.trim();
    let bad = || Issue::invalid(format!("invalid size '{value}': {SIZE_HELP}"));
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let number: u64 = text[..digits].parse().map_err(|_| bad())?;
    let factor: u64 = match text[digits..].trim_start() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    size_from_u64(number.checked_mul(factor).ok_or_else(bad)?)
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
    fn durations() {
        assert_eq!(parse_duration("30s".into()), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m".into()), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h".into()), Ok(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration("1h30m".into()),
            Ok(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("1500ms".into()),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(parse_duration("45".into()), Ok(Duration::from_secs(45)));
        for bad in ["", "s", "5x", "5 m", "-5s", "0s", "0", "1.5s"] {
            assert!(parse_duration(bad.into()).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4MiB".into()), Ok(4 << 20));
        assert_eq!(parse_size("512 KiB".into()), Ok(512 << 10));
        assert_eq!(parse_size("100".into()), Ok(100));
        assert!(parse_size("0".into()).is_err());
        assert!(parse_size("4MB".into()).is_err());
    }

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
