//! Google Gemini: `generateContent` and `streamGenerateContent`.

use serde_json::{Value, json};

use crate::{Provider, Usage, at, at_mut, set_at, text_at};

/// The Gemini API (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`).
#[derive(Debug)]
pub struct Gemini;

impl Gemini {
    fn method(path: &str) -> Option<(&str, &str)> {
        let rest = path
            .strip_prefix("/v1beta/models/")
            .or_else(|| path.strip_prefix("/v1/models/"))?;
        rest.split_once(':')
    }
}

impl Provider for Gemini {
    fn id(&self) -> &'static str {
        "gemini"
    }

    fn default_base_url(&self) -> &'static str {
        "https://generativelanguage.googleapis.com"
    }

    fn matches(&self, path: &str) -> bool {
        Self::method(path).is_some_and(|(_, m)| {
            matches!(
                m,
                "generateContent" | "streamGenerateContent" | "embedContent" | "countTokens"
            )
        })
    }

    fn model(&self, path: &str, _body: &Value) -> Option<String> {
        Some(Self::method(path)?.0.to_owned())
    }

    fn streaming(&self, path: &str, _query: &str, _body: &Value) -> bool {
        Self::method(path).is_some_and(|(_, m)| m == "streamGenerateContent")
    }

    fn stream_text<'a>(&self, event: &'a Value) -> Option<&'a str> {
        text_at(event, "/candidates/0/content/parts/0/text")
    }

    fn set_stream_text(&self, event: &mut Value, text: &str) {
        set_at(event, "/candidates/0/content/parts/0/text", text);
    }

    /// Every text part of the first candidate: answer text (channel `text`) and thought
    /// summaries (`thought`); a second part of the same kind in one event is its own channel
    /// (`text:INDEX`). Function-call arguments come whole in one event and are scanned there.
    fn stream_parts(&self, event: &Value) -> Vec<(String, String)> {
        let Some(parts) = at(event, "/candidates/0/content/parts").and_then(Value::as_array) else {
            return Vec::new();
        };
        let mut out: Vec<(String, String)> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let Some(text) = part.get("text").and_then(Value::as_str) else {
                continue;
            };
            let kind = if part.get("thought").and_then(Value::as_bool) == Some(true) {
                "thought"
            } else {
                "text"
            };
            let channel = if out.iter().any(|(c, _)| c == kind) {
                format!("{kind}:{i}")
            } else {
                kind.to_owned()
            };
            out.push((channel, text.to_owned()));
        }
        out
    }

    fn set_stream_part(&self, event: &mut Value, channel: &str, text: &str) {
        let index = self
            .stream_parts(event)
            .iter()
            .position(|(c, _)| c == channel);
        let Some(k) = index else {
            return;
        };
        // the k-th text part
        if let Some(part) = at_mut(event, "/candidates/0/content/parts")
            .and_then(Value::as_array_mut)
            .and_then(|parts| {
                parts
                    .iter_mut()
                    .filter(|p| p.get("text").is_some_and(Value::is_string))
                    .nth(k)
            })
        {
            part["text"] = Value::String(text.to_owned());
        }
    }

    fn ends_text(&self, _event_name: Option<&str>, event: Option<&Value>) -> bool {
        event.is_none_or(|e| at(e, "/candidates/0/finishReason").is_some())
    }

    fn usage(&self, body: &Value) -> Option<Usage> {
        let u = body.get("usageMetadata")?;
        Some(Usage {
            input: u
                .get("promptTokenCount")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            output: u
                .get("candidatesTokenCount")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }

    fn auth_header(&self, key: &str) -> (&'static str, String) {
        ("x-goog-api-key", key.to_owned())
    }

    fn error(&self, status: u16, code: &str, message: &str) -> Value {
        let name = match status {
            400 => "INVALID_ARGUMENT",
            403 => "PERMISSION_DENIED",
            429 => "RESOURCE_EXHAUSTED",
            _ => "INTERNAL",
        };
        json!({"error": {"code": status, "message": format!("{code}: {message}"), "status": name,
            "details": [{"reason": code}]}})
    }
}
