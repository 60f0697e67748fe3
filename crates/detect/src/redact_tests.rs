use super::*;

fn check(strategy: Strategy, class: DataClass, value: &str, expected: &str) {
    let mut r = Redactor::new(strategy, HashKey::derive(b"test"));
    let mut out = Vec::new();
    r.replace(class, "x", value.as_bytes(), &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        expected,
        "{strategy:?} {class} {value}"
    );
}

fn fake(class: DataClass, value: &str) -> String {
    let mut r = Redactor::new(Strategy::Fake, HashKey::derive(b"test"));
    let mut out = Vec::new();
    r.replace(class, "x", value.as_bytes(), &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn mask_and_partial() {
    check(
        Strategy::Mask,
        DataClass::UsSsn,
        "123-45-6789",
        "[REDACTED:US_SSN]",
    );
    check(
        Strategy::Partial,
        DataClass::UsSsn,
        "536-90-4399",
        "***-**-4399",
    );
    check(
        Strategy::Partial,
        DataClass::CreditCard,
        "4111 1111 1111 1111",
        "**** **** **** 1111",
    );
    check(
        Strategy::Partial,
        DataClass::EmailAddress,
        "stephanie95@example.com",
        "s***@example.com",
    );
    check(Strategy::Partial, DataClass::Secret, "ab\"c", "****");
}

#[test]
fn hash_tokens_are_stable_and_keyed() {
    let a = {
        let mut r = Redactor::new(Strategy::Hash, HashKey::derive(b"k1"));
        let mut out = Vec::new();
        r.replace(DataClass::UsSsn, "x", b"536-90-4399", &mut out);
        out
    };
    let b = {
        let mut r = Redactor::new(Strategy::Hash, HashKey::derive(b"k2"));
        let mut out = Vec::new();
        r.replace(DataClass::UsSsn, "x", b"536-90-4399", &mut out);
        out
    };
    assert!(a.starts_with(b"[US_SSN:") && a.len() == "[US_SSN:]".len() + 12);
    assert_ne!(a, b);
}

#[test]
fn fakes_keep_shape_and_cannot_be_real() {
    let ssn = fake(DataClass::UsSsn, "536-90-4399");
    assert_eq!(ssn.len(), 11);
    assert!(ssn.starts_with('9') && !crate::validate::us_ssn(ssn.as_bytes()));
    let card = fake(DataClass::CreditCard, "4111 1111 1111 1111");
    assert!(
        card.starts_with('4')
            && crate::validate::luhn(card.as_bytes())
            && card.as_bytes()[4] == b' '
    );
    assert_ne!(card, "4111 1111 1111 1111");
    let iban = fake(DataClass::Iban, "GB82WEST12345698765432");
    assert!(
        iban.starts_with("GB") && crate::validate::iban(iban.as_bytes()),
        "{iban}"
    );
    assert!(fake(DataClass::EmailAddress, "a@b.com").ends_with("@example.invalid"));
    assert!(fake(DataClass::IpAddress, "8.8.8.8").starts_with("203.0.113."));
    let key = fake(
        DataClass::Secret,
        "ghp_R2d9xKq7LmPz4WvT8bYc3NfJ6hGs1aEo5uQi",
    );
    assert!(key.starts_with("ghp_") && key != "ghp_R2d9xKq7LmPz4WvT8bYc3NfJ6hGs1aEo5uQi");
    assert_eq!(
        fake(DataClass::UsSsn, "536-90-4399"),
        ssn,
        "deterministic under one key"
    );
}

#[test]
fn tokens_restore_originals() {
    let mut r = Redactor::new(Strategy::Tokenize, HashKey::default());
    let mut out = Vec::new();
    r.replace(DataClass::UsSsn, "x", b"536-90-4399", &mut out);
    out.extend_from_slice(b" and ");
    r.replace(DataClass::EmailAddress, "x", b"a@b.com", &mut out);
    out.extend_from_slice(b" again ");
    r.replace(DataClass::UsSsn, "x", b"536-90-4399", &mut out);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "<US_SSN_1> and <EMAIL_ADDRESS_1> again <US_SSN_1>"
    );
    let mut restored = Vec::new();
    r.vault().restore(
        b"Reply: <US_SSN_1> / <EMAIL_ADDRESS_1> / <US_SSN_2>",
        &mut restored,
    );
    assert_eq!(
        String::from_utf8(restored).unwrap(),
        "Reply: 536-90-4399 / a@b.com / <US_SSN_2>"
    );
}
