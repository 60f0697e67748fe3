//! Anthropic: the messages API.

use serde_json::{Value, json};

use crate::{Operation, Provider, TextPart, Usage, at, set_at, text_at, texts};

/// The streamed string fields of a `content_block_delta`: `text_delta`, `input_json_delta`
/// and `thinking_delta`.
const STREAM_FIELDS: [&str; 3] = ["text", "partial_json", "thinking"];

/// The Anthropic API (`/v1/messages`).
#[derive(Debug)]
pub struct Anthropic;

impl Provider for Anthropic {
    fn id(&self) -> &'static str {
        "anthropic"
    }

    fn default_base_url(&self) -> &'static str {
        "https://api.anthropic.com"
    }

    fn matches(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        matches!(path, "/v1/messages" | "/v1/models")
            || ["/v1/messages/", "/v1/models/"]
                .iter()
                .any(|p| path.starts_with(p))
    }

    fn add_system_line(&self, body: &mut Value, line: &str) -> Option<String> {
        crate::append_or_insert(body.as_object_mut()?, "system", line)
    }

    fn signature_header(&self) -> Option<&'static str> {
        Some("anthropic-version")
    }

    fn operation(&self, path: &str) -> Operation {
        let path = path.trim_end_matches('/');
        if path == "/v1/messages/batches" {
            Operation::Upload
        } else if path == "/v1/messages" {
            Operation::Generation
        } else {
            // token counting, batch status and results, model listing
            Operation::Other
        }
    }

    fn request_texts(&self, op: Operation, body: &Value) -> Vec<TextPart> {
        let mut out = Vec::new();
        if op.carries_uploads() {
            texts::uploads(body, &mut out);
            return out;
        }
        texts::system_keys(body, &["system"], &mut out);
        texts::messages(body, &mut out);
        out
    }

    fn response_texts(&self, body: &Value) -> Vec<TextPart> {
        let mut out = Vec::new();
        texts::answer_blocks(body, "/content", &mut out);
        out
    }

    fn model(&self, _path: &str, body: &Value) -> Option<String> {
        Some(body.get("model")?.as_str()?.to_owned())
    }

    fn streaming(&self, _path: &str, _query: &str, body: &Value) -> bool {
        body.get("stream").and_then(Value::as_bool).unwrap_or(false)
    }

    fn stream_text<'a>(&self, event: &'a Value) -> Option<&'a str> {
        if event.get("type")?.as_str()? != "content_block_delta" {
            return None;
        }
        // generated text, a tool call's input, or extended thinking: one block at a time
        STREAM_FIELDS
            .iter()
            .find_map(|f| text_at(event, &format!("/delta/{f}")))
    }

    fn set_stream_text(&self, event: &mut Value, text: &str) {
        if let Some(f) = STREAM_FIELDS
            .iter()
            .find(|f| text_at(event, &format!("/delta/{f}")).is_some())
        {
            set_at(event, &format!("/delta/{f}"), text);
        }
    }

    /// Per content block (`index`; the first block's channel is `text`, block I's
    /// `block:I`): the deltas' `text`, `partial_json` and `thinking`, and the block's seed in
    /// `content_block_start` (`content_block.text`, `content_block.thinking`). Signatures,
    /// citations and a tool's `input` object are scanned with the rest of their event.
    fn stream_paths(&self, event: &Value) -> Vec<(String, String)> {
        let (holder, fields): (&str, &[&str]) = match event.get("type").and_then(Value::as_str) {
            Some("content_block_delta") => ("delta", &STREAM_FIELDS),
            Some("content_block_start") => ("content_block", &["text", "thinking"]),
            _ => return Vec::new(),
        };
        let channel = block_channel(event);
        fields
            .iter()
            .map(|f| format!("/{holder}/{f}"))
            .filter(|path| text_at(event, path).is_some())
            .map(|path| {
                // a tool's input arrives as `partial_json`: its channel says it is a tool's
                let c = if path.ends_with("/partial_json") {
                    tool_channel(event)
                } else {
                    channel.clone()
                };
                (c, path)
            })
            .collect()
    }

    fn ends_channel(&self, event: &Value, channel: &str) -> bool {
        event.get("type").and_then(Value::as_str) != Some("content_block_stop")
            || block_channel(event) == channel
            || tool_channel(event) == channel
    }

    fn ends_text(&self, event_name: Option<&str>, event: Option<&Value>) -> bool {
        let kind = event
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            .or(event_name);
        matches!(
            kind,
            Some("content_block_stop" | "message_delta" | "message_stop" | "error") | None
        )
    }

    fn usage(&self, body: &Value) -> Option<Usage> {
        let u = body.get("usage").or_else(|| at(body, "/message/usage"))?;
        Some(Usage {
            input: u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0),
            output: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
        })
    }

    fn auth_header(&self, key: &str) -> (&'static str, String) {
        ("x-api-key", key.to_owned())
    }

    fn stream_error(&self, code: &str, message: &str) -> (Option<&'static str>, Value) {
        (Some("error"), self.error(500, code, message))
    }

    fn error(&self, status: u16, code: &str, message: &str) -> Value {
        let kind = match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            _ => "api_error",
        };
        json!({"type": "error", "error": {"type": kind, "message": format!("{code}: {message}"), "code": code}})
    }
}

/// The channel of a tool's streamed input in content block I: `tool:I`.
fn tool_channel(event: &Value) -> String {
    format!(
        "tool:{}",
        event.get("index").and_then(Value::as_u64).unwrap_or(0)
    )
}

/// The channel of a content block: `text` for the first, `block:I` for block I.
fn block_channel(event: &Value) -> String {
    match event.get("index").and_then(Value::as_u64).unwrap_or(0) {
        0 => "text".to_owned(),
        i => format!("block:{i}"),
    }
}
