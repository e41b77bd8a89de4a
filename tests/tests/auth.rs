//! Authentication (`use: auth`) and authorization (`use: authorize`) end to end: a real
//! gateway process, real demo-server upstreams, real HTTP.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use toolgate_tests::gateway::run_toolgate;
use toolgate_tests::http::{HttpResponse, PROTOCOL_VERSION, VERSION_HEADER, post, send};
use toolgate_tests::paths;
use toolgate_tests::process::run_command;
use toolgate_tests::scratch::ScratchDir;
use toolgate_tests::{Gateway, within};

const TEAM_A_KEY: &str = "team-a-key-0123456789abcdef";
const TEAM_B_KEY: &str = "team-b-key-0123456789abcdef";
const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "toolgate";

// ---------------------------------------------------------------------------
// Helpers

fn testdata(name: &str) -> PathBuf {
    paths::workspace_root()
        .join("plugins/auth/testdata")
        .join(name)
}

fn quote(s: &str) -> String {
    Value::from(s).to_string()
}

/// `mcp_servers:` with a demo-server on stdio for each name (its `whoami` answers the name).
fn demo_servers(names: &[&str]) -> anyhow::Result<String> {
    let bin = paths::demo_server()?;
    let mut yaml = String::from("mcp_servers:\n");
    for name in names {
        yaml.push_str(&format!(
            "  {name}:\n    command: {}\n    args: [\"--transport\", \"stdio\", \"--name\", {}]\n",
            quote(&bin.to_string_lossy()),
            quote(name)
        ));
    }
    Ok(yaml)
}

/// An MCP session over Streamable HTTP whose every request carries one credential header.
struct Client {
    url: String,
    credential: (String, String),
    session: String,
    next_id: AtomicI64,
}

impl Client {
    async fn connect(url: &str, header: &str, value: &str) -> anyhow::Result<Client> {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "auth-tests", "version": "1"}}});
        let http = post(url, None, &[(header, value)], init.to_string()).await?;
        ensure!(
            http.status == StatusCode::OK,
            "initialize was not accepted:\n{}",
            http.describe()
        );
        let session = http
            .session_id()
            .with_context(|| format!("no session id:\n{}", http.describe()))?
            .to_string();
        let client = Client {
            url: url.to_string(),
            credential: (header.to_string(), value.to_string()),
            session,
            next_id: AtomicI64::new(1),
        };
        let ack = client
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        ensure!(
            ack.status == StatusCode::ACCEPTED,
            "initialized: {}",
            ack.describe()
        );
        Ok(client)
    }

    async fn bearer(url: &str, token: &str) -> anyhow::Result<Client> {
        Self::connect(url, "authorization", &format!("Bearer {token}")).await
    }

    async fn post(&self, body: Value) -> anyhow::Result<HttpResponse> {
        post(
            &self.url,
            Some(&self.session),
            &[
                (self.credential.0.as_str(), self.credential.1.as_str()),
                (VERSION_HEADER, PROTOCOL_VERSION),
            ],
            body.to_string(),
        )
        .await
    }

    /// The JSON-RPC response (result or error) to one request.
    async fn request(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let http = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        ensure!(
            http.status == StatusCode::OK,
            "{method}: {}",
            http.describe()
        );
        http.messages()?
            .into_iter()
            .find(|m| m["id"] == id)
            .with_context(|| format!("{method}: no response in\n{}", http.describe()))
    }

    async fn result(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let response = self.request(method, params).await?;
        response
            .get("result")
            .cloned()
            .with_context(|| format!("{method} failed: {response}"))
    }

    async fn names(&self, method: &str, key: &str, field: &str) -> anyhow::Result<Vec<String>> {
        let result = self.result(method, json!({})).await?;
        Ok(result[key]
            .as_array()
            .with_context(|| format!("{method}: no {key} in {result}"))?
            .iter()
            .filter_map(|i| i[field].as_str().map(str::to_string))
            .collect())
    }

    async fn tool_names(&self) -> anyhow::Result<Vec<String>> {
        self.names("tools/list", "tools", "name").await
    }

    /// Waits until `tools/list` shows `wanted` (upstreams may still be starting).
    async fn wait_for_tool(&self, wanted: &str) -> anyhow::Result<Vec<String>> {
        within(Duration::from_secs(20), "upstreams ready", async {
            loop {
                let names = self.tool_names().await?;
                if names.iter().any(|n| n == wanted) {
                    return anyhow::Ok(names);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await?
    }
}

fn expect_unknown(response: &Value, what: &str, name: &str) -> anyhow::Result<()> {
    let error = response
        .get("error")
        .with_context(|| format!("expected an error, got {response}"))?;
    ensure!(
        error["code"] == -32602 && error["message"] == format!("unknown {what}: {name}"),
        "expected -32602 unknown {what}: {name}, got {response}"
    );
    Ok(())
}

fn expect_401(http: &HttpResponse, description: &str) -> anyhow::Result<()> {
    ensure!(
        http.status == StatusCode::UNAUTHORIZED,
        "expected 401:\n{}",
        http.describe()
    );
    let challenge = http
        .header("www-authenticate")
        .with_context(|| format!("401 without WWW-Authenticate:\n{}", http.describe()))?;
    ensure!(
        challenge.starts_with("Bearer realm=\"toolgate\""),
        "{challenge}"
    );
    let body = http.json()?;
    ensure!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains(description)),
        "the body should say '{description}': {body}"
    );
    Ok(())
}

async fn initialize_with(url: &str, headers: &[(&str, &str)]) -> anyhow::Result<HttpResponse> {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
        "clientInfo": {"name": "auth-tests", "version": "1"}}});
    post(url, None, headers, init.to_string()).await
}

