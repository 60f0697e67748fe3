//! Token estimates before forwarding, to refuse over-budget calls early; the provider's reported
//! usage settles the budget afterwards.
//!
//! The estimate counts the text of the request: every string value of the JSON body except
//! identifiers (`model`, `role`, `type`, `id`, `name`, `tool_call_id`), plus 4 tokens per
//! message for the chat framing. Text is counted at 4 characters per token (OpenAI, Gemini,
//! Cohere) or 3.5 (Anthropic's tokenizer splits English text finer). These are documented
//! approximations (docs/LIMITS.md); the exact count comes from the provider's usage report.

use serde_json::Value;

/// Keys whose string values are identifiers, not text the model reads.
const NOT_TEXT: [&str; 7] = [
    "model",
    "role",
    "type",
    "id",
    "name",
    "tool_call_id",
    "stream",
];

/// The estimated input tokens of a request body for `provider`.
pub fn estimate_input(provider: &str, body: &Value) -> u64 {
    let mut chars = 0usize;
    let mut messages = 0usize;
    walk(body, None, &mut chars, &mut messages);
    let per_token = if provider == "anthropic" { 3.5 } else { 4.0 };
    (chars as f64 / per_token).ceil() as u64 + 4 * messages as u64
}

fn walk(v: &Value, key: Option<&str>, chars: &mut usize, messages: &mut usize) {
    match v {
        Value::String(s) if !key.is_some_and(|k| NOT_TEXT.contains(&k)) => {
            *chars += s.chars().count();
        }
        Value::Array(items) => {
            if matches!(key, Some("messages" | "contents")) {
                *messages += items.len();
            }
            for item in items {
                walk(item, key, chars, messages);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                walk(v, Some(k), chars, messages);
            }
        }
        _ => {}
    }
}

/// The output tokens a request asks for at most, when it says.
pub fn requested_output(provider: &str, body: &Value) -> Option<u64> {
    let field = |path: &str| body.pointer(path).and_then(Value::as_u64);
    match provider {
        "gemini" => field("/generationConfig/maxOutputTokens"),
        _ => field("/max_completion_tokens")
            .or_else(|| field("/max_tokens"))
            .or_else(|| field("/max_output_tokens")),
    }
}

/// Tokens of streamed text when the provider reports no usage: the same approximation.
pub fn estimate_text(provider: &str, text_chars: usize) -> u64 {
    let per_token = if provider == "anthropic" { 3.5 } else { 4.0 };
    (text_chars as f64 / per_token).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn estimates_count_the_text_not_the_identifiers() {
        let body = json!({"model": "gpt-4o-mini", "max_tokens": 50,
            "messages": [{"role": "system", "content": "You are terse."},
                         {"role": "user", "content": "Summarise the notes in one line please"}]});
        // 14 + 38 = 52 chars -> 13 tokens, plus 2 messages x 4
        assert_eq!(estimate_input("openai", &body), 21);
        assert_eq!(requested_output("openai", &body), Some(50));
        let gemini = json!({"contents": [{"parts": [{"text": "hello there"}]}],
            "generationConfig": {"maxOutputTokens": 64}});
        assert_eq!(requested_output("gemini", &gemini), Some(64));
        assert_eq!(estimate_input("gemini", &gemini), 3 + 4);
        assert_eq!(
            estimate_input(
                "anthropic",
                &json!({"messages": [{"role": "user", "content": "1234567"}]})
            ),
            2 + 4
        );
    }
}
