//! MCP `CallToolResult` → an OpenAI `role: tool` message, whose `content` is text.
//!
//! - text blocks are joined with newlines;
//! - `structuredContent` is added as JSON, unless a text block already carries the same value
//!   (the spec asks servers to mirror it in a text block);
//! - images, audio, embedded resources and resource links are described (type, MIME type, URI,
//!   size), never dropped silently; a text resource's text is included;
//! - content of a type this build does not know is named, not dropped;
//! - `isError: true` stays visible: the message starts with `Error: `;
//! - an empty result says so, since providers reject empty tool messages.
//!
//! The conversion works on JSON, so results with fields or content types newer than rmcp's
//! model still convert ([`tool_message_from_json`]).

use rmcp::model::CallToolResult;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `role: tool` chat message answering one tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolMessage {
    /// Always `"tool"`.
    pub role: String,
    /// The id of the tool call this answers.
    pub tool_call_id: String,
    /// The result as text.
    pub content: String,
}

impl ToolMessage {
    /// A tool message with `content`.
    pub fn new(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ToolMessage {
            role: "tool".into(),
            tool_call_id: tool_call_id.into(),
            content: content.into(),
        }
    }
}

/// The tool message answering `tool_call_id` with `result`.
pub fn call_result_to_message(tool_call_id: &str, result: &CallToolResult) -> ToolMessage {
    ToolMessage::new(tool_call_id, call_result_text(result))
}

/// The text a model is shown for `result`.
pub fn call_result_text(result: &CallToolResult) -> String {
    match serde_json::to_value(result) {
        Ok(v) => result_text(&v),
        Err(e) => format!("Error: the tool result could not be read: {e}"),
    }
}

/// The tool message for a result given as JSON (as relayed by the gateway).
pub fn tool_message_from_json(tool_call_id: &str, result: &Value) -> ToolMessage {
    ToolMessage::new(tool_call_id, result_text(result))
}

fn result_text(result: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut texts: Vec<&str> = Vec::new();
    if let Some(blocks) = result.get("content").and_then(Value::as_array) {
        for block in blocks {
            if block.get("type").and_then(Value::as_str) == Some("text")
                && let Some(text) = block.get("text").and_then(Value::as_str)
            {
                texts.push(text);
            }
            parts.push(describe(block));
        }
    }
    if let Some(structured) = result.get("structuredContent") {
        let mirrored = texts
            .iter()
            .any(|t| serde_json::from_str::<Value>(t).is_ok_and(|v| &v == structured));
        if !mirrored {
            parts.push(structured.to_string());
        }
    }
    let body = if parts.is_empty() {
        "(the tool returned no content)".to_string()
    } else {
        parts.join("\n")
    };
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        format!("Error: {body}")
    } else {
        body
    }
}

fn describe(block: &Value) -> String {
    let field = |name: &str| block.get(name).and_then(Value::as_str);
    let kind = field("type").unwrap_or("unknown");
    match kind {
        "text" => field("text").unwrap_or_default().to_string(),
        "image" | "audio" => format!(
            "[{kind} {}, {} base64 characters, not shown]",
            field("mimeType").unwrap_or("of unknown type"),
            field("data").map_or(0, str::len)
        ),
        "resource_link" => {
            let mut s = format!(
                "[resource link {} <{}>",
                field("name").unwrap_or("(unnamed)"),
                field("uri").unwrap_or("")
            );
            if let Some(m) = field("mimeType") {
                s.push_str(&format!(", {m}"));
            }
            if let Some(d) = field("description") {
                s.push_str(&format!(": {d}"));
            }
            s.push(']');
            s
        }
        "resource" => {
            let r = block.get("resource").cloned().unwrap_or(Value::Null);
            let rf = |name: &str| r.get(name).and_then(Value::as_str);
            let uri = rf("uri").unwrap_or("");
            match (rf("text"), rf("blob")) {
                (Some(text), _) => format!("[resource <{uri}>]\n{text}"),
                (None, Some(blob)) => format!(
                    "[resource <{uri}>, {}, {} base64 characters, not shown]",
                    rf("mimeType").unwrap_or("binary"),
                    blob.len()
                ),
                (None, None) => format!("[resource <{uri}>, no contents]"),
            }
        }
        other => format!("[content of type '{other}', not shown]"),
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ContentBlock, Resource, ResourceContents};
    use serde_json::json;

    use super::*;

    #[test]
    fn text_blocks_are_joined() {
        let r = CallToolResult::success(vec![ContentBlock::text("one"), ContentBlock::text("two")]);
        let m = call_result_to_message("call_1", &r);
        assert_eq!(
            serde_json::to_value(&m).expect("json"),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "one\ntwo"})
        );
    }

    #[test]
    fn structured_content_is_sent_as_json() {
        let r = CallToolResult::structured(json!({"temp": 21, "unit": "C"}));
        // rmcp mirrors it into a text block; it must not appear twice.
        let text = call_result_text(&r);
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("one JSON value"),
            json!({"temp": 21, "unit": "C"})
        );
        let raw = json!({"content": [], "structuredContent": {"a": [1, 2]}});
        assert_eq!(tool_message_from_json("c", &raw).content, r#"{"a":[1,2]}"#);
        let both = json!({"content": [{"type": "text", "text": "summary"}], "structuredContent": {"a": 1}});
        assert_eq!(
            tool_message_from_json("c", &both).content,
            "summary\n{\"a\":1}"
        );
    }

    #[test]
    fn images_audio_and_resources_are_described() {
        let r = CallToolResult::success(vec![
            ContentBlock::image("aGVsbG8=", "image/png"),
            ContentBlock::audio("AAAA", "audio/wav"),
            ContentBlock::embedded_text("file:///notes.txt", "the notes"),
            ContentBlock::resource(ResourceContents::BlobResourceContents {
                uri: "file:///a.bin".into(),
                mime_type: Some("application/octet-stream".into()),
                blob: "AAAAAAAA".into(),
                meta: None,
            }),
            ContentBlock::resource_link(Resource::new("file:///big.csv", "big.csv")),
        ]);
        let text = call_result_text(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "[image image/png, 8 base64 characters, not shown]",
                "[audio audio/wav, 4 base64 characters, not shown]",
                "[resource <file:///notes.txt>]",
                "the notes",
                "[resource <file:///a.bin>, application/octet-stream, 8 base64 characters, not shown]",
                "[resource link big.csv <file:///big.csv>]",
            ]
        );
    }

    #[test]
    fn errors_stay_visible() {
        let r = CallToolResult::error(vec![ContentBlock::text("city not found")]);
        assert_eq!(call_result_text(&r), "Error: city not found");
    }

    #[test]
    fn unknown_content_types_are_named() {
        let raw =
            json!({"content": [{"type": "hologram", "x": 1}, {"type": "text", "text": "ok"}]});
        assert_eq!(
            tool_message_from_json("c", &raw).content,
            "[content of type 'hologram', not shown]\nok"
        );
    }

    #[test]
    fn empty_results_say_so() {
        let r = CallToolResult::success(vec![]);
        assert_eq!(call_result_text(&r), "(the tool returned no content)");
    }
}
