//! tower-test unit tests of the authentication layer: what reaches the inner service, and what
//! is answered without it.

use std::time::Duration;

use http::header::WWW_AUTHENTICATE;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use toolgate::Identity;
use toolgate::server::McpBody;
use tower_test::mock;

use super::*;

type Handle = mock::Handle<Request<String>, Response<McpBody>>;

fn request(path: &str, headers: &[(&str, &str)]) -> Request<String> {
    let mut b = Request::builder().uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(String::from("{}")).expect("request")
}

fn keys_layer() -> AuthenticateLayer<Authenticator> {
    Auth::new()
        .api_keys(ApiKeys::new().key("team-a", "team-a-key-0123456789"))
        .resource_metadata(ProtectedResourceMetadata::new("http://127.0.0.1:4000/mcp"))
        .layer()
}

async fn body_json(response: Response<McpBody>) -> serde_json::Value {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("a JSON body")
}

/// Answers the next request the inner service gets with 200, returning the request.
async fn serve_one(handle: &mut Handle) -> Request<String> {
    let (req, respond) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("the inner service got no request")
        .expect("the mock is open");
    respond.send_response(toolgate::server::plain(StatusCode::OK, "inner"));
    req
}

#[tokio::test]
async fn no_credentials_get_401_with_a_challenge_and_never_reach_the_inner_service() {
    let (mut service, mut handle) = mock::spawn_layer(keys_layer());
    assert!(service.poll_ready().is_ready());
    let response = service
        .call(request("/mcp", &[]))
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(
        challenge,
        "Bearer realm=\"toolgate\", resource_metadata=\"http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp\""
    );
    let body = body_json(response).await;
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("Authorization: Bearer")),
        "{body}"
    );
    assert!(handle.poll_request().is_pending(), "nothing was passed on");
}

#[tokio::test]
async fn a_wrong_key_gets_401_invalid_token() {
    let (mut service, mut handle) = mock::spawn_layer(keys_layer());
    assert!(service.poll_ready().is_ready());
    let response = service
        .call(request("/mcp", &[("authorization", "Bearer wrong-key")]))
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(!challenge.contains("wrong-key"), "the secret is not echoed");
    assert!(handle.poll_request().is_pending());
}

#[tokio::test]
async fn a_good_key_passes_with_its_identity_in_the_extensions() {
    let (mut service, mut handle) = mock::spawn_layer(keys_layer());
    assert!(service.poll_ready().is_ready());
    let call = service.call(request(
        "/mcp",
        &[("authorization", "Bearer team-a-key-0123456789")],
    ));
    let (response, req) = tokio::join!(call, serve_one(&mut handle));
    assert_eq!(response.expect("a response").status(), StatusCode::OK);
    let id = req.extensions().get::<Identity>().expect("an identity");
    assert_eq!(id.subject, "team-a");
}

#[tokio::test]
async fn the_metadata_path_needs_no_credentials() {
    let (mut service, mut handle) = mock::spawn_layer(keys_layer());
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        assert!(service.poll_ready().is_ready());
        let call = service.call(request(path, &[]));
        let (response, req) = tokio::join!(call, serve_one(&mut handle));
        assert_eq!(response.expect("a response").status(), StatusCode::OK);
        assert!(req.extensions().get::<Identity>().is_none());
    }
    // Only those exact paths: a look-alike is not public.
    assert!(service.poll_ready().is_ready());
    let response = service
        .call(request("/.well-known/oauth-protected-resource/mcp/x", &[]))
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_failing_key_store_fails_closed_with_503() {
    let layer = AuthenticateLayer::new(
        Authenticator::new().api_keys(|_: &str| async { Err(KeyStoreError::new("db down")) }),
    );
    let (mut service, mut handle) = mock::spawn_layer(layer);
    assert!(service.poll_ready().is_ready());
    let response = service
        .call(request("/mcp", &[("x-api-key", "anything-at-all")]))
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(handle.poll_request().is_pending());
}

#[tokio::test]
async fn a_panicking_check_fails_closed_with_500() {
    let layer = AuthenticateLayer::new(|_: &http::request::Parts| async {
        if true {
            panic!("custom key store bug");
        }
        Err(AuthError::missing("unreachable"))
    });
    let (mut service, mut handle) = mock::spawn_layer(layer);
    assert!(service.poll_ready().is_ready());
    let response = service
        .call(request("/mcp", &[("x-api-key", "k")]))
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(handle.poll_request().is_pending());
}

#[tokio::test]
async fn a_custom_check_decides_who_the_caller_is() {
    let layer = AuthenticateLayer::new(|parts: &http::request::Parts| {
        let user = parts
            .headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        async move {
            let subject = user.ok_or_else(|| AuthError::missing("no X-User"))?;
            Ok(Identity {
                subject,
                attributes: vec![],
            })
        }
    });
    let (mut service, mut handle) = mock::spawn_layer(layer);
    assert!(service.poll_ready().is_ready());
    let call = service.call(request("/mcp", &[("x-user", "bob")]));
    let (response, req) = tokio::join!(call, serve_one(&mut handle));
    assert_eq!(response.expect("a response").status(), StatusCode::OK);
    assert_eq!(
        req.extensions()
            .get::<Identity>()
            .map(|i| i.subject.as_str()),
        Some("bob")
    );
}

#[tokio::test]
async fn jwt_and_keys_work_side_by_side() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let secret = "an-hs256-secret-that-is-long-enough-0123";
    let verifier = JwtVerifier::builder("https://issuer.example", "toolgate")
        .hs256_secret(secret)
        .build()
        .expect("verifier");
    let layer = Auth::new()
        .api_keys(ApiKeys::new().key("team-a", "team-a-key-0123456789"))
        .jwt(verifier)
        .layer();
    let claims = serde_json::json!({"sub": "alice", "iss": "https://issuer.example",
        "aud": "toolgate", "exp": jsonwebtoken::get_current_timestamp() + 600});
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token");
    let (mut service, mut handle) = mock::spawn_layer(layer);
    for (credential, subject) in [
        (format!("Bearer {token}"), "alice"),
        ("Bearer team-a-key-0123456789".to_string(), "team-a"),
    ] {
        assert!(service.poll_ready().is_ready());
        let call = service.call(request("/mcp", &[("authorization", &credential)]));
        let (response, req) = tokio::join!(call, serve_one(&mut handle));
        assert_eq!(response.expect("a response").status(), StatusCode::OK);
        assert_eq!(
            req.extensions()
                .get::<Identity>()
                .map(|i| i.subject.as_str()),
            Some(subject)
        );
    }
}
