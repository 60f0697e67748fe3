//! Policy files from untrusted hands: compiling arbitrary text never panics; a set that
//! compiles decides any exchange without panicking. The input is a valid policy document
//! with fuzzed bytes spliced in, so the fuzzer spends its time past the YAML parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::{DataClass, Direction, Finding};
use rampart_policy::{Catalog, Exchange, PolicySet, Source};

const SEED: &str = "apiVersion: rampart.dev/v1
kind: RuntimePolicy
metadata: {name: p}
spec:
  selector: {paths: ['/v1/**'], models: ['gpt-*'], callers: {cidrs: [10.0.0.0/8]}}
  rules:
    - {groups: [pii], action: redact, minScore: 0.5}
  conditions:
    - {name: c, when: 'total > 1', action: block}
";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // the raw input, and the input spliced into a valid document
    let cut = data.first().map_or(0, |&b| b as usize % SEED.len());
    let cut = (0..=cut).rev().find(|&i| SEED.is_char_boundary(i)).unwrap_or(0);
    for yaml in [text.to_string(), format!("{}{}{}", &SEED[..cut], text, &SEED[cut..])] {
        let sources = [Source {
            name: "fuzz.yaml".into(),
            text: yaml,
        }];
        let Ok(set) = PolicySet::compile(&sources, &Catalog::default()) else {
            continue;
        };
        let set = set.shared();
        let ex = Exchange {
            direction: Some(Direction::Request),
            path: "/v1/chat/completions".into(),
            method: "POST".into(),
            model: Some("gpt-4o".into()),
            ..Exchange::default()
        };
        let finding = Finding {
            class: DataClass::UsSsn,
            detector: "us_ssn",
            span: rampart_core::Span::new(0, 1),
            score: 0.9,
            severity: rampart_core::Severity::High,
            owasp: &[],
            hash: rampart_core::ValueHash([0; 16]),
            layers: Vec::new(),
        };
        let sel = set.select(&ex);
        let _ = sel.decide(&ex, &[finding.clone(), finding]);
        let _ = sel.egress("api.openai.com");
    }
});
