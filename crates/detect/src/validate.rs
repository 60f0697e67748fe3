//! Validators: checksums, number ranges and plausibility checks that run only on regex hits.
//!
//! Each is a total function over bytes: it never panics and never allocates on the heap.

/// Digits of `value`, ignoring every other byte, as numbers 0..=9, into a fixed buffer.
/// Returns `None` when there are more than 32 digits.
fn digits(value: &[u8]) -> Option<([u8; 32], usize)> {
    let mut out = [0u8; 32];
    let mut n = 0;
    for &b in value {
        if b.is_ascii_digit() {
            if n == out.len() {
                return None;
            }
            out[n] = b - b'0';
            n += 1;
        }
    }
    Some((out, n))
}

/// The Luhn (mod 10) checksum over the digits of `value`.
pub fn luhn(value: &[u8]) -> bool {
    let Some((d, n)) = digits(value) else {
        return false;
    };
    if n < 2 {
        return false;
    }
    let mut sum = 0u32;
    for (i, &digit) in d[..n].iter().rev().enumerate() {
        let mut x = u32::from(digit);
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    sum.is_multiple_of(10)
}

/// A payment card number: Luhn-valid, 12..=19 digits, in a known issuer range with a length
/// that issuer uses, and not all one digit.
pub fn credit_card(value: &[u8]) -> bool {
    let Some((d, n)) = digits(value) else {
        return false;
    };
    if !(12..=19).contains(&n) || d[..n].iter().all(|&x| x == d[0]) || !luhn(value) {
        return false;
    }
    let prefix = |k: usize| d[..k].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    match p1 {
        // Visa
        4 => matches!(n, 13 | 16 | 19),
        // Mastercard 51-55 and 2221-2720
        5 if (51..=55).contains(&p2) => n == 16,
        2 if (2221..=2720).contains(&p4) => n == 16,
        // American Express
        3 if p2 == 34 || p2 == 37 => n == 15,
        // Diners Club
        3 if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 => {
            (14..=19).contains(&n)
        }
        // JCB (35xx, 16-19 digits; the older 2131 and 1800 ranges, 15 digits)
        3 if p2 == 35 => (16..=19).contains(&n),
        2 | 1 if p4 == 2131 || p4 == 1800 => n == 15,
        // Discover, UnionPay, Maestro (6...)
        6 if p4 == 6011
            || p2 == 65
            || (644..=649).contains(&p3)
            || (622126..=622925).contains(&p6) =>
        {
            (16..=19).contains(&n)
        }
        6 if p2 == 62 => (16..=19).contains(&n),
        5 | 6
            if matches!(
                p4,
                5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763
            ) =>
        {
            (12..=19).contains(&n)
        }
        _ => false,
    }
}

/// A US social security number: area not 000, 666 or 900-999; group not 00; serial not 0000;
/// and not one of the well-known advertising numbers.
pub fn us_ssn(value: &[u8]) -> bool {
    let Some((d, n)) = digits(value) else {
        return false;
    };
    if n != 9 {
        return false;
    }
    let num = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (area, group, serial) = (num(0..3), num(3..5), num(5..9));
    let all = num(0..9);
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !matches!(all, 78_051_120 | 219_099_999 | 123_456_789)
        && !d[..9].iter().all(|&x| x == d[0])
}

/// A US ABA routing number: nine digits, a valid Federal Reserve prefix, and the 3-7-1 checksum.
pub fn aba_routing(value: &[u8]) -> bool {
    let Some((d, n)) = digits(value) else {
        return false;
    };
    if n != 9 {
        return false;
    }
    let prefix = d[0] * 10 + d[1];
    if !matches!(prefix, 0..=12 | 21..=32 | 61..=72 | 80) || d[..9].iter().all(|&x| x == d[0]) {
        return false;
    }
    let w = [3u32, 7, 1];
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, &x)| w[i % 3] * u32::from(x))
        .sum();
    sum.is_multiple_of(10)
}

/// A Canadian social insurance number: nine digits, Luhn-valid, first digit not 8 (unused).
pub fn ca_sin(value: &[u8]) -> bool {
    let Some((d, n)) = digits(value) else {
        return false;
    };
    n == 9 && d[0] != 8 && luhn(value) && !d[..9].iter().all(|&x| x == d[0])
}

