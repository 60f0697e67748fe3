//! Token estimates before forwarding, to refuse over-budget calls early; the provider's reported
//! usage settles the budget afterwards.
//!
//! The estimate counts the text of the request: every string value of the JSON body except
//! identifiers (`model`, `role`, `type`, `id`, `name`, `tool_call_id`). For OpenAI models the
//! text is tokenized with the model's own BPE (tiktoken: `o200k_base` for the GPT-4o, GPT-4.1,
//! GPT-5 and o-series families, `cl100k_base` for GPT-4, GPT-3.5 and the embeddings), plus 3
//! tokens per message and 3 for the reply, as OpenAI documents. Other providers publish no
//! tokenizer: text is counted at 4 characters per token (Gemini, Cohere) or 3.5 (Anthropic's
//! tokenizer splits English finer), plus 4 tokens per message. These are documented
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

/// The estimated input tokens of a request body for `provider` and `model`.
pub fn estimate_input(provider: &str, model: Option<&str>, body: &Value) -> u64 {
    let mut text = String::new();
    let mut messages = 0usize;
    walk(body, None, &mut text, &mut messages);
    if provider == "openai" {
        let bpe = bpe_for(model.unwrap_or(""));
        return bpe.encode_ordinary(&text).len() as u64 + 3 * messages as u64 + 3;
    }
    estimate_text(provider, text.chars().count()) + 4 * messages as u64
}

/// The text of a request the model reads (the string values the estimate counts).
pub fn prompt_text(body: &Value) -> String {
    let mut text = String::new();
    let mut messages = 0;
    walk(body, None, &mut text, &mut messages);
    text
}

/// The BPE of an OpenAI model.
fn bpe_for(model: &str) -> &'static tiktoken_rs::CoreBPE {
    let legacy = [
        "gpt-4-",
        "gpt-4",
        "gpt-3.5",
        "text-embedding-3",
        "text-embedding-ada",
    ];
    let is_legacy = legacy.iter().any(|p| model.starts_with(p))
        && !model.starts_with("gpt-4o")
        && !model.starts_with("gpt-4.1")
        && !model.starts_with("gpt-4.5");
    if is_legacy {
        tiktoken_rs::cl100k_base_singleton()
    } else {
        tiktoken_rs::o200k_base_singleton()
    }
}

/// Loads the OpenAI tokenizers now, so the first limited request does not pay for it.
pub fn warm_up() {
    let _ = tiktoken_rs::o200k_base_singleton();
    let _ = tiktoken_rs::cl100k_base_singleton();
}

fn walk(v: &Value, key: Option<&str>, text: &mut String, messages: &mut usize) {
    match v {
        Value::String(s) if !key.is_some_and(|k| NOT_TEXT.contains(&k)) => {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(s);
        }
        Value::Array(items) => {
            if matches!(key, Some("messages" | "contents")) {
                *messages += items.len();
            }
            for item in items {
                walk(item, key, text, messages);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                walk(v, Some(k), text, messages);
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
        // the two contents (joined by a newline) in o200k, plus 2 messages x 3 and 3 for the
        // reply; identifiers and the model name are not counted
        let text = "You are terse.\nSummarise the notes in one line please";
        let tokens = tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(text)
            .len() as u64;
        assert!((10..=16).contains(&tokens), "{tokens}");
        let n = estimate_input("openai", Some("gpt-4o-mini"), &body);
        assert_eq!(n, tokens + 2 * 3 + 3);
        assert_eq!(requested_output("openai", &body), Some(50));
        let gemini = json!({"contents": [{"parts": [{"text": "hello there"}]}],
            "generationConfig": {"maxOutputTokens": 64}});
        assert_eq!(requested_output("gemini", &gemini), Some(64));
        assert_eq!(estimate_input("gemini", None, &gemini), 3 + 4);
        assert_eq!(
            estimate_input(
                "anthropic",
                None,
                &json!({"messages": [{"role": "user", "content": "1234567"}]})
            ),
            2 + 4
        );
    }

    #[test]
    fn legacy_models_use_their_own_bpe() {
        let text = json!({"messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}]});
        // the same sentence is 9 tokens in both encodings; framing differs nothing
        assert_eq!(
            estimate_input("openai", Some("gpt-3.5-turbo"), &text),
            9 + 3 + 3
        );
        assert_eq!(estimate_input("openai", Some("gpt-4o"), &text), 9 + 3 + 3);
        assert!(std::ptr::eq(
            bpe_for("gpt-4-turbo"),
            tiktoken_rs::cl100k_base_singleton()
        ));
        assert!(std::ptr::eq(
            bpe_for("gpt-4o-mini"),
            tiktoken_rs::o200k_base_singleton()
        ));
        assert!(std::ptr::eq(
            bpe_for("gpt-4.1"),
            tiktoken_rs::o200k_base_singleton()
        ));
        assert!(std::ptr::eq(
            bpe_for("o3-mini"),
            tiktoken_rs::o200k_base_singleton()
        ));
    }
}