fn base_url(gateway: &Gateway) -> String {
    format!("http://{}", gateway.addr())
}

// ---------------------------------------------------------------------------
// Authentication

fn keys_config() -> anyhow::Result<String> {
    let admin_sha256 = quote(&sha256_hex(ADMIN_KEY)?);
    Ok(format!(
        "{}layers:
  - use: auth
    api_keys:
      - {{name: team-a, key: {TEAM_A_KEY}, servers: [a]}}
      - {{name: team-b, key: {TEAM_B_KEY}, servers: [b]}}
      - {{name: admin, sha256: {admin_sha256}}}
    resource_metadata:
      resource: http://127.0.0.1:4000/mcp
      authorization_servers: [\"{ISSUER}\"]
  - use: authorize
    default: allow
    rules:
      - match: {{key: team-a}}
        deny_tools: [a__crash]
",
        demo_servers(&["a", "b"])?
    ))
}

/// The hex SHA-256 of `key`, by `sha256sum` (an implementation independent of the gateway's).
fn sha256_hex(key: &str) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running sha256sum")?;
    child
        .stdin
        .take()
        .context("sha256sum stdin")?
        .write_all(key.as_bytes())?;
    let out = child.wait_with_output()?;
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    ensure!(hex.len() == 64, "sha256sum printed {hex:?}");
    Ok(hex)
}

#[tokio::test]
async fn no_credentials_get_401_with_a_challenge_and_the_metadata_document_is_public()
-> anyhow::Result<()> {
    let gateway = Gateway::start(&keys_config()?).await?;
    let http = initialize_with(gateway.url(), &[]).await?;
    expect_401(&http, "Authorization: Bearer")?;
    let challenge = http.header("www-authenticate").unwrap_or_default();
    ensure!(
        challenge
            == "Bearer realm=\"toolgate\", resource_metadata=\"http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp\"",
        "{challenge}"
    );
    ensure!(
        !challenge.contains("error="),
        "no error code without credentials"
    );

    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let doc = send(
            Method::GET,
            &format!("{}{path}", base_url(&gateway)),
            None,
            &[],
            Bytes::new(),
        )
        .await?;
        ensure!(doc.status == StatusCode::OK, "{path}: {}", doc.describe());
        let v = doc.json()?;
        ensure!(v["resource"] == "http://127.0.0.1:4000/mcp", "{v}");
        ensure!(v["authorization_servers"] == json!([ISSUER]), "{v}");
    }
    // Health stays open; other paths still need credentials.
    let health = send(
        Method::GET,
        &format!("{}/healthz", base_url(&gateway)),
        None,
        &[],
        Bytes::new(),
    )
    .await?;
    ensure!(health.status == StatusCode::OK, "{}", health.describe());
    let sse = send(
        Method::GET,
        &format!("{}/sse", base_url(&gateway)),
        None,
        &[("accept", "text/event-stream")],
        Bytes::new(),
    )
    .await?;
    ensure!(
        sse.status == StatusCode::UNAUTHORIZED,
        "legacy SSE needs credentials too:\n{}",
        sse.describe()
    );
    Ok(())
}

