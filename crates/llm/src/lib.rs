//! Rampart's AI provider adapters. Each provider is one file implementing [`Provider`]: which
//! request paths are its, where the model and the stream flag are, where the generated text is
//! in a stream event and how to rewrite it, where usage is reported, and what its errors look
//! like (so a blocked call raises a clear error in the provider's own SDK).
//!
//! Personal data and secrets need no adapter to be found: the gateway scans every byte of a
//! body. Adapters say which texts a model reads and who wrote them ([`texts`]), where the text
//! arrives in pieces (server-sent events), and how to speak the provider's language (errors,
//! usage, model).
#![forbid(unsafe_code)]

use serde_json::Value;

pub mod anthropic;
pub mod cohere;
pub mod gemini;
pub mod generic;
pub mod openai;
pub mod texts;

pub use texts::{Role, TextPart};

/// Tokens a provider reports for one exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
}

/// What an endpoint does with the body it receives, which decides how its texts are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A model generates from the body (chat, messages, responses, completions).
    Generation,
    /// The body's texts are embedded.
    Embedding,
    /// The body is stored for later use: files, uploads, batches, fine-tuning data.
    Upload,
    /// Anything else (token counting, listing).
    Other,
}

impl Operation {
    /// Whether every string of the body is content a model will read later or embed (no
    /// roles, no system prompt).
    pub fn carries_uploads(self) -> bool {
        matches!(self, Operation::Embedding | Operation::Upload)
    }
}

/// The operation of a provider path, by the first adapter whose paths it is (`Other` when
/// none is).
pub fn operation(path: &str) -> Operation {
    providers()
        .iter()
        .find(|p| p.matches(path))
        .map_or(Operation::Other, |p| p.operation(path))
}

