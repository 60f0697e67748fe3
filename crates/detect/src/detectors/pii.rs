//! Personal-data detectors: structured identifiers with validators, and context-gated ones
//! (dates of birth, passports, driver's licences, bare nine-digit numbers) that report only when
//! a context word is near.

use rampart_core::{DataClass, Severity};

use crate::detector::{Detector, Gate};
use crate::validate;

const PHONE_WORDS: &[&str] = &[
    "phone",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "call",
    "called",
    "calling",
    "dial",
    "fax",
    "contact",
    "sms",
    "whatsapp",
    "ph",
    "phone number",
    "number",
];
/// Words that make a group of digits a national phone number.
const NATIONAL_PHONE_WORDS: &[&str] = &[
    "phone",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "call",
    "called",
    "calling",
    "dial",
    "fax",
    "sms",
    "whatsapp",
    "ph",
    "desk",
    "office",
    "reach",
    "ring",
    "hotline",
    "landline",
];
/// Phone words strong enough to make a bare run of digits a phone number.
const PHONE_REQUIRED: &[&str] = &[
    "phone",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "call",
    "called",
    "calling",
    "dial",
    "fax",
    "contact",
    "sms",
    "whatsapp",
    "ph",
    "reach",
    "ring",
    "hotline",
    "landline",
];
const SSN_WORDS: &[&str] = &[
    "ssn",
    "social security",
    "social sec",
    "ssn#",
    "tin",
    "taxpayer",
];
const NUMBER_AGAINST: &[&str] = &[
    "order",
    "invoice",
    "isbn",
    "tracking",
    "version",
    "build",
    "ts",
    "timestamp",
    "ref",
    "epoch",
    "serial",
    "sku",
];

fn nanp_phone(v: &[u8]) -> bool {
    validate::nanp_phone(v)
}

fn uk_phone(v: &[u8]) -> bool {
    let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
    let first_after_zero = v
        .iter()
        .filter(|b| b.is_ascii_digit())
        .nth(1)
        .copied()
        .unwrap_or(b'0');
    (10..=11).contains(&digits) && matches!(first_after_zero, b'1'..=b'3' | b'5' | b'7'..=b'9')
}

fn national_phone(v: &[u8]) -> bool {
    let digits: Vec<u8> = v.iter().copied().filter(u8::is_ascii_digit).collect();
    // a calendar date is not a phone number, no national number starts 000, and the
    // 3-2-4 dashed shape is an SSN's (valid or not), not a phone's
    let ssn_shape = v.len() == 11 && v[3] == v[6] && matches!(v[3], b'-' | b'.');
    // five and six digits (the plans of small countries) only when they are not round
    let round = digits.len() < 7 && digits.iter().skip(1).all(|&d| d == b'0');
    // a decimal (`4.423394`, or `.` mixed with other separators: `18 301.862`), and a zero-padded field (`00014017`) are not phone groups
    let seps: Vec<u8> = v.iter().copied().filter(|b| !b.is_ascii_digit()).collect();
    let decimal = (seps.len() == 1 && seps[0] == b'.')
        || (seps.contains(&b'.') && seps.iter().any(|&b| b != b'.'));
    // a compact date (`20040508`)
    let compact_date = v.len() == 8
        && digits.len() == 8
        && matches!(&digits[..2], b"19" | b"20")
        && matches!((digits[4] - b'0') * 10 + digits[5] - b'0', 1..=12)
        && matches!((digits[6] - b'0') * 10 + digits[7] - b'0', 1..=31);
    let padded = v
        .split(|b| !b.is_ascii_digit())
        .any(|g| g.len() >= 5 && g.starts_with(b"000"));
    (5..=12).contains(&digits.len())
        && !round
        && !decimal
        && !compact_date
        && !padded
        && !digits.starts_with(b"000")
        && !ssn_shape
        && !digits.iter().all(|&d| d == digits[0])
        && !validate::birth_date(v)
}

/// Words right before a short number (five or six digits) that make it a phone number.
const SHORT_PHONE_WORDS: &[&[u8]] = &[
    b"phone",
    b"tel",
    b"telephone",
    b"mobile",
    b"cell",
    b"call me",
    b"call us",
    b"call",
    b"fax",
    b"sms",
    b"whatsapp",
    b"reach me",
    b"reach us",
    b"ring",
    b"hotline",
    b"landline",
    b"number is",
];

