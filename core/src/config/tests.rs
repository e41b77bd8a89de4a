//! Unit tests of configuration parsing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::*;

fn test_env(name: &str) -> Option<String> {
    match name {
        "TG_TEST_TOKEN" => Some("tok123".to_owned()),
        "TG_TEST_HOST" => Some("search.example.com".to_owned()),
        "TG_TEST_EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn yaml(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_with_env(text, ConfigFormat::Yaml, test_env)
}

fn json(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_with_env(text, ConfigFormat::Json, test_env)
}

fn yaml_ok(text: &str) -> Config {
    match yaml(text) {
        Ok(config) => config,
        Err(err) => panic!("expected success, got: {err}"),
    }
}

fn yaml_err(text: &str) -> ConfigError {
    match yaml(text) {
        Ok(config) => panic!("expected an error, got: {config:?}"),
        Err(err) => err,
    }
}

fn json_err(text: &str) -> ConfigError {
    match json(text) {
        Ok(config) => panic!("expected an error, got: {config:?}"),
        Err(err) => err,
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn server<'a>(config: &'a Config, name: &str) -> &'a ServerConfig {
    match config.servers.get(name) {
        Some(server) => server,
        None => panic!("no server {name} in {config:?}"),
    }
}

#[test]
fn both_forms_parse_to_the_same_config() {
    let litellm = yaml_ok(
        r#"
mcp_servers:
  files:
    command: npx
    args: ["-y", "server-files", "/tmp"]
    env:
      DEBUG: "1"
  remote:
    url: https://example.com/mcp
    headers:
      X-Team: core
"#,
    );
    let claude = json(
        r#"{
  "mcpServers": {
    "files": {
      "command": "npx",
      "args": ["-y", "server-files", "/tmp"],
      "env": {"DEBUG": "1"}
    },
    "remote": {
      "type": "http",
      "url": "https://example.com/mcp",
      "headers": {"X-Team": "core"}
    }
  }
}"#,
    );
    assert_eq!(Ok(&litellm), claude.as_ref().map_err(ToString::to_string));
    assert_eq!(
        litellm.servers.keys().collect::<Vec<_>>(),
        vec!["files", "remote"]
    );
    assert_eq!(
        server(&litellm, "files").transport,
        UpstreamTransport::Stdio {
            command: "npx".into(),
            args: strings(&["-y", "server-files", "/tmp"]),
            env: map(&[("DEBUG", "1")]),
            cwd: None,
        }
    );
    assert_eq!(
        server(&litellm, "remote").transport,
        UpstreamTransport::StreamableHttp {
            url: "https://example.com/mcp".into(),
            headers: map(&[("X-Team", "core")]),
        }
    );
}

#[test]
fn litellm_sse_url_is_inferred() {
    let config = yaml_ok(
        "
mcp_servers:
  zapier:
    url: https://actions.zapier.com/mcp/sk-xxx/sse
    description: Zapier actions
",
    );
    let zapier = server(&config, "zapier");
    assert_eq!(
        zapier.transport,
        UpstreamTransport::Sse {
            url: "https://actions.zapier.com/mcp/sk-xxx/sse".into(),
            headers: BTreeMap::new(),
        }
    );
    assert_eq!(zapier.description.as_deref(), Some("Zapier actions"));
    assert_eq!(zapier.session_mode, SessionMode::Shared);
}

#[test]
fn litellm_stdio() {
    let config = yaml_ok(
        "
mcp_servers:
  circleci:
    transport: stdio
    command: npx
    args: [-y, '@circleci/mcp-server-circleci', 8080]
    env:
      CIRCLECI_TOKEN: ${TG_TEST_TOKEN}
      CIRCLECI_BASE_URL: https://circleci.com
    cwd: /srv
    session_mode: per_session
    allowed_tools: [get_build_failure_logs, find_flaky_tests]
    disallowed_tools: [run_pipeline]
",
    );
    let circleci = server(&config, "circleci");
    assert_eq!(
        circleci.transport,
        UpstreamTransport::Stdio {
            command: "npx".into(),
            args: strings(&["-y", "@circleci/mcp-server-circleci", "8080"]),
            env: map(&[
                ("CIRCLECI_TOKEN", "tok123"),
                ("CIRCLECI_BASE_URL", "https://circleci.com"),
            ]),
            cwd: Some("/srv".into()),
        }
    );
    assert_eq!(circleci.session_mode, SessionMode::PerSession);
    assert_eq!(
        circleci.allowed_tools,
        Some(strings(&["get_build_failure_logs", "find_flaky_tests"]))
    );
    assert_eq!(circleci.disallowed_tools, strings(&["run_pipeline"]));
    assert!(circleci.tool_allowed("find_flaky_tests"));
    assert!(!circleci.tool_allowed("run_pipeline"));
    assert!(!circleci.tool_allowed("other"));
}

#[test]
fn litellm_http_with_headers_and_bearer_token() {
    let config = yaml_ok(
        "
mcp_servers:
  github:
    url: https://${TG_TEST_HOST}/mcp
    transport: http
    auth_type: bearer_token
    authentication_token: os.environ/TG_TEST_TOKEN
    headers:
      X-Org: acme
    static_headers:
      X-Static: yes
    extra_headers: [x-user-id]
",
    );
    assert_eq!(
        server(&config, "github").transport,
        UpstreamTransport::StreamableHttp {
            url: "https://search.example.com/mcp".into(),
            headers: map(&[
                ("Authorization", "Bearer tok123"),
                ("X-Org", "acme"),
                ("X-Static", "yes"),
            ]),
        }
    );
}