/// One AI provider's wire format.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Stable id used in configuration, audit events and metrics (`openai`, `anthropic`, ...).
    fn id(&self) -> &'static str;

    /// The provider's public API base URL, used when no upstream is configured.
    fn default_base_url(&self) -> &'static str;

    /// Whether a request path (without query) is one of this provider's inspected endpoints.
    fn matches(&self, path: &str) -> bool;

    /// A request header only this provider's clients send (Anthropic's `anthropic-version`):
    /// where two providers serve the same path (`/v1/models`), the one whose header is
    /// present takes the call.
    fn signature_header(&self) -> Option<&'static str> {
        None
    }

    /// What the endpoint at `path` does with its body.
    fn operation(&self, path: &str) -> Operation;

    /// Appends `line` to the system prompt of a request body, creating the system prompt where
    /// the format has a place for one; returns the system prompt as the model will read it.
    /// The default reads OpenAI's shapes (chat messages, the Responses API's `instructions`)
    /// and Cohere's v1 `preamble`.
    fn add_system_line(&self, body: &mut Value, line: &str) -> Option<String> {
        // OpenAI Responses API
        if body.get("input").is_some() && body.get("messages").is_none() {
            return append_or_insert(body.as_object_mut()?, "instructions", line);
        }
        // Cohere v1
        if body.get("message").is_some() && body.get("messages").is_none() {
            return append_or_insert(body.as_object_mut()?, "preamble", line);
        }
        // chat messages: the first system message, or a new one
        let msgs = body.get_mut("messages")?.as_array_mut()?;
        let first_system = msgs.iter().position(|m| {
            matches!(
                m.get("role").and_then(Value::as_str),
                Some("system" | "developer")
            )
        });
        match first_system {
            Some(i) => append_text(msgs[i].get_mut("content")?, line),
            None => {
                msgs.insert(0, serde_json::json!({"role": "system", "content": line}));
                Some(line.to_owned())
            }
        }
    }

    /// Every text of a request body a model reads, with who wrote it and its JSON pointer:
    /// system prompts, messages by role, tool results, documents, and for embedding and upload
    /// operations every string of the content. The default reads every shape any provider
    /// uses ([`texts::any_request`]).
    fn request_texts(&self, op: Operation, body: &Value) -> Vec<TextPart> {
        texts::any_request(op, body)
    }

    /// The answer texts of a whole (not streamed) response body. The default reads every
    /// shape any provider uses ([`texts::any_response`]).
    fn response_texts(&self, body: &Value) -> Vec<TextPart> {
        texts::any_response(body)
    }

    /// The model a request names, from its path or body.
    fn model(&self, path: &str, body: &Value) -> Option<String>;

    /// Whether the request asks for a streamed (server-sent events) response.
    fn streaming(&self, path: &str, query: &str, body: &Value) -> bool;

    /// The generated text an SSE event's `data` carries, if it carries text.
    fn stream_text<'a>(&self, event: &'a Value) -> Option<&'a str>;

    /// Replaces the generated text of an event that [`Provider::stream_text`] returned text
    /// for.
    fn set_stream_text(&self, event: &mut Value, text: &str);

    /// Where every piece of streamed text in an event lies: `(channel, pointer)`, the pointer a
    /// JSON pointer (without escapes) to a string. Each text-bearing field is its own channel
    /// (`text` for the generated text of the first choice or block; `tool:N` for the
    /// arguments of tool call N; other choices, blocks, candidates and output items carry
    /// their index in the channel name), so a value split across events of one field is
    /// caught and text never moves between fields. Anything in an event that is not listed
    /// here is scanned as a whole, event by event.
    fn stream_paths(&self, event: &Value) -> Vec<(String, String)> {
        let _ = event;
        Vec::new()
    }

    /// Every piece of streamed text an event carries, each with the channel it belongs to
    /// (see [`Provider::stream_paths`]). Each channel is scanned as one stream.
    fn stream_parts(&self, event: &Value) -> Vec<(String, String)> {
        let paths = self.stream_paths(event);
        if paths.is_empty() {
            return self
                .stream_text(event)
                .map(|t| vec![("text".to_owned(), t.to_owned())])
                .unwrap_or_default();
        }
        paths
            .into_iter()
            .filter_map(|(channel, path)| Some((channel, text_at(event, &path)?.to_owned())))
            .collect()
    }

    /// Replaces the piece of `channel` in an event that [`Provider::stream_parts`] listed it
    /// for.
    fn set_stream_part(&self, event: &mut Value, channel: &str, text: &str) {
        let paths = self.stream_paths(event);
        if paths.is_empty() {
            if channel == "text" {
                self.set_stream_text(event, text);
            }
            return;
        }
        if let Some((_, path)) = paths.iter().find(|(c, _)| c == channel)
            && text_at(event, path).is_some()
        {
            set_at(event, path, text);
        }
    }

    /// Pointers to values of an event that repeat its streamed text piece by piece outside
    /// the channels (OpenAI `logprobs`: a token string and its bytes per token). They cannot
    /// be redacted consistently with the text, so the gateway removes them (sets them to
    /// `null`).
    fn stream_echoes(&self, event: &Value) -> Vec<String> {
        let _ = event;
        Vec::new()
    }

    /// Whether an event that [`Provider::ends_text`] says ends text ends `channel` (one
    /// choice of several finishing ends only that choice's channels). Other channels keep
    /// their held-back text and their scanner, so a value split around the event is caught.
    fn ends_channel(&self, event: &Value, channel: &str) -> bool {
        let _ = (event, channel);
        true
    }

    /// Whether text held back must be released before this event (it ends a text block or the
    /// stream: `content_block_stop`, a `finish_reason`, `[DONE]`).
    fn ends_text(&self, event_name: Option<&str>, event: Option<&Value>) -> bool;

    /// Usage reported in a response body or a stream event.
    fn usage(&self, body: &Value) -> Option<Usage>;

    /// The header that carries an API key to this provider, and its value for `key`.
    fn auth_header(&self, key: &str) -> (&'static str, String) {
        ("authorization", format!("Bearer {key}"))
    }

    /// An error body in the provider's shape, and its HTTP status, for a call the gateway
    /// refuses. `code` is machine-readable (`rampart_blocked`), `message` says why.
    fn error(&self, status: u16, code: &str, message: &str) -> Value;

    /// The event that ends a stream with an error, as the provider would send it mid-stream
    /// (its SDKs raise on it): the event name, if the provider names events, and its data.
    fn stream_error(&self, code: &str, message: &str) -> (Option<&'static str>, Value) {
        (None, self.error(500, code, message))
    }
}