/// False when the value is a JSON field's whose key names something other than a phone
/// (`"commentID": 4570862`); true for any other value and for keys such as `"phone"`,
/// `"mobileNumber"` or `"tel"`.
fn phone_key(before: &[u8]) -> bool {
    let mut end = before.len();
    while end > 0 && matches!(before[end - 1], b' ' | b'"') {
        end -= 1;
    }
    if end < 2 || before[end - 1] != b':' || before[end - 2] != b'"' {
        return true;
    }
    let key_end = end - 2;
    let key_start = before[..key_end]
        .iter()
        .rposition(|&b| b == b'"')
        .map_or(0, |i| i + 1);
    let key: Vec<u8> = before[key_start..key_end]
        .iter()
        .map(u8::to_ascii_lowercase)
        .collect();
    [
        &b"phone"[..],
        b"tel",
        b"mobile",
        b"cell",
        b"fax",
        b"contact",
        b"number",
        b"msisdn",
        b"whatsapp",
        b"sms",
        b"landline",
        b"hotline",
    ]
    .iter()
    .any(|w| memchr::memmem::find(&key, w).is_some())
}

/// A national number is not part of something else (an id such as `ORD-96975070`, a path, a
/// time, a decimal, a price or a percentage); of five or six digits it counts only right after
/// a phone word, in the 24 bytes before it and with nothing but connectors between (`call me
/// at 31234`, `Tel: 22 12 34`, not `the call took 31234 ms`), and so do digits run together
/// without a separator; longer grouped numbers need only the detector's context words.
fn short_national(before: &[u8], value: &[u8], after: &[u8]) -> bool {
    // a number that continues an identifier, a path, a time or a price is not a phone's:
    // `ORD-96975070`, `/v1/20231015`, `20:09:13.386795`, `$ 12 500`, `12.5%`
    let p = before.last().copied().unwrap_or(b' ');
    let pp = before.len().checked_sub(2).map_or(b' ', |i| before[i]);
    let embedded = (matches!(p, b'-' | b'_' | b'/' | b'.' | b'\\') && pp.is_ascii_alphanumeric())
        || (matches!(p, b':' | b'=' | b',') && pp.is_ascii_digit())
        || matches!(p, b'$' | b'#' | b'@' | b'&')
        || match after {
            [b'.' | b':' | b',', d, ..] => d.is_ascii_digit(),
            [b'%' | b'_' | b'/', ..] => true,
            _ => false,
        };
    // a US ZIP+4 after a state code (`PA  15213-3890`)
    let zip4 = value.len() == 10 && value[5] == b'-' && {
        let t = before.trim_ascii_end();
        t.len() >= 2
            && t[t.len() - 2..].iter().all(u8::is_ascii_uppercase)
            && t.len() < before.len()
    };
    if embedded || zip4 || !phone_key(before) {
        return false;
    }
    // grouped numbers of 7+ digits need only the context words; five and six digits, and
    // digits run together (`536899588` in code, `4570862` in a log), need the phone word
    // right before them
    let bare = value.iter().all(u8::is_ascii_digit);
    if !bare && value.iter().filter(|b| b.is_ascii_digit()).count() >= 7 {
        return true;
    }
    let near = &before[before.len().saturating_sub(24)..];
    let lower: Vec<u8> = near.iter().map(u8::to_ascii_lowercase).collect();
    // between the word and the number only connectors: `call me at`, `Tel.:`, `number is`
    let connects = |rest: &[u8]| {
        rest.split(|b| !b.is_ascii_alphanumeric()).all(|w| {
            matches!(
                w,
                b"" | b"me" | b"us" | b"at" | b"on" | b"is" | b"to" | b"no" | b"nr" | b"number"
            )
        })
    };
    SHORT_PHONE_WORDS.iter().any(|w| {
        memchr::memmem::find_iter(&lower, w).any(|at| {
            let end = at + w.len();
            // a word of prose, not part of an identifier (`alloc_cell(110000)`)
            (at == 0
                || !(lower[at - 1].is_ascii_alphanumeric() || matches!(lower[at - 1], b'_' | b'.')))
                && (end == lower.len() || !lower[end].is_ascii_alphanumeric())
                && !lower[end..]
                    .iter()
                    .any(|b| matches!(b, b'(' | b'"' | b'\n'))
                && connects(&lower[end..])
        })
    })
}

