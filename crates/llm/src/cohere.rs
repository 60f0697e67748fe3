//! Cohere: chat v2.

use serde_json::{Value, json};

use crate::{Provider, Usage, at, set_at, text_at};

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

    /// Generated text (`content-delta`), the tool plan (`tool-plan-delta`) and each tool
    /// call's arguments (`tool-call-delta`, channel `tool:INDEX`).
    fn stream_parts(&self, event: &Value) -> Vec<(String, String)> {
        let (channel, path) = match event.get("type").and_then(Value::as_str) {
            Some("content-delta") => ("text".to_owned(), "/delta/message/content/text"),
            Some("tool-plan-delta") => ("plan".to_owned(), "/delta/message/tool_plan"),
            Some("tool-call-delta") => (
                format!(
                    "tool:{}",
                    event.get("index").and_then(Value::as_u64).unwrap_or(0)
                ),
                "/delta/message/tool_calls/function/arguments",
            ),
            _ => return Vec::new(),
        };
        text_at(event, path)
            .map(|t| vec![(channel, t.to_owned())])
            .unwrap_or_default()
    }

    fn set_stream_part(&self, event: &mut Value, channel: &str, text: &str) {
        let path = match channel {
            "text" => "/delta/message/content/text",
            "plan" => "/delta/message/tool_plan",
            _ if channel.starts_with("tool:") => "/delta/message/tool_calls/function/arguments",
            _ => return,
        };
        if text_at(event, path).is_some() {
            set_at(event, path, text);
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
