//! The texts a model reads in a provider body, each with who wrote it and where it is.
//!
//! Every provider adapter lists its own shapes ([`Provider::request_texts`],
//! [`Provider::response_texts`]) from the readers here; the exchange core inspects what they
//! return and never reads a provider's body shape itself. The readers address each text by a
//! JSON pointer, so a rewrite replaces exactly that string.
//!
//! [`Provider::request_texts`]: crate::Provider::request_texts
//! [`Provider::response_texts`]: crate::Provider::response_texts

use serde_json::Value;

use crate::Operation;

/// Who wrote a text a model reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The operator's instructions (system prompt, developer message, preamble).
    System,
    /// The caller's messages.
    User,
    /// Earlier model output sent back as history, or the answer itself.
    Assistant,
    /// A tool or function result.
    Tool,
    /// A document the caller attached or retrieved.
    Document,
    /// Fetched or searched web content.
    Web,
    /// Content sent to embedding, file, batch and fine-tuning endpoints.
    Upload,
}

/// One text of a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextPart {
    /// Who wrote it.
    pub role: Role,
    /// JSON pointer to the string in the body.
    pub pointer: String,
    /// The string.
    pub text: String,
}

/// A JSON pointer segment for `key` (RFC 6901 escapes).
fn esc(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Adds `v` at `pointer` when it is a string.
fn string_at(v: Option<&Value>, pointer: String, role: Role, out: &mut Vec<TextPart>) {
    if let Some(Value::String(text)) = v {
        out.push(TextPart {
            role,
            pointer,
            text: text.clone(),
        });
    }
}

/// Every string under `v` (at `at`), with `role`.
fn strings_under(v: &Value, at: &str, role: Role, out: &mut Vec<TextPart>) {
    match v {
        Value::String(_) => string_at(Some(v), at.to_owned(), role, out),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                strings_under(x, &format!("{at}/{i}"), role, out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                strings_under(x, &format!("{at}/{}", esc(k)), role, out);
            }
        }
        _ => {}
    }
}

/// The texts of a message `content`: a string, or an array of strings or typed blocks (text,
/// tool results, documents, search results).
pub(crate) fn content(v: &Value, at: &str, role: Role, out: &mut Vec<TextPart>) {
    match v {
        Value::String(_) => string_at(Some(v), at.to_owned(), role, out),
        Value::Array(blocks) => {
            for (j, b) in blocks.iter().enumerate() {
                block(b, &format!("{at}/{j}"), role, out);
            }
        }
        _ => {}
    }
}

/// One block of a content array.
fn block(b: &Value, here: &str, role: Role, out: &mut Vec<TextPart>) {
    match b.get("type").and_then(Value::as_str) {
        Some("text" | "input_text" | "output_text") | None => {
            if b.get("text").is_some_and(Value::is_string) {
                string_at(b.get("text"), format!("{here}/text"), role, out);
            } else {
                string_at(Some(b), here.to_owned(), role, out);
            }
        }
        // Anthropic tool results and documents
        Some("tool_result") => {
            if let Some(c) = b.get("content") {
                content(c, &format!("{here}/content"), Role::Tool, out);
            }
        }
        Some("document") => {
            if let Some(src) = b.get("source") {
                strings_under(
                    src.get("data").unwrap_or(&Value::Null),
                    &format!("{here}/source/data"),
                    Role::Document,
                    out,
                );
                if let Some(c) = src.get("content") {
                    content(c, &format!("{here}/source/content"), Role::Document, out);
                }
            }
        }
        // Cohere tool results carry documents
        Some("document_content") => strings_under(b, here, Role::Document, out),
        // fetched and searched web content (Anthropic server tools, search results)
        Some("search_result" | "web_search_tool_result" | "web_fetch_tool_result") => {
            strings_under(b, here, Role::Web, out);
            // URLs, titles and ids are not what the model follows
            out.retain(|p| {
                !(p.pointer.starts_with(here)
                    && (p.pointer.ends_with("/url")
                        || p.pointer.ends_with("/source")
                        || p.pointer.ends_with("/type")
                        || p.pointer.ends_with("_id")
                        || p.pointer.ends_with("/encrypted_content")))
            });
        }
        _ => {}
    }
}

/// The role a message's `role` field names.
fn role_of(name: &str) -> Role {
    match name.to_ascii_lowercase().as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "tool" | "function" | "ipython" => Role::Tool,
        _ => Role::Assistant,
    }
}

/// The role of a message object (a missing role is the caller's).
fn message_role(m: &Value) -> Role {
    role_of(m.get("role").and_then(Value::as_str).unwrap_or("user"))
}

