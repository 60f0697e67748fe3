//! Cohere: chat v2.

use serde_json::{Value, json};

use crate::{Operation, Provider, TextPart, Usage, at, set_at, text_at, texts};

/// The Cohere API (`/v2/chat`, `/v2/embed`).
#[derive(Debug)]
pub struct Cohere;

impl Provider for Cohere {
    fn id(&self) -> &'static str {
        "cohere"
    }

    fn default_base_url(&self) -> &'static str {
        "https://api.cohere.com"
    }

    fn matches(&self, path: &str) -> bool {
        matches!(path.trim_end_matches('/'), "/v2/chat" | "/v2/embed")
    }

    fn operation(&self, path: &str) -> Operation {
        if path.trim_end_matches('/') == "/v2/embed" {
            Operation::Embedding
        } else {
            Operation::Generation
        }
    }

    fn request_texts(&self, op: Operation, body: &Value) -> Vec<TextPart> {
        let mut out = Vec::new();
        if op.carries_uploads() {
            texts::uploads(body, &mut out);
            return out;
        }
        // v1: `preamble`, `message`, `chat_history`; v2: `messages`; both: `documents`
        texts::system_keys(body, &["preamble"], &mut out);
        texts::messages(body, &mut out);
        texts::cohere_v1(body, &mut out);
        texts::documents(body, &mut out);
        out
    }

    fn response_texts(&self, body: &Value) -> Vec<TextPart> {
        let mut out = Vec::new();
        texts::cohere_text(body, &mut out);
        texts::answer_blocks(body, "/message/content", &mut out);
        out
    }

    fn model(&self, _path: &str, body: &Value) -> Option<String> {
        Some(body.get("model")?.as_str()?.to_owned())
    }

    fn streaming(&self, _path: &str, _query: &str, body: &Value) -> bool {
        body.get("stream").and_then(Value::as_bool).unwrap_or(false)
    }

    fn stream_text<'a>(&self, event: &'a Value) -> Option<&'a str> {
        if event.get("type")?.as_str()? != "content-delta" {
            return None;
        }
        text_at(event, "/delta/message/content/text")
    }

    fn set_stream_text(&self, event: &mut Value, text: &str) {
        set_at(event, "/delta/message/content/text", text);
    }

    /// Generated text per content index (`content-start` seed and `content-delta`; channel
    /// `text`, or `text:I` for index I), the tool plan (`tool-plan-delta`, `plan`) and each
    /// tool call's arguments (`tool-call-start` seed and `tool-call-delta`, `tool:INDEX`).
    fn stream_paths(&self, event: &Value) -> Vec<(String, String)> {
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let (channel, path) = match event.get("type").and_then(Value::as_str) {
            Some("content-delta" | "content-start") => {
                (text_channel(index), "/delta/message/content/text")
            }
            Some("tool-plan-delta") => ("plan".to_owned(), "/delta/message/tool_plan"),
            Some("tool-call-delta" | "tool-call-start") => (
                format!("tool:{index}"),
                "/delta/message/tool_calls/function/arguments",
            ),
            _ => return Vec::new(),
        };
        if text_at(event, path).is_some() {
            vec![(channel, path.to_owned())]
        } else {
            Vec::new()
        }
    }

    fn ends_text(&self, _event_name: Option<&str>, event: Option<&Value>) -> bool {
        event.is_none_or(|e| {
            e.get("type").and_then(Value::as_str).is_some_and(|t| {
                matches!(
                    t,
                    "content-end" | "tool-call-start" | "tool-call-end" | "message-end"
                )
            })
        })
    }

    /// `content-end` and `tool-call-end` end their own index; a tool call's start ends the
    /// text and plan before it.
    fn ends_channel(&self, event: &Value, channel: &str) -> bool {
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        match event.get("type").and_then(Value::as_str) {
            Some("content-end") => channel == text_channel(index),
            Some("tool-call-end") => channel == format!("tool:{index}"),
            Some("tool-call-start") => !channel.starts_with("tool:"),
            _ => true,
        }
    }

    fn usage(&self, body: &Value) -> Option<Usage> {
        let u = at(body, "/usage/tokens").or_else(|| at(body, "/delta/usage/tokens"))?;
        Some(Usage {
            input: u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0),
            output: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
        })
    }

    fn error(&self, _status: u16, code: &str, message: &str) -> Value {
        json!({"id": code, "message": format!("{code}: {message}")})
    }
}

/// The channel of content index I: `text` for the first, `text:I` for others.
fn text_channel(index: u64) -> String {
    match index {
        0 => "text".to_owned(),
        i => format!("text:{i}"),
    }
}
