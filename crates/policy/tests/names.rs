//! Names in policy test cases are checked like names in policies.

use rampart_policy::{Catalog, Source, testcase};

const DETECTORS: &[&str] = &[
    "us_ssn",
    "github_pat_classic",
    "github_pat_fine_grained",
    "private_key_pem",
];

fn check(yaml: &str) -> Vec<String> {
    let source = Source {
        name: "t_test.yaml".into(),
        text: yaml.into(),
    };
    match testcase::parse_checked(
        &source,
        &Catalog {
            detectors: DETECTORS,
        },
    ) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn known_names_pass() {
    let diags = check(
        "tests:
  - name: ok
    exchange: {direction: request, provider: openai, signals: [volume_spike]}
    findings: [{class: SECRET, detector: github_pat_classic}]
    expect: {decision: redact, would: block, redacted: [SECRET], egress: flag}
",
    );
    assert_eq!(diags, Vec::<String>::new());
}

#[test]
fn an_unknown_detector_in_a_case_is_an_error_with_its_place_and_a_hint() {
    let diags = check(
        "tests:
  - name: secrets are redacted
    exchange: {provider: openai}
    findings:
      - {class: SECRET, detector: github_pat}
      - {class: US_SSN, detector: us_ssm}
    expect: {decision: redact}
",
    );
    assert_eq!(
        diags,
        [
            "t_test.yaml:5:35: error: unknown detector `github_pat`\n  hint: did you mean `github_pat_classic` or `github_pat_fine_grained`? `rampart detectors` lists every id",
            "t_test.yaml:6:35: error: unknown detector `us_ssm`\n  hint: did you mean `us_ssn`? `rampart detectors` lists every id",
        ]
    );
}

#[test]
fn unknown_classes_providers_signals_and_expectations_are_errors() {
    let diags = check(
        "tests:
  - name: everything misspelled
    exchange: {provider: opnai, signals: [volume_spikes]}
    findings: [{class: us_ssn, detector: us_ssn}]
    expect: {decision: redacted, would: blok, redacted: [CREDIT_CARDS], egress: deny}
",
    );
    let joined = diags.join("\n");
    for want in [
        "t_test.yaml:2:5: error: unknown provider `opnai`\n  hint: did you mean `openai`? providers: openai, anthropic, gemini, cohere",
        "t_test.yaml:2:5: error: unknown signal `volume_spikes`\n  hint: did you mean `volume_spike`?",
        "t_test.yaml:2:5: error: unknown decision `redacted`\n  hint: did you mean `redact`?",
        "t_test.yaml:2:5: error: unknown decision `blok`\n  hint: did you mean `block`?",
        "t_test.yaml:2:5: error: unknown data class `CREDIT_CARDS`\n  hint: did you mean `CREDIT_CARD`?",
        "t_test.yaml:2:5: error: unknown egress verdict `deny`\n  hint: egress verdicts: allow, flag, block",
        "t_test.yaml:4:24: error: unknown data class `us_ssn`\n  hint: did you mean `US_SSN`?",
    ] {
        assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
    }
    assert_eq!(diags.len(), 7, "{joined}");
}

#[test]
fn the_shipped_test_cases_use_only_known_names() {
    // an empty catalog skips detector ids (`rampart policy test` checks them against the real
    // registry) but every other closed set is checked
    for entry in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/tests")).unwrap()
    {
        let path = entry.unwrap().path();
        let source = Source {
            name: path.display().to_string(),
            text: std::fs::read_to_string(&path).unwrap(),
        };
        if let Err(d) = testcase::parse_checked(&source, &Catalog::default()) {
            panic!("{d}");
        }
    }
}