fn compact_phone(v: &[u8]) -> bool {
    if v.first() == Some(&b'0') {
        uk_phone(v)
    } else {
        validate::nanp_phone(v)
    }
}

fn not_repeated(v: &[u8]) -> bool {
    let digits: Vec<u8> = v.iter().copied().filter(u8::is_ascii_digit).collect();
    digits.len() >= 5 && !digits.iter().all(|&d| d == digits[0])
}

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::pii(
        "email_address",
        DataClass::EmailAddress,
        "E-mail address",
        r"\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}\b",
    )
    .gate(Gate::Scan)
    .docs("RFC 5322 addresses in their common form; the domain needs a letters-only top-level domain of 2-24 letters.")
    .validate(validate::email)
    .score(0.95)
    .context(&["email", "e-mail", "mail", "contact"])
    .examples(
        &["reach me at stephanie95@example.com today", "{\"email\": \"pwalker@example.org\"}"],
        &["user@localhost", "version 1.2@3", "a@b.c"],
    ),
    Detector::pii(
        "credit_card",
        DataClass::CreditCard,
        "Payment card number",
        r"\b(?:\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}(?:[ -]?\d{1,3})?|\d{4}\.\d{4}\.\d{4}\.\d{4}|\d{4}[ -]\d{6}[ -]\d{4,5}|\d{12,19})\b",
    )
    .gate(Gate::Digit)
    .docs("12-19 digit card numbers, plain or in 4-4-4-4 / 4-6-5 groups (spaces, dashes, or dots for 4.4.4.4; a group may lack its separator, as when a hidden character stood there); Luhn-valid and in a known issuer range with a length it issues (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro).")
    .validate(validate::credit_card)
    .score(0.9)
    .severity(Severity::High)
    .context(&["card", "credit", "visa", "mastercard", "amex", "cc", "payment", "pan"])
    .examples(
        &["card 4111 1111 1111 1111 exp 12/29", "card_number=6011 6360 8377 8352", "amex 378282246310005", "card 4111.1111.1111.1111"],
        &["4111 1111 1111 1112", "order 1234567812345678", "ts=1700000000000", "id 123456789012", "4111.1111.1111.1112", "oid 1234.5678.9012.3456"],
    ),
    Detector::pii(
        "us_ssn",
        DataClass::UsSsn,
        "US social security number",
        r"\b(?:\d{3}([- ])\d{2}(?:-| )\d{4}|\d{3}\.\d{2}\.\d{4})\b",
    )
    .gate(Gate::Digit)
    .docs("Dashed, spaced or dotted SSNs (`123-45-6789`, `123.45.6789`: dots only in the 3-2-4 shape, so IP addresses and version strings do not match); area 000, 666 and 900-999, group 00 and serial 0000 are impossible and rejected, as are advertising numbers.")
    .validate(validate::us_ssn)
    .score(0.85)
    .severity(Severity::High)
    .context(SSN_WORDS)
    .against(&["isbn", "order", "invoice"])
    .examples(
        &["customer (SSN 231-03-6510) called", "ssn=536-90-4399", "ssn 536.90.4399"],
        &["fixture uses 000-12-3456", "666-12-3456", "912-34-5678", "ip 10.20.30.40", "v1.2.3.4", "on 2024.01.15", "666.12.3456", "536.90.43999"],
    ),
    Detector::pii(
        "iban",
        DataClass::Iban,
        "IBAN",
        r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b",
    )
    .gate(Gate::Digit)
    .docs("International bank account numbers, compact or in groups of four; the country's length and the mod-97 check must hold.")
    .validate(validate::iban)
    .score(0.95)
    .severity(Severity::High)
    .context(&["iban", "account", "bank", "wire", "transfer"])
    .examples(
        &["IBAN GB38ESZY14177763170669 please", "DE89 3704 0044 0532 0130 00"],
        &["GB82WEST12345698765433", "XX00TEST0000000000"],
    ),
    Detector::pii(
        "phone_nanp",
        DataClass::PhoneNumber,
        "Phone number (North America)",
        r"(?:(?:\+1|\b001|\b1)[ .-]?)?(?:\(\d{3}\) ?|\b\d{3}[ .-])\d{3}[ .-]\d{4}(?: ?(?:x|ext\.?) ?\d{1,6}\b|\b)",
    )
    .gate(Gate::Digit)
    .docs("NANP numbers with separators: `(415) 555-2671`, `415.555.2671`, `+1-415-555-2671`, `001-415-555-2671x123`; area code and exchange must start with 2-9.")
    .validate(nanp_phone)
    .score(0.8)
    .context(PHONE_WORDS)
    .against(NUMBER_AGAINST)
    .examples(
        &["call me at 637.340.6812", "phone=+1-202-555-0147", "(415) 555-2671 x204", "223-656-8516x5291"],
        &["123-456-7890", "415-155-2671"],
    ),
    Detector::pii(
        "phone_international",
        DataClass::PhoneNumber,
        "Phone number (international)",
        r"(?:\+|\b00)[1-9](?:[ .()-]{0,2}\d){6,14}\b",
    )
    .gate(Gate::Digit)
    .docs("E.164 and international forms starting with `+` or `00`: `+44 161 496 0000`, `+44(0)20 7946 0123`, `+441914960921`; 7-15 digits.")
    .validate(validate::intl_phone)
    .score(0.8)
    .context(PHONE_WORDS)
    .examples(&["phone=+441914960921", "ring +44(0)20 7946 0123", "+49 30 901820"], &["+1 111", "2+2=4"]),
    Detector::pii(
        "phone_uk",
        DataClass::PhoneNumber,
        "Phone number (UK national)",
        r"(?:\(0\d{2,4}\) ?|\b0\d{2,4} )\d{3,4} ?\d{3,4}\b",
    )
    .gate(Gate::Digit)
    .docs("UK national numbers with a trunk 0: `0161 496 0000`, `(01632) 960960`, `020 7946 0123`; 10-11 digits.")
    .validate(uk_phone)
    .score(0.75)
    .context(PHONE_WORDS)
    .against(NUMBER_AGAINST)
    .examples(&["call 0161 496 0000", "(01632) 960960"], &["0000 000 0000", "0611 496 0000"]),
    Detector::pii(
        "ipv4_address",
        DataClass::IpAddress,
        "IPv4 address",
        r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    )
    .gate(Gate::Digit)
    .docs("Dotted quads with octets 0-255 and no leading zeros. Version numbers are left alone: a quad inside a longer dotted number (`1.2.3.4.5`), before a pre-release or build suffix (`-beta`, `+build`), attached to a name (`pkg@1.2.3.4`, `openssl-1.2.3.4`, `curl/1.2.3.4`; a login such as `root@` and a path segment such as `/hosts/` keep it an address), or right after a version word or product name (`v 1.2.3.4`, `Version: 1.2.3.4`, `python 3.11.4.1`). `version`/`build` within a few words before lowers confidence below the report threshold.")
    .validate(validate::ipv4)
    .surroundings(validate::ipv4_not_version)
    .score(0.7)
    .severity(Severity::Low)
    .context(&["ip", "address", "client", "host", "remote", "from", "addr", "source"])
    .against(&["version", "build", "release", "v", "ver"])
    .examples(
        &[
            "client_ip=203.0.113.7",
            "User from 8.8.4.4 reported",
            "client 10.1.2.3 connected",
            "GET http://192.168.1.10/ HTTP/1.1",
            "X-Forwarded-For: 203.0.113.7",
            "ssh root@10.0.0.5",
            "GET /api/hosts/10.1.2.3",
        ],
        &[
            "version 1.2.3.4",
            "999.1.1.1",
            "1.2.3",
            "Version: 1.2.3.4",
            "upgrade to v2.1.0.3 today",
            "python 3.11.4.1",
            "release 1.2.3.4-beta",
            "ships 1.2.3.4-rc1",
            "npm i left-pad@1.2.3.4",
            "openssl-1.1.1.4.tar.gz",
            "User-Agent: curl/7.68.0.1",
            "OID 1.3.6.1.4.1.311",
        ],
    ),
    Detector::pii(
        "ipv6_address",
        DataClass::IpAddress,
        "IPv6 address",
        r"(?:\b[0-9A-Fa-f]{1,4}|:)(?::[0-9A-Fa-f]{0,4}){2,7}\b",
    )
    .gate(Gate::HexColon)
    .docs("IPv6 addresses, full or `::`-compressed, as the standard library parses them.")
    .validate(validate::ipv6)
    .score(0.75)
    .severity(Severity::Low)
    .context(&["ip", "ipv6", "address", "client", "host", "remote"])
    .examples(&["from 2001:db8::1 at noon", "fe80::1ff:fe23:4567:890a"], &["12:30:45", "00:1A:2B:3C:4D:5E"]),
    Detector::pii(
        "uk_nino",
        DataClass::UkNino,
        "UK national insurance number",
        r"\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
    )
    .gate(Gate::Digit)
    .docs("`AB 12 34 56 C`: two allowed prefix letters, six digits, suffix A-D.")
    .validate(validate::uk_nino)
    .score(0.8)
    .context(&["nino", "national insurance", "ni number", "ni no"])
    .examples(&["NI number AB 12 34 56 C", "nino=JG103759A"], &["GB123456A", "DA123456C"]),
    // Context-gated: reported only with a context word near.
    Detector::pii(
        "us_bank_routing",
        DataClass::UsBankRouting,
        "US bank routing number",
        r"\b\d{9}\b",
    )
    .gate(Gate::Context)
    .docs("Nine-digit ABA routing transit numbers with a valid Federal Reserve prefix and the 3-7-1 checksum; needs a context word.")
    .validate(validate::aba_routing)
    .score(0.85)
    .context(&["routing", "aba", "rtn", "transit", "routing number", "bank"])
    .require_context()
    .against(NUMBER_AGAINST)
    .examples(&["routing number 021000021", "ABA: 011000015"], &["021000021", "routing 123456789"]),
    Detector::pii(
        "ca_sin",
        DataClass::CaSin,
        "Canadian social insurance number",
        r"\b\d{3}[ -]?\d{3}[ -]?\d{3}\b",
    )
    .gate(Gate::Context)
    .docs("Nine digits, Luhn-valid, not starting with 8; needs a context word.")
    .validate(validate::ca_sin)
    .score(0.85)
    .severity(Severity::High)
    .context(&["sin", "social insurance", "nas", "numero d'assurance sociale"])
    .require_context()
    .against(NUMBER_AGAINST)
    .examples(&["SIN: 046 454 286", "social insurance number 046-454-286"], &["046 454 286", "SIN 046 454 287"]),
    Detector::pii(
        "us_ssn_compact",
        DataClass::UsSsn,
        "US social security number (undashed)",
        r"\b\d{9}\b",
    )
    .gate(Gate::Context)
    .docs("Nine digits with no separators, valid as an SSN; needs a context word.")
    .validate(validate::us_ssn)
    .score(0.85)
    .severity(Severity::High)
    .context(SSN_WORDS)
    .require_context()
    .against(NUMBER_AGAINST)
    .examples(&["SSN 536904399", "ssn=231036510"], &["536904399", "ssn 000123456"]),
    Detector::pii(
        "phone_compact",
        DataClass::PhoneNumber,
        "Phone number (digits only)",
        r"\b(?:1?[2-9]\d{2}[2-9]\d{6}|0[1-9]\d{8,9})\b",
    )
    .gate(Gate::Context)
    .docs("Ten NANP digits, or a UK number with its trunk 0, without separators; needs a context word.")
    .validate(compact_phone)
    .score(0.8)
    .context(PHONE_REQUIRED)
    .require_context()
    .against(NUMBER_AGAINST)
    .examples(&["phone: 4155552671", "call 2025550147"], &["4155552671", "ts=1653427890"]),
    Detector::pii(
        "date_of_birth",
        DataClass::DateOfBirth,
        "Date of birth",
        r"\b(?:(?:19|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:19|20)\d{2})\b",
    )
    .gate(Gate::Context)
    .docs("Numeric dates (`1952-11-08`, `08/11/1952`, `28.11.1990`) with a plausible birth year; needs a context word (dob, born, birth).")
    .validate(validate::birth_date)
    .score(0.85)
    .context(&["dob", "born", "birth", "birthday", "date of birth", "birthdate", "d.o.b", "geboren", "naissance"])
    .require_context()
    .examples(&["dob=1952-11-08", "I was born on 1990-05-17."], &["released 1952-11-08", "dob 1952-13-08"]),
    Detector::pii(
        "date_of_birth_text",
        DataClass::DateOfBirth,
        "Date of birth (month name)",
        r"(?i)\b(?:\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]{0,6},? (?:19|20)\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]{0,6} \d{1,2}(?:st|nd|rd|th)?, (?:19|20)\d{2})\b",
    )
    .gate(Gate::Context)
    .docs("Dates written with a month name (`17 May 1990`, `May 17, 1990`); needs a context word.")
    .score(0.8)
    .context(&["dob", "born", "birth", "birthday", "date of birth", "birthdate"])
    .require_context()
    .examples(&["born on May 17, 1990", "date of birth: 3rd March 1961"], &["released May 17, 1990"]),
    Detector::pii(
        "passport_number",
        DataClass::Passport,
        "Passport number",
        r"\b[A-Z]{0,2}\d{6,9}\b",
    )
    .gate(Gate::Context)
    .docs("Passport numbers (US and UK nine digits, letter-prefixed forms of many countries); needs the word passport near.")
    .validate(not_repeated)
    .score(0.8)
    .severity(Severity::High)
    .context(&["passport", "passport no", "passport number", "passeport", "reisepass"])
    .require_context()
    .against(NUMBER_AGAINST)
    .examples(&["passport number 533380006", "Passport: C03005988"], &["533380006", "passport 000000000"]),
    Detector::pii(
        "driver_license",
        DataClass::DriverLicense,
        "Driver's licence number",
        r"\b(?:[A-Z]{1,2}\d{4,14}|\d{7,12}|[A-Z]\d{3}-\d{4}-\d{4}|[A-Z]{5}\d{6}[A-Z0-9]{5})\b",
    )
    .gate(Gate::Context)
    .docs("US state licence formats (letter plus digits, 7-12 digits, `A123-4567-8901`) and UK licences; needs a context word.")
    .validate(not_repeated)
    .score(0.8)
    .context(&["driver", "driver's", "drivers", "license", "licence", "dl", "driving", "dln"])
    .require_context()
    .against(NUMBER_AGAINST)
    .examples(&["driver's license D1234567", "DL# A123-4567-8901"], &["D1234567", "license 0000000"]),
    Detector::pii(
        "phone_national",
        DataClass::PhoneNumber,
        "Phone number (national formats)",
        r"(?:\(\d{1,4}(?: \d{1,3})?\) ?|\b)\d{1,12}(?:[ .-]\d{2,9}){0,4}\b",
    )
    .gate(Gate::Context)
    .docs("National numbers of other countries, grouped or not (`0490 75 40 81`, `(37) 788-063`, `077 123456`, `(8 12) 34-56-78`), 7-12 digits with a phone word near; five and six digits (`31234`, `22 12 34`) only right after a phone word.")
    .validate(national_phone)
    .surroundings(short_national)
    .score(0.75)
    .context(NATIONAL_PHONE_WORDS)
    .require_context()
    .against(NUMBER_AGAINST)
    .examples(&["Phone: 0490 75 40 81", "call me on 9472 7916?", "mobile 077 123456", "you can reach me on 31234 after five", "Tel: (8 12) 34-56-78", r#"{"mobile": "0412 345 678"}"#], &["0490 75 40 81", "version 12 34 56 78", "our office moved to 12345 Main Street", "call stack depth 100000", "mobile app build 123456", "the API call took 31234 ms", "call about order ORD-96975070", "logged at 20:09:13.386795 by the phone app", r#"{"body": "my cell phone", "commentID": 4570862}"#, r#"{"call": 13345}"#, "let y = alloc_cell(110000);", "mobile battery at 4.423394 volts", r#"{"mobile": 24896}"#, "Telephone: see below. Pittsburgh, PA  15213-3890", "fix a call\n\n20040508"]),
];
