//! The raw-params splices: `aggregate::rename` (the exposed tool name → the upstream's),
//! `upstream::table::rewrite_progress_token` (the client's progress token → the upstream id),
//! and `lines::push_line` (a frame → one stdio line), with `envelope::target_of` (the name the
//! policies route on) checked against `rename`.

use std::borrow::Cow;

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::codec::{Decoder, LinesCodec};

use super::json::{
    self, J, any_short_string, any_string_literal, chunked, cuts, json_object_text, json_text,
    number_literal, string_literal, ws,
};
use crate::aggregate::rename;
use crate::envelope::target_of;
use crate::lines::push_line;
use crate::upstream::table::rewrite_progress_token;

/// Names the corpus replay renames to.
const NEW_NAMES: &[&str] = &["echo", "", "we\"ird\\na\u{0}me", "天気/😀", "\u{2028}"];

/// Whether an object has two members with the same (unescaped) key.
fn has_duplicate_keys(j: &J) -> bool {
    let m = j.members();
    m.iter()
        .enumerate()
        .any(|(i, (k, _))| m[..i].iter().any(|(other, _)| other == k))
}

/// `rename` on any params text: it succeeds exactly when the text is an object with exactly
/// one `name` member (however the key is escaped) and no duplicate keys, and then the result is
/// the same members in the same order, with the same values (numbers exactly), and only
/// `name`'s value replaced. The name the policies route on (`target_of`) is the one replaced.
pub(super) fn check_rename(text: &str) {
    let Ok(raw) = RawValue::from_string(text.to_owned()) else {
        return; // Params always come out of a parsed message: valid JSON.
    };
    let input = json::parse(text).expect("the reference parser reads what serde_json reads");
    let names = input.members().iter().filter(|(k, _)| k == "name").count();
    let names = if has_duplicate_keys(&input) { 0 } else { names };
    for new in NEW_NAMES {
        let out = rename(Some(&raw), new);
        let routed = target_of(&raw, "name");
        match (&input, names, out) {
            (J::Obj(members), 1, Ok(out)) => {
                let got = json::parse(out.get()).expect("rename writes JSON");
                let want = J::Obj(
                    members
                        .iter()
                        .map(|(k, v)| {
                            let v = if k == "name" {
                                J::Str((*new).into())
                            } else {
                                v.clone()
                            };
                            (k.clone(), v)
                        })
                        .collect(),
                );
                assert_eq!(
                    got,
                    want,
                    "only params.name may change: {text:?} → {}",
                    out.get()
                );
                if routed.is_some() {
                    assert_eq!(target_of(&out, "name").as_deref(), Some(*new));
                }
            }
            (J::Obj(_), 1, Err(e)) => panic!("one `name` member, but rename failed: {text:?}: {e}"),
            (_, _, Ok(out)) => panic!(
                "rename accepted params that are not an object with one `name`: {text:?} → {}",
                out.get()
            ),
            (_, _, Err(_)) => {
                assert!(
                    routed.is_none(),
                    "policies route on a name rename refuses: {text:?}"
                );
            }
        }
    }
}

/// Whether the raw text of an object puts `id` in every `progressToken` of every top-level
/// `_meta` object — duplicates included, since the upstream may read the first of them.
fn every_token_is(text: &str, id: i64) -> bool {
    let Some(j) = json::parse(text) else {
        return false;
    };
    j.members()
        .iter()
        .filter(|(k, _)| k == "_meta")
        .flat_map(|(_, meta)| meta.members())
        .filter(|(k, _)| k == "progressToken")
        .all(|(_, v)| *v == J::Num(json::Dec::from_i64(id)))
}

