//! Newline-delimited JSON-RPC framing, shared by stdio in both directions (the gateway's own
//! stdin/stdout, and each stdio upstream's pipes).

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
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

/// Writes queued frames, one per line, gathering whatever is queued into one write. Returns
/// when the queue closes, a write fails, or `stop` fires (dropping `out`: for a child's stdin
/// that is the polite way to ask a stdio server to exit).
pub(crate) async fn write_lines<W: AsyncWrite + Unpin>(
    mut out: W,
    mut rx: mpsc::Receiver<Bytes>,
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
        push_line(&mut buf, &frame);
        while buf.len() < BATCH {
            match rx.try_recv() {
                Ok(more) => push_line(&mut buf, &more),
                Err(_) => break,
            }
        }
        if out.write_all(&buf).await.is_err() || out.flush().await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::push_line;

    #[test]
    fn newlines_between_tokens_become_spaces() {
        let mut buf = Vec::new();
        push_line(&mut buf, b"{\"a\":\n 1}");
        assert_eq!(buf, b"{\"a\":  1}\n");
    }
}
