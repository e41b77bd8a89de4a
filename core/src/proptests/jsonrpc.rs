//! JSON-RPC framing and the shallow parse (`crate::jsonrpc`).

use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;

use super::json::{
    any_short_string, apply, edits, json_object_text, json_text, render_string, string_literal, ws,
};
use crate::error::McpError;
use crate::jsonrpc::{
    Message, Method, RequestId, error_frame, notification_frame, raw_response_frame, request_frame,
    response_frame,
};

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).expect("valid raw JSON")
}

fn parse_frame(frame: &[u8]) -> Message {
    match Message::parse(frame) {
        Ok(m) => m,
        Err(f) => panic!(
            "a frame the gateway wrote does not parse back: {} ({})",
            String::from_utf8_lossy(frame),
            f.error
        ),
    }
}

fn params_text(p: &Option<Box<RawValue>>) -> Option<&str> {
    p.as_deref().map(RawValue::get)
}

/// `Message::parse` on any bytes: never panics; a failure is -32700 or -32600 and its error
/// frame is valid JSON echoing the id it could read; a success re-encodes through the frame
/// writers into frames that parse back to the same id, method and raw params text.
pub(super) fn check_parse(bytes: &[u8]) {
    match Message::parse(bytes) {
        Ok(msg) => check_reencode(&msg),
        Err(failure) => {
            let code = failure.error.code();
            assert!(code == -32700 || code == -32600, "unexpected code {code}");
            assert!(!failure.error.message().is_empty());
            let frame = error_frame(failure.id.as_ref(), &failure.error);
            let v: Value = serde_json::from_slice(&frame).expect("error frame is JSON");
            assert_eq!(v["error"]["code"], code);
            match &failure.id {
                None => assert!(v["id"].is_null()),
                Some(id) => match parse_frame(&frame) {
                    Message::Response { id: back, outcome } => {
                        assert_eq!(&back, id);
                        assert!(outcome.is_err());
                    }
                    other => panic!("error frame parsed as {other:?}"),
                },
            }
        }
    }
}

fn check_reencode(msg: &Message) {
    match msg {
        Message::Request(req) => {
            let m = req.method.as_str();
            assert_eq!(Method::parse(m).as_str(), m, "method names round-trip");
            if let RequestId::Number(n) = req.id {
                let frame = request_frame(n, m, req.params.as_deref());
                match parse_frame(&frame) {
                    Message::Request(back) => {
                        assert_eq!(back.id, req.id);
                        assert_eq!(back.method.as_str(), m);
                        assert_eq!(params_text(&back.params), params_text(&req.params));
                    }
                    other => panic!("request frame parsed as {other:?}"),
                }
            }
            // Answering it: the id comes back as it was, the result as raw text.
            let empty = raw("{}");
            let result = req.params.as_deref().unwrap_or(&empty);
            match parse_frame(&response_frame(&req.id, result)) {
                Message::Response { id, outcome: Ok(r) } => {
                    assert_eq!(id, req.id);
                    assert_eq!(r.get(), result.get());
                }
                other => panic!("response frame parsed as {other:?}"),
            }
            let error = McpError::method_not_found(m);
            match parse_frame(&error_frame(Some(&req.id), &error)) {
                Message::Response {
                    id,
                    outcome: Err(e),
                } => {
                    assert_eq!(id, req.id);
                    let e: Value = serde_json::from_str(e.get()).expect("error object");
                    assert_eq!(e["code"], -32601);
                }
                other => panic!("error frame parsed as {other:?}"),
            }
        }
        Message::Notification { method, params } => {
            let m = method.as_str();
            match parse_frame(&notification_frame(m, params.as_deref())) {
                Message::Notification {
                    method: back,
                    params: p,
                } => {
                    assert_eq!(back.as_str(), m);
                    assert_eq!(params_text(&p), params_text(params));
                }
                other => panic!("notification frame parsed as {other:?}"),
            }
        }
        Message::Response { id, outcome } => {
            let raw_id = raw(&serde_json::to_string(id).expect("id encodes"));
            match outcome {
                Ok(r) => {
                    for frame in [response_frame(id, r), raw_response_frame(&raw_id, r.get())] {
                        match parse_frame(&frame) {
                            Message::Response {
                                id: back,
                                outcome: Ok(b),
                            } => {
                                assert_eq!(&back, id);
                                assert_eq!(b.get(), r.get());
                            }
                            other => panic!("response frame parsed as {other:?}"),
                        }
                    }
                }
                Err(_) => match parse_frame(&error_frame(Some(id), &McpError::internal("x"))) {
                    Message::Response {
                        id: back,
                        outcome: Err(_),
                    } => assert_eq!(&back, id),
                    other => panic!("error frame parsed as {other:?}"),
                },
            }
        }
    }
}