/// A UK national insurance number: two prefix letters from the allowed set (neither D, F, I, Q,
/// U, V; second not O; not BG, GB, KN, NK, NT, TN, ZZ), six digits, suffix A-D.
pub fn uk_nino(value: &[u8]) -> bool {
    let v: Vec<u8> = value
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_uppercase)
        .collect();
    if v.len() != 9 {
        return false;
    }
    let (a, b) = (v[0], v[1]);
    let bad_first = b"DFIQUV";
    let bad_second = b"DFIQUVO";
    if !a.is_ascii_uppercase()
        || !b.is_ascii_uppercase()
        || bad_first.contains(&a)
        || bad_second.contains(&b)
    {
        return false;
    }
    if matches!(
        &v[..2],
        b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ"
    ) {
        return false;
    }
    v[2..8].iter().all(u8::is_ascii_digit) && matches!(v[8], b'A'..=b'D')
}

/// IBAN lengths per country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// An IBAN: known country, that country's length, and the ISO 7064 mod-97 check equal to 1.
/// Spaces are ignored.
pub fn iban(value: &[u8]) -> bool {
    let mut v = [0u8; 34];
    let mut n = 0;
    for &b in value {
        if b == b' ' {
            continue;
        }
        if !b.is_ascii_alphanumeric() || n == v.len() {
            return false;
        }
        v[n] = b.to_ascii_uppercase();
        n += 1;
    }
    if n < 15 {
        return false;
    }
    let country = [v[0], v[1]];
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| **c == country) else {
        return false;
    };
    if n != len || !v[2].is_ascii_digit() || !v[3].is_ascii_digit() {
        return false;
    }
    let mut rem = 0u32;
    for &b in v[4..n].iter().chain(&v[..4]) {
        if b.is_ascii_digit() {
            rem = (rem * 10 + u32::from(b - b'0')) % 97;
        } else {
            let x = u32::from(b - b'A') + 10;
            rem = (rem * 100 + x) % 97;
        }
    }
    rem == 1
}

/// An IPv4 address in dotted-quad form with each octet 0..=255 and no leading zeros; rejects
/// 0.0.0.0/8 and 255.0.0.0/8 (netmasks, broadcast), which carry no information about anyone.
pub fn ipv4(value: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(value) else {
        return false;
    };
    let mut count = 0;
    for part in s.split('.') {
        count += 1;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return false;
        }
        match part.parse::<u16>() {
            Ok(x) if x <= 255 => {}
            _ => return false,
        }
    }
    // 0.x.x.x is "this network" and 255.x.x.x only appears as netmasks and broadcast
    count == 4 && !s.starts_with("0.") && !s.starts_with("255.")
}

/// Names that, written right before a dotted quad (`python 3.11.4.1`, `Version: 1.2.3.4`,
/// `build=10.2.0.1`), make it a version number. Lowercase.
const VERSIONED: &[&str] = &[
    "v",
    "ver",
    "vers",
    "version",
    "build",
    "release",
    "rel",
    "rev",
    "revision",
    "patch",
    "firmware",
    "fw",
    "kernel",
    "sdk",
    "python",
    "python3",
    "py",
    "node",
    "nodejs",
    "java",
    "jdk",
    "jre",
    "go",
    "golang",
    "rust",
    "rustc",
    "ruby",
    "php",
    "perl",
    "dotnet",
    "gcc",
    "clang",
    "llvm",
    "npm",
    "pip",
    "chrome",
    "chromium",
    "firefox",
    "safari",
    "opera",
    "windows",
    "win",
    "macos",
    "osx",
    "ios",
    "android",
    "ubuntu",
    "debian",
    "centos",
    "rhel",
    "fedora",
    "alpine",
    "linux",
    "openssl",
    "openssh",
    "nginx",
    "apache",
    "tomcat",
    "mysql",
    "postgres",
    "postgresql",
    "redis",
    "mongodb",
    "docker",
    "kubernetes",
    "k8s",
    "helm",
    "terraform",
    "bios",
    "driver",
];

