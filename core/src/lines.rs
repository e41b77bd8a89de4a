//! Newline-delimited JSON-RPC framing, shared by stdio in both directions (the gateway's own
//! stdin/stdout, and each stdio upstream's pipes).
//!
//! Lines are bytes, not strings: a line that is not UTF-8 is one bad message (answered or
//! dropped by the caller), never the end of the stream. A line longer than the limit is
//! skipped up to its newline and reported once; reading goes on.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

/// Bytes gathered into one write before it is issued.
const BATCH: usize = 64 * 1024;

/// Appends a frame and its newline. Raw params keep the sender's whitespace, which may include
/// newlines between tokens (never inside strings: JSON forbids that), so they become spaces.
pub(crate) fn push_line(buf: &mut Vec<u8>, frame: &[u8]) {
    let start = buf.len();
    buf.extend_from_slice(frame);
    if memchr::memchr2(b'\n', b'\r', frame).is_some() {
        for b in &mut buf[start..] {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
    }
    buf.push(b'\n');
}

/// What can be written as one line: a frame as it is, or a message to a client serialized at
/// this edge (`None`: nothing to write, such as a keep-alive).
pub(crate) trait AsLine {
    fn line(&self) -> Option<Bytes>;
}

impl AsLine for Bytes {
    fn line(&self) -> Option<Bytes> {
        Some(self.clone())
    }
}

impl AsLine for crate::outbound::Outbound {
    fn line(&self) -> Option<Bytes> {
        self.to_json()
    }
}

/// Writes queued messages, one per line, gathering whatever is queued into one write. Returns
/// when the queue closes, a write fails, or `stop` fires (dropping `out`: for a child's stdin
/// that is the polite way to ask a stdio server to exit).
pub(crate) async fn write_lines<W: AsyncWrite + Unpin, T: AsLine>(
    mut out: W,
    mut rx: mpsc::Receiver<T>,
    stop: CancellationToken,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let frame = tokio::select! {
            f = rx.recv() => match f {
                Some(f) => f,
                None => break,
            },
            _ = stop.cancelled() => break,
        };
        buf.clear();
        if let Some(line) = frame.line() {
            push_line(&mut buf, &line);
        }
        while buf.len() < BATCH {
            match rx.try_recv() {
                Ok(more) => {
                    if let Some(line) = more.line() {
                        push_line(&mut buf, &line);
                    }
                }
                Err(_) => break,
            }
        }
        if buf.is_empty() {
            continue;
        }
        if out.write_all(&buf).await.is_err() || out.flush().await.is_err() {
            break;
        }
    }
}

/// One item read from a line-delimited stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line's bytes, without its newline (a trailing `\r` is kept: JSON allows it as
    /// whitespace).
    Message(Bytes),
    /// A line longer than the limit: it was skipped.
    TooLong,
}

/// Splits a byte stream into [`Line`]s of at most `max` bytes. Unlike `tokio_util`'s codecs it
/// never fails on content (a `Framed` stream ends after its decoder's first error), so one bad
/// line cannot end a connection.
#[derive(Debug)]
pub(crate) struct LineCodec {
    max: usize,
    /// Where the search for a newline resumes in the buffer.
    next: usize,
    /// Inside a line that was too long: drop bytes up to its newline.
    discarding: bool,
}

impl LineCodec {
    pub(crate) fn new(max: usize) -> Self {
        LineCodec {
            max,
            next: 0,
            discarding: false,
        }
    }
}

impl Decoder for LineCodec {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        loop {
            let read_to = buf.len().min(self.max.saturating_add(1));
            let newline = memchr::memchr(b'\n', &buf[self.next.min(read_to)..read_to])
                .map(|at| self.next + at);
            match (self.discarding, newline) {
                (true, Some(at)) => {
                    buf.advance(at + 1);
                    self.next = 0;
                    self.discarding = false;
                }
                (true, None) => {
                    buf.advance(read_to);
                    self.next = 0;
                    if buf.is_empty() {
                        return Ok(None);
                    }
                }
                (false, Some(at)) => {
                    let mut line = buf.split_to(at + 1);
                    line.truncate(at);
                    self.next = 0;
                    return Ok(Some(Line::Message(line.freeze())));
                }
                (false, None) if buf.len() > self.max => {
                    self.discarding = true;
                    self.next = 0;
                    return Ok(Some(Line::TooLong));
                }
                (false, None) => {
                    self.next = read_to;
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        self.next = 0;
        if self.discarding || buf.is_empty() {
            buf.clear();
            self.discarding = false;
            return Ok(None);
        }
        Ok(Some(Line::Message(buf.split().freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::{Line, LineCodec, push_line};
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    fn lines(codec: &mut LineCodec, chunks: &[&[u8]]) -> Vec<Line> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(line) = codec.decode(&mut buf).expect("decode") {
                out.push(line);
            }
        }
        while let Some(line) = codec.decode_eof(&mut buf).expect("decode_eof") {
            out.push(line);
        }
        out
    }

    #[test]
    fn invalid_utf8_is_just_a_line() {
        let got = lines(&mut LineCodec::new(64), &[b"\xff\xfe\n{\"a\":1}\n"]);
        assert_eq!(
            got,
            [
                Line::Message(bytes::Bytes::from_static(b"\xff\xfe")),
                Line::Message(bytes::Bytes::from_static(b"{\"a\":1}")),
            ]
        );
    }

    #[test]
    fn a_long_line_is_skipped_and_reading_goes_on() {
        let long = [b'x'; 100];
        let got = lines(
            &mut LineCodec::new(10),
            &[&long[..50], &long[50..], b"\nok\n", b"tail"],
        );
        assert_eq!(
            got,
            [
                Line::TooLong,
                Line::Message(bytes::Bytes::from_static(b"ok")),
                Line::Message(bytes::Bytes::from_static(b"tail")),
            ]
        );
    }

    #[test]
    fn newlines_between_tokens_become_spaces() {
        let mut buf = Vec::new();
        push_line(&mut buf, b"{\"a\":\n 1}");
        assert_eq!(buf, b"{\"a\":  1}\n");
    }
}
