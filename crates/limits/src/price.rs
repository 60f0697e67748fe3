//! Model prices: the shipped table (`prices.yaml`, USD per million tokens), overridable.

use serde::Deserialize;

/// The shipped price table.
pub const SHIPPED: &str = include_str!("../prices.yaml");

/// One model's prices.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Model name; a trailing `*` matches any rest.
    pub model: String,
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    models: Vec<Price>,
}

/// A price table: overrides first, then the shipped entries.
#[derive(Clone, Debug)]
pub struct Prices(Vec<Price>);

impl Prices {
    /// The shipped table.
    pub fn shipped() -> Prices {
        Prices::parse(SHIPPED).expect("the shipped price table parses")
    }

    /// A table from YAML text (`models: [{model, input, output}]`).
    pub fn parse(text: &str) -> Result<Prices, String> {
        let file: File = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        for p in &file.models {
            if !(p.input >= 0.0 && p.output >= 0.0) {
                return Err(format!("{}: prices must be zero or more", p.model));
            }
        }
        Ok(Prices(file.models))
    }

    /// `overrides` take precedence over this table.
    pub fn with_overrides(self, overrides: Prices) -> Prices {
        let mut all = overrides.0;
        all.extend(self.0);
        Prices(all)
    }

    /// The price of `model`, if listed.
    pub fn of(&self, model: &str) -> Option<&Price> {
        self.0.iter().find(|p| match p.model.strip_suffix('*') {
            Some(prefix) => model.starts_with(prefix),
            None => model == p.model,
        })
    }

    /// The cost in micro-dollars of `input` and `output` tokens of `model`; `None` when the
    /// model has no price.
    pub fn cost_micros(&self, model: &str, input: u64, output: u64) -> Option<u64> {
        let p = self.of(model)?;
        // USD per million tokens == micro-dollars per token
        Some((input as f64 * p.input + output as f64 * p.output).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_entry_is_listed_first() {
        let p = Prices::shipped();
        assert_eq!(p.of("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(p.of("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(p.cost_micros("gpt-4o-mini", 1_000_000, 0), Some(150_000));
        assert_eq!(p.cost_micros("gpt-4o", 1000, 500), Some(2_500 + 5_000));
        assert_eq!(p.cost_micros("unknown-model", 10, 10), None);
        let custom = p.with_overrides(
            Prices::parse("models: [{model: gpt-4o, input: 1, output: 2}]").unwrap(),
        );
        assert_eq!(custom.cost_micros("gpt-4o", 1000, 1000), Some(3_000));
        assert!(Prices::parse("models: [{model: x, input: -1, output: 0}]").is_err());
    }
}
