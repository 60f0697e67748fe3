//! Secret detectors: AI providers.

use crate::detector::Detector;
use crate::validate::not_placeholder;

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "anthropic_api_key",
        "Anthropic API key",
        r"\b(?P<v>sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,100}AA)(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Anthropic API and admin keys: `sk-ant-api03-` or `sk-ant-admin01-`, 93 url-safe base64 characters ending in `AA`.")
    .validate(not_placeholder)
    .examples(
        &["ANTHROPIC_API_KEY=sk-ant-api03-Xq3vN8rT2kLmP9sW4yZ7bC1dF6gH0jK5nR8tV2wY4zA3cE7fG9hJ1kL3mN5pQ7rS9tU1vW3xY5zA7bC9dE1fG3hJ5kL7mN9pAA"],
        &["sk-ant-api03-short", "sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxAA"],
    ),
];