/// A request id as written, and what it must parse to.
fn request_id() -> impl Strategy<Value = (String, RequestId)> {
    prop_oneof![
        any::<i64>().prop_map(|n| (n.to_string(), RequestId::Number(n))),
        // Integers in float form are integers (`1.0`, `2e1`).
        (-1000i64..1000).prop_map(|n| (format!("{n}.0"), RequestId::Number(n))),
        (1i64..100).prop_map(|n| (format!("{n}e1"), RequestId::Number(n * 10))),
        any_short_string().prop_flat_map(|s| string_literal(s.clone())
            .prop_map(move |lit| (lit, RequestId::String(s.clone().into())))),
    ]
}

/// What a well-formed message must parse to.
#[derive(Debug, Clone)]
enum Expect {
    Request(RequestId, String, Option<String>),
    Notification(String, Option<String>),
    Result(RequestId, String),
    Error(RequestId, String),
}

const KEYS: &[&str] = &["jsonrpc", "id", "method", "params", "result", "error"];

/// A member `"key": value` with the key escaped any way.
fn keyed(key: &'static str, value: String) -> impl Strategy<Value = String> {
    (string_literal(key.to_string()), ws(), ws(), ws(), ws())
        .prop_map(move |(k, a, b, c, d)| format!("{a}{k}{b}:{c}{value}{d}"))
}

/// Members the parse must ignore: any other key.
fn extra_member() -> impl Strategy<Value = String> {
    (
        any_short_string().prop_filter("not a JSON-RPC key", |k| !KEYS.contains(&k.as_str())),
        json_text(),
    )
        .prop_flat_map(|(k, v)| {
            (string_literal(k), ws()).prop_map(move |(k, w)| format!("{w}{k}:{v}"))
        })
}

/// A well-formed message (any member order, whitespace, escapes, unknown members) and what it
/// must parse to.
fn message() -> impl Strategy<Value = (String, Expect)> {
    // MCP params are objects: arrays are refused (`params_must_be_an_object`).
    let params = prop::option::of(json_object_text().boxed());
    let kind = prop_oneof![
        (request_id(), any_short_string(), params.clone()).prop_map(|((it, id), m, p)| (
            Some(it),
            Some(m.clone()),
            p.clone(),
            None,
            None,
            Expect::Request(id, m, p)
        )),
        (any_short_string(), params).prop_map(|(m, p)| (
            None,
            Some(m.clone()),
            p.clone(),
            None,
            None,
            Expect::Notification(m, p)
        )),
        // MCP results and errors are objects (a `null` result reads as absent).
        (request_id(), json_object_text()).prop_map(|((it, id), r)| (
            Some(it),
            None,
            None,
            Some(r.clone()),
            None,
            Expect::Result(id, r)
        )),
        (request_id(), json_object_text()).prop_map(|((it, id), e)| (
            Some(it),
            None,
            None,
            None,
            Some(e.clone()),
            Expect::Error(id, e)
        )),
    ];
    (kind, prop::collection::vec(extra_member(), 0..3)).prop_flat_map(
        |((id, method, params, result, error, expect), extras)| {
            let mut members: Vec<BoxedStrategy<String>> = vec![
                string_literal("2.0".into())
                    .prop_flat_map(|v| keyed("jsonrpc", v))
                    .boxed(),
            ];
            if let Some(id) = id {
                members.push(keyed("id", id).boxed());
            }
            if let Some(m) = method {
                members.push(
                    string_literal(m)
                        .prop_flat_map(|v| keyed("method", v))
                        .boxed(),
                );
            }
            for (key, value) in [("params", params), ("result", result), ("error", error)] {
                if let Some(v) = value {
                    members.push(keyed(key, v).boxed());
                }
            }
            for e in extras {
                members.push(Just(e).boxed());
            }
            let expect = expect.clone();
            (members, ws(), ws()).prop_flat_map(move |(members, a, b)| {
                let expect = expect.clone();
                Just(members)
                    .prop_shuffle()
                    .prop_map(move |m| (format!("{a}{{{}}}{b}", m.join(",")), expect.clone()))
            })
        },
    )
}