/// `rewrite_progress_token` on any params text: the upstream never sees a progress token the
/// gateway did not assign (else its progress would be routed by the client's choice), the
/// rewrite changes nothing but the token (numbers exactly, member order kept), and the original
/// token comes back exactly. Params it cannot read unambiguously (not an object, a duplicate key
/// at the top or in `_meta`, a `_meta` that is not an object) are refused.
pub(super) fn check_progress_token(text: &str) {
    let Ok(raw) = RawValue::from_string(text.to_owned()) else {
        return;
    };
    let input = json::parse(text).expect("the reference parser reads what serde_json reads");
    for id in [0, 1, -1, i64::MAX, i64::MIN] {
        match rewrite_progress_token(&raw, id) {
            Ok((out, original)) => {
                assert!(
                    every_token_is(out.get(), id),
                    "a client progress token reaches the upstream: {text:?} → {}",
                    out.get()
                );
                match (&out, original) {
                    (Cow::Borrowed(b), None) => assert_eq!(b.get(), text),
                    (Cow::Owned(o), Some(original)) => {
                        let mut want = input.as_map();
                        let mut token = None;
                        if let J::Obj(members) = &mut want {
                            for (k, meta) in members.iter_mut() {
                                if let (true, J::Obj(meta)) = (k == "_meta", meta) {
                                    for (mk, v) in meta.iter_mut() {
                                        if mk == "progressToken" {
                                            token = Some(std::mem::replace(
                                                v,
                                                J::Num(json::Dec::from_i64(id)),
                                            ));
                                        }
                                    }
                                }
                            }
                        }
                        let got = json::parse(o.get()).expect("JSON").as_map();
                        assert_eq!(
                            got,
                            want,
                            "only the token may change: {text:?} → {}",
                            o.get()
                        );
                        let original = original.get().to_owned();
                        assert_eq!(
                            json::parse(&original).map(|o| o.as_map()),
                            token,
                            "the client's token is restored exactly: {text:?}"
                        );
                    }
                    (out, original) => {
                        panic!("inconsistent answer for {text:?}: {out:?}, {original:?}")
                    }
                }
            }
            Err(e) => {
                let meta: Vec<&J> = input
                    .members()
                    .iter()
                    .filter(|(k, _)| k == "_meta")
                    .map(|(_, v)| v)
                    .collect();
                let ambiguous = !matches!(input, J::Obj(_))
                    || has_duplicate_keys(&input)
                    || meta
                        .iter()
                        .any(|m| !matches!(m, J::Obj(_)) || has_duplicate_keys(m));
                assert!(
                    ambiguous,
                    "refused params that can be read unambiguously: {text:?}: {e}"
                );
            }
        }
    }
}

