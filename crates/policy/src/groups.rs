//! Detector groups: names a rule can use instead of listing classes or detectors.

use rampart_core::DataClass;

/// One group: the classes and detector globs it stands for.
#[derive(Debug)]
pub struct Group {
    /// The name rules use.
    pub name: &'static str,
    /// What it is for (docs/POLICY.md).
    pub doc: &'static str,
    /// Findings of these classes are in the group.
    pub classes: &'static [DataClass],
    /// Findings of detectors matching these globs are in the group.
    pub detectors: &'static [&'static str],
}

/// Every personal data class: [`DataClass::ALL`] without the secrets and the LLM threats (a new
/// class fails to compile here until the length is updated).
const PII: [DataClass; 12] = {
    let mut out = [DataClass::EmailAddress; 12];
    let (mut i, mut j) = (0, 0);
    while i < DataClass::ALL.len() {
        if !matches!(
            DataClass::ALL[i],
            DataClass::Secret
                | DataClass::PromptInjection
                | DataClass::SystemPromptLeak
                | DataClass::HiddenText
                | DataClass::UnsafeOutput
        ) {
            out[j] = DataClass::ALL[i];
            j += 1;
        }
        i += 1;
    }
    out
};

/// Every group, in the order docs/POLICY.md lists them.
pub const GROUPS: &[Group] = &[
    Group {
        name: "pii",
        doc: "every personal data class",
        classes: &PII,
        detectors: &[],
    },
    Group {
        name: "secrets",
        doc: "every secret: API keys, tokens, passwords, private keys",
        classes: &[DataClass::Secret],
        detectors: &[],
    },
    Group {
        name: "llm_threats",
        doc: "prompt injection and jailbreaks, system-prompt leaks, hidden text, unsafe output",
        classes: &[
            DataClass::PromptInjection,
            DataClass::SystemPromptLeak,
            DataClass::HiddenText,
            DataClass::UnsafeOutput,
        ],
        detectors: &[],
    },
    Group {
        name: "private_keys",
        doc: "PEM, OpenSSH and PuTTY private keys",
        classes: &[],
        detectors: &["*private_key*", "openssh_*", "putty_*"],
    },
    Group {
        name: "cloud_credentials",
        doc: "AWS, Google Cloud and Azure credentials",
        classes: &[],
        detectors: &["aws_*", "gcp_*", "azure_*"],
    },
    Group {
        name: "financial",
        doc: "card numbers, IBANs, US bank routing numbers",
        classes: &[
            DataClass::CreditCard,
            DataClass::Iban,
            DataClass::UsBankRouting,
        ],
        detectors: &[],
    },
    Group {
        name: "government_ids",
        doc: "SSN, SIN, NINO, passport and driver licence numbers",
        classes: &[
            DataClass::UsSsn,
            DataClass::CaSin,
            DataClass::UkNino,
            DataClass::Passport,
            DataClass::DriverLicense,
        ],
        detectors: &[],
    },
    Group {
        name: "contact",
        doc: "e-mail addresses and phone numbers",
        classes: &[DataClass::EmailAddress, DataClass::PhoneNumber],
        detectors: &[],
    },
];

/// The group called `name`.
pub fn group(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}
