//! SSE framing and rewriting on arbitrary bytes and chunkings: the rewriter never panics,
//! always writes `\n`-framed lines of known fields, gives the same output however the input
//! is cut, and never passes the test secret on.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rampart_detect::{HashKey, Redactor, Scanner, Strategy};
use rampart_gateway::sse::{SseRewriter, StreamRules};
use rampart_llm::Provider;

/// A value the built-in scanner finds wherever it stands as a whole token.
const SECRET: &[u8] = b"AKIA4HBW6E62M7NGFVGF";

/// What is planted: the secret between spaces. Glued to a letter or digit
/// (`AKIA4HBW6E62M7NGFVGFe`) it is a longer token, which no key detector matches and the
/// scanner rightly passes on (a finding of this target's first run, docs/FUZZING.md).
const PLANTED: &[u8] = b" AKIA4HBW6E62M7NGFVGF ";

fn rewrite(provider: usize, data: &[u8], cuts: &[usize]) -> (Vec<u8>, bool) {
    let provider: Arc<dyn Provider> = Arc::from(rampart_llm::providers().swap_remove(provider));
    let rules = StreamRules::new(
        || Redactor::new(Strategy::Mask, HashKey::default()),
        |_| false,
    );
    let mut r = SseRewriter::new(provider, Scanner::builtin(), rules).with_max_event(4096);
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts {
        r.push(&data[prev..c], &mut out);
        prev = c;
    }
    r.push(&data[prev..], &mut out);
    r.finish(&mut out);
    (out, r.blocked())
}

fuzz_target!(|input: (u8, Vec<u8>, Vec<u16>)| {
    let (provider, mut data, cuts) = input;
    let provider = usize::from(provider) % rampart_llm::providers().len();
    // plant the secret, so every run checks it is not passed on
    let at = cuts.first().map_or(0, |&c| usize::from(c) % (data.len() + 1));
    data.splice(at..at, PLANTED.iter().copied());
    let mut cuts: Vec<usize> = cuts
        .into_iter()
        .map(|c| usize::from(c) % (data.len() + 1))
        .collect();
    cuts.sort_unstable();
    let (whole, blocked) = rewrite(provider, &data, &[]);
    let (cut, cut_blocked) = rewrite(provider, &data, &cuts);
    assert_eq!(blocked, cut_blocked);
    assert_eq!(whole, cut, "the output depends on how the input is cut");
    assert!(!whole.contains(&b'\r'));
    assert!(whole.is_empty() || whole.ends_with(b"\n"));
    for line in whole.split(|&b| b == b'\n') {
        assert!(
            line.is_empty()
                || [&b"data: "[..], b"event: ", b"id: ", b"retry: "]
                    .iter()
                    .any(|f| line.starts_with(f)),
            "unexpected line {line:?}"
        );
    }
    assert!(
        !whole.windows(SECRET.len()).any(|w| w == SECRET),
        "the secret was passed on"
    );
});