/// Login names that come before `@` and a host (`root@10.0.0.5`), not a package and a version.
const LOGINS: &[&str] = &[
    "root",
    "admin",
    "administrator",
    "user",
    "ubuntu",
    "ec2-user",
    "centos",
    "debian",
    "pi",
    "git",
    "oracle",
    "postgres",
    "deploy",
];

/// Whether the text around a dotted quad leaves it an address rather than a version number.
/// It is a version when it is part of a longer dotted number (`1.2.3.4.5`, OIDs), when a
/// pre-release or build suffix follows (`-beta`, `-rc1`, `+build`), when a name is attached
/// before it (`pkg@1.2.3.4` except a login such as `root@`, `openssl-1.2.3.4`, a product token
/// `curl/1.2.3.4` but not a path segment `/hosts/10.1.2.3`), or when a version word or product
/// name stands right before it (`version 1.2.3.4`, `python 3.11.4.1`, `v: 1.2.3.4`).
pub fn ipv4_not_version(before: &[u8], _value: &[u8], after: &[u8]) -> bool {
    let digit = |c: Option<&u8>| c.is_some_and(u8::is_ascii_digit);
    // a longer dotted number
    if (before.last() == Some(&b'.')
        && digit(before.len().checked_sub(2).and_then(|i| before.get(i))))
        || (after.first() == Some(&b'.') && digit(after.get(1)))
    {
        return false;
    }
    // pre-release and build suffixes
    match after {
        [b'-', c, ..] if c.is_ascii_alphabetic() => return false,
        [b'+', c, ..] if c.is_ascii_alphanumeric() => return false,
        _ => {}
    }
    // a name attached before: the run of name characters before the separator
    if let [rest @ .., sep @ (b'@' | b'-' | b'/')] = before {
        let len = rest
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            .count();
        let name = &rest[rest.len() - len..];
        if name.iter().any(u8::is_ascii_alphabetic) {
            let lower = name.to_ascii_lowercase();
            return match sep {
                b'@' => LOGINS.iter().any(|l| l.as_bytes() == lower.as_slice()),
                // a path segment (`/hosts/10.1.2.3`), not a product token (`curl/1.2.3.4`)
                b'/' => rest.len() > len && rest[rest.len() - len - 1] == b'/',
                _ => false,
            };
        }
    }
    // a version word or product name right before, then spaces, `:` or `=`
    let gap = before
        .iter()
        .rev()
        .take_while(|c| matches!(c, b' ' | b'\t' | b':' | b'='))
        .count();
    if gap == 0 && !before.is_empty() {
        return true;
    }
    let head = &before[..before.len() - gap];
    let len = head
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let word = head[head.len() - len..].to_ascii_lowercase();
    !VERSIONED.iter().any(|v| v.as_bytes() == word.as_slice())
}

/// An IPv6 address as the standard library parses it, with at least two groups spelled out and
/// not the unspecified address.
pub fn ipv6(value: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(value) else {
        return false;
    };
    // eight groups of exactly two hex digits is colon-hex byte notation (key fingerprints,
    // MAC-like ids), not an address anyone writes
    let byte_pairs = !s.contains("::") && s.split(':').all(|g| g.len() == 2);
    match s.parse::<std::net::Ipv6Addr>() {
        Ok(a) => !a.is_unspecified() && !byte_pairs && s.matches(':').count() >= 2 && s.len() >= 6,
        Err(_) => false,
    }
}

/// An e-mail address whose domain has a plausible top-level domain (letters only, 2..=24) and
/// labels that neither start nor end with a hyphen.
pub fn email(value: &[u8]) -> bool {
    let Some(at) = memchr::memrchr(b'@', value) else {
        return false;
    };
    let (local, domain) = (&value[..at], &value[at + 1..]);
    if local.is_empty() || local.len() > 64 || domain.len() > 253 {
        return false;
    }
    if local.starts_with(b".")
        || local.ends_with(b".")
        || memchr::memmem::find(local, b"..").is_some()
    {
        return false;
    }
    let mut labels = domain.split(|&b| b == b'.');
    let mut last: &[u8] = &[];
    let mut count = 0;
    for label in &mut labels {
        if label.is_empty() || label.starts_with(b"-") || label.ends_with(b"-") {
            return false;
        }
        last = label;
        count += 1;
    }
    count >= 2 && (2..=24).contains(&last.len()) && last.iter().all(u8::is_ascii_alphabetic)
}

