//! SSE both ways: the gateway's encoder (`server::body::sse_event`) read back by the decoder
//! the upstream side uses (the `sse-stream` crate), and that decoder on any bytes.

use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use sse_stream::{Sse, SseStream};

use super::json::{apply, chunked, chunked_at, cuts, edits, json_text, snippet, ws};
use crate::outbound::Outbound;
use crate::server::body::{message_event, sse_event as encode};

/// Frames as the transports used to queue them: empty for a keep-alive, `event: endpoint…`
/// for legacy SSE's first event, otherwise a JSON-RPC message — encoded as the typed
/// [`Outbound`] message each stands for.
fn sse_event(frame: &[u8]) -> bytes::Bytes {
    if frame.is_empty() {
        return encode(&Outbound::KeepAlive);
    }
    if let Some(url) = std::str::from_utf8(frame)
        .ok()
        .and_then(|t| t.strip_prefix("event: endpoint\ndata: "))
        .and_then(|t| t.strip_suffix("\n\n"))
    {
        return encode(&Outbound::Endpoint(url.into()));
    }
    message_event(frame)
}

/// Most items one decode may yield: more than the input has lines would mean a loop.
fn item_bound(len: usize) -> usize {
    len + 2
}

/// Decodes `chunks` fed one after the other, collecting every item (events and errors) until
/// the stream ends.
fn decode(chunks: &[Vec<u8>]) -> Vec<Result<Sse, String>> {
    let total: usize = chunks.iter().map(Vec::len).sum();
    let body = futures_util::stream::iter(
        chunks
            .iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let mut events = SseStream::from_bytes_stream(body);
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match events.poll_next_unpin(&mut cx) {
            Poll::Ready(Some(item)) => out.push(item.map_err(|e| e.to_string())),
            Poll::Ready(None) => return out,
            Poll::Pending => panic!("the decoder waits on a body that is always ready"),
        }
        assert!(
            out.len() <= item_bound(total),
            "{} items from {total} bytes: the decoder does not terminate",
            out.len()
        );
    }
}

/// What the gateway takes from a stream: the events before the first error (it stops
/// reading there), and whether there was one.
fn gateway_view(items: &[Result<Sse, String>]) -> (Vec<Sse>, bool) {
    let mut events = Vec::new();
    for item in items {
        match item {
            Ok(e) => events.push(e.clone()),
            Err(_) => return (events, true),
        }
    }
    (events, false)
}

/// The encoded events of `frames` (JSON texts, empty keep-alives, or `event:` passthroughs),
/// decoded in every chunking given, match what was sent: one `message` event per JSON frame
/// with the same JSON value, the passthroughs as they were, nothing for keep-alives.
fn check_frames(frames: &[Vec<u8>], chunkings: &[Vec<Index>], offsets: &[usize]) {
    let mut stream = Vec::new();
    let mut expected: Vec<(String, Option<Value>, String)> = Vec::new();
    for frame in frames {
        let event = sse_event(frame);
        assert!(event.ends_with(b"\n\n"), "an event ends with a blank line");
        stream.extend_from_slice(&event);
        if frame.is_empty() {
            continue;
        }
        if let Some(rest) = frame.strip_prefix(b"event:") {
            let text = std::str::from_utf8(rest).expect("passthrough is UTF-8");
            let (name, data) = text.split_once("\ndata: ").expect("name and data");
            let data = data.strip_suffix("\n\n").expect("terminated");
            expected.push((name.trim().to_owned(), None, data.to_owned()));
            continue;
        }
        let body = &event[b"event: message\ndata: ".len()..event.len() - 2];
        assert!(
            !body.contains(&b'\n') && !body.contains(&b'\r'),
            "the data line holds no line break"
        );
        let value: Value = serde_json::from_slice(frame).expect("frames are JSON");
        expected.push(("message".into(), Some(value), String::new()));
    }
    let mut all = vec![
        vec![stream.clone()],
        stream.iter().map(|b| vec![*b]).collect(),
    ];
    all.extend(chunkings.iter().map(|c| chunked(&stream, c)));
    all.extend(offsets.iter().map(|at| chunked_at(&stream, vec![*at])));
    for chunks in all {
        let items = decode(&chunks);
        let (events, failed) = gateway_view(&items);
        assert!(
            !failed,
            "the decoder refused the gateway's own events: {items:?}"
        );
        assert_eq!(
            events.len(),
            expected.len(),
            "one event per frame: {items:?}"
        );
        for (event, (name, value, data)) in events.iter().zip(&expected) {
            assert_eq!(event.event.as_deref(), Some(name.as_str()));
            let got = event.data.as_deref().expect("an event with data");
            match value {
                Some(v) => {
                    let back: Value = serde_json::from_str(got).expect("data is JSON");
                    assert_eq!(&back, v);
                }
                None => assert_eq!(got, data),
            }
        }
    }
}