/// Appends `line` to a system prompt slot (a string, or an array of text blocks); returns the
/// whole prompt.
pub(crate) fn append_text(slot: &mut Value, line: &str) -> Option<String> {
    match slot {
        Value::String(s) => {
            s.push_str("\n\n");
            s.push_str(line);
            Some(s.clone())
        }
        Value::Array(blocks) => {
            blocks.push(serde_json::json!({"type": "text", "text": line}));
            Some(
                blocks
                    .iter()
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        }
        _ => None,
    }
}

/// Appends `line` to the string or blocks at `key`, or sets `key` to it.
pub(crate) fn append_or_insert(
    o: &mut serde_json::Map<String, Value>,
    key: &str,
    line: &str,
) -> Option<String> {
    match o.get_mut(key) {
        Some(s) => append_text(s, line),
        None => {
            o.insert(key.into(), Value::String(line.to_owned()));
            Some(line.to_owned())
        }
    }
}

/// Whether a response body or stream event says the answer was cut at the maximum length
/// (OpenAI `finish_reason: length`, Anthropic `stop_reason: max_tokens`, Gemini
/// `finishReason: MAX_TOKENS`, Cohere `finish_reason: MAX_TOKENS`).
pub fn hit_max_length(v: &Value) -> bool {
    let is = |path: &str, want: &str| at(v, path).and_then(Value::as_str) == Some(want);
    is("/choices/0/finish_reason", "length")
        || is("/stop_reason", "max_tokens")
        || is("/delta/stop_reason", "max_tokens")
        || is("/candidates/0/finishReason", "MAX_TOKENS")
        || is("/finish_reason", "MAX_TOKENS")
        || is("/delta/finish_reason", "MAX_TOKENS")
        || is("/response/incomplete_details/reason", "max_output_tokens")
}

/// Hosts of AI model APIs (`*` wildcards): egress to them from a workload is AI use, and egress
/// no policy names is shadow AI.
pub const AI_HOSTS: &[&str] = &[
    "api.openai.com",
    "*.openai.azure.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "*-aiplatform.googleapis.com",
    "api.cohere.com",
    "api.cohere.ai",
    "api.mistral.ai",
    "api.groq.com",
    "api.together.xyz",
    "api.deepseek.com",
    "api.perplexity.ai",
    "openrouter.ai",
    "api.x.ai",
    "api.fireworks.ai",
    "api-inference.huggingface.co",
    "router.huggingface.co",
    "bedrock-runtime.*.amazonaws.com",
];

/// Whether `host` is a known AI model API.
pub fn is_ai_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    AI_HOSTS
        .iter()
        .any(|pattern| match pattern.split_once('*') {
            None => host == *pattern,
            Some((pre, post)) => {
                host.len() >= pre.len() + post.len()
                    && host.starts_with(pre)
                    && host.ends_with(post)
            }
        })
}

/// Every built-in provider.
pub fn providers() -> Vec<Box<dyn Provider>> {
    vec![
        Box::new(openai::OpenAi),
        Box::new(anthropic::Anthropic),
        Box::new(gemini::Gemini),
        Box::new(cohere::Cohere),
    ]
}

/// The value at a `/`-separated path of keys and array indexes (`/choices/0/delta`): a JSON
/// pointer without escapes, walked without allocating (adapters run it on every stream event).
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').skip(1).try_fold(v, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

