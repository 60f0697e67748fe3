//! Path templates from raw paths: `/users/123/orders/9f1c…` becomes
//! `/users/{userId}/orders/{orderId}`. A segment is a parameter when its shape says so (numbers,
//! UUIDs, hashes, e-mail addresses, dates, long opaque tokens, identifiers with many digits);
//! [`collapse`] then turns positions whose literal values vary with high cardinality (user
//! names, slugs) into parameters too.

use std::collections::{BTreeMap, BTreeSet};

/// What a path segment looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A fixed word (`users`, `v2`, `search`).
    Literal,
    /// Digits only.
    Number,
    /// A UUID.
    Uuid,
    /// A hexadecimal hash or object id (12+ hex digits with a digit and a letter).
    Hash,
    /// An e-mail address.
    Email,
    /// A date (`2024-05-01`, with or without a time).
    Date,
    /// A long opaque token (16+ characters mixing letters and digits).
    Token,
    /// An identifier carrying a number (`ord-10293`, `INV_2023_0042`).
    Slug,
}

/// Classifies one raw segment (percent-encoded bytes are read as they are).
pub fn kind(seg: &str) -> Kind {
    let b = seg.as_bytes();
    if b.is_empty() {
        return Kind::Literal;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return Kind::Number;
    }
    if is_uuid(b) {
        return Kind::Uuid;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    if b.len() >= 12 && b.iter().all(u8::is_ascii_hexdigit) && digits > 0 && letters > 0 {
        return Kind::Hash;
    }
    if let Some(at) = seg.find('@').or_else(|| seg.find("%40"))
        && at > 0
        && seg[at..].contains('.')
    {
        return Kind::Email;
    }
    if is_date(b) {
        return Kind::Date;
    }
    let tokenish = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'='));
    if tokenish && b.len() >= 16 && digits >= 2 && letters >= 2 && !b.contains(&b'.') {
        return Kind::Token;
    }
    if tokenish && digits >= 3 && letters > 0 && digits * 3 >= b.len() {
        return Kind::Slug;
    }
    // a number with a unit-less suffix or prefix (`123.json` stays literal-ish: the number is
    // the parameter)
    if digits >= 4 && digits * 2 >= b.len() {
        return Kind::Slug;
    }
    Kind::Literal
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_date(b: &[u8]) -> bool {
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// The name a parameter gets after the literal segment before it (`users` → `userId`), or
/// after its kind.
pub fn param_name(prev: Option<&str>, kind: Kind) -> String {
    let base = match kind {
        Kind::Uuid | Kind::Number | Kind::Hash | Kind::Token | Kind::Slug | Kind::Literal => "id",
        Kind::Email => "email",
        Kind::Date => "date",
    };
    match prev {
        Some(p)
            if !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'-') =>
        {
            let word: String = p
                .split(['-', '_'])
                .enumerate()
                .map(|(i, w)| {
                    let w = w.to_ascii_lowercase();
                    if i == 0 {
                        w
                    } else {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    }
                })
                .collect();
            let singular = singular(&word);
            let mut c = base.chars();
            let cap = c
                .next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default();
            format!("{singular}{cap}")
        }
        _ => base.to_owned(),
    }
}

fn singular(w: &str) -> String {
    if let Some(s) = w.strip_suffix("ies") {
        return format!("{s}y");
    }
    if w.ends_with("sses") || w.ends_with("xes") {
        return w[..w.len() - 2].to_owned();
    }
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        return w[..w.len() - 1].to_owned();
    }
    w.to_owned()
}

/// The template of a raw path by segment shapes alone.
pub fn by_shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut names = BTreeSet::new();
    let mut prev: Option<&str> = None;
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let k = kind(seg);
        if k == Kind::Literal {
            out.push_str(seg);
            prev = Some(seg);
            continue;
        }
        let name = unique(param_name(prev, k), &mut names);
        out.push('{');
        out.push_str(&name);
        out.push('}');
        prev = None;
    }
    out
}

/// `name`, or `name2`, `name3`... when a template already has it.
fn unique(name: String, names: &mut BTreeSet<String>) -> String {
    let mut n = name.clone();
    let mut k = 2;
    while !names.insert(n.clone()) {
        n = format!("{name}{k}");
        k += 1;
    }
    n
}