/// `push_line` on any frame: the frame's bytes with `\n` and `\r` turned into spaces, then one
/// `\n`; a JSON frame stays the same JSON.
pub(super) fn check_line(frame: &[u8]) {
    let mut buf = b"{\"before\":1}\n".to_vec();
    push_line(&mut buf, frame);
    let (before, line) = buf.split_at(13);
    assert_eq!(
        before, b"{\"before\":1}\n",
        "bytes already queued are left alone"
    );
    let (last, body) = line.split_last().expect("a newline");
    assert_eq!(*last, b'\n');
    assert_eq!(body.len(), frame.len());
    for (b, f) in body.iter().zip(frame) {
        let want = if *f == b'\n' || *f == b'\r' { b' ' } else { *f };
        assert_eq!(*b, want);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(frame) {
        let back: Value = serde_json::from_slice(body).expect("a JSON frame stays JSON");
        assert_eq!(back, v);
    }
}

/// A params object with one `name` member somewhere, written any way, and the text before and
/// after its value.
fn named_params() -> impl Strategy<Value = (String, String, String)> {
    let other = (
        any_short_string().prop_filter("not name", |k| k != "name"),
        json_text(),
    )
        .prop_flat_map(|(k, v)| {
            (string_literal(k), ws(), ws(), ws(), ws())
                .prop_map(move |(k, a, b, c, d)| format!("{a}{k}{b}:{c}{v}{d}"))
        });
    let value = prop_oneof![3 => any_string_literal(), 1 => json_text()];
    (
        prop::collection::vec(other, 0..4),
        any::<Index>(),
        (ws(), string_literal("name".into()), ws(), ws()),
        value,
        ws(),
    )
        .prop_map(|(others, at, (a, key, b, c), value, d)| {
            let at = at.index(others.len() + 1);
            let mut before = String::from("{");
            for (i, m) in others[..at].iter().enumerate() {
                if i > 0 {
                    before.push(',');
                }
                before.push_str(m);
            }
            if at > 0 {
                before.push(',');
            }
            before.push_str(&format!("{a}{key}{b}:{c}"));
            let mut after = d;
            for m in &others[at..] {
                after.push(',');
                after.push_str(m);
            }
            after.push('}');
            (before, value, after)
        })
}

/// Progress-token params: a `_meta` object with a `progressToken` (its key escaped any way
/// unless `plain_key`), other members, numbers of every kind unless `f64_numbers`.
fn progress_params(plain_key: bool, f64_numbers: bool) -> impl Strategy<Value = String> {
    let number = if f64_numbers {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            (-1e6f64..1e6).prop_map(|f| f.to_string()),
        ]
        .boxed()
    } else {
        number_literal().boxed()
    };
    let value = prop_oneof![
        number.clone(),
        any_string_literal(),
        Just("null".to_string()),
        Just("[1,{\"progressToken\":2}]".to_string()),
    ];
    let key = if plain_key {
        Just("\"progressToken\"".to_string()).boxed()
    } else {
        string_literal("progressToken".into()).boxed()
    };
    let meta_member =
        (ws(), key, ws(), value.clone()).prop_map(|(a, k, b, v)| format!("{a}{k}:{b}{v}"));
    let plain = || {
        (
            any_short_string().prop_filter("not a key under test", |k| {
                k != "progressToken" && k != "_meta"
            }),
            value.clone(),
        )
            .prop_map(|(k, v)| format!("{}:{v}", json::render_string(&k, &[0])))
    };
    (
        meta_member,
        prop::collection::vec(plain(), 0..3),
        prop::collection::vec(plain(), 0..3),
        any::<Index>(),
    )
        .prop_map(|(token, mut meta, top, at)| {
            let at = at.index(meta.len() + 1);
            meta.insert(at, token);
            let mut members = vec![format!("\"_meta\":{{{}}}", meta.join(","))];
            members.extend(top);
            format!("{{{}}}", members.join(","))
        })
}

/// Known bugs the generators steer clear of, so the properties keep guarding everything else;
/// each one is pinned by a `known-bug-` file in the corpus (here `progress_token/`: a token
/// key written with an escape is not rewritten; numbers past f64 precision are rounded when
/// the params are rebuilt). Set to `false` once fixed.
const KNOWN_BUG_ESCAPED_TOKEN_KEY: bool = false;
const KNOWN_BUG_NUMBERS_ROUNDED: bool = false;
/// `rename` (and `target_of`) read a one-element array `["x"]` as `{"name": "x"}`; pinned in
/// `core/tests/corpus/rename/`.
const KNOWN_BUG_ARRAY_PARAMS: bool = false;

