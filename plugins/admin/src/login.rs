//! `/admin/login`: for browsers under `use: auth`, which cannot add a bearer token to the
//! page's own requests. The form posts the API key or token; the answer sets it as the
//! `toolgate_admin` cookie — `HttpOnly`, `SameSite=Strict`, `Path=/admin`, for eight hours —
//! which `use: auth` accepts as a credential under `/admin` only, and redirects to the page.
//! The credential is checked on the next request like any other; a non-admin one gets 403
//! there. The form itself needs no credentials (`use: auth` lets this path through).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Response, StatusCode};
use http_body_util::BodyExt as _;
use toolgate::server::{HttpRequest, McpBody, plain};

/// The largest login form accepted.
const MAX_FORM: usize = 8 * 1024;

const FORM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>toolgate admin: log in</title>
<link rel="icon" href="data:,">
<style>body{font:14px system-ui,sans-serif;margin:15vh auto;max-width:420px}
input{width:100%;padding:6px;margin:6px 0}button{padding:6px 14px}</style></head>
<body><h1>toolgate admin</h1>
<form method="post" action="/admin/login">
<label for="credential">API key or token of an admin (<code>use: admin</code> callers)</label>
<input id="credential" name="credential" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button></form></body></html>"#;

#[derive(Clone, Debug)]
pub(crate) struct LoginService;

fn html(body: &'static str) -> Response<McpBody> {
    let mut r = Response::new(McpBody::full(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut().insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

/// The `credential` field of a form-urlencoded body.
fn credential(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "credential")?
        .1;
    // application/x-www-form-urlencoded: `+` is a space, `%XX` a byte.
    let mut out = Vec::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let value = String::from_utf8(out).ok()?.trim().to_owned();
    // A cookie value: visible ASCII without separators.
    (!value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\')))
    .then_some(value)
}

impl tower::Service<HttpRequest> for LoginService {
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        Box::pin(async move {
            if req.method() == Method::GET {
                return Ok(html(FORM));
            }
            if req.method() != Method::POST {
                return Ok(plain(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "/admin/login answers GET (the form) and POST (its submission)",
                ));
            }
            let mut incoming = req.into_body();
            let mut body = Vec::new();
            while let Some(frame) = incoming.frame().await {
                let Ok(frame) = frame else {
                    return Ok(plain(
                        StatusCode::BAD_REQUEST,
                        "the login form did not arrive",
                    ));
                };
                if let Ok(data) = frame.into_data() {
                    if body.len() + data.len() > MAX_FORM {
                        return Ok(plain(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "the login form is too large",
                        ));
                    }
                    body.extend_from_slice(&data);
                }
            }
            let Some(value) = credential(&body) else {
                return Ok(plain(
                    StatusCode::BAD_REQUEST,
                    "send the form field `credential`: an API key or token (visible ASCII)",
                ));
            };
            let cookie = format!(
                "toolgate_admin={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=28800"
            );
            let mut r = Response::new(McpBody::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut().insert(
                http::header::LOCATION,
                http::HeaderValue::from_static("/admin"),
            );
            match http::HeaderValue::from_str(&cookie) {
                Ok(v) => {
                    r.headers_mut().insert(http::header::SET_COOKIE, v);
                }
                Err(_) => {
                    return Ok(plain(
                        StatusCode::BAD_REQUEST,
                        "that credential cannot be kept",
                    ));
                }
            }
            Ok(r)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_field_is_decoded_and_checked() {
        assert_eq!(
            credential(b"credential=ops-key-123").as_deref(),
            Some("ops-key-123")
        );
        assert_eq!(
            credential(b"x=1&credential=a%2Bb%3D").as_deref(),
            Some("a+b=")
        );
        assert_eq!(credential(b"credential=a;b"), None);
        assert_eq!(credential(b"credential=a%3Bb"), None);
        assert_eq!(credential(b"credential="), None);
        assert_eq!(credential(b"credential=%zz"), None);
        assert_eq!(credential(b"other=1"), None);
    }
}