fn check_expected(text: &str, expect: &Expect) {
    let msg = match Message::parse(text.as_bytes()) {
        Ok(m) => m,
        Err(f) => panic!("well-formed message refused: {text:?}: {}", f.error),
    };
    match (&msg, expect) {
        (Message::Request(r), Expect::Request(id, m, p)) => {
            assert_eq!(&r.id, id);
            assert_eq!(r.method.as_str(), m);
            assert_eq!(params_text(&r.params), p.as_deref());
        }
        (Message::Notification { method, params }, Expect::Notification(m, p)) => {
            assert_eq!(method.as_str(), m);
            assert_eq!(params_text(params), p.as_deref());
        }
        (Message::Response { id, outcome: Ok(r) }, Expect::Result(eid, er)) => {
            assert_eq!(id, eid);
            assert_eq!(r.get(), er);
        }
        (
            Message::Response {
                id,
                outcome: Err(e),
            },
            Expect::Error(eid, ee),
        ) => {
            assert_eq!(id, eid);
            assert_eq!(e.get(), ee);
        }
        (got, want) => panic!("{text:?} parsed as {got:?}, expected {want:?}"),
    }
    check_reencode(&msg);
}

proptest! {
    #![proptest_config(super::config(512))]

    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_parse(&bytes);
    }

    #[test]
    fn well_formed_messages_parse_as_written((text, expect) in message()) {
        check_expected(&text, &expect);
    }

    #[test]
    fn mutated_messages_never_panic((text, _) in message(), edits in edits()) {
        check_parse(&apply(text.into_bytes(), &edits));
    }

    #[test]
    fn frames_round_trip(
        (_, id) in request_id(),
        string_id in any::<String>(),
        number in any::<i64>(),
        method in any::<String>(),
        params in prop::option::of(json_object_text()),
        message in any::<String>(),
    ) {
        let params = params.map(|p| raw(&p));
        for id in [id, RequestId::String(string_id.into()), RequestId::Number(number)] {
            let result = params.clone().unwrap_or_else(|| raw("{}"));
            match parse_frame(&response_frame(&id, &result)) {
                Message::Response { id: back, outcome: Ok(r) } => {
                    prop_assert_eq!(&back, &id);
                    prop_assert_eq!(r.get(), result.get());
                }
                other => panic!("response frame parsed as {other:?}"),
            }
            let error = McpError::invalid_params(message.clone());
            match parse_frame(&error_frame(Some(&id), &error)) {
                Message::Response { id: back, outcome: Err(e) } => {
                    prop_assert_eq!(&back, &id);
                    let e: Value = serde_json::from_str(e.get()).expect("error object");
                    prop_assert_eq!(&e["code"], -32602);
                    prop_assert_eq!(e["message"].as_str(), Some(message.as_str()));
                }
                other => panic!("error frame parsed as {other:?}"),
            }
        }
        match parse_frame(&request_frame(number, &method, params.as_deref())) {
            Message::Request(r) => {
                prop_assert_eq!(r.id, RequestId::Number(number));
                prop_assert_eq!(r.method.as_str(), method.as_str());
                prop_assert_eq!(params_text(&r.params), params.as_deref().map(RawValue::get));
            }
            other => panic!("request frame parsed as {other:?}"),
        }
        match parse_frame(&notification_frame(&method, params.as_deref())) {
            Message::Notification { method: m, params: p } => {
                prop_assert_eq!(m.as_str(), method.as_str());
                prop_assert_eq!(params_text(&p), params.as_deref().map(RawValue::get));
            }
            other => panic!("notification frame parsed as {other:?}"),
        }
        let v: Value = serde_json::from_slice(&error_frame(None, &McpError::parse(message.clone())))
            .expect("JSON");
        prop_assert!(v["id"].is_null());
        prop_assert_eq!(v["error"]["message"].as_str(), Some(message.as_str()));
    }
}

#[test]
fn corpus_jsonrpc() {
    super::replay("jsonrpc", check_parse);
}

#[test]
fn escaped_keys_and_values_are_read() {
    let lit = render_string("tools/call", &[3]);
    let text = format!(r#"{{"JSONRPC":1,"\u006asonrpc":"2.0","id":1,"method":{lit}}}"#);
    check_expected(
        &text,
        &Expect::Request(RequestId::Number(1), "tools/call".into(), None),
    );
}