#[test]
fn auth_types_become_headers() {
    for (auth, header, value) in [
        ("api_key", "X-API-Key", "k"),
        ("basic", "Authorization", "Basic k"),
        ("authorization", "Authorization", "k"),
        ("bearer_token", "Authorization", "Bearer k"),
    ] {
        let config = yaml_ok(&format!(
            "mcp_servers:\n  s:\n    url: http://h/mcp\n    auth_type: {auth}\n    authentication_token: k\n"
        ));
        assert_eq!(
            server(&config, "s").transport,
            UpstreamTransport::StreamableHttp {
                url: "http://h/mcp".into(),
                headers: map(&[(header, value)]),
            },
            "{auth}"
        );
    }
    let none = yaml_ok("mcp_servers:\n  s:\n    url: http://h/mcp\n    auth_type: none\n");
    assert_eq!(
        server(&none, "s").transport,
        UpstreamTransport::StreamableHttp {
            url: "http://h/mcp".into(),
            headers: BTreeMap::new(),
        }
    );

    let missing =
        yaml_err("mcp_servers:\n  s:\n    url: http://h/mcp\n    auth_type: bearer_token\n");
    assert_eq!(missing.kind(), ConfigErrorKind::MissingKey);
    assert!(
        missing.to_string().contains("authentication_token"),
        "{missing}"
    );
    assert_eq!(missing.line(), Some(4), "{missing}");
    assert_eq!(missing.key_path(), Some("mcp_servers.s.auth_type"));

    let twice = yaml_err(
        "mcp_servers:\n  s:\n    url: http://h/mcp\n    auth_type: api_key\n    authentication_token: k\n    headers: {x-api-key: other}\n",
    );
    assert_eq!(twice.kind(), ConfigErrorKind::Conflict);
    assert!(
        twice.to_string().to_lowercase().contains("x-api-key"),
        "{twice}"
    );

    let bad = yaml_err("mcp_servers:\n  s:\n    url: http://h/mcp\n    auth_type: oauth2\n");
    assert_eq!(bad.kind(), ConfigErrorKind::InvalidValue);
    assert_eq!(
        bad.to_string(),
        "mcp_servers.s.auth_type at line 4: expected one of none, api_key, bearer_token, basic, \
         authorization (found 'oauth2')"
    );
}

#[test]
fn claude_desktop_example() {
    let text = r#"{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
    },
    "weather": {
      "type": "sse",
      "url": "http://localhost:9000/events"
    },
    "notion": {
      "type": "streamable-http",
      "url": "https://mcp.notion.com/mcp",
      "headers": {"Authorization": "Bearer ${TG_TEST_TOKEN}"}
    }
  }
}"#;
    let from_json = match json(text) {
        Ok(config) => config,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(yaml(text).ok().as_ref(), Some(&from_json));
    assert_eq!(
        from_json.servers.keys().collect::<Vec<_>>(),
        vec!["filesystem", "weather", "notion"]
    );
    assert_eq!(
        server(&from_json, "filesystem").transport,
        UpstreamTransport::Stdio {
            command: "npx".into(),
            args: strings(&[
                "-y",
                "@modelcontextprotocol/server-filesystem",
                "/Users/me/Desktop"
            ]),
            env: BTreeMap::new(),
            cwd: None,
        }
    );
    assert_eq!(
        server(&from_json, "weather").transport,
        UpstreamTransport::Sse {
            url: "http://localhost:9000/events".into(),
            headers: BTreeMap::new(),
        }
    );
    assert_eq!(
        server(&from_json, "notion").transport,
        UpstreamTransport::StreamableHttp {
            url: "https://mcp.notion.com/mcp".into(),
            headers: map(&[("Authorization", "Bearer tok123")]),
        }
    );
}