#[tokio::test]
async fn wrong_or_malformed_credentials_get_401_invalid_token() -> anyhow::Result<()> {
    let gateway = Gateway::start(&keys_config()?).await?;
    for (header, value, says) in [
        ("authorization", "Bearer not-a-key", "unknown API key"),
        ("x-api-key", "not-a-key", "unknown API key"),
        ("authorization", "Basic dGVhbS1hOng=", "must be Bearer"),
        ("authorization", "Bearer ", "empty"),
    ] {
        let http = initialize_with(gateway.url(), &[(header, value)]).await?;
        expect_401(&http, says).with_context(|| format!("{header}: {value}"))?;
        let challenge = http.header("www-authenticate").unwrap_or_default();
        ensure!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    // A session opened with one key cannot be used without it.
    let client = Client::bearer(gateway.url(), TEAM_A_KEY).await?;
    let http = post(
        gateway.url(),
        Some(&client.session),
        &[(VERSION_HEADER, PROTOCOL_VERSION)],
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}).to_string(),
    )
    .await?;
    expect_401(&http, "authentication required")?;
    Ok(())
}

#[tokio::test]
async fn a_key_limited_to_one_server_cannot_see_or_call_another_servers_tools() -> anyhow::Result<()>
{
    let gateway = Gateway::start(&keys_config()?).await?;
    let admin = Client::connect(gateway.url(), "x-api-key", ADMIN_KEY).await?;
    admin.wait_for_tool("b__whoami").await?;
    admin.wait_for_tool("a__whoami").await?;

    let team_a = Client::bearer(gateway.url(), TEAM_A_KEY).await?;
    let tools = team_a.tool_names().await?;
    ensure!(
        tools.iter().all(|t| t.starts_with("a__")),
        "team-a sees only a's tools: {tools:?}"
    );
    ensure!(tools.iter().any(|t| t == "a__whoami"), "{tools:?}");
    ensure!(
        !tools.iter().any(|t| t == "a__crash"),
        "denied by the authorize layer: {tools:?}"
    );
    let whoami = team_a
        .result("tools/call", json!({"name": "a__whoami", "arguments": {}}))
        .await?;
    ensure!(whoami["content"][0]["text"] == "a", "{whoami}");

    // Another server's tool and a denied tool look exactly like a tool that does not exist.
    for name in ["b__whoami", "a__crash"] {
        let denied = team_a
            .request("tools/call", json!({"name": name, "arguments": {}}))
            .await?;
        expect_unknown(&denied, "tool", name)?;
    }
    let missing = admin
        .request(
            "tools/call",
            json!({"name": "b__no_such_tool", "arguments": {}}),
        )
        .await?;
    expect_unknown(&missing, "tool", "b__no_such_tool")?;
    ensure!(
        missing["error"].get("data").is_none()
            && team_a
                .request("tools/call", json!({"name": "b__whoami"}))
                .await?["error"]
                .get("data")
                .is_none(),
        "neither carries data"
    );

    // Prompts and resources are governed the same way.
    let prompts = team_a.names("prompts/list", "prompts", "name").await?;
    ensure!(prompts == ["a__greet"], "{prompts:?}");
    let denied = team_a
        .request(
            "prompts/get",
            json!({"name": "b__greet", "arguments": {"name": "x"}}),
        )
        .await?;
    expect_unknown(&denied, "prompt", "b__greet")?;

    let team_b = Client::bearer(gateway.url(), TEAM_B_KEY).await?;
    let tools = team_b.tool_names().await?;
    ensure!(
        !tools.is_empty() && tools.iter().all(|t| t.starts_with("b__")),
        "{tools:?}"
    );
    // Both demo servers publish demo://readme; the aggregate routes it to `a`, the first.
    let resources = team_b.names("resources/list", "resources", "uri").await?;
    ensure!(
        !resources.iter().any(|u| u == "demo://readme"),
        "{resources:?}"
    );
    let read = team_b
        .request("resources/read", json!({"uri": "demo://readme"}))
        .await?;
    ensure!(
        read["error"]["code"] == -32002
            && read["error"]["message"] == "resource not found: demo://readme",
        "{read}"
    );
    let read = team_a
        .result("resources/read", json!({"uri": "demo://readme"}))
        .await?;
    ensure!(read["contents"].is_array(), "{read}");

    let all = admin.tool_names().await?;
    ensure!(
        all.iter().any(|t| t == "a__crash") && all.iter().any(|t| t == "b__whoami"),
        "the admin key is not limited: {all:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// JWT

fn jwt_config(jwks: &str) -> anyhow::Result<String> {
    Ok(format!(
        "{}layers:
  - use: auth
    jwt:
      issuer: \"{ISSUER}\"
      audience: {AUDIENCE}
      {jwks}
      claims_to_attributes: [groups]
  - use: authorize
    default: deny
    rules:
      - match: {{claim: {{groups: admins}}}}
      - match: {{claim: {{groups: a-users}}}}
        allow_servers: [a]
",
        demo_servers(&["a", "b"])?
    ))
}

fn token(alg: Algorithm, key_file: &str, kid: &str, claims: &Value) -> anyhow::Result<String> {
    let pem = std::fs::read(testdata(key_file))?;
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem)?,
        _ => EncodingKey::from_rsa_pem(&pem)?,
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    Ok(jsonwebtoken::encode(&header, claims, &key)?)
}

fn claims(groups: &[&str]) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
           "groups": groups})
}