/// Every string of an upload body (embedding inputs, file lines, batch and fine-tuning
/// records), without model names and enum values.
pub(crate) fn uploads(v: &Value, out: &mut Vec<TextPart>) {
    let from = out.len();
    strings_under(v, "", Role::Upload, out);
    let mut i = from;
    while i < out.len() {
        if matches!(
            out[i].pointer.as_str(),
            "/model"
                | "/encoding_format"
                | "/purpose"
                | "/input_type"
                | "/task_type"
                | "/endpoint"
                | "/completion_window"
        ) {
            out.remove(i);
        } else {
            i += 1;
        }
    }
}

/// System prompts at top-level `keys` (a string or text blocks).
pub(crate) fn system_keys(v: &Value, keys: &[&str], out: &mut Vec<TextPart>) {
    for key in keys {
        if let Some(s) = v.get(*key) {
            content(s, &format!("/{key}"), Role::System, out);
        }
    }
}

/// Chat `messages` with roles (OpenAI chat, Anthropic messages, Cohere v2).
pub(crate) fn messages(v: &Value, out: &mut Vec<TextPart>) {
    for (i, m) in v
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(c) = m.get("content") {
            content(c, &format!("/messages/{i}/content"), message_role(m), out);
        }
    }
}

/// The OpenAI Responses API `input`: a string, or items (messages, function call outputs).
pub(crate) fn responses_input(v: &Value, out: &mut Vec<TextPart>) {
    match v.get("input") {
        Some(s @ Value::String(_)) => string_at(Some(s), "/input".into(), Role::User, out),
        Some(Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                if it.get("type").and_then(Value::as_str) == Some("function_call_output") {
                    if let Some(o) = it.get("output") {
                        content(o, &format!("/input/{i}/output"), Role::Tool, out);
                    }
                } else if let Some(c) = it.get("content") {
                    content(c, &format!("/input/{i}/content"), message_role(it), out);
                }
            }
        }
        _ => {}
    }
}

/// A legacy completions `prompt`: a string or an array of strings.
pub(crate) fn prompt(v: &Value, out: &mut Vec<TextPart>) {
    if let Some(p) = v.get("prompt") {
        content(p, "/prompt", Role::User, out);
    }
}

/// Cohere v1 chat: `message`, `chat_history`.
pub(crate) fn cohere_v1(v: &Value, out: &mut Vec<TextPart>) {
    string_at(v.get("message"), "/message".into(), Role::User, out);
    for (i, m) in v
        .get("chat_history")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        string_at(
            m.get("message"),
            format!("/chat_history/{i}/message"),
            message_role(m),
            out,
        );
    }
}

/// Retrieved `documents` (Cohere): every string of them.
pub(crate) fn documents(v: &Value, out: &mut Vec<TextPart>) {
    if let Some(docs) = v.get("documents") {
        strings_under(docs, "/documents", Role::Document, out);
    }
}

/// Gemini `systemInstruction` and `contents` (text parts and function responses).
pub(crate) fn gemini_request(v: &Value, out: &mut Vec<TextPart>) {
    for key in ["systemInstruction", "system_instruction"] {
        let parts = v
            .get(key)
            .and_then(|si| si.get("parts"))
            .and_then(Value::as_array);
        for (j, p) in parts.into_iter().flatten().enumerate() {
            string_at(
                p.get("text"),
                format!("/{key}/parts/{j}/text"),
                Role::System,
                out,
            );
        }
    }
    for (i, c) in v
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let role = message_role(c);
        for (j, p) in c
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let here = format!("/contents/{i}/parts/{j}");
            if p.get("text").is_some_and(Value::is_string) {
                string_at(p.get("text"), format!("{here}/text"), role, out);
            } else if let Some(r) = p.get("functionResponse") {
                strings_under(
                    r.get("response").unwrap_or(&Value::Null),
                    &format!("{here}/functionResponse/response"),
                    Role::Tool,
                    out,
                );
            }
        }
    }
}

/// OpenAI chat and completions answers: `choices[].message.content`, `choices[].text`.
pub(crate) fn openai_choices(v: &Value, out: &mut Vec<TextPart>) {
    for (i, c) in v
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(m) = c.get("message")
            && let Some(body) = m.get("content")
        {
            content(
                body,
                &format!("/choices/{i}/message/content"),
                Role::Assistant,
                out,
            );
        }
        string_at(
            c.get("text"),
            format!("/choices/{i}/text"),
            Role::Assistant,
            out,
        );
    }
}

/// OpenAI Responses answers: `output[].content`.
pub(crate) fn openai_output(v: &Value, out: &mut Vec<TextPart>) {
    for (i, o) in v
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(c) = o.get("content") {
            content(c, &format!("/output/{i}/content"), Role::Assistant, out);
        }
    }
}

/// Content blocks of an answer at `pointer` (Anthropic `/content`, Cohere v2
/// `/message/content`).
pub(crate) fn answer_blocks(v: &Value, pointer: &str, out: &mut Vec<TextPart>) {
    if let Some(c) = v.pointer(pointer)
        && c.is_array()
    {
        content(c, pointer, Role::Assistant, out);
    }
}

