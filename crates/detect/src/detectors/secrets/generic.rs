//! Secret detectors: generic keyword-plus-entropy fallbacks, and the validators the other secret
//! groups share.
//!
//! This group is listed last in the registry. A generic hit needs a secret-ish keyword, an
//! assignment, and a value that looks random (digits and letters, enough entropy for its length)
//! and is none of: a placeholder, a path, a UUID, an identifier or constant name, a short hex id,
//! or a key format that a specific detector reports (so the specific one names it).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::detector::Detector;
use crate::validate::{entropy, is_placeholder};

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);

/// Standard base64 (`+/`), padding optional.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);

/// URL-safe base64 (`-_`), padding optional.
pub(crate) const BASE64_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// A random token: no placeholder, and at least two of uppercase letters, lowercase letters and
/// digits (which plain words, constant names and all-digit ids lack).
pub(crate) fn token(v: &[u8]) -> bool {
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let digit = v.iter().any(u8::is_ascii_digit);
    u8::from(upper) + u8::from(lower) + u8::from(digit) >= 2 && !is_placeholder(v)
}

/// A random token mixing uppercase letters, lowercase letters and digits, and no placeholder.
pub(crate) fn mixed_token(v: &[u8]) -> bool {
    v.iter().any(u8::is_ascii_uppercase)
        && v.iter().any(u8::is_ascii_lowercase)
        && v.iter().any(u8::is_ascii_digit)
        && !is_placeholder(v)
}

/// A random token found next to a vendor keyword: [`token`], and not in a key format that a
/// specific detector reports (so `NETLIFY_TOKEN=nfp_...` is reported as the prefixed format).
pub(crate) fn kw_token(v: &[u8]) -> bool {
    token(v) && !specific_format(v)
}

/// Prefixes of key formats that have their own detector; a generic or header detector leaves
/// such values to it.
const KNOWN_PREFIXES: &[&[u8]] = &[
    b"sk-",
    b"sk_",
    b"rk_",
    b"pk_",
    b"whsec_",
    b"ghp_",
    b"gho_",
    b"ghu_",
    b"ghs_",
    b"ghr_",
    b"github_pat_",
    b"glpat-",
    b"gldt-",
    b"glrt-",
    b"glptt-",
    b"glsoat-",
    b"gloas-",
    b"glft-",
    b"glimt-",
    b"glagent-",
    b"glcbt-",
    b"glffct-",
    b"GR1348941",
    b"xox",
    b"xapp-",
    b"AKIA",
    b"ASIA",
    b"ABIA",
    b"ACCA",
    b"A3T",
    b"AIza",
    b"hf_",
    b"api_org_",
    b"gsk_",
    b"r8_",
    b"pplx-",
    b"xai-",
    b"lsv2_",
    b"eyJrIjoi",
    b"pcsk_",
    b"nvapi-",
    b"tvly-",
    b"llx-",
    b"csk-",
    b"tgp_v1_",
    b"fw_",
    b"pa-",
    b"npm_",
    b"pypi-",
    b"rubygems_",
    b"oy2",
    b"dckr_",
    b"CCIPAT_",
    b"CCIPRJ_",
    b"bkua_",
    b"AKCp",
    b"cmVmd",
    b"sqp_",
    b"squ_",
    b"sqa_",
    b"sntrys_",
    b"sntryu_",
    b"ATATT3",
    b"ATBB",
    b"PMAK-",
    b"glc_",
    b"glsa_",
    b"NRAK-",
    b"NRII-",
    b"NRJS-",
    b"dt0c0",
    b"dt0s0",
    b"sgp_",
    b"API-",
    b"SG.",
    b"xkeysib-",
    b"xsmtpsib-",
    b"mlsn.",
    b"os_v2_",
    b"shpat_",
    b"shpca_",
    b"shppa_",
    b"shpss_",
    b"EAA",
    b"sq0atp-",
    b"sq0csp-",
    b"access_token$",
    b"access-production-",
    b"access-sandbox-",
    b"access-development-",
    b"FLWSECK",
    b"FLWPUBK",
    b"rzp_",
    b"pdl_",
    b"Mid-server-",
    b"SB-Mid-server-",
    b"xnd_",
    b"dop_v1_",
    b"doo_v1_",
    b"dor_v1_",
    b"DO00",
    b"HRKU-",
    b"LTAI",
    b"AKID",
    b"GOCSPX-",
    b"ya29.",
    b"1//0",
    b"hvs.",
    b"hvb.",
    b"s.",
    b"dp.",
    b"pul-",
    b"sbp_",
    b"sb_secret_",
    b"sb_publishable_",
    b"dapi",
    b"fo1_",
    b"fm1",
    b"fm2_",
    b"FlyV1",
    b"nfp_",
    b"rnd_",
    b"4b1d",
    b"tk-us-",
    b"AQVN",
    b"sha256~",
    b"lin_api_",
    b"lin_oauth_",
    b"ntn_",
    b"secret_",
    b"figd_",
    b"CFPAT-",
    b"sl.",
    b"tfp_",
    b"AGE-SECRET-KEY-",
    b"shippo_",
    b"EZAK",
    b"EZTK",
    b"fio-u-",
    b"pscale_",
    b"pnu_",
    b"rdme_",
    b"CLOJARS_",
    b"duffel_",
    b"ico-",
    b"ops_",
    b"A3-",
    b"sm_aat_",
    b"sm_pat_",
    b"sm_sat_",
    b"s-s4t2",
    b"dnkey-",
    b"aio_",
    b"pat-na",
    b"pat-eu",
    b"pat-ap",
    b"secret-live-",
    b"secret-test-",
    b"SCW",
    b"amzn.mws.",
    b"ABSK",
    b"bedrock-api-key-",
    b"IQoJb3JpZ2lu",
    b"FwoGZXIvYXdzE",
    b"v1.0-",
    b"LS0tLS1CRUdJTi",
    b"AAAAAAAAAAAAAAAAAAAAA",
    b"Mid-client-",
    b"re_",
    b"sk.eyJ",
    b"pk.eyJ",
    b"fc-",
    b"key_",
];

