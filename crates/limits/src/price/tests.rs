use std::sync::Arc;

use rampart_policy::{Budget, KeyPart, Limit, Quantity, Window};

use super::*;

fn limit(what: Quantity) -> Arc<Limit> {
    Arc::new(Limit {
        name: "l".into(),
        key: vec![KeyPart::Caller],
        requests: None,
        concurrent: None,
        budgets: vec![Budget {
            what,
            window: Window::Day,
            max: 1_000_000,
        }],
        max_tokens_per_request: None,
    })
}

#[test]
fn the_most_specific_entry_is_listed_first() {
    let p = Prices::shipped();
    assert_eq!(p.of("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
    assert_eq!(p.of("gpt-4o-2024-08-06").unwrap().input, 2.50);
    assert_eq!(
        p.cost("openai", Some("gpt-4o-mini"), 1_000_000, 0),
        Cost {
            micros: 150_000,
            priced: Priced::Listed
        }
    );
    assert_eq!(
        p.cost("openai", Some("gpt-4o"), 1000, 500).micros,
        2_500 + 5_000
    );
    let custom =
        p.with_overrides(Prices::parse("models: [{model: gpt-4o, input: 1, output: 2}]").unwrap());
    assert_eq!(
        custom.cost("openai", Some("gpt-4o"), 1000, 1000),
        Cost {
            micros: 3_000,
            priced: Priced::Listed
        }
    );
}

#[test]
fn an_unknown_model_costs_the_providers_highest_prices() {
    let p = Prices::shipped();
    // OpenAI's highest input is o1 (15), highest output o1 (60)
    let c = p.cost("openai", Some("gpt-9-ultra"), 1_000, 1_000);
    assert_eq!(c.priced, Priced::Conservative);
    assert_eq!(c.micros, 15_000 + 60_000);
    // Anthropic: opus, 15 and 75
    let c = p.cost("anthropic", Some("claude-next"), 1_000, 1_000);
    assert_eq!((c.micros, c.priced), (90_000, Priced::Conservative));
    // Not zero, and never cheaper than any listed model of the provider
    let cheapest_known = p.cost("openai", Some("gpt-4o-mini"), 1_000, 1_000).micros;
    assert!(c.micros > cheapest_known);
}

#[test]
fn input_and_output_maxima_may_come_from_different_models() {
    let p = Prices::parse(
        "models: [{model: a, provider: x, input: 5, output: 1}, {model: b, provider: x, input: 1, output: 7}]",
    )
    .unwrap();
    assert_eq!(
        p.cost("x", Some("c"), 1_000_000, 1_000_000).micros,
        12_000_000
    );
}

#[test]
fn a_provider_without_entries_uses_the_whole_tables_maxima() {
    let p = Prices::shipped();
    // the table's highest: claude opus output 75, o1/opus input 15
    let c = p.cost("mistral", Some("mistral-large"), 1_000, 1_000);
    assert_eq!((c.micros, c.priced), (90_000, Priced::Conservative));
    // the deprecated signature prices unknown models the same way (no provider known)
    assert_eq!(p.cost_micros("unknown-model", 1_000, 1_000), Some(90_000));
}

#[test]
fn a_request_without_a_model_is_priced_conservatively() {
    let p = Prices::shipped();
    let c = p.cost("gemini", None, 1_000_000, 0);
    assert_eq!(c.priced, Priced::Conservative);
    // Gemini's highest input: 2.5 pro and 1.5 pro at 1.25
    assert_eq!(c.micros, 1_250_000);
}

#[test]
fn refuse_mode_refuses_unpriced_models_only_under_a_spend_limit() {
    let p = Prices::shipped().with_overrides(Prices::parse("unknown: refuse\nmodels: []").unwrap());
    assert_eq!(p.unknown(), Unknown::Refuse);
    let spend = [limit(Quantity::SpendMicros)];
    let tokens = [limit(Quantity::TotalTokens)];
    let err = p
        .admit_cost(&spend, "openai", Some("gpt-9"), 10, 10)
        .unwrap_err();
    assert_eq!(err.model.as_deref(), Some("gpt-9"));
    let msg = err.to_string();
    assert!(msg.contains("model `gpt-9`"), "{msg}");
    assert!(msg.contains("rate_limits.prices"), "{msg}");
    let err = p.admit_cost(&spend, "openai", None, 10, 10).unwrap_err();
    assert!(err.to_string().contains("without a model"), "{err}");
    // listed models pass; no spend limit: priced conservatively, not refused
    assert_eq!(
        p.admit_cost(&spend, "openai", Some("gpt-4o"), 10, 10)
            .unwrap()
            .priced,
        Priced::Listed
    );
    assert_eq!(
        p.admit_cost(&tokens, "openai", Some("gpt-9"), 10, 10)
            .unwrap()
            .priced,
        Priced::Conservative
    );
    // the default is conservative: admitted, and priced
    let c = Prices::shipped()
        .admit_cost(&spend, "openai", Some("gpt-9"), 10, 10)
        .unwrap();
    assert_eq!(c.priced, Priced::Conservative);
    assert!(c.micros > 0);
}

#[test]
fn bad_tables_are_rejected_with_a_fix() {
    assert!(matches!(
        Prices::parse("models: [{model: x, input: -1, output: 0}]"),
        Err(PriceTableError::Negative(_))
    ));
    assert!(Prices::parse("models: [{model: x, input: .nan, output: 0}]").is_err());
    let e = Prices::parse("models: []\nunknown: free").unwrap_err();
    assert!(e.to_string().contains("conservative|refuse"), "{e}");
}

#[test]
fn pricing_is_recorded_in_lowercase() {
    assert_eq!(
        serde_json::to_string(&Priced::Conservative).unwrap(),
        "\"conservative\""
    );
    assert_eq!(Priced::Listed.as_str(), "listed");
}
