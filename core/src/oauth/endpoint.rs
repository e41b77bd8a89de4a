//! One request to a token endpoint: a form POST with the client's credentials, and the
//! token (or the endpoint's error) read from its JSON answer.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use super::{ClientAuth, OAuthError, OAuthSettings, Token};
use crate::http::Client;

/// Largest token endpoint answer read.
const MAX_ANSWER: usize = 256 * 1024;

#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// POSTs `form` (plus the client's credentials) to the token endpoint; returns the token and
/// its lifetime.
pub(crate) async fn request(
    client: &Client,
    settings: &OAuthSettings,
    form: &[(&str, &str)],
    timeout: Duration,
) -> Result<(Token, Duration), OAuthError> {
    let request = build(settings, form)?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            OAuthError::new(format!(
                "the token endpoint {} could not be reached: {e}",
                settings.token_url
            ))
        })?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| {
                OAuthError::new(format!(
                    "the token endpoint {} sent an unreadable answer: {e}",
                    settings.token_url
                ))
            })?
            .to_bytes();
        Ok::<_, OAuthError>((status, bytes))
    };
    let (status, bytes) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| {
            OAuthError::new(format!(
                "the token endpoint {} did not answer within {timeout:?}",
                settings.token_url
            ))
        })??;
    let answer: Answer = serde_json::from_slice(&bytes).map_err(|_| {
        OAuthError::new(format!(
            "the token endpoint {} answered HTTP {status} without a JSON token response: {}",
            settings.token_url,
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ))
    })?;
    if let Some(error) = answer.error {
        let description = answer
            .error_description
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(OAuthError::new(format!(
            "the token endpoint {} refused (HTTP {status}): {error}{description}",
            settings.token_url
        )));
    }
    let (Some(value), true) = (answer.access_token, status.is_success()) else {
        return Err(OAuthError::new(format!(
            "the token endpoint {} answered HTTP {status} without an access_token",
            settings.token_url
        )));
    };
    if let Some(kind) = &answer.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(OAuthError::new(format!(
            "the token endpoint {} issued a '{kind}' token; only Bearer tokens are supported",
            settings.token_url
        )));
    }
    let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(0));
    let expires = answer
        .expires_in
        .map(|_| tokio::time::Instant::now() + lifetime);
    Ok((
        Token {
            value: value.into(),
            expires,
        },
        lifetime,
    ))
}

/// The parameters every request carries: scope, audience, resource.
pub(crate) fn audience_params(settings: &OAuthSettings) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    if let Some(scope) = &settings.scope {
        out.push(("scope", scope.as_str()));
    }
    if let Some(audience) = &settings.audience {
        out.push(("audience", audience.as_str()));
    }
    if let Some(resource) = &settings.resource {
        out.push(("resource", resource.as_str()));
    }
    out
}

/// The token request: the form, with the client's credentials as `settings` say.
fn build(
    settings: &OAuthSettings,
    form: &[(&str, &str)],
) -> Result<http::Request<Full<Bytes>>, OAuthError> {
    let mut body = form_urlencoded::Serializer::new(String::new());
    body.extend_pairs(form.iter().copied());
    let mut request = http::Request::post(&settings.token_url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json");
    match settings.client_auth {
        ClientAuth::Basic => {
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                encode(&settings.client_id),
                encode(&settings.client_secret)
            );
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            request = request.header(AUTHORIZATION, value);
        }
        ClientAuth::Post => {
            body.append_pair("client_id", &settings.client_id);
            body.append_pair("client_secret", &settings.client_secret);
        }
    }
    request
        .body(Full::new(Bytes::from(body.finish())))
        .map_err(|e| OAuthError::new(format!("token_url '{}': {e}", settings.token_url)))
}
