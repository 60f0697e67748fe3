//! Model prices: the shipped table (`prices.yaml`, USD per million tokens), overridable.
//!
//! A spend limit is never bypassed by a model the table does not list: [`Prices::cost`] prices
//! an unknown (or unnamed) model conservatively, at the highest input and the highest output
//! price listed for its provider (or in the whole table when the provider has no entries), and
//! says so in [`Cost::priced`]. A table may instead say `unknown: refuse`; then
//! [`Prices::admit_cost`] refuses an exchange that a spend limit applies to when its model has
//! no listed price.

use std::sync::Arc;

use rampart_policy::{Limit, Quantity};
use serde::{Deserialize, Serialize};

/// The shipped price table.
pub const SHIPPED: &str = include_str!("../prices.yaml");

/// One model's prices.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Model name; a trailing `*` matches any rest.
    pub model: String,
    /// The provider id (`openai`, `anthropic`, `gemini`, `cohere`); entries without one count
    /// only towards the whole table's conservative price.
    #[serde(default)]
    pub provider: Option<String>,
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
}

/// What to do with a model the table does not list (the table's `unknown:` option).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Unknown {
    /// Price it at the highest listed prices of its provider (or of the table).
    #[default]
    Conservative,
    /// Refuse exchanges a spend limit applies to ([`Prices::admit_cost`]); others are priced
    /// conservatively.
    Refuse,
}

/// How a cost was priced; the gateway records it in the audit event (`pricing`).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Priced {
    /// The model matched an entry of the table (exactly or by a `*` prefix).
    Listed,
    /// The model is not listed, or the request named none: the highest listed prices were used.
    Conservative,
}

impl Priced {
    /// `listed` or `conservative`, as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Priced::Listed => "listed",
            Priced::Conservative => "conservative",
        }
    }
}

/// A cost and how it was priced.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Cost {
    /// Micro-dollars.
    pub micros: u64,
    /// How the price was found.
    pub priced: Priced,
}

/// The table says `unknown: refuse` and a spend limit applies to a model it does not price.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} of provider `{provider}` has no price and a spend limit applies; add it to the price table (`rate_limits.prices`) or set `unknown: conservative` there",
    match model { Some(m) => format!("model `{m}`"), None => "a request without a model".to_owned() }
)]
pub struct Unpriced {
    /// The provider id.
    pub provider: String,
    /// The model, when the request named one.
    pub model: Option<String>,
}

/// A price table that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceTableError {
    /// The YAML does not parse or has the wrong shape.
    #[error(
        "{0}; the file must be `models: [{{model, provider, input, output}}]` and an optional `unknown: conservative|refuse`"
    )]
    Parse(String),
    /// A negative or non-finite price.
    #[error("{0}: prices must be finite and zero or more")]
    Negative(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    models: Vec<Price>,
    #[serde(default)]
    unknown: Option<Unknown>,
}

/// A price table: overrides first, then the shipped entries.
#[derive(Clone, Debug)]
pub struct Prices {
    entries: Vec<Price>,
    unknown: Option<Unknown>,
}

impl Prices {
    /// The shipped table.
    pub fn shipped() -> Prices {
        Prices::parse(SHIPPED).expect("the shipped price table parses")
    }

    /// A table from YAML text (`models: [{model, provider, input, output}]`, optionally
    /// `unknown: conservative|refuse`).
    pub fn parse(text: &str) -> Result<Prices, PriceTableError> {
        let file: File =
            serde_saphyr::from_str(text).map_err(|e| PriceTableError::Parse(e.to_string()))?;
        for p in &file.models {
            let valid = |v: f64| v.is_finite() && v >= 0.0;
            if !(valid(p.input) && valid(p.output)) {
                return Err(PriceTableError::Negative(p.model.clone()));
            }
        }
        Ok(Prices {
            entries: file.models,
            unknown: file.unknown,
        })
    }

    /// `overrides` take precedence over this table (entries and the `unknown` option).
    pub fn with_overrides(self, overrides: Prices) -> Prices {
        let mut entries = overrides.entries;
        entries.extend(self.entries);
        Prices {
            entries,
            unknown: overrides.unknown.or(self.unknown),
        }
    }

    /// What the table does with unknown models.
    pub fn unknown(&self) -> Unknown {
        self.unknown.unwrap_or_default()
    }

    /// The price of `model`, if listed.
    pub fn of(&self, model: &str) -> Option<&Price> {
        self.entries
            .iter()
            .find(|p| match p.model.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => model == p.model,
            })
    }

    /// The conservative price of a model of `provider` the table does not list: the highest
    /// input and the highest output price of the provider's entries, or of the whole table
    /// when the provider has none.
    pub fn conservative(&self, provider: &str) -> (f64, f64) {
        let max = |entries: &mut dyn Iterator<Item = &Price>| {
            entries.fold(None, |acc: Option<(f64, f64)>, p| {
                let (i, o) = acc.unwrap_or((0.0, 0.0));
                Some((i.max(p.input), o.max(p.output)))
            })
        };
        let mut own = self
            .entries
            .iter()
            .filter(|p| p.provider.as_deref() == Some(provider));
        max(&mut own)
            .or_else(|| max(&mut self.entries.iter()))
            .unwrap_or((0.0, 0.0))
    }

    /// The cost of `input` and `output` tokens of `model` (`None`: the request named no model)
    /// on `provider`. Never zero for want of a price: an unknown or missing model is priced
    /// [`Priced::Conservative`]ly. Use [`Prices::admit_cost`] at admission to honour
    /// `unknown: refuse`.
    pub fn cost(&self, provider: &str, model: Option<&str>, input: u64, output: u64) -> Cost {
        let (per_in, per_out, priced) = match model.and_then(|m| self.of(m)) {
            Some(p) => (p.input, p.output, Priced::Listed),
            None => {
                let (i, o) = self.conservative(provider);
                (i, o, Priced::Conservative)
            }
        };
        // USD per million tokens == micro-dollars per token
        Cost {
            micros: (input as f64 * per_in + output as f64 * per_out).round() as u64,
            priced,
        }
    }

    /// [`Prices::cost`] at admission: refused when the table says `unknown: refuse`, the model
    /// is not listed (or not named) and one of `limits` has a spend budget.
    pub fn admit_cost(
        &self,
        limits: &[Arc<Limit>],
        provider: &str,
        model: Option<&str>,
        input: u64,
        output: u64,
    ) -> Result<Cost, Unpriced> {
        let cost = self.cost(provider, model, input, output);
        if cost.priced == Priced::Conservative
            && self.unknown() == Unknown::Refuse
            && limits_spend(limits)
        {
            return Err(Unpriced {
                provider: provider.to_owned(),
                model: model.map(str::to_owned),
            });
        }
        Ok(cost)
    }

    /// The cost in micro-dollars of `input` and `output` tokens of `model` with no provider
    /// known: a listed price, else the whole table's conservative price (never `None`; the
    /// `Option` remains for callers written against the old signature). Prefer
    /// [`Prices::cost`], which knows the provider and says how the price was found.
    pub fn cost_micros(&self, model: &str, input: u64, output: u64) -> Option<u64> {
        Some(self.cost("", Some(model), input, output).micros)
    }
}

/// Whether any of `limits` has a spend budget.
pub fn limits_spend(limits: &[Arc<Limit>]) -> bool {
    limits
        .iter()
        .any(|l| l.budgets.iter().any(|b| b.what == Quantity::SpendMicros))
}

#[cfg(test)]
mod tests;