/// A North American (NANP) number: area code and exchange start with 2-9, and the exchange is
/// not 555-01xx (reserved for fiction) when written with its area code.
pub fn nanp_phone(value: &[u8]) -> bool {
    // an extension (`x123`, `ext. 123`) is part of the finding, not of the number
    let value = match value
        .iter()
        .position(|&b| b == b'x' || b == b'X' || b == b'e')
    {
        Some(i) => &value[..i],
        None => value,
    };
    let Some((d, n)) = digits(value) else {
        return false;
    };
    let d = match n {
        10 => &d[..10],
        11 if d[0] == 1 => &d[1..11],
        13 if d[..3] == [0, 0, 1] => &d[3..13],
        _ => return false,
    };
    if d.len() != 10 {
        return false;
    }
    d[0] >= 2 && d[3] >= 2 && !d.iter().all(|&x| x == d[0])
}

/// A phone number in international form with 7..=15 digits (E.164 bound), not all one digit.
/// A leading `+` is a strong enough signal that NANP area and exchange rules are not applied.
pub fn intl_phone(value: &[u8]) -> bool {
    let Some((d, n)) = digits(value) else {
        return false;
    };
    (7..=15).contains(&n) && !d[..n].iter().all(|&x| x == d[0])
}

/// A calendar date in `YYYY-MM-DD`, `DD/MM/YYYY`, `MM/DD/YYYY` or `DD.MM.YYYY` form (one- or
/// two-digit day and month) with a plausible birth year (1900..=2030).
pub fn birth_date(value: &[u8]) -> bool {
    let mut parts = [0u32; 3];
    let mut lens = [0usize; 3];
    let mut i = 0;
    for &b in value {
        if b.is_ascii_digit() {
            if lens[i] == 4 {
                return false;
            }
            parts[i] = parts[i] * 10 + u32::from(b - b'0');
            lens[i] += 1;
        } else if i == 2 {
            return false;
        } else {
            i += 1;
        }
    }
    if i != 2 {
        return false;
    }
    let day_month = |m: u32, d: u32| (1..=12).contains(&m) && (1..=31).contains(&d);
    if lens[0] == 4 {
        (1900..=2030).contains(&parts[0]) && day_month(parts[1], parts[2])
    } else {
        lens[2] == 4
            && (1900..=2030).contains(&parts[2])
            && (day_month(parts[0], parts[1]) || day_month(parts[1], parts[0]))
    }
}

/// Shannon entropy of `value` in bits per byte.
pub fn entropy(value: &[u8]) -> f32 {
    if value.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in value {
        counts[usize::from(b)] += 1;
    }
    let len = value.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / len;
            -p * p.log2()
        })
        .sum()
}

/// True for values that are obviously placeholders rather than secrets: runs of one character,
/// `xxxx`, `example`, `your_..._here`, template markers, `***`, sequential alphabets.
pub fn is_placeholder(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let lower: Vec<u8> = value.iter().map(u8::to_ascii_lowercase).collect();
    const WORDS: &[&[u8]] = &[
        b"example",
        b"xxxx",
        b"placeholder",
        b"your_",
        b"your-",
        b"yourkey",
        b"<",
        b"${",
        b"{{",
        b"****",
        b"dummy",
        b"redacted",
        b"changeme",
        b"insert",
        b"sample",
        b"0000000000",
        b"1234567890",
        b"abcdefghij",
        b"test_key_here",
        b"_here",
        b"...",
    ];
    if WORDS
        .iter()
        .any(|w| memchr::memmem::find(&lower, w).is_some())
    {
        return true;
    }
    // one character repeated over most of the value
    let mut counts = [0usize; 256];
    for &b in &lower {
        counts[usize::from(b)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    max * 2 > lower.len() && lower.len() >= 8
}

/// The generic secret check shared by key-format detectors: not a placeholder.
pub fn not_placeholder(value: &[u8]) -> bool {
    !is_placeholder(value)
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
