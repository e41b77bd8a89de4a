//! A whole chat completion → the SSE chunks a streaming client expects.
//!
//! Used when the gateway ran MCP tools itself: the tool rounds are not streamed (the gateway
//! needs each round complete to run its tool calls), so the final answer is sent as a stream of
//! `chat.completion.chunk`s once it is known — per choice one chunk with the role, content and
//! tool calls, one with the `finish_reason`; a usage chunk when `stream_options.include_usage`
//! asked for it; then `data: [DONE]`.

use bytes::Bytes;
use serde_json::{Map, Value, json};

/// The SSE body for `completion`.
pub(crate) fn completion_to_sse(completion: &Value, include_usage: bool) -> Bytes {
    let mut base = Map::new();
    base.insert(
        "id".into(),
        completion.get("id").cloned().unwrap_or(Value::Null),
    );
    base.insert(
        "object".into(),
        Value::String("chat.completion.chunk".into()),
    );
    for key in ["created", "model", "system_fingerprint", "service_tier"] {
        if let Some(v) = completion.get(key) {
            base.insert(key.into(), v.clone());
        }
    }
    let chunk = |choices: Value| {
        let mut c = base.clone();
        c.insert("choices".into(), choices);
        Value::Object(c)
    };
    let mut out = String::new();
    let mut push = |v: Value| {
        out.push_str("data: ");
        out.push_str(&v.to_string());
        out.push_str("\n\n");
    };
    let choices = completion
        .get("choices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, choice) in choices.iter().enumerate() {
        let index = choice.get("index").cloned().unwrap_or_else(|| json!(i));
        let message = choice.get("message").cloned().unwrap_or_else(|| json!({}));
        let mut delta = Map::new();
        delta.insert("role".into(), json!("assistant"));
        for key in ["content", "refusal"] {
            if let Some(v) = message.get(key).filter(|v| !v.is_null()) {
                delta.insert(key.into(), v.clone());
            }
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            let indexed: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(j, call)| {
                    let mut c = call.as_object().cloned().unwrap_or_default();
                    c.insert("index".into(), json!(j));
                    Value::Object(c)
                })
                .collect();
            delta.insert("tool_calls".into(), Value::Array(indexed));
        }
        push(chunk(
            json!([{"index": index, "delta": delta, "finish_reason": null}]),
        ));
        let finish = choice.get("finish_reason").cloned().unwrap_or(Value::Null);
        push(chunk(
            json!([{"index": index, "delta": {}, "finish_reason": finish}]),
        ));
    }
    if include_usage && let Some(usage) = completion.get("usage") {
        let mut c = chunk(json!([]));
        c["usage"] = usage.clone();
        push(c);
    }
    out.push_str("data: [DONE]\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &Bytes) -> Vec<String> {
        String::from_utf8_lossy(body)
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").unwrap_or(e).to_string())
            .collect()
    }

    #[test]
    fn a_completion_becomes_chunks_then_done() {
        let c = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        });
        let ev = events(&completion_to_sse(&c, true));
        assert_eq!(ev.len(), 4);
        let first: Value = serde_json::from_str(&ev[0]).expect("json");
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["id"], "chatcmpl-1");
        assert_eq!(
            first["choices"][0]["delta"],
            json!({"role": "assistant", "content": "hi"})
        );
        let second: Value = serde_json::from_str(&ev[1]).expect("json");
        assert_eq!(second["choices"][0]["finish_reason"], "stop");
        let usage: Value = serde_json::from_str(&ev[2]).expect("json");
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 3);
        assert_eq!(ev[3], "[DONE]");
    }

    #[test]
    fn tool_calls_get_an_index_and_usage_is_left_out_unless_asked() {
        let c = json!({
            "id": "x", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
            }}],
            "usage": {"total_tokens": 3}
        });
        let ev = events(&completion_to_sse(&c, false));
        assert_eq!(ev.len(), 3);
        let first: Value = serde_json::from_str(&ev[0]).expect("json");
        let delta = &first["choices"][0]["delta"];
        assert!(delta.get("content").is_none());
        assert_eq!(delta["tool_calls"][0]["index"], 0);
        assert_eq!(delta["tool_calls"][0]["id"], "call_1");
    }
}