/// As [`at`], for changing the value.
fn at_mut<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('/').skip(1).try_fold(v, |v, seg| match v {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(a) => a.get_mut(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Reads a path as a string.
fn text_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    at(v, path)?.as_str()
}

/// Writes a string at a path that exists.
fn set_at(v: &mut Value, path: &str, text: &str) {
    if let Some(slot) = at_mut(v, path) {
        *slot = Value::String(text.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_path_has_one_provider() {
        let paths = [
            ("/v1/chat/completions", "openai"),
            ("/v1/responses", "openai"),
            ("/v1/embeddings", "openai"),
            ("/v1/messages", "anthropic"),
            ("/v1beta/models/gemini-2.0-flash:generateContent", "gemini"),
            (
                "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
                "gemini",
            ),
            ("/v2/chat", "cohere"),
        ];
        let all = providers();
        for (path, id) in paths {
            let owners: Vec<&str> = all
                .iter()
                .filter(|p| p.matches(path))
                .map(|p| p.id())
                .collect();
            assert_eq!(owners, vec![id], "{path}");
        }
        // paths two providers serve are told apart by the signature header of one of them
        let shared: Vec<&str> = all
            .iter()
            .filter(|p| p.matches("/v1/models"))
            .map(|p| p.id())
            .collect();
        assert_eq!(shared, vec!["openai", "anthropic"]);
        assert_eq!(
            all.iter()
                .filter(|p| p.matches("/v1/models"))
                .filter_map(|p| p.signature_header())
                .collect::<Vec<_>>(),
            vec!["anthropic-version"]
        );
        // SDK paths beyond generation, with what their bodies are
        for (path, id, op) in [
            ("/v1/files", "openai", Operation::Upload),
            ("/v1/files/file-abc/content", "openai", Operation::Upload),
            ("/v1/batches", "openai", Operation::Upload),
            ("/v1/fine_tuning/jobs", "openai", Operation::Upload),
            ("/v1/moderations", "openai", Operation::Other),
            ("/v1/embeddings", "openai", Operation::Embedding),
            ("/v1/completions", "openai", Operation::Generation),
            ("/v1/messages/count_tokens", "anthropic", Operation::Other),
            ("/v1/messages/batches", "anthropic", Operation::Upload),
            ("/v2/embed", "cohere", Operation::Embedding),
            (
                "/v1beta/models/text-embedding-004:embedContent",
                "gemini",
                Operation::Embedding,
            ),
        ] {
            let p = all.iter().find(|p| p.matches(path)).expect(path);
            assert_eq!((p.id(), p.operation(path)), (id, op), "{path}");
        }
        assert!(all.iter().all(|p| !p.matches("/v1/unknown")));
    }

    #[test]
    fn stream_text_round_trips() {
        let cases: Vec<(Box<dyn Provider>, Value)> = vec![
            (
                Box::new(openai::OpenAi),
                json!({"choices":[{"index":0,"delta":{"content":"hi"}}]}),
            ),
            (
                Box::new(openai::OpenAi),
                json!({"type":"response.output_text.delta","delta":"hi"}),
            ),
            (
                Box::new(anthropic::Anthropic),
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}),
            ),
            (
                Box::new(gemini::Gemini),
                json!({"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"}}]}),
            ),
            (
                Box::new(cohere::Cohere),
                json!({"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"hi"}}}}),
            ),
        ];
        for (p, mut event) in cases {
            assert_eq!(p.stream_text(&event), Some("hi"), "{}", p.id());
            p.set_stream_text(&mut event, "[REDACTED]");
            assert_eq!(p.stream_text(&event), Some("[REDACTED]"), "{}", p.id());
        }
    }

    #[test]
    fn paths_walk_objects_and_arrays() {
        let mut v = json!({"a": [{"b": "x"}, {"b": "y"}], "c": 1});
        assert_eq!(at(&v, "/a/1/b"), Some(&json!("y")));
        assert_eq!(at(&v, "/a/2/b"), None);
        assert_eq!(at(&v, "/a/x"), None);
        assert_eq!(at(&v, "/c/d"), None);
        assert_eq!(at(&v, ""), Some(&v.clone()));
        *at_mut(&mut v, "/a/0/b").unwrap() = json!("z");
        assert_eq!(text_at(&v, "/a/0/b"), Some("z"));
    }

    #[test]
    fn ai_hosts() {
        assert!(is_ai_host("api.openai.com"));
        assert!(is_ai_host("myco.openai.azure.com"));
        assert!(is_ai_host("bedrock-runtime.us-east-1.amazonaws.com"));
        assert!(!is_ai_host("s3.amazonaws.com"));
        assert!(!is_ai_host("example.com"));
    }

    #[test]
    fn openai_tool_call_arguments_are_a_channel() {
        let p = openai::OpenAi;
        let mut e = json!({"choices":[{"index":0,"delta":{"tool_calls":[
            {"index":0,"function":{"arguments":"{\"a\":"}},
            {"index":1,"function":{"arguments":"{\"b\":"}}]}}]});
        let parts = p.stream_parts(&e);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], ("tool:1".to_owned(), "{\"b\":".to_owned()));
        p.set_stream_part(&mut e, "tool:1", "X");
        assert_eq!(
            e.pointer("/choices/0/delta/tool_calls/1/function/arguments"),
            Some(&json!("X"))
        );
        assert_eq!(
            e.pointer("/choices/0/delta/tool_calls/0/function/arguments"),
            Some(&json!("{\"a\":"))
        );
    }

    #[test]
    fn every_streamed_string_is_a_channel() {
        let a = anthropic::Anthropic;
        let mut e = json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}});
        assert_eq!(
            a.stream_parts(&e),
            vec![("text".to_owned(), "hmm".to_owned())]
        );
        a.set_stream_part(&mut e, "text", "X");
        assert_eq!(e.pointer("/delta/thinking"), Some(&json!("X")));

        let c = cohere::Cohere;
        let mut e = json!({"type":"tool-call-delta","index":2,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\"k\":"}}}}});
        assert_eq!(
            c.stream_parts(&e),
            vec![("tool:2".to_owned(), "{\"k\":".to_owned())]
        );
        c.set_stream_part(&mut e, "tool:2", "X");
        assert_eq!(
            e.pointer("/delta/message/tool_calls/function/arguments"),
            Some(&json!("X"))
        );
        let e = json!({"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will"}}});
        assert_eq!(
            c.stream_parts(&e),
            vec![("plan".to_owned(), "I will".to_owned())]
        );
        assert!(c.ends_text(None, Some(&json!({"type":"tool-call-end","index":2}))));

        let g = gemini::Gemini;
        let mut e = json!({"candidates":[{"content":{"parts":[
            {"text":"thinking...","thought":true},
            {"functionCall":{"name":"f","args":{}}},
            {"text":"answer"},
            {"text":"more"}]}}]});
        let parts = g.stream_parts(&e);
        let channels: Vec<&str> = parts.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(channels, ["thought", "text", "text:3"]);
        g.set_stream_part(&mut e, "text", "A");
        g.set_stream_part(&mut e, "text:3", "B");
        g.set_stream_part(&mut e, "thought", "T");
        assert_eq!(
            e.pointer("/candidates/0/content/parts/0/text"),
            Some(&json!("T"))
        );
        assert_eq!(
            e.pointer("/candidates/0/content/parts/2/text"),
            Some(&json!("A"))
        );
        assert_eq!(
            e.pointer("/candidates/0/content/parts/3/text"),
            Some(&json!("B"))
        );
    }

    #[test]
    fn each_text_field_of_each_index_is_named_as_its_own_channel() {
        let cases: Vec<(Box<dyn Provider>, Value, &[&str])> = vec![
            (
                Box::new(openai::OpenAi),
                json!({"choices":[
                    {"index":0,"delta":{"content":"a","refusal":"b","function_call":{"arguments":"c"}}},
                    {"index":2,"delta":{"content":"d","tool_calls":[{"index":1,"function":{"arguments":"e"}}]}}]}),
                &[
                    "text",
                    "refusal",
                    "function",
                    "choice:2/text",
                    "choice:2/tool:1",
                ],
            ),
            (
                Box::new(openai::OpenAi),
                json!({"choices":[{"index":1,"text":"a"}]}),
                &["choice:1/text"],
            ),
            (
                Box::new(openai::OpenAi),
                json!({"type":"response.function_call_arguments.delta","item_id":"f","output_index":3,"delta":"{"}),
                &["item:f:0/response.function_call_arguments.delta"],
            ),
            (
                Box::new(openai::OpenAi),
                json!({"type":"response.output_text.done","item_id":"m","text":"whole"}),
                &[],
            ),
            (
                Box::new(anthropic::Anthropic),
                json!({"type":"content_block_start","index":2,"content_block":{"type":"text","text":"seed"}}),
                &["block:2"],
            ),
            (
                Box::new(anthropic::Anthropic),
                json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}),
                &["tool:1"],
            ),
            (
                Box::new(gemini::Gemini),
                json!({"candidates":[{"content":{"parts":[{"text":"a"}]}},{"index":1,"content":{"parts":[{"text":"b"},{"text":"c"}]}}]}),
                &["text", "candidate:1/text", "candidate:1/text:1"],
            ),
            (
                Box::new(cohere::Cohere),
                json!({"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"function":{"name":"f","arguments":"{"}}}}}),
                &["tool:1"],
            ),
        ];
        for (p, mut event, want) in cases {
            let parts = p.stream_parts(&event);
            let channels: Vec<&str> = parts.iter().map(|(c, _)| c.as_str()).collect();
            assert_eq!(channels, want, "{}: {event}", p.id());
            for (c, _) in &parts {
                p.set_stream_part(&mut event, c, "X");
            }
            assert!(
                p.stream_parts(&event).iter().all(|(_, t)| t == "X"),
                "{}: {event}",
                p.id()
            );
        }
    }

    #[test]
    fn one_finished_choice_ends_only_its_own_channels() {
        let o = openai::OpenAi;
        let e = json!({"choices":[{"index":1,"delta":{},"finish_reason":"stop"}]});
        assert!(o.ends_text(None, Some(&e)));
        assert!(o.ends_channel(&e, "choice:1/text"));
        assert!(!o.ends_channel(&e, "text") && !o.ends_channel(&e, "choice:2/tool:0"));
        let g = gemini::Gemini;
        assert!(!g.ends_text(None, Some(&json!({"usageMetadata":{"promptTokenCount":1}}))));
        let a = anthropic::Anthropic;
        let stop = json!({"type":"content_block_stop","index":1});
        assert!(a.ends_channel(&stop, "block:1") && !a.ends_channel(&stop, "text"));
    }

    #[test]
    fn answers_cut_at_the_maximum_length_are_recognised() {
        for v in [
            json!({"choices":[{"index":0,"finish_reason":"length"}]}),
            json!({"type":"message","stop_reason":"max_tokens"}),
            json!({"type":"message_delta","delta":{"stop_reason":"max_tokens"}}),
            json!({"candidates":[{"finishReason":"MAX_TOKENS"}]}),
            json!({"finish_reason":"MAX_TOKENS"}),
        ] {
            assert!(hit_max_length(&v), "{v}");
        }
        assert!(!hit_max_length(
            &json!({"choices":[{"finish_reason":"stop"}]})
        ));
    }

    #[test]
    fn errors_carry_the_code() {
        for p in providers() {
            let body = p
                .error(403, "rampart_blocked", "a private key was found")
                .to_string();
            assert!(body.contains("rampart_blocked"), "{}: {body}", p.id());
            assert!(body.contains("a private key was found"), "{}", p.id());
        }
    }
}
