//! Responses inspected as they flow: server-sent events rewritten event by event
//! ([`crate::sse::SseRewriter`]) and chunked text through the streaming scanner
//! ([`TextRewrite`]), behind one interface the front end pumps bytes through.

use bytes::Bytes;
use rampart_core::Finding;
use rampart_detect::{HashKey, StreamScanner};
use rampart_policy::Selection;

use crate::request::redactor;
use crate::sse::{SseRewriter, StreamRules};

/// A response inspected as it flows: bytes in, bytes to send on out.
pub trait Rewrite: Send {
    /// Takes the next chunk from upstream; returns what may be sent now.
    fn push(&mut self, chunk: &[u8]) -> Bytes;
    /// The stream ended: returns the rest.
    fn finish(&mut self) -> Bytes;
    /// Everything found.
    fn findings(&self) -> Vec<Finding>;
    /// Tokens the provider reported, if it did.
    fn usage(&self) -> Option<rampart_llm::Usage>;
    /// Whether a block rule ended the stream (nothing more is read or sent).
    fn blocked(&self) -> bool {
        false
    }
    /// Characters of text released so far (generated text, for token counting).
    fn text_chars(&self) -> usize {
        0
    }
    /// Whether the answer was cut at the maximum length.
    fn truncated(&self) -> bool {
        false
    }
    /// Whether a blocked stream ends in a shape the caller understands (an error event);
    /// when not, the response is cut off.
    fn ends_in_shape(&self) -> bool {
        false
    }
}

/// Stream rules from a selection: its redactions, its blocks.
pub fn stream_rules(sel: &Selection, key: &HashKey) -> StreamRules {
    let (for_redactor, for_blocks) = (sel.clone(), sel.clone());
    let key = key.clone();
    StreamRules::new(
        move || redactor(&for_redactor, &key),
        move |f| for_blocks.blocks(f),
    )
}

impl Rewrite for SseRewriter {
    fn push(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::new();
        SseRewriter::push(self, chunk, &mut out);
        Bytes::from(out)
    }

    fn finish(&mut self) -> Bytes {
        let mut out = Vec::new();
        SseRewriter::finish(self, &mut out);
        Bytes::from(out)
    }

    fn findings(&self) -> Vec<Finding> {
        SseRewriter::findings(self)
    }

    fn usage(&self) -> Option<rampart_llm::Usage> {
        SseRewriter::usage(self)
    }

    fn blocked(&self) -> bool {
        SseRewriter::blocked(self)
    }

    fn ends_in_shape(&self) -> bool {
        true
    }

    fn text_chars(&self) -> usize {
        SseRewriter::text_chars(self)
    }

    fn truncated(&self) -> bool {
        SseRewriter::truncated(self)
    }
}

/// Raw text through the streaming scanner; in monitor mode the bytes pass as they came and
/// findings are only recorded. A block rule ends the response: text has no error shape, so
/// the response is cut off (the caller sees an incomplete body) and the held-back text is not
/// sent.
pub struct TextRewrite {
    scanner: StreamScanner<'static>,
    rules: StreamRules,
    blocked: bool,
}

impl TextRewrite {
    /// A text rewriter over `scanner` with `rules`.
    pub fn new(scanner: &'static rampart_detect::Scanner, rules: StreamRules) -> TextRewrite {
        TextRewrite {
            scanner: StreamScanner::new(scanner, rules.redactor()),
            rules,
            blocked: false,
        }
    }

    fn hits_block(&mut self) -> bool {
        self.blocked = self.blocked || self.scanner.findings().iter().any(|f| self.rules.blocks(f));
        self.blocked
    }
}

impl Rewrite for TextRewrite {
    fn push(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::new();
        self.scanner.feed(chunk, &mut out);
        if self.hits_block() {
            Bytes::new()
        } else {
            Bytes::from(out)
        }
    }

    fn finish(&mut self) -> Bytes {
        if self.blocked {
            return Bytes::new();
        }
        let mut out = Vec::new();
        self.scanner.finish(&mut out);
        if self.hits_block() {
            Bytes::new()
        } else {
            Bytes::from(out)
        }
    }

    fn blocked(&self) -> bool {
        self.blocked
    }

    fn findings(&self) -> Vec<Finding> {
        self.scanner.findings().to_vec()
    }

    fn usage(&self) -> Option<rampart_llm::Usage> {
        None
    }
}