/// True when `v` is in a key format that a specific detector of the registry reports: a known
/// vendor prefix, or a known shape (OpenAI's `T3BlbkFJ` marker, Mailchimp's `-usNN` suffix,
/// Twilio SIDs, Entra ID secrets, Terraform, Airtable, Authress and MaxMind keys, New Relic license
/// keys, Discord bot tokens).
pub(crate) fn specific_format(v: &[u8]) -> bool {
    if KNOWN_PREFIXES.iter().any(|p| v.starts_with(p)) {
        return true;
    }
    let find = |w: &[u8]| memchr::memmem::find(v, w).is_some();
    let hex32 =
        |s: &[u8]| s.len() == 32 && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let n = v.len();
    // Mailchimp: `-us` and one or two digits at the end
    let mailchimp = |k: usize| {
        n > k + 3 && &v[n - k - 3..n - k] == b"-us" && v[n - k..].iter().all(u8::is_ascii_digit)
    };
    (v.starts_with(b"eyJ") && v.contains(&b'.'))
        || (v.starts_with(b"key-") && hex32(&v[4..]))
        || find(b"T3BlbkFJ")
        || find(b".atlasv1.")
        || find(b".acc_")
        || v.ends_with(b"_mmk")
        || mailchimp(1)
        || mailchimp(2)
        || ((v.starts_with(b"SK") || v.starts_with(b"AC")) && hex32(&v[2..]))
        || (n > 8 && v[3].is_ascii_digit() && v[4] == b'Q' && v[5] == b'~')
        || (n == 40 && v.ends_with(b"NRAL"))
        || (n > 18 && v.starts_with(b"pat") && v[17] == b'.')
        || (n == 58 && v.starts_with(b"KEY") && v[35] == b'_')
        || v.starts_with(b"pat.")
        || v.starts_with(b"sat.")
        || discord_token_shape(v)
}

