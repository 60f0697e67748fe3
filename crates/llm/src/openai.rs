//! OpenAI: chat completions, responses and embeddings.

use serde_json::{Value, json};

use crate::{Provider, Usage, at, at_mut, set_at, text_at};

/// The OpenAI API (`/v1/chat/completions`, `/v1/responses`, `/v1/embeddings`).
#[derive(Debug)]
pub struct OpenAi;

impl Provider for OpenAi {
    fn id(&self) -> &'static str {
        "openai"
    }

    fn default_base_url(&self) -> &'static str {
        "https://api.openai.com"
    }

    fn matches(&self, path: &str) -> bool {
        matches!(
            path.trim_end_matches('/'),
            "/v1/chat/completions" | "/v1/responses" | "/v1/embeddings" | "/v1/completions"
        )
    }

    fn model(&self, _path: &str, body: &Value) -> Option<String> {
        Some(body.get("model")?.as_str()?.to_owned())
    }

    fn streaming(&self, _path: &str, _query: &str, body: &Value) -> bool {
        body.get("stream").and_then(Value::as_bool).unwrap_or(false)
    }

    fn stream_text<'a>(&self, event: &'a Value) -> Option<&'a str> {
        // chat completions chunk, or a responses API text delta
        text_at(event, "/choices/0/delta/content").or_else(|| {
            (event.get("type")?.as_str()? == "response.output_text.delta")
                .then(|| event.get("delta")?.as_str())
                .flatten()
        })
    }

    fn set_stream_text(&self, event: &mut Value, text: &str) {
        if at(event, "/choices/0/delta/content").is_some() {
            set_at(event, "/choices/0/delta/content", text);
        } else {
            set_at(event, "/delta", text);
        }
    }

    fn stream_parts(&self, event: &Value) -> Vec<(String, String)> {
        let mut parts: Vec<(String, String)> = self
            .stream_text(event)
            .map(|t| vec![("text".to_owned(), t.to_owned())])
            .unwrap_or_default();
        if let Some(calls) = at(event, "/choices/0/delta/tool_calls").and_then(Value::as_array) {
            for (i, call) in calls.iter().enumerate() {
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(i as u64);
                if let Some(args) = at(call, "/function/arguments").and_then(Value::as_str) {
                    parts.push((format!("tool:{index}"), args.to_owned()));
                }
            }
        }
        parts
    }

    fn set_stream_part(&self, event: &mut Value, channel: &str, text: &str) {
        let Some(index) = channel.strip_prefix("tool:") else {
            if channel == "text" {
                self.set_stream_text(event, text);
            }
            return;
        };
        let Some(calls) =
            at_mut(event, "/choices/0/delta/tool_calls").and_then(Value::as_array_mut)
        else {
            return;
        };
        for (i, call) in calls.iter_mut().enumerate() {
            let n = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(i as u64);
            if n.to_string() == index
                && let Some(slot) = at_mut(call, "/function/arguments")
            {
                *slot = Value::String(text.to_owned());
            }
        }
    }

    fn ends_text(&self, _event_name: Option<&str>, event: Option<&Value>) -> bool {
        match event {
            // `data: [DONE]`, or anything that is not JSON
            None => true,
            Some(e) => {
                at(e, "/choices/0/finish_reason").is_some_and(|r| !r.is_null())
                    || e.get("type").and_then(Value::as_str).is_some_and(|t| {
                        t == "response.output_text.done" || t == "response.completed"
                    })
            }
        }
    }

    fn usage(&self, body: &Value) -> Option<Usage> {
        let u = body.get("usage").or_else(|| at(body, "/response/usage"))?;
        let input = u
            .get("prompt_tokens")
            .or_else(|| u.get("input_tokens"))?
            .as_u64()?;
        let output = u
            .get("completion_tokens")
            .or_else(|| u.get("output_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Some(Usage { input, output })
    }

    fn error(&self, _status: u16, code: &str, message: &str) -> Value {
        json!({"error": {"message": message, "type": "rampart_error", "param": null, "code": code}})
    }
}
