//! Google Gemini: `generateContent` and `streamGenerateContent`.

use serde_json::{Value, json};

use crate::{Operation, Provider, TextPart, Usage, at, set_at, text_at, texts};

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

    fn add_system_line(&self, body: &mut Value, line: &str) -> Option<String> {
        let o = body.as_object_mut()?;
        let key = if o.contains_key("system_instruction") {
            "system_instruction"
        } else {
            "systemInstruction"
        };
        let si = o.entry(key).or_insert_with(|| json!({"parts": []}));
        let parts = si.get_mut("parts")?.as_array_mut()?;
        parts.push(json!({"text": line}));
        Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    fn operation(&self, path: &str) -> Operation {
        match Self::method(path).map(|(_, m)| m) {
            Some("embedContent" | "batchEmbedContents") => Operation::Embedding,
            _ => Operation::Generation,
        }
    }

    fn request_texts(&self, op: Operation, body: &Value) -> Vec<TextPart> {
        let mut out = Vec::new();
        if op.carries_uploads() {
            texts::uploads(body, &mut out);
            return out;
        }
        texts::gemini_request(body, &mut out);
        out
    }

    fn response_texts(&self, body: &Value) -> Vec<TextPart> {
        let mut out = Vec::new();
        texts::gemini_candidates(body, &mut out);
        out
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

    /// Every text part of every candidate: answer text (channel `text`) and thought
    /// summaries (`thought`); a second part of the same kind in one event is its own channel
    /// (`text:INDEX`); candidates after the first carry `candidate:K/` in front.
    /// Function-call arguments come whole in one event and are scanned there.
    fn stream_paths(&self, event: &Value) -> Vec<(String, String)> {
        let Some(candidates) = event.get("candidates").and_then(Value::as_array) else {
            return Vec::new();
        };
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, candidate) in candidates.iter().enumerate() {
            let prefix = candidate_prefix(candidate, k);
            let Some(parts) = at(candidate, "/content/parts").and_then(Value::as_array) else {
                continue;
            };
            let mut kinds: Vec<&str> = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                if !part.get("text").is_some_and(Value::is_string) {
                    continue;
                }
                let kind = if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    "thought"
                } else {
                    "text"
                };
                let channel = if kinds.contains(&kind) {
                    format!("{prefix}{kind}:{i}")
                } else {
                    format!("{prefix}{kind}")
                };
                kinds.push(kind);
                out.push((channel, format!("/candidates/{k}/content/parts/{i}/text")));
            }
        }
        out
    }

    fn ends_channel(&self, event: &Value, channel: &str) -> bool {
        let Some(candidates) = event.get("candidates").and_then(Value::as_array) else {
            return true;
        };
        candidates.iter().enumerate().any(|(k, c)| {
            c.get("finishReason").is_some() && {
                let prefix = candidate_prefix(c, k);
                if prefix.is_empty() {
                    !channel.starts_with("candidate:")
                } else {
                    channel.starts_with(&prefix)
                }
            }
        })
    }

    fn ends_text(&self, _event_name: Option<&str>, event: Option<&Value>) -> bool {
        event.is_none_or(|e| {
            e.get("candidates")
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| c.get("finishReason").is_some()))
        })
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

/// The channel-name prefix of a candidate: none for the first, `candidate:K/` for the others.
fn candidate_prefix(candidate: &Value, position: usize) -> String {
    match candidate
        .get("index")
        .and_then(Value::as_u64)
        .unwrap_or(position as u64)
    {
        0 => String::new(),
        k => format!("candidate:{k}/"),
    }
}
