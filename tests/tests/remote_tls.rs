//! Remote upstreams over TLS (issue 11): server-everything behind a TLS front of our own on
//! 127.0.0.1, with certificates made in the test by a private CA. Trusted through `tls.ca_file`
//! and through `SSL_CERT_FILE`; a wrong CA, a wrong host name and an expired certificate each
//! keep that upstream down with the certificate problem named while the others serve; a server
//! that requires a client certificate gets the one the config names.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use toolgate_tests::tls::{Pki, TlsFront, Validity};
use toolgate_tests::{
    Gateway, GatewayConfig, ServerEverything, Upstream, gateway_with_tools, text_of,
};

const DOWN_WITHIN: Duration = Duration::from_secs(20);

fn backend(everything: &ServerEverything) -> anyhow::Result<SocketAddr> {
    Ok(format!("127.0.0.1:{}", everything.port()).parse()?)
}

fn yaml_path(path: &std::path::Path) -> String {
    format!("{:?}", path.display().to_string())
}

#[tokio::test]
async fn streamable_http_over_https_trusted_by_ca_file() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let pki = Pki::new("ca-file")?;
    let cert = pki.server_cert("server", &["127.0.0.1", "localhost"], Validity::Current)?;
    let front = TlsFront::start(backend(&everything)?, &cert, None).await?;
    let config = GatewayConfig::new()
        .server(
            "secure",
            Upstream::url(format!("https://127.0.0.1:{}/mcp", front.port())),
        )
        .server_key(
            "secure",
            "tls",
            format!("{{ca_file: {}}}", yaml_path(pki.ca_file())),
        );
    let (_gateway, session) = gateway_with_tools(&config, &["secure__echo"]).await?;
    let result = session
        .call_tool_ok("secure__echo", json!({"message": "over tls"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: over tls");
    Ok(())
}

/// LiteLLM's documented form, `url: https://…/sse`, with the CA trusted the way operators
/// usually do it: `SSL_CERT_FILE` in the gateway's environment.
#[tokio::test]
async fn legacy_sse_over_https_trusted_by_ssl_cert_file() -> anyhow::Result<()> {
    let everything = ServerEverything::start_sse().await?;
    let pki = Pki::new("ssl-cert-file")?;
    let cert = pki.server_cert("server", &["127.0.0.1"], Validity::Current)?;
    let front = TlsFront::start(backend(&everything)?, &cert, None).await?;
    let config = GatewayConfig::new().server(
        "zapier",
        Upstream::url(format!("https://127.0.0.1:{}/sse", front.port())),
    );
    let ca = pki.ca_file().display().to_string();
    let gateway = Gateway::start_config_env(&config, &[("SSL_CERT_FILE", &ca)]).await?;
    gateway
        .wait_upstream("zapier", "ready", Duration::from_secs(20))
        .await?;
    let session = gateway.session().await?;
    let result = session
        .call_tool_ok("zapier__echo", json!({"message": "sse over tls"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: sse over tls");
    Ok(())
}

/// Each certificate problem keeps its upstream down with the problem named in `/readyz`, and
/// a healthy upstream beside it keeps serving.
#[tokio::test]
async fn certificate_problems_keep_the_upstream_down_with_the_reason() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let backend = backend(&everything)?;
    let trusted = Pki::new("trusted")?;
    let stranger = Pki::new("stranger")?;

    let untrusted_cert = stranger.server_cert("untrusted", &["127.0.0.1"], Validity::Current)?;
    let misnamed_cert = trusted.server_cert("misnamed", &["other.example"], Validity::Current)?;
    let expired_cert = trusted.server_cert("expired", &["127.0.0.1"], Validity::Expired)?;
    let untrusted = TlsFront::start(backend, &untrusted_cert, None).await?;
    let misnamed = TlsFront::start(backend, &misnamed_cert, None).await?;
    let expired = TlsFront::start(backend, &expired_cert, None).await?;

    let ca = format!("{{ca_file: {}}}", yaml_path(trusted.ca_file()));
    let url = |front: &TlsFront| Upstream::url(format!("https://127.0.0.1:{}/mcp", front.port()));
    let config = GatewayConfig::new()
        .server("demo", Upstream::demo("demo")?)
        .server("untrusted", url(&untrusted))
        .server_key("untrusted", "tls", ca.clone())
        .server("misnamed", url(&misnamed))
        .server_key("misnamed", "tls", ca.clone())
        .server("expired", url(&expired))
        .server_key("expired", "tls", ca.clone());
    let gateway = Gateway::start_config(&config).await?;

    for (name, problem) in [
        ("untrusted", "UnknownIssuer"),
        ("misnamed", "not valid for name"),
        ("expired", "expired"),
    ] {
        let entry = gateway.wait_upstream(name, "down", DOWN_WITHIN).await?;
        let reason = entry["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("TLS") && reason.contains(problem),
            "{name}: the reason names the certificate problem ({problem}): {reason}"
        );
    }
    let log = gateway.output();
    assert!(
        log.contains("UnknownIssuer") && log.contains("tls.ca_file"),
        "the log names the problem and the setting that fixes it:\n{log}"
    );

    let session = gateway.session().await?;
    let result = session
        .call_tool_ok("demo__echo", json!({"message": "still here"}))
        .await?;
    assert_eq!(text_of(&result), "still here");
    let refused = session
        .call_tool("expired__echo", json!({"message": "x"}))
        .await?;
    toolgate_tests::expect_gateway_error(&refused, -31000, "expired")?;
    Ok(())
}

/// A name the certificate does carry can be given with `tls.server_name` when the URL uses an
/// address.
#[tokio::test]
async fn server_name_checks_the_certificate_against_another_name() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let pki = Pki::new("server-name")?;
    let cert = pki.server_cert("named", &["mcp.internal.example"], Validity::Current)?;
    let front = TlsFront::start(backend(&everything)?, &cert, None).await?;
    let config = GatewayConfig::new()
        .server(
            "named",
            Upstream::url(format!("https://127.0.0.1:{}/mcp", front.port())),
        )
        .server_key(
            "named",
            "tls",
            format!(
                "{{ca_file: {}, server_name: mcp.internal.example}}",
                yaml_path(pki.ca_file())
            ),
        );
    let (_gateway, session) = gateway_with_tools(&config, &["named__echo"]).await?;
    let result = session
        .call_tool_ok("named__echo", json!({"message": "by name"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: by name");
    Ok(())
}

/// A server that requires a client certificate refuses the gateway without one (the reason says
/// so) and serves it with the one `tls.cert_file`/`tls.key_file` name.
#[tokio::test]
async fn mtls_client_certificate_from_the_config() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let servers = Pki::new("mtls-servers")?;
    let clients = Pki::new("mtls-clients")?;
    let cert = servers.server_cert("server", &["127.0.0.1"], Validity::Current)?;
    let client = clients.client_cert("toolgate")?;
    let front = TlsFront::start(backend(&everything)?, &cert, Some(clients.ca_file())).await?;
    let url = Upstream::url(format!("https://127.0.0.1:{}/mcp", front.port()));
    let config = GatewayConfig::new()
        .server("anonymous", url.clone())
        .server_key(
            "anonymous",
            "tls",
            format!("{{ca_file: {}}}", yaml_path(servers.ca_file())),
        )
        .server("mutual", url)
        .server_key(
            "mutual",
            "tls",
            format!(
                "{{ca_file: {}, cert_file: {}, key_file: {}}}",
                yaml_path(servers.ca_file()),
                yaml_path(&client.cert),
                yaml_path(&client.key)
            ),
        );
    let (gateway, session) = gateway_with_tools(&config, &["mutual__echo"]).await?;
    let result = session
        .call_tool_ok("mutual__echo", json!({"message": "mutual"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: mutual");
    let entry = gateway
        .wait_upstream("anonymous", "down", DOWN_WITHIN)
        .await?;
    let reason = entry["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("TLS") && reason.contains("client certificate"),
        "the reason says a client certificate is wanted: {reason}"
    );
    Ok(())
}

/// `HTTPS_PROXY` is honoured: an `https://` upstream named by a host name is reached through
/// the proxy's `CONNECT` tunnel, with TLS to the server inside it (the proxy sees only the
/// host name and port).
#[tokio::test]
async fn https_upstreams_go_through_the_environments_proxy() -> anyhow::Result<()> {
    let everything = ServerEverything::start_streamable_http().await?;
    let pki = Pki::new("proxied")?;
    let cert = pki.server_cert("server", &["mcp.remote.example"], Validity::Current)?;
    let front = TlsFront::start(backend(&everything)?, &cert, None).await?;
    let proxy = toolgate_tests::connect_proxy::ConnectProxy::start(front.addr()).await?;
    let config = GatewayConfig::new()
        .server(
            "remote",
            Upstream::url("https://mcp.remote.example:8443/mcp"),
        )
        .server_key(
            "remote",
            "tls",
            format!("{{ca_file: {}}}", yaml_path(pki.ca_file())),
        )
        .server("demo", Upstream::demo("demo")?);
    let proxy_url = proxy.url();
    let gateway =
        Gateway::start_config_env(&config, &[("HTTPS_PROXY", &proxy_url), ("NO_PROXY", "")])
            .await?;
    gateway
        .wait_upstream("remote", "ready", Duration::from_secs(20))
        .await?;
    let session = gateway.session().await?;
    let result = session
        .call_tool_ok("remote__echo", json!({"message": "via the proxy"}))
        .await?;
    assert_eq!(text_of(&result), "Echo: via the proxy");
    assert!(
        proxy
            .targets()
            .iter()
            .all(|t| t == "mcp.remote.example:8443")
            && !proxy.targets().is_empty(),
        "the proxy was asked for the upstream only: {:?}",
        proxy.targets()
    );
    // The stdio upstream and loopback are not the proxy's business.
    let result = session
        .call_tool_ok("demo__echo", json!({"message": "direct"}))
        .await?;
    assert_eq!(text_of(&result), "direct");
    Ok(())
}