#[test]
fn json_file_and_yaml_file() {
    let dir = std::env::temp_dir().join(format!("toolgate-config-test-{}", std::process::id()));
    assert!(std::fs::create_dir_all(&dir).is_ok());
    let json_path = dir.join("gateway.json");
    let yaml_path = dir.join("gateway.yaml");
    let json_text = r#"{"mcpServers": {"demo": {"command": "demo-server"}}, "server": {"listen": "0.0.0.0:8080"}}"#;
    assert!(std::fs::write(&json_path, json_text).is_ok());
    assert!(
        std::fs::write(
            &yaml_path,
            "mcp_servers:\n  demo:\n    command: demo-server\nserver:\n  listen: 0.0.0.0:8080\n"
        )
        .is_ok()
    );
    let from_json = Config::from_path(&json_path);
    let from_yaml = Config::from_path(&yaml_path);
    assert!(from_json.is_ok(), "{from_json:?}");
    assert_eq!(from_json.as_ref().ok(), from_yaml.as_ref().ok());
    if let Ok(config) = &from_json {
        assert_eq!(
            config.server.listen,
            "0.0.0.0:8080".parse().ok().unwrap_or(config.server.listen)
        );
        assert_eq!(config.server.listen.port(), 8080);
        assert_eq!(config.servers.len(), 1);
    }

    // Strict JSON: a trailing comma is a syntax error in a .json file.
    assert!(std::fs::write(&json_path, r#"{"mcpServers": {},}"#).is_ok());
    let err = Config::from_path(&json_path).err();
    assert_eq!(
        err.as_ref().map(ConfigError::kind),
        Some(ConfigErrorKind::Syntax)
    );
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with(&json_path.display().to_string()),
        "{message}"
    );
    assert!(message.contains("line 1"), "{message}");

    // Errors from a file name the file.
    assert!(std::fs::write(&yaml_path, "mcp_servers:\n  demo:\n    comand: x\n").is_ok());
    let err = Config::from_path(&yaml_path).err();
    assert_eq!(
        err.as_ref().and_then(ConfigError::file),
        Some(yaml_path.as_path())
    );
    assert_eq!(err.as_ref().and_then(ConfigError::line), Some(3));

    let missing = Config::from_path(&dir.join("nope.yaml")).err();
    assert_eq!(
        missing.as_ref().map(ConfigError::kind),
        Some(ConfigErrorKind::Io)
    );
    assert!(
        missing
            .map(|e| std::error::Error::source(&e).is_some())
            .unwrap_or(false)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_key_names_key_and_line() {
    let err = yaml_err(
        "# gateway
mcp_servers:
  demo:
    comand: npx
",
    );
    assert_eq!(err.kind(), ConfigErrorKind::UnknownKey);
    assert_eq!(err.line(), Some(4));
    assert_eq!(err.key_path(), Some("mcp_servers.demo.comand"));
    let message = err.to_string();
    assert!(
        message.starts_with(
            "unknown key 'comand' in mcp_servers.demo at line 4; expected one of command, args, env"
        ),
        "{message}"
    );
    assert!(message.ends_with("(did you mean 'command'?)"), "{message}");

    let top = yaml_err("mcp_servers: {}\nservers: {}\n");
    assert_eq!(top.kind(), ConfigErrorKind::UnknownKey);
    assert_eq!(
        top.to_string(),
        "unknown top-level key 'servers' at line 2; expected one of mcp_servers, mcpServers, server, layers, model_list, plugin_dirs, redis (did you mean 'server'?)"
    );

    let settings = yaml_err("server:\n  listen: 127.0.0.1:1\n  spec_path: x\n");
    assert_eq!(settings.line(), Some(3));
    assert!(
        settings
            .to_string()
            .starts_with("unknown key 'spec_path' in server at line 3"),
        "{settings}"
    );

    let litellm_only =
        yaml_err("mcp_servers:\n  a:\n    url: http://h/mcp\n    spec_path: ./openapi.json\n");
    assert_eq!(litellm_only.kind(), ConfigErrorKind::UnknownKey);

    let in_json = json_err(
        "{\n  \"mcpServers\": {\n    \"demo\": {\n      \"command\": \"x\",\n      \"disabled\": true\n    }\n  }\n}",
    );
    assert_eq!(in_json.kind(), ConfigErrorKind::UnknownKey);
    assert_eq!(in_json.line(), Some(5));
    assert!(
        in_json
            .to_string()
            .starts_with("unknown key 'disabled' in mcpServers.demo at line 5;"),
        "{in_json}"
    );
}

#[test]
fn bad_values_name_key_and_line() {
    let err = yaml_err(
        "mcp_servers:
  demo:
    url: http://localhost:1234/mcp

    transport: websocket
",
    );
    assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
    assert_eq!(err.line(), Some(5));
    assert_eq!(
        err.to_string(),
        "mcp_servers.demo.transport at line 5: expected one of sse, http, streamable_http, \
         streamable-http, stdio (found 'websocket')"
    );

    let url = yaml_err("mcp_servers:\n  demo:\n    url: ftp://example.com/x\n");
    assert_eq!(url.kind(), ConfigErrorKind::InvalidValue);
    assert_eq!(url.line(), Some(3));
    assert!(
        url.to_string()
            .starts_with("mcp_servers.demo.url at line 3: invalid url 'ftp://example.com/x'"),
        "{url}"
    );

    let wrong_type = yaml_err("mcp_servers:\n  demo:\n    command: x\n    args: {a: b}\n");
    assert_eq!(wrong_type.kind(), ConfigErrorKind::InvalidValue);
    assert_eq!(wrong_type.line(), Some(4));
    assert!(
        wrong_type
            .to_string()
            .starts_with("mcp_servers.demo.args at line 4: invalid type: map"),
        "{wrong_type}"
    );

    let in_json =
        json_err("{\"mcpServers\": {\"demo\": {\"command\": \"x\",\n \"args\": [\"a\", 5]}}}");
    assert_eq!(in_json.kind(), ConfigErrorKind::InvalidValue);
    assert_eq!(in_json.line(), Some(2));
    assert!(
        in_json.to_string().starts_with(
            "mcp_servers.demo.args[1] at line 2: invalid type: integer `5`, expected a string"
        ) || in_json.to_string().starts_with(
            "mcpServers.demo.args[1] at line 2: invalid type: integer `5`, expected a string"
        ),
        "{in_json}"
    );

    let not_a_map = yaml_err("mcp_servers:\n  demo: npx server\n");
    assert_eq!(not_a_map.kind(), ConfigErrorKind::InvalidValue);
    assert_eq!(not_a_map.line(), Some(2));
    assert!(
        not_a_map
            .to_string()
            .starts_with("mcp_servers.demo at line 2: invalid type"),
        "{not_a_map}"
    );

    let listen = yaml_err("server:\n  listen: localhost:4000\n");
    assert_eq!(listen.line(), Some(2));
    assert!(
        listen
            .to_string()
            .starts_with("server.listen at line 2: invalid listen address"),
        "{listen}"
    );

    for (text, line) in [
        ("server:\n  separator: '/'\n", 2),
        ("server:\n  separator: ''\n", 2),
        ("server:\n  mcp_path: mcp\n", 2),
        ("server:\n  max_body_bytes: 0\n", 2),
        ("server:\n  max_body_bytes: -5\n", 2),
        ("server:\n  request_timeout: 5 minutes\n", 2),
        ("server:\n  request_timeout: 0\n", 2),
        (
            "server:\n  allowed_origins: [http://localhost, 'localhost:3000']\n",
            2,
        ),
        ("server:\n  allowed_hosts: []\n", 2),
        (
            "mcp_servers:\n  s:\n    url: http://h/\n    headers: {'bad header': x}\n",
            4,
        ),
        ("mcp_servers:\n  s:\n    command: ''\n", 3),
        (
            "mcp_servers:\n  s:\n    command: x\n    session_mode: sometimes\n",
            4,
        ),
    ] {
        let err = yaml_err(text);
        assert_eq!(err.kind(), ConfigErrorKind::InvalidValue, "{text}: {err}");
        assert_eq!(err.line(), Some(line), "{text}: {err}");
    }
}

#[test]
fn syntax_errors() {
    let err = yaml_err("mcp_servers:\n  demo:\n    command: [unclosed\n");
    assert_eq!(err.kind(), ConfigErrorKind::Syntax);
    assert!(err.line().is_some());
    assert!(err.to_string().starts_with("invalid YAML: "), "{err}");

    let err = json_err("{\"mcpServers\": ");
    assert_eq!(err.kind(), ConfigErrorKind::Syntax);
    assert!(err.to_string().starts_with("invalid JSON: "), "{err}");
}

#[test]
fn missing_env_var_names_var_and_line() {
    let err = yaml_err(
        "mcp_servers:
  demo:
    command: x
    env:
      TOKEN: ${TG_TEST_UNSET_VAR_1}
",
    );
    assert_eq!(err.kind(), ConfigErrorKind::MissingVariable);
    assert_eq!(err.line(), Some(5));
    assert_eq!(err.key_path(), Some("mcp_servers.demo.env.TOKEN"));
    let message = err.to_string();
    assert!(message.contains("TG_TEST_UNSET_VAR_1"), "{message}");
    assert!(message.contains("line 5"), "{message}");
    assert!(
        message.starts_with("mcp_servers.demo.env.TOKEN at line 5: environment variable 'TG_TEST_UNSET_VAR_1' is not set"),
        "{message}"
    );

    let litellm = yaml_err(
        "mcp_servers:\n  s:\n    url: http://h/\n    auth_type: bearer_token\n    authentication_token: os.environ/TG_TEST_UNSET_VAR_2\n",
    );
    assert_eq!(litellm.kind(), ConfigErrorKind::MissingVariable);
    assert_eq!(litellm.line(), Some(5));
    assert!(
        litellm.to_string().contains("TG_TEST_UNSET_VAR_2"),
        "{litellm}"
    );

    let in_json =
        json_err("{\"mcpServers\": {\n\"s\": {\n\"command\": \"${TG_TEST_UNSET_VAR_3}\"}}}");
    assert_eq!(in_json.kind(), ConfigErrorKind::MissingVariable);
    assert_eq!(in_json.line(), Some(3));
}

#[test]
fn env_defaults_and_escapes() {
    let config = yaml_ok(
        r#"
mcp_servers:
  s:
    command: ${TG_TEST_UNSET_VAR_4:-/usr/bin/server}
    args: ["${TG_TEST_EMPTY:-dflt}", "$${NOT_EXPANDED}", "cost: $5", "${TG_TEST_TOKEN:-unused}"]
server:
  request_timeout: ${TG_TEST_UNSET_VAR_5:-2m}
  max_body_bytes: "${TG_TEST_UNSET_VAR_6:-1MiB}"
"#,
    );
    assert_eq!(
        server(&config, "s").transport,
        UpstreamTransport::Stdio {
            command: "/usr/bin/server".into(),
            args: strings(&["dflt", "${NOT_EXPANDED}", "cost: $5", "tok123"]),
            env: BTreeMap::new(),
            cwd: None,
        }
    );
    assert_eq!(config.server.request_timeout, Duration::from_secs(120));
    assert_eq!(config.server.max_body_bytes, 1 << 20);

    let bad = yaml_err("mcp_servers:\n  s:\n    command: ${oops\n");
    assert_eq!(bad.kind(), ConfigErrorKind::InvalidValue);
    assert_eq!(bad.line(), Some(3));
}

#[test]
fn process_environment_is_used() {
    // Read-only use of a variable the test process surely has (setting variables
    // would need `unsafe` and would race with other tests).
    let Some(path) = std::env::var_os("PATH").map(|v| v.to_string_lossy().into_owned()) else {
        return;
    };
    let config = Config::from_yaml_str(
        "mcp_servers:\n  s:\n    command: x\n    env: {P: '${PATH}', Q: os.environ/PATH}\n",
    );
    match config {
        Ok(config) => assert_eq!(
            server(&config, "s").transport,
            UpstreamTransport::Stdio {
                command: "x".into(),
                args: Vec::new(),
                env: map(&[("P", &path), ("Q", &path)]),
                cwd: None,
            }
        ),
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn duplicate_server_names() {
    let err = yaml_err(
        "mcp_servers:
  demo:
    command: a
  other:
    command: b
  demo:
    command: c
",
    );
    assert_eq!(err.kind(), ConfigErrorKind::DuplicateKey);
    assert_eq!(err.line(), Some(6));
    assert_eq!(
        err.to_string(),
        "mcp_servers at line 6: duplicate server name 'demo' (each may appear only once)"
    );

    let in_json = json_err(
        "{\"mcpServers\": {\n\"demo\": {\"command\": \"a\"},\n\"demo\": {\"command\": \"b\"}}}",
    );
    assert_eq!(in_json.kind(), ConfigErrorKind::DuplicateKey);
    assert_eq!(in_json.line(), Some(3));

    let field = yaml_err("mcp_servers:\n  demo:\n    command: a\n    command: b\n");
    assert_eq!(field.kind(), ConfigErrorKind::DuplicateKey);
    assert_eq!(field.line(), Some(4));

    let header = yaml_err(
        "mcp_servers:\n  s:\n    url: http://h/\n    headers:\n      X-A: 1\n      x-a: 2\n",
    );
    assert_eq!(header.kind(), ConfigErrorKind::DuplicateKey);
    assert_eq!(header.line(), Some(6));

    let env = json_err(
        "{\"mcpServers\": {\"s\": {\"command\": \"a\", \"env\": {\"A\": \"1\", \"A\": \"2\"}}}}",
    );
    assert_eq!(env.kind(), ConfigErrorKind::DuplicateKey);

    let top = yaml_err("server: {}\nserver: {}\n");
    assert_eq!(top.kind(), ConfigErrorKind::DuplicateKey);
    assert_eq!(top.line(), Some(2));
}

#[test]
fn both_top_level_forms_are_an_error() {
    let err = yaml_err(
        "mcp_servers:
  a:
    command: x
mcpServers:
  b:
    command: y
",
    );
    assert_eq!(err.kind(), ConfigErrorKind::Conflict);
    assert_eq!(err.line(), Some(4));
    assert!(
        err.to_string().starts_with(
            "mcpServers at line 4: `mcpServers` cannot be combined with `mcp_servers`"
        ),
        "{err}"
    );
}

#[test]
fn bad_server_name() {
    let err = yaml_err("mcp_servers:\n  good:\n    command: x\n  bad.name:\n    command: y\n");
    assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
    assert_eq!(err.line(), Some(4));
    assert_eq!(err.key_path(), Some("mcp_servers.bad.name"));
    assert!(
        err.to_string()
            .starts_with("mcp_servers at line 4: invalid server name 'bad.name'"),
        "{err}"
    );

    let empty = yaml_err("mcp_servers:\n  '':\n    command: y\n");
    assert_eq!(empty.kind(), ConfigErrorKind::InvalidValue);
    assert!(empty.to_string().contains("may not be empty"), "{empty}");

    let separator = yaml_err("mcp_servers:\n  ok:\n    command: y\n  my__srv:\n    command: y\n");
    assert_eq!(separator.kind(), ConfigErrorKind::Conflict);
    assert_eq!(separator.line(), Some(4));
    assert!(separator.to_string().contains("'my__srv'"), "{separator}");
    // With another separator the same name is fine.
    assert!(yaml("mcp_servers:\n  my__srv:\n    command: y\nserver:\n  separator: '.'\n").is_ok());
}

#[test]
fn transport_inference_and_conflicts() {
    let cases = [
        ("url: http://h/mcp", "http"),
        ("url: http://h/sse", "sse"),
        ("url: http://h/sse/", "sse"),
        ("url: http://h/sse\n    transport: http", "http"),
        ("url: http://h/mcp\n    transport: sse", "sse"),
        ("url: http://h/mcp\n    transport: streamable_http", "http"),
        ("url: http://h/mcp\n    type: streamable-http", "http"),
        ("command: x\n    transport: stdio", "stdio"),
        ("command: x\n    type: stdio", "stdio"),
    ];
    for (entry, expected) in cases {
        let config = yaml_ok(&format!("mcp_servers:\n  s:\n    {entry}\n"));
        assert_eq!(server(&config, "s").transport.name(), expected, "{entry}");
    }

    let both = yaml_err("mcp_servers:\n  s:\n    command: x\n    url: http://h/\n");
    assert_eq!(both.kind(), ConfigErrorKind::Conflict);
    assert_eq!(both.line(), Some(4));
    assert!(
        both.to_string()
            .starts_with("mcp_servers.s.url at line 4: `url` cannot be combined with `command`"),
        "{both}"
    );

    let stdio_without_command = yaml_err("mcp_servers:\n  s:\n    transport: stdio\n");
    assert_eq!(stdio_without_command.kind(), ConfigErrorKind::MissingKey);
    assert_eq!(stdio_without_command.line(), Some(2));
    assert_eq!(
        stdio_without_command.to_string(),
        "mcp_servers.s at line 2: `transport: stdio` needs `command` (the program to run)"
    );

    let stdio_with_url = yaml_err("mcp_servers:\n  s:\n    url: http://h/\n    transport: stdio\n");
    assert_eq!(stdio_with_url.kind(), ConfigErrorKind::Conflict);

    let command_with_sse = yaml_err("mcp_servers:\n  s:\n    command: x\n    transport: sse\n");
    assert_eq!(command_with_sse.kind(), ConfigErrorKind::Conflict);

    let nothing =
        yaml_err("mcp_servers:\n  first:\n    command: x\n  s:\n    description: nothing else\n");
    assert_eq!(nothing.kind(), ConfigErrorKind::MissingKey);
    assert_eq!(nothing.line(), Some(4));
    assert_eq!(nothing.key_path(), Some("mcp_servers.s"));

    let empty_entry = yaml_err("mcp_servers:\n  s:\n");
    assert_eq!(empty_entry.kind(), ConfigErrorKind::MissingKey);

    let in_json = json_err(
        "{\"mcpServers\": {\n  \"a\": {\"command\": \"x\"},\n  \"s\": {\n    \"type\": \"sse\"\n  }\n}}",
    );
    assert_eq!(in_json.kind(), ConfigErrorKind::MissingKey);
    assert_eq!(in_json.line(), Some(3), "{in_json}");

    // The line is that of the server's key, even when a nested key has the same name.
    let nested = json_err(
        "{\"mcpServers\": {\n  \"b\": {\"command\": \"x\", \"env\": {\"a\": \"1\"}},\n  \"a\": {\n    \"env\": {\"a\": \"1\"},\n    \"type\": \"stdio\"\n  }\n}}",
    );
    assert_eq!(nested.kind(), ConfigErrorKind::MissingKey);
    assert_eq!(nested.line(), Some(3), "{nested}");
    assert!(nested.column().is_some(), "{nested}");

    let headers_on_stdio = yaml_err("mcp_servers:\n  s:\n    command: x\n    headers: {A: b}\n");
    assert_eq!(headers_on_stdio.kind(), ConfigErrorKind::Conflict);
    let args_on_remote = yaml_err("mcp_servers:\n  s:\n    args: [a]\n    url: http://h/\n");
    assert_eq!(args_on_remote.kind(), ConfigErrorKind::Conflict);
    assert_eq!(args_on_remote.line(), Some(4));
    let type_and_transport =
        yaml_err("mcp_servers:\n  s:\n    url: http://h/\n    type: sse\n    transport: sse\n");
    assert_eq!(type_and_transport.kind(), ConfigErrorKind::Conflict);
}

#[test]
fn defaults() {
    for text in [
        "",
        "# nothing\n",
        "mcp_servers:\n",
        "mcp_servers: {}\nserver: {}\n",
        "{}",
    ] {
        let config = yaml_ok(text);
        assert!(config.servers.is_empty());
        assert_eq!(config.server, ServerSettings::default());
    }
    let settings = ServerSettings::default();
    assert_eq!(
        settings.listen,
        std::net::SocketAddr::from(([127, 0, 0, 1], 4000))
    );
    assert_eq!(settings.mcp_path, "/mcp");
    assert_eq!(settings.separator, "__");
    assert_eq!(
        settings.allowed_hosts,
        strings(&["localhost", "127.0.0.1", "[::1]"])
    );
    assert_eq!(settings.max_body_bytes, 4_194_304);
    assert_eq!(settings.session_idle_timeout, Duration::from_secs(1800));
    assert_eq!(settings.request_timeout, Duration::from_secs(60));
    assert!(settings.origin_allowed("http://localhost:5173"));
    assert!(settings.origin_allowed("https://127.0.0.1"));
    assert!(settings.origin_allowed("http://[::1]:8080"));
    assert!(!settings.origin_allowed("http://evil.example"));
    assert!(!settings.origin_allowed("null"));
    assert!(settings.host_allowed("localhost:4000"));
    assert!(settings.host_allowed("LOCALHOST"));
    assert!(settings.host_allowed("[::1]:4000"));
    assert!(!settings.host_allowed("evil.example:4000"));

    let server = server_defaults();
    assert_eq!(server.session_mode, SessionMode::Shared);
    assert_eq!(server.description, None);
    assert_eq!(server.allowed_tools, None);
    assert!(server.disallowed_tools.is_empty());
    assert!(server.tool_allowed("anything"));

    let demo = Config::default_demo(Path::new("/opt/toolgate/demo-server"));
    assert_eq!(demo.server, ServerSettings::default());
    assert_eq!(demo.servers.len(), 1);
    assert_eq!(
        demo.servers.get("demo").map(|s| &s.transport),
        Some(&UpstreamTransport::Stdio {
            command: "/opt/toolgate/demo-server".into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
        })
    );
}

fn server_defaults() -> ServerConfig {
    let config = yaml_ok("mcp_servers:\n  s:\n    command: x\n");
    server(&config, "s").clone()
}

#[test]
fn settings_parse() {
    let config = yaml_ok(
        "
server:
  listen: '[::1]:9000'
  mcp_path: /gateway/mcp
  separator: '.'
  allowed_hosts: ['*']
  allowed_origins: [https://app.example.com, 'http://localhost:3000']
  max_body_bytes: 4MiB
  session_idle_timeout: 5m
  request_timeout: 90
",
    );
    let s = &config.server;
    assert_eq!(s.listen.port(), 9000);
    assert!(s.listen.is_ipv6());
    assert_eq!(s.mcp_path, "/gateway/mcp");
    assert_eq!(s.separator, ".");
    assert!(s.host_allowed("anything.example:1"));
    assert!(s.origin_allowed("https://app.example.com"));
    assert!(s.origin_allowed("http://localhost:3000"));
    assert!(!s.origin_allowed("http://localhost:3001"));
    assert!(!s.origin_allowed("http://app.example.com"));
    assert_eq!(s.max_body_bytes, 4 << 20);
    assert_eq!(s.session_idle_timeout, Duration::from_secs(300));
    assert_eq!(s.request_timeout, Duration::from_secs(90));

    let any_origin = yaml_ok("server:\n  allowed_origins: ['*']\n");
    assert!(any_origin.server.origin_allowed("null"));
}

#[test]
fn allow_unauthenticated_is_a_boolean_that_defaults_to_false() {
    assert!(!yaml_ok("server: {}\n").server.allow_unauthenticated);
    assert!(
        yaml_ok("server:\n  allow_unauthenticated: true\n")
            .server
            .allow_unauthenticated
    );
    let err = yaml_err("server:\n  allow_unauthenticated: sometimes\n");
    assert!(
        err.to_string().contains("allow_unauthenticated"),
        "the error names the key: {err}"
    );
}

#[test]
fn schema_describes_both_forms() {
    let schema = Config::json_schema();
    assert!(schema.is_object());
    let properties = schema.get("properties").and_then(|p| p.as_object());
    let keys: BTreeSet<&str> = properties
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        BTreeSet::from([
            "mcp_servers",
            "mcpServers",
            "server",
            "layers",
            "model_list",
            "plugin_dirs",
            "redis"
        ])
    );
    assert_eq!(
        schema.get("additionalProperties"),
        Some(&serde_json::Value::Bool(false))
    );

    // The schema lists the keys of a server entry and of `server:`.
    let definition_keys = |name: &str| -> BTreeSet<String> {
        schema
            .pointer(&format!("/$defs/{name}/properties"))
            .and_then(|p| p.as_object())
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    let set = |keys: &[&str]| {
        keys.iter()
            .map(|k| (*k).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        definition_keys("Server"),
        set(&[
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
            "validate_arguments",
            "session_mode",
            "layers",
            "tls",
            "oauth",
            "forward_authorization",
            "prefix",
            "max_sessions",
            "replicas",
            "outlier_detection",
        ])
    );
    assert_eq!(
        definition_keys("ServerSettings"),
        set(&[
            "listen",
            "mcp_path",
            "separator",
            "allowed_hosts",
            "allowed_origins",
            "max_body_bytes",
            "session_idle_timeout",
            "request_timeout",
            "keep_alive",
            "startup_grace",
            "allow_unauthenticated",
            "session_secret",
        ])
    );
    // Every key is optional.
    for name in ["Server", "ServerSettings"] {
        assert_eq!(
            schema.pointer(&format!("/$defs/{name}/required")),
            None,
            "{name}"
        );
    }
    assert_eq!(schema.get("required"), None);
}

#[test]
fn debug_redacts_secrets() {
    let config = yaml_ok(
        "mcp_servers:\n  s:\n    url: http://h/\n    auth_type: bearer_token\n    authentication_token: supersecret\n    layers: [{use: logging}]\nlayers: [{use: metrics}]\n",
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains("supersecret"), "{debug}");
    assert!(debug.contains("Authorization"), "{debug}");
}

#[test]
fn errors_are_send_sync_and_small() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<ConfigError>();
    assert!(std::mem::size_of::<ConfigError>() <= std::mem::size_of::<usize>());
}

#[test]
fn layers_and_models_expand_the_environment_and_report_their_key() {
    let env = |name: &str| (name == "TG_KEY").then(|| "sekret".to_string());
    let text = "mcp_servers: {}\nlayers:\n  - use: api_key_auth\n    keys: [\"${TG_KEY}\"]\nmodel_list:\n  - model_name: m\n    litellm_params: {model: openai/x, api_key: os.environ/TG_KEY}\n";
    let config = Config::from_str_with_env(text, ConfigFormat::Yaml, env).expect("parses");
    assert_eq!(config.layers[0].config["keys"][0], "sekret");
    assert_eq!(config.model_list[0].api_key.as_deref(), Some("sekret"));
    let bad = Config::from_str_with_env("layers:\n  - nope: 1\n", ConfigFormat::Yaml, env)
        .expect_err("no use/dylib");
    assert!(
        bad.to_string().starts_with("layers[0] at line 2: "),
        "{bad}"
    );
}

#[test]
fn layer_entries_are_checked_where_they_are_written() {
    let dylib = yaml_err(
        "plugin_dirs: [p]\nlayers:\n  - use: metrics\n  - dylib: p/libx.so\n    sha265: abc\n",
    );
    assert_eq!(dylib.kind(), ConfigErrorKind::UnknownKey);
    assert_eq!(
        dylib.to_string(),
        "unknown key 'sha265' in layers[1] at line 5; expected one of dylib, sha256, config \
         (did you mean 'sha256'?)"
    );
    let hash = yaml_err("layers:\n  - dylib: x\n    sha256: zz\n");
    assert_eq!(hash.line(), Some(3), "{hash}");
    assert!(hash.to_string().contains("64 hex"), "{hash}");
    let both = yaml_err("layers:\n  - use: a\n    dylib: b\n");
    assert_eq!(both.kind(), ConfigErrorKind::Conflict);
    assert_eq!(both.key_path(), Some("layers[0].dylib"));
    assert_eq!(both.line(), Some(3));
    let name = yaml_err("layers:\n  - use: [a]\n");
    assert_eq!(name.key_path(), Some("layers[0].use"), "{name}");
    let missing = yaml_err("layers:\n  - use: a\n    key: ${TG_TEST_UNSET_VAR_7}\n");
    assert_eq!(missing.kind(), ConfigErrorKind::MissingVariable);
    assert_eq!(missing.key_path(), Some("layers[0].key"));
    assert_eq!(missing.line(), Some(3));
    let twice = json_err("{\"layers\": [{\"use\": \"a\",\n \"k\": {\"x\": 1,\n \"x\": 2}}]}");
    assert_eq!(twice.kind(), ConfigErrorKind::DuplicateKey);
    assert_eq!(twice.line(), Some(3), "{twice}");
    assert_eq!(twice.key_path(), Some("layers[0].k.x"));
}

#[test]
fn servers_have_their_own_layers() {
    let config = yaml_ok(
        "mcp_servers:\n  a:\n    command: x\n    layers:\n      - use: timeout\n        timeout: 5s\n  b:\n    command: y\n",
    );
    let layers = &server(&config, "a").layers;
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].source, LayerSource::Builtin("timeout".into()));
    assert_eq!(layers[0].config["timeout"], "5s");
    assert!(server(&config, "b").layers.is_empty());
    let bad = yaml_err("mcp_servers:\n  a:\n    command: x\n    layers:\n      - {}\n");
    assert_eq!(bad.key_path(), Some("mcp_servers.a.layers[0]"));
    assert_eq!(bad.line(), Some(5), "{bad}");
}

#[test]
fn choices_suggest_what_was_meant() {
    let err = yaml_err("mcp_servers:\n  s:\n    command: x\n    session_mode: per_sesion\n");
    assert_eq!(err.line(), Some(4));
    assert!(
        err.to_string()
            .ends_with("(found 'per_sesion') (did you mean 'per_session'?)"),
        "{err}"
    );
    let upper = yaml_ok("mcp_servers:\n  s:\n    url: http://h/mcp\n    transport: SSE\n");
    assert_eq!(server(&upper, "s").transport.name(), "sse");
}

#[test]
fn prefixes_are_checked_for_collisions_and_the_separator() {
    let config = yaml_ok(
        "mcp_servers:\n  a:\n    command: x\n    prefix: \"\"\n  b:\n    command: y\n    prefix: bee\n  c:\n    command: z\n",
    );
    assert_eq!(server(&config, "a").prefix.as_deref(), Some(""));
    assert_eq!(server(&config, "b").prefix.as_deref(), Some("bee"));
    assert_eq!(server(&config, "c").prefix, None);

    let taken =
        yaml_err("mcp_servers:\n  a:\n    command: x\n  b:\n    command: y\n    prefix: a\n");
    assert_eq!(taken.kind(), ConfigErrorKind::Conflict);
    assert!(
        taken.to_string().contains("already that of server 'a'"),
        "{taken}"
    );
    assert_eq!(taken.line(), Some(6), "{taken}");

    let with_separator = yaml_err("mcp_servers:\n  a:\n    command: x\n    prefix: x__y\n");
    assert_eq!(with_separator.kind(), ConfigErrorKind::Conflict);
    assert!(
        with_separator.to_string().contains("separator"),
        "{with_separator}"
    );

    // Two servers may both expose names as they are (collisions are found when listing).
    yaml_ok(
        "mcp_servers:\n  a:\n    command: x\n    prefix: \"\"\n  b:\n    command: y\n    prefix: \"\"\n",
    );
}

#[test]
fn replicas_from_a_list_of_urls_or_a_count() {
    let config = yaml_ok(
        "mcp_servers:\n  api:\n    url: [http://a.example/mcp, http://b.example/mcp]\n    headers: {X-Team: t}\n    outlier_detection: {consecutive_failures: 5, base_ejection: 2s, max_ejection: 1m}\n  local:\n    command: srv\n    replicas: 3\n",
    );
    let api = server(&config, "api");
    assert!(
        matches!(&api.transport, UpstreamTransport::StreamableHttp { url, .. } if url == "http://a.example/mcp")
    );
    assert_eq!(api.replicas.len(), 1);
    match &api.replicas[0] {
        UpstreamTransport::StreamableHttp { url, headers } => {
            assert_eq!(url, "http://b.example/mcp");
            assert_eq!(headers, &map(&[("X-Team", "t")]));
        }
        other => panic!("{other:?}"),
    }
    let o = api.outlier_detection;
    assert_eq!(
        (o.consecutive_failures, o.base_ejection, o.max_ejection),
        (5, Duration::from_secs(2), Duration::from_secs(60))
    );
    let local = server(&config, "local");
    assert_eq!(local.replicas, vec![local.transport.clone(); 2]);
    let single = yaml_ok("mcp_servers:\n  one:\n    url: [http://a.example/mcp]\n");
    assert!(server(&single, "one").replicas.is_empty());
}

#[test]
fn replica_settings_that_cannot_work_say_what_to_fix() {
    for (text, says) in [
        ("mcp_servers:\n  s:\n    url: []\n", "list of URLs is empty"),
        (
            "mcp_servers:\n  s:\n    url: [http://a/mcp, http://b/mcp]\n    replicas: 2\n",
            "remove `replicas`",
        ),
        (
            "mcp_servers:\n  s:\n    command: x\n    replicas: 0\n",
            "from 1 to 64",
        ),
        (
            "mcp_servers:\n  s:\n    command: x\n    replicas: 2\n    session_mode: per_session\n",
            "use `session_mode: shared` with replicas",
        ),
        (
            "mcp_servers:\n  s:\n    command: x\n    outlier_detection: {consecutive_failures: 2}\n",
            "applies to a server with replicas",
        ),
        (
            "mcp_servers:\n  s:\n    command: x\n    replicas: 2\n    outlier_detection: {base_ejection: 10s, max_ejection: 1s}\n",
            "shorter than base_ejection",
        ),
        (
            "mcp_servers:\n  s:\n    url: [http://a/mcp, not a url]\n",
            "mcp_servers.s.url[1]",
        ),
    ] {
        let e = yaml_err(text).to_string();
        assert!(e.contains(says), "{text}: {e}");
    }
}

#[test]
fn the_shared_redis_is_read_checked_and_never_logged_with_its_password() {
    let config = yaml_ok(
        "redis:\n  url: redis://gw:s3cret@redis.internal:6380/2\n  key_prefix: \"prod:\"\n  timeout: 100ms\n",
    );
    let redis = config.redis.expect("redis settings");
    assert_eq!(redis.url, "redis://gw:s3cret@redis.internal:6380/2");
    assert_eq!(redis.key_prefix, "prod:");
    assert_eq!(redis.timeout, Duration::from_millis(100));
    assert_eq!(redis.redacted_url(), "redis://gw:***@redis.internal:6380/2");
    assert!(!format!("{redis:?}").contains("s3cret"));
    let defaults = yaml_ok("redis: {url: \"redis://127.0.0.1:6379\"}\n").redis;
    let defaults = defaults.expect("redis settings");
    assert_eq!(
        (defaults.key_prefix.as_str(), defaults.timeout),
        ("toolgate:", Duration::from_millis(250))
    );
    for (text, says) in [
        (
            "redis: {url: \"redis://h:6379\", tls: {ca_file: c.pem}}\n",
            "applies to a `rediss://` URL",
        ),
        (
            "redis: {url: \"rediss://h:6379\", tls: {cert_file: c.pem}}\n",
            "both `cert_file` and `key_file`",
        ),
        ("redis: {url: \"http://h:6379\"}\n", "expected redis://"),
        ("redis: {url: \"redis://\"}\n", "expected redis://"),
        (
            "redis: {url: \"redis://h\", timeout: 0s}\n",
            "redis.timeout",
        ),
        ("redis: {url: \"redis://h\", pool: 3}\n", "pool"),
    ] {
        let e = yaml_err(text).to_string();
        assert!(e.contains(says), "{text}: {e}");
    }
}

#[test]
fn a_session_secret_seals_sessions_and_a_short_one_is_refused() {
    let config = yaml_ok("server:\n  session_secret: \"0123456789abcdef0123456789abcdef\"\n");
    let seal = config.server.session_seal.expect("a seal");
    assert!(!format!("{seal:?}").contains("0123456789abcdef"));
    assert_eq!(
        Some(seal),
        yaml_ok("server:\n  session_secret: \"0123456789abcdef0123456789abcdef\"\n")
            .server
            .session_seal,
        "the same secret is the same seal (reload compares them)"
    );
    assert!(yaml_ok("server: {}\n").server.session_seal.is_none());
    let e = yaml_err("server:\n  session_secret: short\n").to_string();
    assert!(
        e.contains("server.session_secret") && e.contains("at least 32"),
        "{e}"
    );
}
