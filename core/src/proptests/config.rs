//! Configuration loading (`Config::from_yaml_str` / `from_json_str` / `from_str_with_env`) on
//! any text, on mutated valid configurations, and on configuration-shaped documents.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::json::{any_short_string, apply, edits};
use crate::config::{Config, ConfigError, ConfigFormat};

fn env(name: &str) -> Option<String> {
    match name {
        "SET" | "TG_TEST_TOKEN" => Some("tok123".into()),
        "TG_TEST_HOST" => Some("search.example.com".into()),
        "EMPTY" | "TG_TEST_EMPTY" => Some(String::new()),
        "NESTED" => Some("${SET}".into()),
        "DURATION" => Some("1h30m".into()),
        _ => None,
    }
}

fn parse(text: &str, format: ConfigFormat) -> Result<Config, ConfigError> {
    Config::from_str_with_env(text, format, env)
}

fn check_error(text: &str, e: &ConfigError) {
    let message = e.to_string();
    assert!(
        !message.trim().is_empty(),
        "an error without a message for {text:?}"
    );
    if let Some(line) = e.line() {
        let lines = line_count(text);
        assert!(
            (1..=lines + 1).contains(&line),
            "line {line} of a {lines}-line text: {message}"
        );
    }
    if let Some(path) = e.key_path() {
        assert!(!path.is_empty(), "an empty key path: {message}");
    }
    assert!(e.file().is_none());
}

/// Lines as the YAML reader counts them: `\n`, `\r\n`, a lone `\r`, and (YAML 1.1, which
/// libyaml follows) NEL, LS and PS end a line.
fn line_count(text: &str) -> usize {
    let text = text.replace("\r\n", "\n");
    1 + text
        .chars()
        .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count()
}

/// Whether the YAML reader takes every character of `text`: JSON strings may hold DEL and
/// the C1 controls raw, YAML refuses them ("control characters are not allowed"), so JSON
/// text is YAML only without them.
fn yaml_readable(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}')
            || ('\u{e000}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}'
    })
}

/// Either format on any text: never panics; the same text gives the same answer twice; an
/// error has a message, a line inside the text, no empty key path; a text that is valid JSON
/// configuration reads the same as YAML ("YAML accepts JSON text") when the YAML reader takes
/// its characters.
pub(super) fn check_config(text: &str) {
    let mut answers = Vec::new();
    for format in [ConfigFormat::Yaml, ConfigFormat::Json] {
        let first = parse(text, format);
        let again = parse(text, format);
        match (&first, &again) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the same text read twice differs"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("the same text read twice: {first:?} then {again:?}"),
        }
        if let Err(e) = &first {
            check_error(text, e);
        }
        answers.push(first);
    }
    if let (Ok(json), true) = (&answers[1], yaml_readable(text)) {
        match &answers[0] {
            Ok(yaml) => assert_eq!(yaml, json, "JSON text reads differently as YAML"),
            Err(e) => panic!("valid JSON configuration refused as YAML: {e}"),
        }
    }
    // The process-environment entry points, too (no variable here is likely to be set).
    let _ = Config::from_yaml_str(text);
    let _ = Config::from_json_str(text);
}

/// The valid configurations of the corpus (`config/valid-*`), as seeds for mutation.
fn seeds() -> Vec<String> {
    super::corpus("config")
        .into_iter()
        .filter(|(name, _)| name.starts_with("valid-"))
        .map(|(_, bytes)| String::from_utf8(bytes).expect("seeds are UTF-8"))
        .collect()
}

const TOP_KEYS: &[&str] = &[
    "mcp_servers",
    "mcpServers",
    "server",
    "layers",
    "model_list",
    "plugin_dirs",
];
const SERVER_KEYS: &[&str] = &[
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "transport",
    "type",
    "headers",
    "static_headers",
    "extra_headers",
    "auth_type",
    "authentication_token",
    "description",
    "allowed_tools",
    "disallowed_tools",
    "session_mode",
];
const SETTINGS_KEYS: &[&str] = &[
    "listen",
    "mcp_path",
    "separator",
    "allowed_hosts",
    "allowed_origins",
    "max_body_bytes",
    "session_idle_timeout",
    "request_timeout",
    "keep_alive",
    "allow_unauthenticated",
];

/// Strings that the value parsers and the environment expansion care about.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", " ", "x", "${SET}", "${UNSET}", "${UNSET:-d}", "${SET:-}", "${EMPTY:-e}",
            "${NESTED}", "$$", "$", "${", "${}", "${a b}", "$${SET}", "os.environ/SET",
            "os.environ/UNSET", "os.environ/", "a${SET}b${UNSET:-c}", "${DURATION}", "30s", "0",
            "0s", "1h30m", "500ms", "99999999999999999999h", "18446744073709551615s",
            "18446744073709551615m", "1.5s", "-5s", "4MiB", "17179869184GiB", "0B", "http://h/mcp",
            "https://h/sse", "http://h/sse/", "ftp://h", "http://", "https://[::1]:0/mcp",
            "127.0.0.1:4000", "[::1]:4000", "[::1]:99999", "0.0.0.0:0", "/mcp", "mcp", "/a?b",
            "*", "__", ".", "-", "a__b", "stdio", "sse", "http", "streamable_http", "websocket",
            "per_session", "shared", "none", "api_key", "bearer_token", "basic", "authorization",
            "X-Key", "bad header", "line\nbreak", "\u{0}", "é", "\u{feff}", "localhost",
            "http://localhost:3000", "null", "true", "~", "&a", "*a",
        ])
        .prop_map(str::to_string),
        1 => any_short_string(),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => tricky_string().prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => (0u64..100_000).prop_map(Value::from),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