/// The shape of a Discord bot token: three dot-separated url-safe base64 parts whose first part
/// decodes to a 17-20 digit user id.
pub(crate) fn discord_token_shape(v: &[u8]) -> bool {
    let mut parts = v.split(|&b| b == b'.');
    let (Some(id), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let mut buf = [0u8; 32];
    if id.len() > 40 {
        return false;
    }
    match BASE64_URL.decode_slice(id, &mut buf) {
        Ok(n) => (17..=20).contains(&n) && buf[..n].iter().all(u8::is_ascii_digit),
        Err(_) => false,
    }
}

/// A path or URL rather than a secret: starts with `/`, `./`, `../` or `~/`, has `//`, has two
/// or more `/` but no uppercase letter (random base64 with slashes has both cases), or ends in a
/// file extension after a `/`.
fn looks_like_path(v: &[u8]) -> bool {
    if v.starts_with(b"/") || v.starts_with(b"./") || v.starts_with(b"../") || v.starts_with(b"~/")
    {
        return true;
    }
    if v.iter().filter(|&&b| b == b'/').count() >= 2 && !v.iter().any(u8::is_ascii_uppercase) {
        return true;
    }
    if memchr::memmem::find(v, b"//").is_some() {
        return true;
    }
    match (memchr::memrchr(b'/', v), memchr::memrchr(b'.', v)) {
        (Some(slash), Some(dot)) if dot > slash => {
            let ext = &v[dot + 1..];
            (1..=5).contains(&ext.len()) && ext.iter().all(u8::is_ascii_alphabetic)
        }
        _ => false,
    }
}

/// A UUID (8-4-4-4-12 hex digits) and nothing else.
fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Code rather than a secret: a constant name (`DB_PASSWORD_2`), a dotted reference
/// (`process.env.API_KEY`, `settings.secret_v2`), or words joined by `_`, `-` or `.`
/// (`my-secret-value`).
fn looks_like_identifier(v: &[u8]) -> bool {
    let constant = v.contains(&b'_')
        && v.iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_');
    let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
    let dotted = v.contains(&b'.')
        && digits <= 2
        && v.split(|&b| b == b'.').all(|s| {
            s.first().is_some_and(u8::is_ascii_alphabetic)
                && s.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        });
    let segments = v.split(|b| matches!(b, b'_' | b'-' | b'.'));
    let wordy = segments.clone().count() >= 2
        && segments.clone().all(|s| {
            s.iter().all(u8::is_ascii_alphabetic)
                || (s.len() <= 4 && s.iter().all(u8::is_ascii_digit))
        });
    constant || dotted || wordy
}

/// The value of a generic `api_key = ...` / `secret: ...` assignment: 16-100 characters with
/// letters and digits, enough entropy for its length (3.3 bits/byte under 20 characters, 3.5
/// under 32, 3.7 above; hex needs 3.0 and 20+ characters), and not a placeholder, path,
/// or identifier; or 12-15 characters mixing upper-case, lower-case and digits; or random
/// letters only (see [`random_letters`]). A random UUID is a key here (Heroku, HubSpot and many
/// other vendors issue UUID-shaped keys): the name next to it decides.
fn generic_secret(v: &[u8]) -> bool {
    let n = v.len();
    if !(12..=100).contains(&n) || is_placeholder(v) || v[0] == b'=' {
        return false;
    }
    // an expression or a path (`100000.0/first_set_max_id`): base64 with `/` has capitals
    if v.contains(&b'/') && v.contains(&b'_') && !v.iter().any(u8::is_ascii_uppercase) {
        return false;
    }
    // 12-15 characters: only a token mixing upper-case, lower-case and digits
    if n < 16 {
        return mixed_token(v) && !looks_like_identifier(v) && entropy(v) >= 3.2;
    }
    if !v.iter().any(u8::is_ascii_digit) {
        return random_letters(v);
    }
    if !v.iter().any(u8::is_ascii_alphabetic) {
        return false;
    }
    if is_uuid(v) {
        return random_uuid(v);
    }
    if looks_like_path(v) || looks_like_identifier(v) {
        return false;
    }
    let hex = v.iter().all(u8::is_ascii_hexdigit);
    let min = match (hex, n) {
        (true, ..20) => return false,
        (true, _) => 3.0,
        (false, ..20) => 3.3,
        (false, ..32) => 3.5,
        (false, _) => 3.7,
    };
    entropy(v) >= min
}

/// A key of letters only (`UfpggblWognbHQDDtIPy`, `sec_WFroASiSJQgbMJWmnmzL`): its longest
/// part between `_`, `-` and `.` is 20+ letters mixing upper-case and lower-case as random text
/// mixes them (30-70% upper-case, where a `CamelCase` name has one capital per word), 3.7
/// bits/byte or more over the value, and no path.
fn random_letters(v: &[u8]) -> bool {
    let Some(run) = v
        .split(|b| matches!(b, b'_' | b'-' | b'.'))
        .max_by_key(|s| s.len())
    else {
        return false;
    };
    let upper = run.iter().filter(|b| b.is_ascii_uppercase()).count();
    run.len() >= 20
        && run.iter().all(u8::is_ascii_alphabetic)
        && (3 * run.len()..=7 * run.len()).contains(&(10 * upper))
        && !looks_like_path(v)
        && entropy(v) >= 3.7
}

/// A UUID whose hex digits look random (not `12345678-ABCD-ABCD-ABCD-1234567890AB` or a run
/// of zeros): at least 3.0 bits/byte over its 32 digits.
fn random_uuid(v: &[u8]) -> bool {
    let digits: Vec<u8> = v
        .iter()
        .filter(|b| **b != b'-')
        .map(u8::to_ascii_lowercase)
        .collect();
    !is_placeholder(&digits)
        && memchr::memmem::find(&digits, b"abcdabcd").is_none()
        && entropy(&digits) >= 3.0
}

/// The name a value is assigned to, read backwards from the end of `before` (the text right
/// before the value): quotes, spaces, `=`, `:`, `=>`, `,` and line ends are stepped over, and an
/// authorization scheme (`Bearer `, `Basic `, `Token `) written in front of the value too; the
/// name is the run of identifier characters (`A-Z a-z 0-9 _ . -`) before them. Empty when
/// `before` ends otherwise.
pub(crate) fn assigned_name(before: &[u8]) -> &[u8] {
    let ident = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    let word_before = |end: usize| {
        let mut start = end;
        while start > 0 && ident(before[start - 1]) {
            start -= 1;
        }
        start
    };
    let mut end = before.len();
    // `Bearer eyJ...`: only blanks between the scheme and the value
    let mut blank = end;
    while blank > 0 && matches!(before[blank - 1], b' ' | b'\t') {
        blank -= 1;
    }
    if blank < end {
        let start = word_before(blank);
        let word = &before[start..blank];
        if [&b"bearer"[..], b"basic", b"token"]
            .iter()
            .any(|s| word.eq_ignore_ascii_case(s))
        {
            end = start;
        }
    }
    loop {
        match before[..end] {
            // a line break written as an escape (`\n` inside a JSON string)
            [.., b'\\', b'n' | b'r' | b't'] => end -= 2,
            [
                ..,
                b'"' | b'\'' | b'`' | b' ' | b'\t' | b'\r' | b'\n' | b'=' | b':' | b'>' | b'\\'
                | b'?' | b',',
            ] => end -= 1,
            _ => break,
        }
    }
    &before[word_before(end)..end]
}

/// The words of an identifier, lower-cased: split at `_`, `-`, `.` and where a lower-case
/// letter or digit meets an upper-case one (`storageAccountKey` → storage, account, key).
pub(crate) fn name_words(name: &[u8]) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev: u8 = 0;
    for &b in name {
        if matches!(b, b'_' | b'-' | b'.') {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        } else {
            if b.is_ascii_uppercase()
                && (prev.is_ascii_lowercase() || prev.is_ascii_digit())
                && !cur.is_empty()
            {
                words.push(std::mem::take(&mut cur));
            }
            cur.push(char::from(b.to_ascii_lowercase()));
        }
        prev = b;
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Parts of a word that make a name a secret's wherever they appear (`DB_PASSWORD`,
/// `clientsecret`, `x-auth-token`, `GH_CREDS`).
const SECRET_PARTS: &[&str] = &[
    "secret",
    "token",
    "passw",
    "passphrase",
    "pwd",
    "credential",
    "creds",
    "apikey",
    "auth",
];

/// One-word names that end in `key` and name a secret (`SECRETKEY`, `masterkey`).
const KEY_WORDS: &[&str] = &[
    "apikey",
    "secretkey",
    "accesskey",
    "privatekey",
    "authkey",
    "masterkey",
    "appkey",
    "clientkey",
    "signingkey",
    "encryptionkey",
    "licensekey",
    "accountkey",
    "servicekey",
    "sharedkey",
    "subscriptionkey",
];

/// Words before `key` that make it the name of something other than a secret: database and
/// cache keys, public halves, object names, translation and UI keys, key ids and fingerprints.
const NOT_SECRET_KEY: &[&str] = &[
    "primary",
    "foreign",
    "unique",
    "sort",
    "range",
    "hash",
    "partition",
    "row",
    "shard",
    "routing",
    "cache",
    "memcache",
    "redis",
    "idempotency",
    "dedup",
    "dedupe",
    "deduplication",
    "lookup",
    "map",
    "index",
    "group",
    "composite",
    "natural",
    "surrogate",
    "i18n",
    "translation",
    "message",
    "label",
    "locale",
    "react",
    "dict",
    "item",
    "entry",
    "hot",
    "shortcut",
    "public",
    "pub",
    "publishable",
    "site",
    "host",
    "object",
    "s3",
    "blob",
    "bucket",
    "file",
    "path",
    "asset",
    "image",
    "upload",
    "issue",
    "project",
    "gpg",
    "pgp",
    "fingerprint",
    "lock",
    "event",
    "job",
    "task",
    "request",
    "correlation",
    "trace",
    "tracking",
    "sequence",
    "cursor",
    "page",
    "pagination",
    "continuation",
    "next",
    "last",
    "start",
    "end",
    "order",
    "column",
    "table",
    "field",
    "attribute",
    "property",
    "prop",
    "config",
    "setting",
    "option",
    "param",
    "query",
    "header",
    "meta",
    "metadata",
    "tag",
    "name",
    "type",
    "kind",
    "state",
    "cluster",
    "distribution",
    "dist",
    "music",
    "piano",
    "per",
    "each",
    "by",
    "of",
    "min",
    "max",
];

/// Whether an assigned name, split into [`name_words`], names a secret: a word holds one of
/// [`SECRET_PARTS`], is one of [`KEY_WORDS`], or the name ends in `key` after a word of two or
/// more letters that is not in [`NOT_SECRET_KEY`] (`iKey` is a variable) (`STRIPE_KEY`, `storageAccountKey`, but not `primary_key`,
/// `publicKey` or a bare `key`).
pub(crate) fn secret_name(words: &[String]) -> bool {
    if words
        .iter()
        .any(|w| SECRET_PARTS.iter().any(|p| w.contains(p)) || KEY_WORDS.contains(&w.as_str()))
    {
        return true;
    }
    match words {
        [.., before, last] if last == "key" => {
            before.len() >= 2 && !NOT_SECRET_KEY.contains(&before.as_str())
        }
        _ => false,
    }
}

/// Surroundings of a generic assignment: the assigned name must name a secret (see
/// [`secret_name`]). A bare `key` (no word before it) counts only for a value that mixes
/// upper-case letters, lower-case letters and digits over 20+ characters; a name the window
/// cuts off keeps the keyword's verdict.
fn named_secret(before: &[u8], value: &[u8], _after: &[u8]) -> bool {
    let name = assigned_name(before);
    if name.is_empty() {
        return true;
    }
    let words = name_words(name);
    if words.len() == 1 && words[0] == "key" {
        // `?key=` in a URL names a document or a page as often as a key; vendor key formats
        // there are found by their own detectors
        let in_query = memchr::memmem::rfind(before, name)
            .is_some_and(|at| at > 0 && matches!(before[at - 1], b'?' | b'&'));
        return !in_query && value.len() >= 20 && mixed_token(value) && !is_uuid(value);
    }
    secret_name(&words)
}

/// Surroundings of a name/value pair (`- name: X_API_KEY` then `value: "..."`, `<add
/// key="X" value="..."/>`, `{"Name": "X", "Value": "..."}`): the name before the last `value`
/// must name a secret.
fn named_pair(before: &[u8], _value: &[u8], _after: &[u8]) -> bool {
    let lower: Vec<u8> = before.iter().map(u8::to_ascii_lowercase).collect();
    let Some(at) = memchr::memmem::rfind(&lower, b"value") else {
        return false;
    };
    let name = assigned_name(&before[..at]);
    !name.is_empty() && secret_name(&name_words(name))
}

/// Passwords that appear in documentation and default configurations, not in deployments.
const DEFAULT_PASSWORDS: &[&[u8]] = &[
    b"password",
    b"password1",
    b"password123",
    b"passw0rd",
    b"p@ssw0rd",
    b"p@ssword",
    b"secret",
    b"secret123",
    b"changeme1",
    b"admin123",
    b"test1234",
    b"qwerty123",
    b"letmein1",
    b"welcome1",
    b"default",
    b"mypassword",
    b"yourpassword",
    b"newpassword",
    b"oldpassword",
    b"undefined",
];

/// A password value: 6-128 characters with a letter and a digit or symbol (or a digit and a
/// symbol), at least 2.5 bits/byte of entropy, and none of: a placeholder, a well-known default,
/// a variable or template reference (`$X`, `%X%`, `{{x}}`, `env:X`), an identifier, a path or a
/// function call.
pub(crate) fn password_value(v: &[u8]) -> bool {
    let n = v.len();
    let Some(&first) = v.first() else {
        return false;
    };
    if !(6..=128).contains(&n)
        || std::str::from_utf8(v).is_err()
        || is_placeholder(v)
        || specific_format(v)
        || matches!(
            first,
            b'$' | b'%' | b'{' | b'<' | b'[' | b'@' | b'&' | b'*' | b'#'
        )
        || DEFAULT_PASSWORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
    {
        return false;
    }
    let letter = v.iter().any(u8::is_ascii_alphabetic);
    let digit = v.iter().any(u8::is_ascii_digit);
    let symbol = v
        .iter()
        .any(|b| !b.is_ascii_alphanumeric() && !matches!(b, b'_' | b'-' | b'.'));
    if !((letter && (digit || symbol)) || (digit && symbol)) {
        return false;
    }
    // `env:NAME`, `vault:path`, `file:...` references
    let reference = memchr::memchr(b':', v)
        .is_some_and(|c| (1..=8).contains(&c) && v[..c].iter().all(u8::is_ascii_lowercase));
    let call = v.ends_with(b")") && v.contains(&b'(');
    if reference || call {
        return false;
    }
    !looks_like_identifier(v) && !looks_like_path(v) && entropy(v) >= 2.5
}

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "generic_password",
        "Password assignment",
        r#"(?i:passw(?:or)?d|passwd|passphrase|pwd)[0-9]?\\?["']?[ \t]{0,3}(?::=|=>|[=:])[ \t]{0,3}\\?["']?(?P<v>[^\s\x00-\x1f\x7f"'\\,;&<>(){}\[\]\x60]{6,64})(?:[\s\x00-\x1f\x7f"'\\,;&<>(){}\[\]\x60]|$)"#,
    )
    .docs("Password assignments (`password = \"...\"`, `\"passwd\": \"...\"`, `DB_PASSWORD=...`): a lower entropy bar than generic keys but strict rejection of placeholders, defaults, variable references, identifiers and plain words.")
    .validate(password_value)
    .score(0.7)
    .examples(
        &[r#"DB_PASSWORD="n7los4Go!qzG""#, r#"{"username": "svc", "password": "srjMJy#1190"}"#, "smtp_passwd: 'NC8TIsN0E83U'", "log in with (password: Xk9#mQ2v!) today", "[pwd=Tr0ub4dor#3x]", "{password:hK8!pz2Qw}"],
        &[r#"password = "changeme""#, "password: ${DB_PASSWORD}", r#"password = "password123""#, r#"PASSWORD_FIELD = "password""#, "password: getPassword()", r#"password = "********""#],
    ),
    Detector::secret(
        "generic_api_key",
        "Generic API key or secret",
        r#"(?i:api[_-]?key|apikey|client[_-]?secret|access[_-]?token|access[_-]?key|auth[_-]?token|auth|credentials?|creds|secret|passw(?:or)?d|passwd|pwd|private[_-]?key|token|key)(?:[_.-]?(?i:key|value|token|secret|base))?\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:])[ \t]{0,3}\\?["'\x60]?(?:(?i:bearer|basic|token)[ \t]{1,3})?(?P<v>[A-Za-z0-9_\-+/=.~]{16,100})(?:["'\x60\s,;&)\]}<>|\\]|$)"#,
    )
    .docs("A name that names a secret assigned a random-looking 16-100 character value (an authorization scheme such as `Bearer ` in front allowed). The name names a secret when one of its words holds `secret`, `token`, `passw`, `pwd`, `credential`, `creds`, `apikey` or `auth`, or when it ends in `key` after a word that does not make it something else (`STRIPE_KEY`, `storageAccountKey`; not `primary_key`, `publicKey`, `cache_key` or a bare `key`). Random UUIDs and hex of 20+ digits count. A value that a specific detector also finds is reported under that detector's name; one in a vendor's prefix but not its exact format (a longer or shorter key) is still reported here.")
    .validate(generic_secret)
    .surroundings(named_secret)
    .fallback(specific_format)
    .against(&["page", "next", "cursor", "continuation", "csrf", "xsrf", "nonce", "sha", "hash", "checksum", "commit", "etag"])
    .score(0.75)
    .examples(
        &["API_KEY=IUpWmn8QxnNbybMWN2lhpot4H7mI1lYv", r#""credentials": "8IXfpVnIfZEaRLBn1/GPsWaCeSEZbGBXv3wSmykL""#, r#""client_secret" : "2d4379e942ee3a32f8e2c52cdf9c42f972cdacf4530a7ef8a9709d81253684b9""#, "config.secret_key = 'Way+wBOmQ6WoRMsjP7H6FxPVnWU1HsVBAZDhTe/N'", "auth_token: YU8oHrSQ8ZfLeCjrEnGghXOG", r#"GLOBEX_API_KEY="3dcdb856-ae4e-4f4b-aad9-a40a736ebf51""#, "export INITECH_KEY=283fefc63f0cd0e873a0000c6d07ef7b", r#"const storageAccountKey = "d070c415ed7e70cad1946192";"#, r#"acme_token: "Bearer Dk033XTNGcymwgnKR5BLmFg8QysGFbuN""#, "wayne.key=5sbkm2uZKYivBnrRg1y7Jw641RIFXIpeUcfikk6InrWvMG1q"],
        &["API_KEY=your_api_key_here", r#"api_key = "ghp_KglOAKeaXhAgljjxglxiOLXlGEPPMSapUc3c""#, r#"token = "12345678-ABCD-ABCD-ABCD-1234567890AB""#, r#"primary_key = "a5a97a327707c2822009bff43a25544a""#, r#"publicKey: "IUpWmn8QxnNbybMWN2lhpot4H7mI1lYv""#, r#"cache_key = "394641a659d51782ed8ee0ca58f0d01b44488cc5""#, r#""key": "394641a659d51782ed8ee0ca58f0d01b44488cc5""#, "secret: process.env.CLIENT_SECRET", "token_path=/var/run/secrets/kubernetes.io/token", "x-amz-credential: 123456789/20191005/us-east-1/s3/aws4_request", "SECRET_KEY=DJANGO_SECRET_KEY_VALUE", r#"api_key = "790fd9b11c71216a""#],
    ),
    Detector::secret(
        "generic_named_value",
        "Secret in a name/value pair",
        r#"(?i:name|key)\\?["']?[ \t]{0,3}[:=][ \t]{0,3}\\?["']?[A-Za-z0-9_.-]{2,64}\\?["']?[ \t]{0,3},?[ \t]{0,3}(?:(?:\r?\n|(?:\\{1,2}r)?\\{1,2}n)[ \t]{0,16}-?[ \t]{0,3})?\\{0,3}["']?(?i:value)\\?["']?[ \t]{0,3}[:=][ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_\-+/=.~]{16,100})(?:["'\x60\s,;&)\]}<>|\\]|$)"#,
    )
    .docs("A secret set through a name/value pair, where the name and the value are two fields: Kubernetes and ECS environment lists (`- name: STRIPE_API_KEY` / `value: \"...\"`), .NET `<add key=\"StorageKey\" value=\"...\"/>`, JSON `{\"Name\": \"DB_PASSWORD\", \"Value\": \"...\"}`. The name must name a secret and the value pass the generic key checks.")
    .validate(generic_secret)
    .surroundings(named_pair)
    .fallback(specific_format)
    .score(0.75)
    .examples(
        &["env:\n  - name: STRIPE_API_KEY\n    value: \"IUpWmn8QxnNbybMWN2lhpot4H7mI1lYv\"", r#"<add key="StorageAccountKey" value="8IXfpVnIfZEaRLBn1/GPsWaCeSEZbGBXv3wSmykL" />"#, r#"{"name": "DB_TOKEN", "value": "3dcdb856-ae4e-4f4b-aad9-a40a736ebf51"}"#, r#"{"file": "env:\n  - name: ACME_API_KEY\n    value: \"Zk8qR2mTx9wLp3Nc7Hf5Yb1Kd4Sg6Je0\""}"#],
        &["env:\n  - name: LOG_LEVEL\n    value: \"IUpWmn8QxnNbybMWN2lhpot4H7mI1lYv\"", r#"<add key="PrimaryKey" value="8IXfpVnIfZEaRLBn1/GPsWaCeSEZbGBXv3wSmykL" />"#, "- name: API_KEY\n  valueFrom:\n    secretKeyRef: {name: api, key: token}", r#"{"name": "DB_TOKEN", "value": "${DB_TOKEN_FROM_VAULT}"}"#],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_need_two_character_classes() {
        assert!(token(b"a8F3kQ9zLm2Xv7Rt"));
        assert!(token(b"3f9a0c7e5b2d4e1f"));
        assert!(!token(b"onlylowercaseletters"));
        assert!(!token(b"CONSTANT_NAME"));
        assert!(!token(b"xxxxxxxxxxxxxxxx1"));
        assert!(mixed_token(b"a8F3kQ9zLm2Xv7Rt"));
        assert!(!mixed_token(b"3f9a0c7e5b2d4e1f"));
    }

    #[test]
    fn specific_formats_are_left_to_their_detectors() {
        assert!(specific_format(b"ghp_KglOAKeaXhAgljjxglxiOLXlGEPPMSapUc3c"));
        assert!(specific_format(b"cefa780880ba5f5696192a34f6292c35-us18"));
        assert!(specific_format(b"SK0123456789abcdef0123456789abcdef"));
        assert!(specific_format(b"bP88Q~rcBcYjzzOhg1Hnn76Wm3jGgakZiZ.8vMgR"));
        assert!(specific_format(
            b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"
        ));
        assert!(specific_format(
            b"NTk3MzQ4MjYxMDU1OTEyOTYz.Gk2xQa.Zq8vR2mTx9wLp3Nc7Hf5Yb1Kd4Sg6Je0Ua2Wo"
        ));
        assert!(!specific_format(b"eyJ0eXAioiJKV1slS3oASx=="));
        assert!(!specific_format(b"IUpWmn8QxnNbybMWN2lhpot4H7mI1lYv"));
        assert!(!specific_format(b"a"));
    }

    #[test]
    fn generic_values() {
        assert!(generic_secret(b"IUpWmn8QxnNbybMWN2lhpot4H7mI1lYv"));
        assert!(generic_secret(
            b"2d4379e942ee3a32f8e2c52cdf9c42f972cdacf4530a7ef8a9709d81253684b9"
        ));
        assert!(!generic_secret(b"0bfb80fb6287f783"));
        assert!(generic_secret(b"cc058f12-72f0-4db4-af9a-3a1d4ce4c4a9"));
        assert!(!generic_secret(b"12345678-ABCD-ABCD-ABCD-1234567890AB"));
        assert!(!generic_secret(b"00000000-0000-0000-0000-000000000000"));
        assert!(generic_secret(b"d070c415ed7e70cad1946192"));
        assert!(generic_secret(b"UfpggblWognbHQDDtIPy"));
        assert!(generic_secret(b"sec_WFroASiSJQgbMJWmnmzLcPiObVqS"));
        assert!(generic_secret(b"sug5XpdpaoxtOH"));
        assert!(!generic_secret(b"MySecretValueForProduction"));
        assert!(!generic_secret(b"AbstractSingletonProxyFactoryBean"));
        assert!(!generic_secret(b"version12345"));
        assert!(!generic_secret(b"process.env.CLIENT_SECRET"));
        assert!(!generic_secret(b"DJANGO_SECRET_KEY_VALUE2"));
        assert!(!generic_secret(b"/var/run/secrets/token1"));
        assert!(!generic_secret(b"my-api-key-for-staging-1"));
        assert!(!generic_secret(
            b"123456789/20191005/us-east-1/s3/aws4_request"
        ));
    }

    #[test]
    fn assigned_names() {
        assert_eq!(assigned_name(b"export STRIPE_KEY=\""), b"STRIPE_KEY");
        assert_eq!(assigned_name(b"{\"acmeToken\": \""), b"acmeToken");
        assert_eq!(assigned_name(b"acme_token: \"Bearer "), b"acme_token");
        assert_eq!(assigned_name(b"token = "), b"token");
        assert_eq!(assigned_name(b"(x) => "), b"");
        assert_eq!(assigned_name(br"- name: ACME_KEY\n    "), b"ACME_KEY");
        assert_eq!(
            name_words(b"storageAccountKey"),
            ["storage", "account", "key"]
        );
        assert_eq!(name_words(b"DB_PASSWORD2"), ["db", "password2"]);
        let named = |n: &[u8]| secret_name(&name_words(n));
        assert!(named(b"STRIPE_KEY"));
        assert!(named(b"clientsecret"));
        assert!(named(b"x-auth-token"));
        assert!(named(b"SECRETKEY"));
        assert!(!named(b"primary_key"));
        assert!(!named(b"publicKey"));
        assert!(!named(b"key"));
        assert!(!named(b"iKey"));
        assert!(!named(b"error_per_key"));
        assert!(!named(b"LOG_LEVEL"));
    }

    #[test]
    fn password_values() {
        assert!(password_value(b"Zq8!vR2mTx9w"));
        assert!(password_value(b"hunter2-prod"));
        assert!(!password_value(b"changeme"));
        assert!(!password_value(b"Password123"));
        assert!(!password_value(b"${DB_PASSWORD}"));
        assert!(!password_value(b"env:DB_PASSWORD"));
        assert!(!password_value(b"getPassword()"));
        assert!(!password_value(b"PasswordField"));
        assert!(!password_value(b"123456789"));
        assert!(!password_value(b""));
    }

    #[test]
    fn validators_are_total() {
        let inputs: [&[u8]; 12] = [
            b"",
            b"a",
            b"-----",
            b"-----END",
            b"....",
            b"::::",
            b"\xff\xfe\x00",
            b"eyJ.",
            b"1Q~",
            b"AGE-SECRET-KEY-1",
            b"-us1",
            b"pat.................",
        ];
        for d in crate::detectors::all() {
            if let Some(f) = d.validator {
                for input in inputs {
                    let _ = f(input);
                }
            }
        }
    }

    #[test]
    fn discord_shape() {
        assert!(discord_token_shape(
            b"NTk3MzQ4MjYxMDU1OTEyOTYz.Gk2xQa.Zq8vR2mTx9wLp3Nc7Hf5Yb1Kd4Sg6Je0Ua2Wo"
        ));
        assert!(!discord_token_shape(
            b"Nabcdefghijklmnopqrstuvw.Gk2xQa.Zq8vR2mTx9wLp3Nc7Hf5Yb1Kd4Sg6Je0Ua2Wo"
        ));
        assert!(!discord_token_shape(b"a.b"));
    }
}