/// Cohere v1 answers: `text`.
pub(crate) fn cohere_text(v: &Value, out: &mut Vec<TextPart>) {
    string_at(v.get("text"), "/text".into(), Role::Assistant, out);
}

/// Gemini answers: `candidates[].content.parts[].text`.
pub(crate) fn gemini_candidates(v: &Value, out: &mut Vec<TextPart>) {
    for (i, c) in v
        .get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, p) in c
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            string_at(
                p.get("text"),
                format!("/candidates/{i}/content/parts/{j}/text"),
                Role::Assistant,
                out,
            );
        }
    }
}

/// Every request shape any provider uses: what a body sent to an API whose shape is not known
/// is read as (an OpenAI-compatible server, a proxy in front of several providers).
pub fn any_request(op: Operation, v: &Value) -> Vec<TextPart> {
    let mut out = Vec::new();
    if op.carries_uploads() {
        uploads(v, &mut out);
        return out;
    }
    system_keys(v, &["system", "instructions", "preamble"], &mut out);
    gemini_request(v, &mut out);
    messages(v, &mut out);
    responses_input(v, &mut out);
    prompt(v, &mut out);
    cohere_v1(v, &mut out);
    documents(v, &mut out);
    out
}

/// Every answer shape any provider uses.
pub fn any_response(v: &Value) -> Vec<TextPart> {
    let mut out = Vec::new();
    openai_choices(v, &mut out);
    openai_output(v, &mut out);
    answer_blocks(v, "/content", &mut out);
    answer_blocks(v, "/message/content", &mut out);
    cohere_text(v, &mut out);
    gemini_candidates(v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provider;
    use serde_json::json;

    fn pointers(parts: &[TextPart]) -> Vec<(Role, &str)> {
        parts.iter().map(|p| (p.role, p.pointer.as_str())).collect()
    }

    /// Each adapter reads its own shapes only: a field another provider would read is not a
    /// text this provider's model sees (the PII scan still reads every byte of the body).
    #[test]
    fn each_adapter_reads_its_own_shapes() {
        let body = json!({
            "system": "anthropic system",
            "instructions": "openai instructions",
            "preamble": "cohere preamble",
            "messages": [{"role": "user", "content": "hi"}],
            "contents": [{"role": "user", "parts": [{"text": "gemini text"}]}],
            "prompt": ["first", "second"]
        });
        let g = Operation::Generation;
        assert_eq!(
            pointers(&crate::openai::OpenAi.request_texts(g, &body)),
            [
                (Role::System, "/instructions"),
                (Role::User, "/messages/0/content"),
                (Role::User, "/prompt/0"),
                (Role::User, "/prompt/1"),
            ]
        );
        assert_eq!(
            pointers(&crate::anthropic::Anthropic.request_texts(g, &body)),
            [
                (Role::System, "/system"),
                (Role::User, "/messages/0/content")
            ]
        );
        assert_eq!(
            pointers(&crate::gemini::Gemini.request_texts(g, &body)),
            [(Role::User, "/contents/0/parts/0/text")]
        );
        assert_eq!(
            pointers(&crate::cohere::Cohere.request_texts(g, &body)),
            [
                (Role::System, "/preamble"),
                (Role::User, "/messages/0/content")
            ]
        );
        // an API whose shape is not known is read in every shape
        assert_eq!(crate::generic::GenericJson.request_texts(g, &body).len(), 7);
        // uploads: every string but model names and enum values
        let e = json!({"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float"});
        assert_eq!(
            pointers(&crate::openai::OpenAi.request_texts(Operation::Embedding, &e)),
            [(Role::Upload, "/input/0"), (Role::Upload, "/input/1")]
        );
    }

    #[test]
    fn each_adapter_reads_its_own_answers() {
        let body = json!({
            "choices": [{"message": {"role": "assistant", "content": "A"}}],
            "content": [{"type": "text", "text": "B"}],
            "candidates": [{"content": {"parts": [{"text": "C"}]}}],
            "message": {"content": [{"type": "text", "text": "D"}]},
            "text": "E"
        });
        let texts = |p: &dyn Provider| -> Vec<String> {
            p.response_texts(&body)
                .into_iter()
                .map(|t| t.text)
                .collect()
        };
        assert_eq!(texts(&crate::openai::OpenAi), ["A"]);
        assert_eq!(texts(&crate::anthropic::Anthropic), ["B"]);
        assert_eq!(texts(&crate::gemini::Gemini), ["C"]);
        assert_eq!(texts(&crate::cohere::Cohere), ["E", "D"]);
        assert_eq!(texts(&crate::generic::GenericJson).len(), 5);
    }
}