/// A scalar, a short list of scalars, or a small map of scalars.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        2 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        1 => prop::collection::btree_map(tricky_string(), scalar(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

/// A map with some of `keys` (and now and then an unknown one) holding `values`.
fn map_of(
    keys: &'static [&'static str],
    values: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        8 => prop::sample::select(keys).prop_map(str::to_string),
        1 => tricky_string(),
    ];
    prop::collection::btree_map(key, values, 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

fn layers() -> impl Strategy<Value = Value> {
    let entry = map_of(
        &["use", "dylib", "sha256", "config", "keys", "limit"],
        field_value(),
    );
    prop_oneof![
        4 => prop::collection::vec(entry, 0..3).prop_map(Value::Array),
        1 => scalar(),
    ]
}

fn model_list() -> impl Strategy<Value = Value> {
    let params = map_of(&["model", "api_base", "api_key", "temperature"], scalar());
    let entry = (tricky_string(), params, any::<bool>()).prop_map(|(name, params, keep)| {
        let mut m = Map::new();
        if keep {
            m.insert("model_name".into(), Value::String(name));
        }
        m.insert("litellm_params".into(), params);
        Value::Object(m)
    });
    prop_oneof![
        4 => prop::collection::vec(entry, 0..3).prop_map(Value::Array),
        1 => scalar(),
    ]
}

/// A configuration-shaped document: the real keys at the right places, values of every kind.
fn config_document() -> impl Strategy<Value = Value> {
    let server = prop_oneof![8 => map_of(SERVER_KEYS, field_value()), 1 => scalar()];
    let name = prop_oneof![
        prop::sample::select(vec![
            "demo", "a", "a__b", "a_", "_b", "x.y", "A-1", "", "__"
        ])
        .prop_map(str::to_string),
        any_short_string(),
    ];
    let servers = prop::collection::btree_map(name, server, 0..3)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    (
        prop::sample::subsequence(TOP_KEYS, 0..=TOP_KEYS.len()),
        servers,
        map_of(SETTINGS_KEYS, field_value()),
        layers(),
        model_list(),
        prop::collection::vec(tricky_string().prop_map(Value::String), 0..3),
        prop::option::of((tricky_string(), scalar())),
    )
        .prop_map(|(keys, servers, settings, layers, models, dirs, junk)| {
            let mut top = Map::new();
            for key in keys {
                let value = match key {
                    "mcp_servers" | "mcpServers" => servers.clone(),
                    "server" => settings.clone(),
                    "layers" => layers.clone(),
                    "model_list" => models.clone(),
                    _ => Value::Array(dirs.clone()),
                };
                top.insert(key.to_string(), value);
            }
            if let Some((k, v)) = junk {
                top.insert(k, v);
            }
            Value::Object(top)
        })
}

/// A document written as JSON (compact or pretty) or as block YAML.
fn written(doc: &Value, style: u8) -> String {
    match style % 3 {
        0 => serde_json::to_string(doc).expect("JSON"),
        1 => serde_json::to_string_pretty(doc).expect("JSON"),
        _ => yaml_serde::to_string(doc).expect("YAML"),
    }
}

proptest! {
    #![proptest_config(super::config(128))]

    #[test]
    fn config_on_any_text(text in prop_oneof![
        any::<String>(),
        "[ -~\n\t]{0,80}",
        "([a-z_]{1,12}:( [ -~]{0,12})?\n(  )*){0,6}",
    ]) {
        check_config(&text);
    }

    #[test]
    fn config_shaped_documents(doc in config_document(), style in any::<u8>()) {
        check_config(&written(&doc, style));
    }

    #[test]
    fn mutated_valid_configs(
        seed in prop::sample::select(seeds()),
        edits in edits(),
    ) {
        let bytes = apply(seed.into_bytes(), &edits);
        check_config(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn corpus_config() {
    super::replay("config", |bytes| {
        check_config(&String::from_utf8_lossy(bytes))
    });
}

#[test]
fn valid_seeds_parse() {
    for seed in seeds() {
        let format = if seed.trim_start().starts_with('{') {
            ConfigFormat::Json
        } else {
            ConfigFormat::Yaml
        };
        if let Err(e) = parse(&seed, format) {
            panic!("seed does not parse: {e}\n{seed}");
        }
    }
}
