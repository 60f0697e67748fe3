//! Any HTTP/JSON API: no named text fields, so every streamed event is inspected whole.

use serde_json::{Value, json};

use crate::{Operation, Provider, Usage};

/// A JSON API behind an API route: its event streams are read event by event, each event's
/// data scanned as a whole (JSON escapes decoded), with RFC 9457 problems as errors. It
/// matches no path: API routes select it, it is never chosen by path.
#[derive(Debug)]
pub struct GenericJson;

impl Provider for GenericJson {
    fn id(&self) -> &'static str {
        "api"
    }

    fn default_base_url(&self) -> &'static str {
        ""
    }

    fn matches(&self, _path: &str) -> bool {
        false
    }

    fn operation(&self, _path: &str) -> Operation {
        Operation::Other
    }

    fn model(&self, _path: &str, _body: &Value) -> Option<String> {
        None
    }

    fn streaming(&self, _path: &str, _query: &str, _body: &Value) -> bool {
        false
    }

    fn stream_text<'a>(&self, _event: &'a Value) -> Option<&'a str> {
        None
    }

    fn set_stream_text(&self, _event: &mut Value, _text: &str) {}

    fn ends_text(&self, _event_name: Option<&str>, _event: Option<&Value>) -> bool {
        true
    }

    fn usage(&self, _body: &Value) -> Option<Usage> {
        None
    }

    fn error(&self, status: u16, code: &str, message: &str) -> Value {
        json!({"type": "about:blank", "title": code, "status": status, "detail": message, "code": code})
    }

    fn stream_error(&self, code: &str, message: &str) -> (Option<&'static str>, Value) {
        (
            Some("error"),
            json!({"error": {"code": code, "message": message}}),
        )
    }
}