/// The decoder on any bytes, in any chunking, never panics or loops, and the gateway sees the
/// same thing whatever the chunking: whether the stream broke, and (only as a prefix, see the
/// strict check) the events before.
fn check_decode_weak(bytes: &[u8], chunkings: &[Vec<Index>]) -> Vec<(Vec<Sse>, bool)> {
    let mut views = vec![
        gateway_view(&decode(&[bytes.to_vec()])),
        gateway_view(&decode(&bytes.iter().map(|b| vec![*b]).collect::<Vec<_>>())),
    ];
    views.extend(
        chunkings
            .iter()
            .map(|c| gateway_view(&decode(&chunked(bytes, c)))),
    );
    let (finest, finest_failed) = &views[1];
    for (events, failed) in &views {
        assert_eq!(
            failed, finest_failed,
            "chunking changed whether the stream broke"
        );
        assert!(
            finest.starts_with(events),
            "chunking changed the events: {events:?} vs {finest:?}"
        );
    }
    views
}

/// Strict: every event completed before the first bad line reaches the gateway, whatever the
/// chunking (a valid response followed by a stray line in the same read must not be lost).
pub(super) fn check_decode(bytes: &[u8]) {
    let mut all = check_decode_weak(bytes, &[]);
    // Every two-way split of short inputs, too.
    if bytes.len() <= 256 {
        for at in 1..bytes.len() {
            all.push(gateway_view(&decode(&chunked_at(bytes, vec![at]))));
        }
    }
    let finest = all[1].clone();
    for view in &all {
        assert_eq!(
            view, &finest,
            "the events the gateway sees depend on how the bytes were chunked"
        );
    }
}

/// A corpus file of `sse_frames` is one frame; it is sent between keep-alives and twice.
fn check_frame_file(bytes: &[u8]) {
    let frames = vec![Vec::new(), bytes.to_vec(), bytes.to_vec(), Vec::new()];
    let len: usize = frames.iter().map(|f| sse_event(f).len()).sum();
    // Every two-way split of the stream.
    let offsets: Vec<usize> = (1..len).collect();
    check_frames(&frames, &[], &offsets);
}

/// A JSON frame as a transport hands it to `sse_event`: whitespace (with `\n`, `\r`) around
/// and between tokens.
fn json_frame() -> impl Strategy<Value = Vec<u8>> {
    (ws(), json_text(), ws()).prop_map(|(a, v, b)| format!("{a}{v}{b}").into_bytes())
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => json_frame(),
        1 => Just(Vec::new()),
        1 => "[a-z/?=&0-9-]{0,24}".prop_map(|p| format!("event: endpoint\ndata: {p}\n\n").into_bytes()),
    ]
}

/// Bytes that look like SSE: field lines, comments, blank lines, CR/LF/CRLF, BOMs, and noise.
fn sse_like() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "(data|event|id|retry|)(:| :|: )?[ -~]{0,12}".prop_map(String::into_bytes),
        snippet(),
        Just(b"\xef\xbb\xbfdata: x".to_vec()),
        prop::collection::vec(any::<u8>(), 0..6),
    ];
    let eol = prop::sample::select(vec![&b"\n"[..], b"\r", b"\r\n", b"\n\n", b"\r\r"]);
    prop::collection::vec((line, eol), 0..12).prop_map(|lines| {
        let mut out = Vec::new();
        for (l, e) in lines {
            out.extend_from_slice(&l);
            out.extend_from_slice(e);
        }
        out
    })
}

proptest! {
    #![proptest_config(super::config(256))]

    #[test]
    fn encoded_frames_decode_to_the_same_json(
        frames in prop::collection::vec(frame(), 1..6),
        chunkings in prop::collection::vec(cuts(), 1..4),
    ) {
        check_frames(&frames, &chunkings, &[]);
    }

    #[test]
    fn decoder_on_any_bytes(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..128),
            sse_like(),
            (sse_like(), edits()).prop_map(|(b, e)| apply(b, &e)),
        ],
        chunkings in prop::collection::vec(cuts(), 1..4),
    ) {
        check_decode_weak(&bytes, &chunkings);
    }
}

#[test]
fn corpus_sse_frames() {
    super::replay("sse_frames", check_frame_file);
}

#[test]
fn corpus_sse_decode() {
    super::replay("sse_decode", check_decode);
}
