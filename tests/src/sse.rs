//! Server-Sent Events parsing, enough for MCP: `event`, `id`, `data` (multi-line), comments.
//!
//! Works on bytes so that a chunk boundary inside a UTF-8 character or a CRLF does no harm.
//! Events with empty data (the priming events some servers send for resumability) are kept;
//! callers that want JSON-RPC messages skip them.

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any (absent means `message`).
    pub event: Option<String>,
    /// The `id:` field, if any.
    pub id: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// An incremental parser: feed it chunks, get whole events back.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    current: SseEvent,
    has_data: bool,
    has_fields: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `chunk`; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(event) = self.line(line) {
                events.push(event);
            }
        }
        events
    }

    /// Ends the stream; returns an event left without its closing blank line, if any.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            let rest = String::from_utf8_lossy(&rest).into_owned();
            if let Some(event) = self.line(rest.trim_end_matches('\r')) {
                return Some(event);
            }
        }
        self.line("")
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.has_fields {
                return None;
            }
            self.has_fields = false;
            self.has_data = false;
            return Some(std::mem::take(&mut self.current));
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.current.event = Some(value.to_owned()),
            "id" => self.current.id = Some(value.to_owned()),
            _ => return None,
        }
        self.has_fields = true;
        None
    }
}

/// Parses a complete SSE body.
pub fn parse_sse(body: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = parser.push(body);
    events.extend(parser.finish());
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_anywhere() {
        let body = "id: 1\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: comment\n\ndata: é\n\nid: prime\ndata:\n\ndata: tail";
        let whole = parse_sse(body.as_bytes());
        for split in 0..body.len() {
            let mut parser = SseParser::new();
            let mut events = parser.push(&body.as_bytes()[..split]);
            events.extend(parser.push(&body.as_bytes()[split..]));
            events.extend(parser.finish());
            assert_eq!(events, whole, "split at {split}");
        }
        let data: Vec<&str> = whole.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["{\"a\":\n1}", "é", "", "tail"]);
        assert_eq!(whole[0].id.as_deref(), Some("1"));
        assert_eq!(whole[0].event.as_deref(), Some("message"));
        assert_eq!(whole[2].id.as_deref(), Some("prime"));
    }
}