/// Whether a template segment is a parameter (`{name}`).
pub fn is_param(seg: &str) -> bool {
    seg.starts_with('{') && seg.ends_with('}')
}

/// Distinct literal values at one position, above which the position is a parameter.
pub const HIGH_CARDINALITY: usize = 10;

/// Collapses positions that vary with high cardinality: among templates of one host and
/// method with the same segments but one, when [`HIGH_CARDINALITY`] or more distinct literal
/// values fill that one, they become a parameter. Returns each input template's final
/// template.
pub fn collapse(templates: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        templates.iter().map(|t| (t.clone(), t.clone())).collect();
    loop {
        // (segment count, position, the template with that position blanked) -> values
        let mut groups: BTreeMap<(usize, String), BTreeSet<String>> = BTreeMap::new();
        let current: BTreeSet<String> = out.values().cloned().collect();
        for t in &current {
            let segs: Vec<&str> = t.split('/').collect();
            for (i, s) in segs.iter().enumerate() {
                if i == 0 || is_param(s) || s.is_empty() {
                    continue;
                }
                let mut key = segs.clone();
                key[i] = "\u{0}";
                groups
                    .entry((i, key.join("/")))
                    .or_default()
                    .insert((*s).to_owned());
            }
        }
        let Some(((i, key), _)) = groups
            .into_iter()
            .filter(|(_, v)| v.len() >= HIGH_CARDINALITY)
            .max_by_key(|(_, v)| v.len())
        else {
            return out;
        };
        let prev = key.split('/').nth(i - 1).filter(|p| !is_param(p));
        for v in out.values_mut() {
            let segs: Vec<&str> = v.split('/').collect();
            if segs.len() != key.split('/').count() || is_param(segs[i]) {
                continue;
            }
            let mut blank = segs.clone();
            blank[i] = "\u{0}";
            if blank.join("/") != key {
                continue;
            }
            let mut names: BTreeSet<String> = segs
                .iter()
                .filter(|s| is_param(s))
                .map(|s| s[1..s.len() - 1].to_owned())
                .collect();
            let name = unique(param_name(prev, Kind::Literal), &mut names);
            let mut segs: Vec<String> = segs.iter().map(|s| (*s).to_owned()).collect();
            segs[i] = format!("{{{name}}}");
            *v = segs.join("/");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_parameters_by_shape() {
        assert_eq!(by_shape("/users/123"), "/users/{userId}");
        assert_eq!(
            by_shape("/v2/orders/3f2b1c9e-0d4a-4b8e-9c1d-2a3b4c5d6e7f/items/42"),
            "/v2/orders/{orderId}/items/{itemId}"
        );
        assert_eq!(
            by_shape("/files/5f2b9c0a1d3e4f56a7b8c9d0"),
            "/files/{fileId}"
        );
        assert_eq!(
            by_shape("/people/jane.doe@example.com"),
            "/people/{peopleEmail}"
        );
        assert_eq!(by_shape("/companies/77"), "/companies/{companyId}");
        assert_eq!(by_shape("/reports/2024-05-01"), "/reports/{reportDate}");
        assert_eq!(by_shape("/invoices/INV-2023-0042"), "/invoices/{invoiceId}");
        // words, versions and short codes stay
        assert_eq!(by_shape("/api/v1/oauth2/token"), "/api/v1/oauth2/token");
        assert_eq!(by_shape("/2fa/settings"), "/2fa/settings");
        assert_eq!(by_shape("/"), "/");
        // two ids of one kind get distinct names
        assert_eq!(by_shape("/123/456"), "/{id}/{id2}");
    }

    #[test]
    fn high_cardinality_positions_collapse() {
        let mut t: BTreeSet<String> = (0..12)
            .map(|i| {
                format!(
                    "/users/name{}x/profile",
                    "abcdefghijklmn".chars().nth(i).unwrap()
                )
            })
            .collect();
        t.insert("/users/me".into());
        t.insert("/health".into());
        let m = collapse(&t);
        assert_eq!(m["/users/nameax/profile"], "/users/{userId}/profile");
        assert_eq!(m["/users/me"], "/users/me");
        assert_eq!(m["/health"], "/health");
        // few distinct values stay literal
        let few: BTreeSet<String> = ["/a/x", "/a/y", "/a/z"].map(String::from).into();
        assert_eq!(collapse(&few)["/a/x"], "/a/x");
    }
}
