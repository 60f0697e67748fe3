//! OpenAI: chat completions, responses and embeddings.

use serde_json::{Value, json};

use crate::{Operation, Provider, TextPart, Usage, at, set_at, text_at, texts};

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
        let path = path.trim_end_matches('/');
        matches!(
            path,
            "/v1/chat/completions"
                | "/v1/responses"
                | "/v1/embeddings"
                | "/v1/completions"
                | "/v1/moderations"
                | "/v1/models"
        ) || [
            "/v1/models/",
            "/v1/files",
            "/v1/uploads",
            "/v1/batches",
            "/v1/fine_tuning/",
            "/v1/responses/",
            "/v1/chat/completions/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
    }

    fn operation(&self, path: &str) -> Operation {
        let path = path.trim_end_matches('/');
        if path == "/v1/embeddings" {
            Operation::Embedding
        } else if path == "/v1/moderations" || path.starts_with("/v1/models") {
            Operation::Other
        } else if ["/v1/files", "/v1/uploads", "/v1/batches", "/v1/fine_tuning"]
            .iter()
            .any(|p| path.starts_with(p))
        {
            Operation::Upload
        } else if matches!(
            path,
            "/v1/chat/completions" | "/v1/responses" | "/v1/completions"
        ) {
            Operation::Generation
        } else {
            // reading or deleting stored responses and completions
            Operation::Other
        }
    }

    fn request_texts(&self, op: Operation, body: &Value) -> Vec<TextPart> {
        let mut out = Vec::new();
        if op.carries_uploads() {
            texts::uploads(body, &mut out);
            return out;
        }
        // chat (system and developer messages), Responses `instructions` and `input`, legacy
        // completions
        texts::system_keys(body, &["instructions"], &mut out);
        texts::messages(body, &mut out);
        texts::responses_input(body, &mut out);
        texts::prompt(body, &mut out);
        out
    }

    fn response_texts(&self, body: &Value) -> Vec<TextPart> {
        let mut out = Vec::new();
        texts::openai_choices(body, &mut out);
        texts::openai_output(body, &mut out);
        out
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

    /// Chat completions: per choice, the text (`delta.content`, or `text` of a
    /// `/v1/completions` stream), the refusal, each tool call's arguments and the legacy
    /// function call's arguments; the first choice's channels are named `text`, `refusal`,
    /// `tool:N`, `function`, another choice's carry `choice:I/` in front. Responses API: every
    /// `response.*.delta` event's `delta` string, one channel per output item (`item_id`, or
    /// `output_index`), content or summary index, and event type.
    fn stream_paths(&self, event: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(kind) = event.get("type").and_then(Value::as_str) {
            if kind.starts_with("response.")
                && kind.ends_with(".delta")
                && event.get("delta").is_some_and(Value::is_string)
            {
                let part = ["content_index", "summary_index"]
                    .iter()
                    .find_map(|k| event.get(*k).and_then(Value::as_u64))
                    .unwrap_or(0);
                out.push((
                    format!("{}{part}/{kind}", item_prefix(event)),
                    "/delta".to_owned(),
                ));
            }
            return out;
        }
        let Some(choices) = event.get("choices").and_then(Value::as_array) else {
            return out;
        };
        for (i, choice) in choices.iter().enumerate() {
            let prefix = choice_prefix(choice, i);
            let base = format!("/choices/{i}");
            let mut add = |name: String, path: String| {
                if text_at(event, &path).is_some() {
                    out.push((format!("{prefix}{name}"), path));
                }
            };
            add("text".to_owned(), format!("{base}/delta/content"));
            add("text".to_owned(), format!("{base}/text"));
            add("refusal".to_owned(), format!("{base}/delta/refusal"));
            add(
                "reasoning".to_owned(),
                format!("{base}/delta/reasoning_content"),
            );
            add(
                "function".to_owned(),
                format!("{base}/delta/function_call/arguments"),
            );
            if let Some(calls) = at(choice, "/delta/tool_calls").and_then(Value::as_array) {
                for (j, call) in calls.iter().enumerate() {
                    let index = call
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(j as u64);
                    add(
                        format!("tool:{index}"),
                        format!("{base}/delta/tool_calls/{j}/function/arguments"),
                    );
                }
            }
        }
        out
    }

    /// Log probabilities repeat the text token by token (`token`, `bytes`, `top_logprobs`),
    /// in chat choices and in Responses API text deltas.
    fn stream_echoes(&self, event: &Value) -> Vec<String> {
        let present = |v: &Value| !v.is_null();
        if event.get("type").is_some() {
            return event
                .get("logprobs")
                .is_some_and(present)
                .then(|| "/logprobs".to_owned())
                .into_iter()
                .collect();
        }
        event
            .get("choices")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .enumerate()
                    .filter(|(_, c)| c.get("logprobs").is_some_and(present))
                    .map(|(i, _)| format!("/choices/{i}/logprobs"))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn ends_channel(&self, event: &Value, channel: &str) -> bool {
        if let Some(kind) = event.get("type").and_then(Value::as_str) {
            // an item's `.done` ends that item's channels; the end of the response, all
            return !kind.ends_with(".done") || channel.starts_with(&item_prefix(event));
        }
        let Some(choices) = event.get("choices").and_then(Value::as_array) else {
            return true;
        };
        choices.iter().enumerate().any(|(i, c)| {
            c.get("finish_reason").is_some_and(|r| !r.is_null()) && {
                let prefix = choice_prefix(c, i);
                if prefix.is_empty() {
                    !channel.starts_with("choice:") && !channel.starts_with("item:")
                } else {
                    channel.starts_with(&prefix)
                }
            }
        })
    }

    fn ends_text(&self, _event_name: Option<&str>, event: Option<&Value>) -> bool {
        match event {
            // `data: [DONE]`, or anything that is not JSON
            None => true,
            Some(e) => {
                e.get("choices")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.get("finish_reason").is_some_and(|r| !r.is_null()))
                    })
                    || e.get("type").and_then(Value::as_str).is_some_and(|t| {
                        t.ends_with(".done")
                            || matches!(
                                t,
                                "response.completed"
                                    | "response.failed"
                                    | "response.incomplete"
                                    | "error"
                            )
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

/// The channel-name prefix of a choice: none for the first, `choice:I/` for the others.
fn choice_prefix(choice: &Value, position: usize) -> String {
    match choice
        .get("index")
        .and_then(Value::as_u64)
        .unwrap_or(position as u64)
    {
        0 => String::new(),
        i => format!("choice:{i}/"),
    }
}

/// The channel-name prefix of a Responses API output item: `item:ID:` (or its output index).
fn item_prefix(event: &Value) -> String {
    match event.get("item_id").and_then(Value::as_str) {
        Some(id) => format!("item:{id}:"),
        None => format!(
            "item:#{}:",
            event
                .get("output_index")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        ),
    }
}