#[tokio::test]
async fn jwt_valid_expired_wrong_audience_and_wrong_issuer() -> anyhow::Result<()> {
    let jwks = format!(
        "jwks_file: {}",
        quote(&testdata("jwks.json").to_string_lossy())
    );
    let gateway = Gateway::start(&jwt_config(&jwks)?).await?;

    let admin = token(
        Algorithm::RS256,
        "rsa-private.pem",
        "rsa-1",
        &claims(&["admins"]),
    )?;
    let admin = Client::bearer(gateway.url(), &admin).await?;
    admin.wait_for_tool("b__whoami").await?;
    admin.wait_for_tool("a__whoami").await?;

    // ES256 works too, and the groups claim drives the authorize rules.
    let limited = token(
        Algorithm::ES256,
        "ec-private.pem",
        "ec-1",
        &claims(&["a-users"]),
    )?;
    let limited = Client::bearer(gateway.url(), &limited).await?;
    let tools = limited.tool_names().await?;
    ensure!(
        !tools.is_empty() && tools.iter().all(|t| t.starts_with("a__")),
        "{tools:?}"
    );
    expect_unknown(
        &limited
            .request("tools/call", json!({"name": "b__whoami"}))
            .await?,
        "tool",
        "b__whoami",
    )?;
    let nobody = token(Algorithm::RS256, "rsa-private.pem", "rsa-1", &claims(&[]))?;
    let nobody = Client::bearer(gateway.url(), &nobody).await?;
    ensure!(
        nobody.tool_names().await?.is_empty(),
        "default deny hides everything"
    );

    let now = jsonwebtoken::get_current_timestamp();
    let mut expired = claims(&["admins"]);
    expired["exp"] = json!(now - 600);
    let mut wrong_aud = claims(&["admins"]);
    wrong_aud["aud"] = json!("another-service");
    let mut wrong_iss = claims(&["admins"]);
    wrong_iss["iss"] = json!("https://evil.example");
    let cases = [
        (
            token(Algorithm::RS256, "rsa-private.pem", "rsa-1", &expired)?,
            "expired",
        ),
        (
            token(Algorithm::RS256, "rsa-private.pem", "rsa-1", &wrong_aud)?,
            "audience",
        ),
        (
            token(Algorithm::RS256, "rsa-private.pem", "rsa-1", &wrong_iss)?,
            "issuer",
        ),
        (
            token(
                Algorithm::RS256,
                "rsa-other-private.pem",
                "rsa-1",
                &claims(&["admins"]),
            )?,
            "signature",
        ),
    ];
    for (jwt, says) in cases {
        let http = initialize_with(
            gateway.url(),
            &[("authorization", &format!("Bearer {jwt}"))],
        )
        .await?;
        expect_401(&http, says)?;
        let challenge = http.header("www-authenticate").unwrap_or_default();
        ensure!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    Ok(())
}

#[tokio::test]
async fn an_unreachable_key_source_fails_closed_with_503() -> anyhow::Result<()> {
    // A port nothing listens on.
    let port = toolgate_tests::free_port()?;
    let jwks = format!("jwks_url: http://127.0.0.1:{port}/jwks.json");
    let gateway = Gateway::start(&jwt_config(&jwks)?).await?;
    let jwt = token(
        Algorithm::RS256,
        "rsa-private.pem",
        "rsa-1",
        &claims(&["admins"]),
    )?;
    let http = initialize_with(
        gateway.url(),
        &[("authorization", &format!("Bearer {jwt}"))],
    )
    .await?;
    ensure!(
        http.status == StatusCode::SERVICE_UNAVAILABLE,
        "expected 503:\n{}",
        http.describe()
    );
    ensure!(
        http.text().contains("could not be fetched"),
        "{}",
        http.describe()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Upstream credentials

/// A Streamable HTTP MCP server that records the headers of every request it gets.
struct RecordingUpstream {
    url: String,
    seen: Arc<Mutex<Vec<(String, http::HeaderMap)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RecordingUpstream {
    async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let seen: Arc<Mutex<Vec<(String, http::HeaderMap)>>> = Arc::default();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let record = record.clone();
                        async move { Ok::<_, Infallible>(answer(req, &record).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RecordingUpstream { url, seen, task })
    }

    fn headers_seen(&self, path: &str, name: &str) -> Vec<String> {
        self.seen
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|(p, _)| p == path)
                    .flat_map(|(_, h)| h.get_all(name).iter())
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn all_header_values(&self) -> Vec<String> {
        self.seen
            .lock()
            .map(|s| {
                s.iter()
                    .flat_map(|(_, h)| h.values())
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    record: &Mutex<Vec<(String, http::HeaderMap)>>,
) -> http::Response<Full<Bytes>> {
    if let Ok(mut r) = record.lock() {
        r.push((req.uri().path().to_string(), req.headers().clone()));
    }
    let reply = |status: StatusCode, body: String| {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if req.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, String::new());
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = msg.get("id").cloned() else {
        return reply(StatusCode::ACCEPTED, String::new());
    };
    let result = match msg["method"].as_str().unwrap_or("") {
        "initialize" => json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                               "serverInfo": {"name": "recorder", "version": "1"}}),
        "tools/list" => json!({"tools": [{"name": "peek", "inputSchema": {"type": "object"}}]}),
        "tools/call" => json!({"content": [{"type": "text", "text": "ok"}]}),
        _ => json!({}),
    };
    reply(
        StatusCode::OK,
        json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
    )
}

#[tokio::test]
async fn the_clients_credentials_never_reach_an_upstream() -> anyhow::Result<()> {
    let upstream = RecordingUpstream::start().await?;
    let config = format!(
        "mcp_servers:
  with_token:
    url: {base}/with-token/mcp
    transport: http
    auth_type: bearer_token
    authentication_token: upstream-secret-token
  plain:
    url: {base}/plain/mcp
    transport: http
    headers: {{X-Upstream: configured}}
layers:
  - use: auth
    api_keys:
      - {{name: team-a, key: {TEAM_A_KEY}}}
",
        base = upstream.url
    );
    let gateway = Gateway::start(&config).await?;
    for client in [
        Client::bearer(gateway.url(), TEAM_A_KEY).await?,
        Client::connect(gateway.url(), "x-api-key", TEAM_A_KEY).await?,
    ] {
        client.wait_for_tool("with_token__peek").await?;
        client.wait_for_tool("plain__peek").await?;
        for tool in ["with_token__peek", "plain__peek"] {
            let r = client
                .result("tools/call", json!({"name": tool, "arguments": {}}))
                .await?;
            ensure!(r["content"][0]["text"] == "ok", "{r}");
        }
    }
    let with_token = upstream.headers_seen("/with-token/mcp", "authorization");
    ensure!(
        !with_token.is_empty()
            && with_token
                .iter()
                .all(|v| v == "Bearer upstream-secret-token"),
        "the configured token, and only it: {with_token:?}"
    );
    let plain = upstream.headers_seen("/plain/mcp", "authorization");
    ensure!(
        plain.is_empty(),
        "no Authorization to an upstream without one: {plain:?}"
    );
    ensure!(
        upstream
            .headers_seen("/plain/mcp", "x-upstream")
            .iter()
            .all(|v| v == "configured"),
        "configured headers are sent"
    );
    let leaked: Vec<String> = upstream
        .all_header_values()
        .into_iter()
        .filter(|v| v.contains(TEAM_A_KEY))
        .collect();
    ensure!(leaked.is_empty(), "the client's key reached an upstream");
    ensure!(
        upstream.headers_seen("/plain/mcp", "x-api-key").is_empty(),
        "X-API-Key is not forwarded"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Exposure

#[tokio::test]
async fn a_non_loopback_listen_address_without_auth_is_refused_before_binding() -> anyhow::Result<()>
{
    let scratch = ScratchDir::new("exposure")?;
    let servers = demo_servers(&["a"])?;
    let open = scratch.write(
        "open.yaml",
        &format!("{servers}server:\n  listen: 0.0.0.0:4000\n"),
    )?;
    let out = run_toolgate(["check".as_ref(), "--config".as_ref(), open.as_os_str()]).await?;
    ensure!(
        out.code() == Some(1) && out.stderr.contains("refusing to listen on 0.0.0.0:4000"),
        "{}",
        out.describe()
    );
    ensure!(
        out.stderr.contains("use: auth") && out.stderr.contains("allow_unauthenticated"),
        "the error says what to do: {}",
        out.describe()
    );

    let allowed = scratch.write(
        "allowed.yaml",
        &format!("{servers}server:\n  listen: 0.0.0.0:4000\n  allow_unauthenticated: true\n"),
    )?;
    run_toolgate(["check".as_ref(), "--config".as_ref(), allowed.as_os_str()])
        .await?
        .expect_success()?;
    let with_auth = scratch.write(
        "auth.yaml",
        &format!(
            "{servers}server:\n  listen: 0.0.0.0:4000\nlayers:\n  - use: auth\n    api_keys: [{{name: a, key: {TEAM_A_KEY}}}]\n"
        ),
    )?;
    run_toolgate(["check".as_ref(), "--config".as_ref(), with_auth.as_os_str()])
        .await?
        .expect_success()?;

    // Serving: `--listen` with a documentation-range address (RFC 5737) that is not on this
    // machine. The refusal comes before any bind; were it missing, the bind itself would fail
    // with another message, and nothing would listen either way.
    let plain = scratch.write("plain.yaml", &servers)?;
    let out = run_command(
        "toolgate",
        paths::toolgate()?,
        [
            "--config".as_ref(),
            plain.as_os_str(),
            "--listen".as_ref(),
            "192.0.2.1:0".as_ref(),
        ],
        &[],
        Duration::from_secs(30),
    )
    .await?;
    ensure!(
        out.code() == Some(1) && out.stderr.contains("refusing to listen on 192.0.2.1:0"),
        "{}",
        out.describe()
    );
    ensure!(!out.stderr.contains("listening on"), "{}", out.describe());
    Ok(())
}

#[tokio::test]
async fn a_bad_auth_config_is_refused_with_the_key_named() -> anyhow::Result<()> {
    let scratch = ScratchDir::new("auth-config")?;
    let servers = demo_servers(&["a"])?;
    for (yaml, says) in [
        (
            "layers:\n  - use: auth\n    api_keys: [{name: a, sha256: nothex}]\n",
            "api_keys[0] (a): sha256",
        ),
        (
            "layers:\n  - use: auth\n    api_keys: [{name: a, env: TOOLGATE_TEST_UNSET_KEY}]\n",
            "TOOLGATE_TEST_UNSET_KEY is not set",
        ),
        (
            "layers:\n  - use: auth\n    jwt: {issuer: x, audience: y}\n",
            "jwt: no signing keys",
        ),
        (
            "layers:\n  - use: authorize\n    rules: [{match: {kee: a}}]\n",
            "rules[0].match",
        ),
    ] {
        let file = scratch.write("bad.yaml", &format!("{servers}{yaml}"))?;
        let out = run_toolgate(["check".as_ref(), "--config".as_ref(), file.as_os_str()]).await?;
        if out.code() != Some(1) || !out.stderr.contains(says) {
            bail!("expected an error saying '{says}':\n{}", out.describe());
        }
    }
    Ok(())
}
