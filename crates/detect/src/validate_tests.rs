use super::*;

fn check(f: fn(&[u8]) -> bool, good: &[&str], bad: &[&str]) {
    for g in good {
        assert!(f(g.as_bytes()), "should accept {g:?}");
    }
    for b in bad {
        assert!(!f(b.as_bytes()), "should reject {b:?}");
    }
}

#[test]
fn luhn_and_cards() {
    check(
        credit_card,
        &[
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "378282246310005",
            "6011000990139424",
            "2223003122003222",
            "3530111333300000",
        ],
        &[
            "4111 1111 1111 1112",
            "1234567812345670",
            "0000000000000000",
            "4111111111111",
            "9111111111111111",
        ],
    );
    assert!(luhn(b"79927398713"));
    assert!(!luhn(b"79927398710"));
}

#[test]
fn ssn_ranges() {
    check(
        us_ssn,
        &["231-03-6510", "536-90-4399"],
        &[
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",
            "111-11-1111",
        ],
    );
}

#[test]
fn routing_sin_nino() {
    check(
        aba_routing,
        &["011000015", "021000021", "122105155"],
        &["123456789", "021000022", "999999999"],
    );
    check(
        ca_sin,
        &["046 454 286", "046-454-286"],
        &["046 454 287", "846 454 286", "000000000"],
    );
    check(
        uk_nino,
        &["AB123456C", "ab 12 34 56 c"],
        &["DA123456C", "GB123456A", "AB123456E", "AO123456A"],
    );
}

#[test]
fn iban_checksums() {
    check(
        iban,
        &[
            "GB82WEST12345698765432",
            "DE89 3704 0044 0532 0130 00",
            "GB38ESZY14177763170669",
            "FR1420041010050500013M02606",
        ],
        &[
            "GB82WEST12345698765433",
            "DE89370400440532013001",
            "XX82WEST12345698765432",
            "GB82WEST1234569876543",
        ],
    );
}

#[test]
fn ip_addresses() {
    check(
        ipv4,
        &["8.8.8.8", "203.0.113.7", "192.168.1.1"],
        &["256.1.1.1", "1.2.3", "01.2.3.4", "0.0.0.0", "255.255.255.0"],
    );
    check(
        ipv6,
        &[
            "2001:db8::1",
            "fe80::1ff:fe23:4567:890a",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        ],
        &["::", "12:34", "2001:db8:::1", "59:8c:a9:d3:f0:19:fa:45"],
    );
}

#[test]
fn emails() {
    check(
        email,
        &["stephanie95@example.com", "a.b+c@mail.co.uk"],
        &["a@b", "x@y.c0m", ".a@b.com", "a..b@c.com", "a@-b.com"],
    );
}

#[test]
fn phones() {
    check(
        nanp_phone,
        &[
            "637.340.6812",
            "(415) 555-2671",
            "+1 415-555-2671",
            "001-415-555-2671",
        ],
        &["123-456-7890", "415-155-2671", "1653427890"],
    );
    check(
        intl_phone,
        &["+441914960921", "+44 161 496 0000"],
        &["+1 111", "+4444444444444"],
    );
}

#[test]
fn birth_dates() {
    check(
        birth_date,
        &["1952-11-08", "08/11/1952", "11/28/1990", "28.11.1990"],
        &["1852-11-08", "1952-13-08", "13/13/1990"],
    );
}

#[test]
fn placeholders_and_entropy() {
    for p in [
        "AKIAXXXXXXXXXXXXXXXX",
        "your_api_key_here",
        "${API_KEY}",
        "sk-xxxxxxxxxxxxxxxx",
        "aaaaaaaaaaaa",
    ] {
        assert!(is_placeholder(p.as_bytes()), "{p}");
    }
    assert!(!is_placeholder(b"AKIAIOSFODNN7Q3K9ZTW"));
    assert!(entropy(b"aaaa") < 0.01);
    assert!(entropy(b"abcd") > 1.99);
}

/// `before`, the quad, and `after`, judged by [`ipv4_not_version`].
fn address_in(before: &str, after: &str) -> bool {
    ipv4_not_version(before.as_bytes(), b"1.2.3.4", after.as_bytes())
}

#[test]
fn dotted_quads_that_context_makes_versions() {
    for (before, after) in [
        ("version ", ""),
        ("Version: ", " released"),
        ("ver=", ""),
        ("v ", ""),
        ("python ", ""),
        ("Python ", "\n"),
        ("Windows ", " build"),
        ("npm i left-pad@", ""),
        ("openssl-", ".tar.gz"),
        ("User-Agent: curl/", ""),
        ("", "-beta"),
        ("", "-rc1"),
        ("", "+build.5"),
        ("1.", ""),
        ("", ".5"),
    ] {
        assert!(!address_in(before, after), "{before:?} 1.2.3.4 {after:?}");
    }
}

#[test]
fn dotted_quads_that_context_leaves_addresses() {
    for (before, after) in [
        ("", ""),
        ("client ", " connected"),
        ("http://", "/"),
        ("X-Forwarded-For: ", ""),
        ("ssh root@", ""),
        ("ubuntu@", ":22"),
        ("GET /api/hosts/", " HTTP/1.1"),
        ("range 10.0.0.1-", ""),
        ("from ", "."),
        ("ip=", ":8080"),
        ("(", ")"),
        ("", "-10.0.0.9"),
        ("", "/24"),
    ] {
        assert!(address_in(before, after), "{before:?} 1.2.3.4 {after:?}");
    }
}