proptest! {
    #![proptest_config(super::config(256))]

    #[test]
    fn rename_replaces_only_the_name(
        (before, old, after) in named_params(),
        new in prop_oneof![any_short_string(), any::<String>()],
    ) {
        let text = format!("{before}{old}{after}");
        // Duplicate keys are refused (`check_rename` pins that); the rest must be renamed.
        prop_assume!(!has_duplicate_keys(&json::parse(&text).expect("JSON")));
        let raw = RawValue::from_string(text.clone()).expect("generated params are JSON");
        let out = rename(Some(&raw), &new).expect("one name member");
        let want = format!(
            "{before}{}{after}",
            serde_json::to_string(&new).expect("a string encodes")
        );
        prop_assert_eq!(out.get(), want.as_str(), "every other byte stays as it came");
        check_rename(&text);
    }

    #[test]
    fn rename_refuses_a_second_name(
        (before, old, after) in named_params(),
        second in any_string_literal(),
        key in string_literal("name".into()),
        front in any::<bool>(),
    ) {
        let text = if front {
            format!("{{{key}:{second},{}{old}{after}", &before[1..])
        } else {
            format!("{before}{old},{key}:{second}{}", &after)
        };
        if let Ok(raw) = RawValue::from_string(text.clone()) {
            prop_assert!(rename(Some(&raw), "x").is_err(), "{}", text);
            prop_assert!(target_of(&raw, "name").is_none(), "{}", text);
        }
        check_rename(&text);
    }

    #[test]
    fn rename_on_any_params(
        text in prop_oneof![json_object_text(), json_text()]
            .prop_filter("known bug: array params", |t| {
                !(KNOWN_BUG_ARRAY_PARAMS && t.trim_start().starts_with('['))
            }),
    ) {
        check_rename(&text);
    }

    #[test]
    fn progress_token_is_replaced_and_kept(
        text in progress_params(KNOWN_BUG_ESCAPED_TOKEN_KEY, KNOWN_BUG_NUMBERS_ROUNDED),
    ) {
        check_progress_token(&text);
        let parsed = json::parse(&text).expect("JSON");
        // Duplicate keys are refused (checked above); the rest must be rewritten.
        prop_assume!(
            !has_duplicate_keys(&parsed)
                && parsed.members().iter().all(|(_, v)| !has_duplicate_keys(v))
        );
        let raw = RawValue::from_string(text.clone()).expect("JSON");
        let (out, original) = rewrite_progress_token(&raw, 7).expect("an object");
        prop_assert!(original.is_some(), "the token was found: {}", text);
        prop_assert!(matches!(out, Cow::Owned(_)));
    }

    #[test]
    fn progress_token_on_any_params(text in prop_oneof![
        json_object_text(),
        json_text(),
        json_object_text().prop_map(|o| format!("{{\"_meta\":{o},\"progressToken\":1}}")),
    ]) {
        check_progress_token(&text);
    }

    #[test]
    fn push_line_keeps_one_frame_per_line(
        frames in prop::collection::vec(
            prop_oneof![
                (ws(), json_text(), ws()).prop_map(|(a, v, b)| format!("{a}{v}{b}").into_bytes()),
                prop::collection::vec(any::<u8>(), 0..32),
            ],
            1..6,
        ),
        cuts in cuts(),
    ) {
        let mut buf = Vec::new();
        for f in &frames {
            check_line(f);
            push_line(&mut buf, f);
        }
        prop_assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), frames.len());
        prop_assert!(!buf.contains(&b'\r'));
        // Read back the way the stdio transports read: LinesCodec, in any chunking.
        if std::str::from_utf8(&buf).is_ok() {
            let mut codec = LinesCodec::new_with_max_length(1 << 20);
            let mut pending = BytesMut::new();
            let mut lines = Vec::new();
            for chunk in chunked(&buf, &cuts) {
                pending.extend_from_slice(&chunk);
                while let Some(line) = codec.decode(&mut pending).expect("UTF-8 lines") {
                    lines.push(line);
                }
            }
            prop_assert_eq!(lines.len(), frames.len());
            for (line, frame) in lines.iter().zip(&frames) {
                if let Ok(v) = serde_json::from_slice::<Value>(frame) {
                    let back: Value = serde_json::from_str(line).expect("JSON line");
                    prop_assert_eq!(back, v);
                }
            }
        }
    }
}

fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("corpus files of this target are UTF-8")
}

#[test]
fn corpus_rename() {
    super::replay("rename", |b| check_rename(utf8(b)));
}

#[test]
fn corpus_progress_token() {
    super::replay("progress_token", |b| check_progress_token(utf8(b)));
}

#[test]
fn corpus_lines() {
    super::replay("lines", check_line);
}

#[test]
fn rename_without_params_is_an_error() {
    assert!(rename(None, "x").is_err());
}
