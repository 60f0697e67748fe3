//! Secret detectors: SaaS platforms and developer tools.
//!
//! Identity providers, data and content platforms, shipping, feature-flag and analytics services,
//! and encryption tools (age). Prefixed formats are matched on their own, plain random keys only
//! next to the vendor's name.

use rampart_core::Severity;

use crate::detector::{Detector, Gate};
use crate::validate::not_placeholder;

use super::generic::{kw_token, mixed_token, token};

/// Bech32 checksum of an age secret key (`AGE-SECRET-KEY-1` and 58 data characters): accepts the
/// original Bech32 and the Bech32m constants, so only a key with a valid checksum is reported.
fn age_secret_key(v: &[u8]) -> bool {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let Some(sep) = v.iter().rposition(|&b| b == b'1') else {
        return false;
    };
    let (hrp, data) = (&v[..sep], &v[sep + 1..]);
    if hrp.is_empty() || data.len() < 7 {
        return false;
    }
    let mut chk: u32 = 1;
    let mut step = |x: u32| {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ x;
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    };
    for &b in hrp {
        step(u32::from(b.to_ascii_lowercase() >> 5));
    }
    step(0);
    for &b in hrp {
        step(u32::from(b.to_ascii_lowercase() & 31));
    }
    for &b in data {
        let Some(d) = CHARSET.iter().position(|&c| c == b.to_ascii_lowercase()) else {
            return false;
        };
        step(d as u32);
    }
    (chk == 1 || chk == 0x2bc8_30a3) && not_placeholder(data)
}

/// A Twitter/X app bearer token: 22 `A`s and a random url-encoded body (the `A` run is checked
/// by the pattern; the rest must be random).
fn twitter_bearer(v: &[u8]) -> bool {
    token(v.get(22..).unwrap_or_default())
}

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "okta_api_token",
        "Okta API token",
        r#"(?i:(?-i:[Oo]kta|OKTA))[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>00[A-Za-z0-9_-]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Okta API (SSWS) tokens: `00` and 40 url-safe characters, after `okta` in an assignment.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["OKTA_API_TOKEN=00Lrq5b22R8xiPaPy5SoHdmCSndZMpoJiZiqwBJGbM", r#""oktaApiToken": "00r0pd_a0iP3kyKgpUBZ4YJd0atyfDVyOHxhfbSFZZ""#],
        &["oktaKey = 00000000000000000000000000000000000TUVWXYZ", "rookTable = 00dVdk_EHjHr4B8CUAlEzoHYDQLgxyc3haaUR3PbTw"],
    ),
    Detector::secret(
        "auth0_client_secret",
        "Auth0 client secret",
        r#"(?i:auth0)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Auth0 application client secrets: 64 url-safe characters after `auth0` in an assignment.")
    .validate(kw_token)
    .entropy(4.0)
    .examples(
        &["AUTH0_CLIENT_SECRET=wDckgzkBt6l91LXihpSNkhyEY-rf5LgT3QZEoU0MUXSMDI2hBTSfNbgILnOqAMFl"],
        &["AUTH0_CLIENT_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "AUTH0_DOMAIN=acme.eu.auth0.com"],
    ),
    Detector::secret(
        "algolia_api_key",
        "Algolia API key",
        r#"(?i:algolia)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Algolia admin and write API keys: 32 hex digits after `algolia` in an assignment (search-only keys are public, so `search` nearby lowers confidence).")
    .validate(kw_token)
    .entropy(3.0)
    .against(&["search", "searchonly", "search_only", "public"])
    .examples(
        &["ALGOLIA_ADMIN_KEY=b36bf9140f2bc77b45a3067a2f46c2a1"],
        &["ALGOLIA_ADMIN_KEY=00000000000000000000000000000000", "ALGOLIA_APP_ID=9SCIUVC8CC"],
    ),
    Detector::secret(
        "contentful_pat",
        "Contentful personal access token",
        r"\b(?P<v>CFPAT-[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Contentful Content Management personal access tokens: `CFPAT-` and 43 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["CONTENTFUL_MANAGEMENT_TOKEN=CFPAT-83dRKTdN4pOysHEw62WSGWNfG4TXNpqCyUme5vxtvS7"],
        &["CFPAT-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "CFPAT-1Q6WcE-GB-H66KaBu5NW"],
    ),
    Detector::secret(
        "contentful_delivery_token",
        "Contentful delivery / preview token",
        r#"(?i:contentful)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Contentful delivery and preview API tokens: 43 url-safe characters after `contentful` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["CONTENTFUL_DELIVERY_TOKEN=CGbdAYqPK2K7U7oCZBNumWCvk5t3o79xajGXb_6W2bk"],
        &["CONTENTFUL_DELIVERY_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "CONTENTFUL_SPACE_ID=sx95b01jdago"],
    ),
    Detector::secret(
        "airtable_pat",
        "Airtable personal access token",
        r"\b(?P<v>pat[A-Za-z0-9]{14}\.[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Airtable personal access tokens: `pat`, 14 characters, `.`, 64 hex digits.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["AIRTABLE_TOKEN=patUbRjCLYZQIbJW9.98c27876c90974b1df3951bb0d0f347c91aa319f20b5cde40e0e2fb434271a29"],
        &["patxxxxxxxxxxxxxx.0000000000000000000000000000000000000000000000000000000000000000", "patAiF0BKLpN2mBpN.fce3b2b6ed0b9ae756b5"],
    ),
    Detector::secret(
        "airtable_api_key",
        "Airtable API key (legacy)",
        r#"(?i:airtable)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>key[A-Za-z0-9]{14})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Deprecated Airtable API keys: `key` and 14 alphanumerics, after `airtable` in an assignment.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["AIRTABLE_API_KEY=keymz3MeV8sjZ9T1t"],
        &["AIRTABLE_API_KEY=keyxxxxxxxxxxxxxx", "keyIYfVRPI8qbWBs3"],
    ),
    Detector::secret(
        "dropbox_access_token",
        "Dropbox access token",
        r"\b(?P<v>sl\.[A-Za-z0-9_.=-]{130,480})",
    )
    .docs("Dropbox short-lived access tokens: `sl.` (or `sl.u.`) and a long url-safe body.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["DROPBOX_TOKEN=sl.N0B5VwV1oajf8g02QVC0_L7ggUpWoAWnbYOnoNPPtgxmuOnqLC7g5KNn9V6hqraCTSIsL3d081EYYXCl8ii8h-mQdv4B0fw1_7n_wQTDZCFUWX6fdp37AKcDNClab5Dn7-s_BpnB6lAo", "DROPBOX_TOKEN=sl.u.LTO230qht6lpkxtcdgxY7SfzTAkfW1W7t_YPhUX_NNb8J2q4h-jKcVGmKWAXZNpCWW9Myque6q2mLOGv0PFzRQQBgKSkDFiIAZd2kKyH3T9dI-37Nv3t5NiFLtn7LRIjyZoi6H5DLEunuxovmj63gnrQAJXy8k7VoJJFyIatGWRCU1ZsHv628jAPhGkxrkPw5kE23eA8Tr5rtxlmYO_hPlcPSztnjlAw0NxH5ryscJTU2_RRatczqoMdoU6QhnVhLeXujn0-KU88mSPecbBukdGLbXRuIlScqbjHqxgd9_h5"],
        &["sl.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sl.xMwTqt0ZFUcar7XMtPbVfK-jfj45IleaQ6So8ISo"],
    ),
    Detector::secret(
        "dropbox_long_lived_token",
        "Dropbox long-lived access token",
        r#"(?i:dropbox)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{11}AAAAAAAAAA[A-Za-z0-9_=-]{43})(?:[^A-Za-z0-9_=-]|$)"#,
    )
    .docs("Legacy long-lived Dropbox tokens (11 characters, ten `A`s, 43 characters) after `dropbox` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["DROPBOX_ACCESS_TOKEN=t5DR1EqAUttAAAAAAAAAAIWIIz81QJQrhwhvU-LS78BEoYVvOpoN7HUWI2fXlJ_S"],
        &["DROPBOX_ACCESS_TOKEN=xxxxxxxxxxxAAAAAAAAAAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "DROPBOX_APP_KEY=0eyz4gxy3rmyo21"],
    ),
    Detector::secret(
        "typeform_token",
        "Typeform personal access token",
        r"\b(?P<v>tfp_[A-Za-z0-9_.=-]{59})(?:[^A-Za-z0-9_.=-]|$)",
    )
    .docs("Typeform personal access tokens: `tfp_` and 59 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["TYPEFORM_TOKEN=tfp_bHQoCZtV8pTB8nFEteYc7BFP5S0VlK6fisiXAJmCp9W0XBrtPygv18EpiWI"],
        &["tfp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "tfp_TZyQIqycGYSsIZ3IwEOw"],
    ),
    Detector::secret(
        "mapbox_secret_token",
        "Mapbox secret access token",
        r"\b(?P<v>sk\.eyJ[A-Za-z0-9_-]{40,120}\.[A-Za-z0-9_-]{22})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Mapbox secret tokens: `sk.eyJ`, a base64 JSON body, `.`, 22 characters (public `pk.` tokens are not reported).")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["MAPBOX_SECRET_TOKEN=sk.eyJ1IjoiYWNtZSIsImEiOiJja3NQb2nhJ1tyse7AgMlDkZsXXoeLvInK.kJLbOvwZ4Q-OBrXe3GTn6O"],
        &["pk.eyJ1IjoiYWNtZSIsImEiOiJja3kGa_Ok8V5VZ6wd74csYOR4v8aEnReL.D-xkI7Zn9VjG6bS3j11LkE", "sk.eyJxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "age_secret_key",
        "age encryption secret key",
        r"\b(?P<v>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
    )
    .docs("age (`age-keygen`) X25519 secret keys: `AGE-SECRET-KEY-1` and 58 Bech32 characters with a valid checksum.")
    .validate(age_secret_key)
    .severity(Severity::Critical)
    .examples(
        &["# created: 2024-05-01\nAGE-SECRET-KEY-1GYS8LU7CDXLPCMQU3WX5PPPQCDMPWULWKWWAJP6XTJ84MVNJLEZ7TXSTAF"],
        &["AGE-SECRET-KEY-1GYS8LU7CDXLPCMQU3WX5PPPQCDMPWULWKWWAJP6XTJ84MVNJLEZ7TXSTAQ", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"],
    ),
    Detector::secret(
        "shippo_api_token",
        "Shippo API token",
        r"\b(?P<v>shippo_(?:live|test)_[a-fA-F0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Shippo API tokens: `shippo_live_` / `shippo_test_` and 40 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SHIPPO_API_KEY=shippo_live_b58ca2c99428b67005d4a10d9a286f07f5f0ba62"],
        &["shippo_live_0000000000000000000000000000000000000000", "shippo_live_d8390db6c978e1e5d337"],
    ),
    Detector::secret(
        "easypost_api_key",
        "EasyPost API key",
        "(?:^|[^A-Za-z0-9+/])(?P<v>EZ[AT]K[A-Za-z0-9]{54})(?:[^A-Za-z0-9+/_-]|$)",
    )
    .docs("EasyPost production (`EZAK`) and test (`EZTK`) API keys: 54 alphanumerics after the prefix.")
    .gate(Gate::Inner { literal: "EZ", within: 1 })
    .validate(token)
    .entropy(3.5)
    .examples(
        &["EASYPOST_API_KEY=EZAK1XUtY3jRaDM7G3qPc3MTVlEaTp1U0RS3kCmFBeDn35edKIAq7U4gxK"],
        &["...6wqX6fNUXA/rYqRvfQ+EZAKGqQRiRyqAFRQshGPWOIAwNWGORfKHSBnVNFtVmWYoW6PH23lkqbbDWep95C/3VmWq/edti6...", "EZAKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "frameio_token",
        "Frame.io API token",
        r"\b(?P<v>fio-u-[A-Za-z0-9_=-]{64})(?:[^A-Za-z0-9_=-]|$)",
    )
    .docs("Frame.io developer tokens: `fio-u-` and 64 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["FRAMEIO_TOKEN=fio-u-xHmJYzhfamzJw9XCvTPI3krpLpQUzJ-ZQv2YYN4ZE0AkeQCdclo8q2MxK5blbkOz"],
        &["fio-u-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "fio-u-oy-hiobQ7-ila_g2HdC6"],
    ),
    Detector::secret(
        "planetscale_token",
        "PlanetScale API / OAuth token",
        r"\b(?P<v>pscale_(?:tkn|oauth)_[A-Za-z0-9_=.-]{32,64})(?:[^A-Za-z0-9_=.-]|$)",
    )
    .docs("PlanetScale service tokens (`pscale_tkn_`) and OAuth tokens (`pscale_oauth_`).")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["PLANETSCALE_SERVICE_TOKEN=pscale_tkn_GiwYk3B4ceHHQ_E9skVFXPU7oWWPRk6peLMp9YxLa-w"],
        &["pscale_tkn_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "pscale_tkn_jeTKA1V456"],
    ),
    Detector::secret(
        "planetscale_password",
        "PlanetScale database password",
        r"\b(?P<v>pscale_pw_[A-Za-z0-9_=.-]{32,64})(?:[^A-Za-z0-9_=.-]|$)",
    )
    .docs("PlanetScale database passwords: `pscale_pw_` and 32-64 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["DATABASE_PASSWORD=pscale_pw_xAJ425dHW9EkTM3KdEUQ0T6ehnqiMn1lUEBEaDe24Dk"],
        &["pscale_pw_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "pscale_pw_oX1iBBxNuY"],
    ),
    Detector::secret(
        "prefect_api_key",
        "Prefect Cloud API key",
        r"\b(?P<v>pnu_[A-Za-z0-9]{36})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Prefect Cloud API keys: `pnu_` and 36 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &[r#"PREFECT_API_KEY="pnu_TcT5jqTbuvpRlTl2z3jZDyjXLZGEiAZshOjS""#],
        &[r#"PREFECT_API_KEY = "pnu_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX""#, "pnu_A1FIbpJYjebEfV5TBIcf"],
    ),
    Detector::secret(
        "readme_api_key",
        "ReadMe API key",
        r"\b(?P<v>rdme_[a-z0-9]{70})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("ReadMe API keys: `rdme_` and 70 lowercase alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["const API_KEY = 'rdme_lcypu2t904jfocgasod0bvbp62e65cxxdkbc46an7pivgmh4a7wozeueapnfuo14s9kns1';"],
        &["const API_KEY = 'rdme_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';", "rdme_gzhz8mps89spae10ld5h"],
    ),
    Detector::secret(
        "clojars_token",
        "Clojars deploy token",
        r"\b(?P<v>CLOJARS_[a-z0-9]{60})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Clojars deploy tokens: `CLOJARS_` and 60 lowercase alphanumerics.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["CLOJARS_PASSWORD=CLOJARS_81a72eb88d445eefa414fda5be6a3a1e5c31f5769ca6ee3b4737fc9a2797"],
        &["CLOJARS_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "CLOJARS_8d4994d7bcfebabb165a"],
    ),
    Detector::secret(
        "duffel_api_token",
        "Duffel API token",
        r"\b(?P<v>duffel_(?:live|test)_[A-Za-z0-9_=-]{43})(?:[^A-Za-z0-9_=-]|$)",
    )
    .docs("Duffel access tokens: `duffel_live_` / `duffel_test_` and 43 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["DUFFEL_ACCESS_TOKEN=duffel_live_8n9dV6NvAaYT4CM_44O8RYBgBlqpnBf5Wr4zGNLeT1S"],
        &["duffel_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "duffel_live_j_BbSpy1DT"],
    ),
    Detector::secret(
        "infracost_api_token",
        "Infracost API token",
        r"\b(?P<v>ico-[A-Za-z0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Infracost API keys: `ico-` and 32 mixed-case alphanumerics.")
    .validate(mixed_token)
    .entropy(3.5)
    .examples(
        &["INFRACOST_API_KEY=ico-kTajGMj9T1XLxrM2BiWRHkwK71Eg0YGq"],
        &["http://assets.r7.com/assets/video_box.ico-7a388b69018576d24b59331fd60aab0c.png", "ico-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"],
    ),
    Detector::secret(
        "lob_api_key",
        "Lob API key",
        r#"(?i:lob)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>(?:live|test)_(?:pub_)?[a-f0-9]{31,35})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Lob API keys (`live_` / `test_` and hex digits) after `lob` in an assignment.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["LOB_API_KEY=live_f9a9b8f563141e15341c7787add4324166a"],
        &["LOB_API_KEY=live_00000000000000000000000000000000000", "live_436ff2826b940501eea87245fe6df5e94e7"],
    ),
    Detector::secret(
        "launchdarkly_token",
        "LaunchDarkly access token / SDK key",
        r#"(?i:launchdarkly|ld[_-](?:api|sdk|access)[_-]?(?:key|token))[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>(?:api|sdk|mob)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9=_-]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("LaunchDarkly API access tokens (`api-` and a UUID), SDK keys (`sdk-`) and mobile keys (`mob-`) after `launchdarkly` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["LAUNCHDARKLY_ACCESS_TOKEN=api-5f56647e-aab3-40b0-ae6f-bef8341c55bb", r#"LAUNCHDARKLY_SDK_KEY="sdk-2957aea3-d53b-4e6e-a941-b9c1cbcf67ae""#],
        &["LAUNCHDARKLY_ACCESS_TOKEN=api-00000000-0000-0000-0000-000000000000", "api-e8e299e8-87dd-4a42-a592-cfca371d6bde"],
    ),
    Detector::secret(
        "onepassword_secret_key",
        "1Password account secret key",
        r"\b(?P<v>A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
    )
    .docs("1Password account Secret Keys: `A3-` and five or six dash-separated groups of uppercase alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .severity(Severity::Critical)
    .examples(
        &["secret key: A3-ZK2CQ7-YBHVTG-WR0HQ-EQCEE-QVJ6S-96G2Z"],
        &["A3-XXXXXX-XXXXXXXXXXX-XXXXX-XXXXX-XXXXX", "A3-ZBG5EV-EXR5NZ"],
    ),
    Detector::secret(
        "onepassword_service_account_token",
        "1Password service account token",
        r"\b(?P<v>ops_eyJ[A-Za-z0-9+/]{250,480}={0,3})",
    )
    .docs("1Password service account tokens: `ops_` and a long base64 JSON body.")
    .validate(token)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &["OP_SERVICE_ACCOUNT_TOKEN=ops_eyJKV0FBU4lfCbsPo1grn7SJdfMnoRc/oYcYDwv2uruvVxb9uxTUyyuzfPX7LYNOta7uLEvWW+GV94Zm9++TEukdBbEYYabzuOgSd4+9Mskv1b8OrheQmyOqPQ0SPNaeoJFehRq826GECRS5rVVLRrXdJycYjYetPK5Fwmt1oyGEvc4nhk3HQTMaH1SHpeiIvRqTFhj+DdS4E22h8dGTV+J9SV6wy7fXBIIWRifmRDam31Qwqmt9XZsuN/OHBEvyO+fBAj5k8ok+/fiNJFDlS+fpmzrwftQhC9fWuE/EBfOoJ1Md03CSV7LIzTUz8wa/3R1vHKPEFNHe30etci+AdRYuddG+fjSE7psJe3qCWpKKJThY8T+SfDCGLDU8oPQNIAK8awufUYPy5O5ZJF6"],
        &["ops_eyJxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ops_eyJZrPZL1a3m31lFMU7Ez6UAmZFMPFN4c0wTjHmVBIW"],
    ),
    Detector::secret(
        "hubspot_private_app_token",
        "HubSpot private app token",
        r"\b(?P<v>pat-(?:na|eu|ap)\d-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("HubSpot private app access tokens: `pat-na1-` (or another region) and a UUID.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["HUBSPOT_ACCESS_TOKEN=pat-na1-2456d252-19bf-4cc8-a905-75a3f1200695"],
        &["pat-na1-00000000-0000-0000-0000-000000000000", "pat-na1-b179d01c1e825c6c56ca"],
    ),
    Detector::secret(
        "hubspot_api_key",
        "HubSpot API key (legacy)",
        r#"(?i:hubspot|hapikey)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Deprecated HubSpot API keys (UUIDs) after `hubspot` or `hapikey` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["HUBSPOT_API_KEY=00d1b33c-6a92-43f0-a613-ba703c064aef", "https://api.hubapi.com/contacts/v1/lists?hapikey=2efe4535-1b64-41d9-a5fd-6ba6e9b17d14"],
        &["HUBSPOT_API_KEY=00000000-0000-0000-0000-000000000000", "id=4393c075-de34-4cac-ab1b-cbf234feb42e"],
    ),
    Detector::secret(
        "twitter_bearer_token",
        "Twitter / X bearer token",
        r"\b(?P<v>A{22}[A-Za-z0-9%]{80,110})(?:[^A-Za-z0-9%]|$)",
    )
    .docs("Twitter / X app-only bearer tokens: 22 `A`s and 80-110 url-encoded characters.")
    .validate(twitter_bearer)
    .entropy(3.0)
    .examples(
        &["TWITTER_BEARER_TOKEN=AAAAAAAAAAAAAAAAAAAAAAmyZUTuf5B8cxOH1e09TyaTU0WmYgvj%3DiYV3hkFWTn1eZqbiJhUOEKvDdt3Q4IBqPwuApcvy5NHpP8rvrzMHbONNFXxq"],
        &["AAAAAAAAAAAAAAAAAAAAAAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "AAAAAAAAAAAAAAAAAAAAAAiQLlqiwR6PgMUlauTpD7"],
    ),
    Detector::secret(
        "twitter_api_secret",
        "Twitter / X API secret",
        r#"(?i:twitter|x[_-]api)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{45,50}|\d{15,25}-[A-Za-z0-9]{20,40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Twitter / X consumer secrets and access token secrets (45-50 alphanumerics, or `<user id>-<secret>`) after `twitter` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["TWITTER_API_SECRET=QNsYO5v865vISVMH7MX2E4hlxoEhD1o7LcW3r3ANODi5EaIdE6", "TWITTER_ACCESS_TOKEN=8355998771196073579-nyHRLcToOw8mdqJzl8Wm5kJN51c59l"],
        &["TWITTER_API_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "TWITTER_HANDLE=@acme"],
    ),
    Detector::secret(
        "facebook_access_token",
        "Facebook / Meta access token",
        r"\b(?P<v>EAA[B-Za-z0-9][A-Za-z0-9]{90,400})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Facebook / Meta Graph API user and page access tokens: `EAA` and a long alphanumeric body.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["FB_PAGE_TOKEN=EAAGw03C3quhxxNt547jCZZibP2zKBY9HkTMyhVQlK7Dde5bBkLBaTJboi3W7VHsQwTOTSMlaSWU0cSjY1JPySmmdtxTLTKJT1nLp2qagevsU4jCSKngzl4Hzo1qFDQs48Ms4q8y0kenWKpcJJeCSSgo3uTDTdhtaP6eciP2epG59HxM3dT8oOwP"],
        &["EAAGxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "eaaaC0b75a9329fded2ffa9a02b47e0117831b82"],
    ),
    Detector::secret(
        "facebook_app_secret",
        "Facebook / Meta app secret",
        r#"(?i:facebook|fb[_-]app|fb[_-]client|meta[_-]app)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Facebook app secrets: 32 hex digits after `facebook` / `FB_APP_SECRET` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["FACEBOOK_APP_SECRET=86bd4d8ec350644ff980bdc75de2dca0", r#"facebook_app_secret = "b3a95b29bb89016cb1c7c06e63da0d1a""#],
        &["FACEBOOK_APP_SECRET=00000000000000000000000000000000", "FACEBOOK_APP_ID=318086791087747"],
    ),
    Detector::secret(
        "facebook_app_token",
        "Facebook app access token",
        r"\b(?P<v>\d{15,16}(?:\||%7C)[A-Za-z0-9_-]{27,40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Facebook app access tokens: the numeric app id, `|`, and the app secret or a signature.")
    .gate(Gate::Digit)
    .validate(token)
    .entropy(3.5)
    .context(&["facebook", "graph", "fb", "access_token"])
    .score(0.8)
    .examples(
        &[r#"{"access_token":"115343373275904|qqvSwZV5qsFHzRS7cuyrGn9WuhU","token_type":"bearer"}"#],
        &["123456789012345|xxxxxxxxxxxxxxxxxxxxxxxxxxx", "450188629947066|short"],
    ),
    Detector::secret(
        "sumologic_access_id",
        "Sumo Logic access ID",
        r#"(?i:(?-i:[Ss]umo|SUMO))[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>su[A-Za-z0-9]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Sumo Logic access ids (`su` and 12 alphanumerics) after `sumo` in an assignment.")
    .validate(token)
    .entropy(3.0)
    .severity(Severity::Medium)
    .examples(
        &["SUMO_ACCESS_ID=suN6OhXuhjKknC"],
        &["sumObj = suu9BRUbsHTgvk", "SUMOLOGIC_ACCESSID=XXXXXXXXXXXXXX"],
    ),
    Detector::secret(
        "sumologic_access_key",
        "Sumo Logic access key",
        r#"(?i:(?-i:[Ss]umo|SUMO))[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Sumo Logic access keys: 64 alphanumerics after `sumo` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["SUMO_ACCESS_KEY=jddd2HjVgZafxIvWi4xlteHPz0WRQ1RyX35YNYGjvyECSDYq4YQqMbQTB5IGDxWy"],
        &["SUMO_ACCESS_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sumOfExposures = F6AzPxJLxW0mK5wJyrYD38LCNPo2Wuu6hRDKd20jqJnLRHyjn4MckBeYNPZIh1YL;"],
    ),
    Detector::secret(
        "rollbar_access_token",
        "Rollbar access token",
        r#"(?i:rollbar)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Rollbar access tokens: 32 hex digits after `rollbar` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["ROLLBAR_ACCESS_TOKEN=b089bdbb39f46a0995f09df19f6c6433"],
        &["ROLLBAR_ACCESS_TOKEN=00000000000000000000000000000000", "ROLLBAR_ENV=production"],
    ),
    Detector::secret(
        "bugsnag_api_key",
        "Bugsnag API key",
        r#"(?i:bugsnag)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Bugsnag API keys: 32 hex digits after `bugsnag` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["BUGSNAG_API_KEY=c87edb45e07d1a4b95263e1fffc77d4e"],
        &["BUGSNAG_API_KEY=00000000000000000000000000000000", "BUGSNAG_RELEASE_STAGE=prod"],
    ),
    Detector::secret(
        "cloudinary_url",
        "Cloudinary URL with API secret",
        r"cloudinary://\d{10,20}:(?P<v>[A-Za-z0-9_-]{20,40})@[a-z0-9_-]{1,64}",
    )
    .docs("Cloudinary environment URLs `cloudinary://<api key>:<api secret>@<cloud>`; the secret is reported.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["CLOUDINARY_URL=cloudinary://517878884872346:mR2TBNlo4ZwAaC46Yp-L56AZUkE@acme-media"],
        &["cloudinary://123456789012345:xxxxxxxxxxxxxxxxxxxxxxxxxxx@demo", "cloudinary://514806849592433:<secret>@acme"],
    ),
    Detector::secret(
        "zapier_webhook_url",
        "Zapier webhook URL",
        r"https://hooks\.zapier\.com/hooks/catch/(?P<v>\d{3,12}/[a-z0-9]{5,12})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Zapier catch-hook URLs: anyone with the URL can trigger the Zap (medium severity).")
    .validate(token)
    .score(0.8)
    .severity(Severity::Medium)
    .examples(
        &["ZAPIER_HOOK=https://hooks.zapier.com/hooks/catch/59905684/jr7tgy0/"],
        &["https://hooks.zapier.com/hooks/catch/", "https://hooks.zapier.com/hooks/catch/123/ab"],
    ),
    Detector::secret(
        "maxmind_license_key",
        "MaxMind license key",
        r"\b(?P<v>[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk)(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("MaxMind GeoIP license keys: 6 characters, `_`, 29 characters, `_mmk`.")
    .gate(Gate::Inner { literal: "_mmk", within: 36 })
    .validate(token)
    .entropy(4.0)
    .examples(
        &["MAXMIND_LICENSE_KEY=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"],
        &["xxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxx_mmk", "T5WnT1_er17gNkAWb_mmk"],
    ),
    Detector::secret(
        "settlemint_token",
        "SettleMint access token",
        r"\b(?P<v>sm_(?:aat|pat|sat)_[A-Za-z0-9]{16})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("SettleMint application, personal and service access tokens: `sm_aat_` / `sm_pat_` / `sm_sat_` and 16 alphanumerics.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SETTLEMINT_ACCESS_TOKEN=sm_pat_B8fmNDtaAAN5HYAE"],
        &["sm_pat_xxxxxxxxxxxxxxxx", "sm_pat_q6p4A2AI"],
    ),
    Detector::secret(
        "authress_access_key",
        "Authress service client access key",
        r"\b(?P<v>(?:sc|ext|scauth|authress)_[A-Za-z0-9]{5,30}\.[A-Za-z0-9]{4,6}\.acc[_-][A-Za-z0-9-]{10,32}\.[A-Za-z0-9+/_=-]{30,120})(?:[^A-Za-z0-9+/_=-]|$)",
    )
    .docs("Authress service client access keys: `sc_` / `authress_`, client id, key id, `acc_` account id and a signed secret.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["AUTHRESS_KEY=authress_boxdg5FtIKXG.xxwCM.acc_m3vaf5h5e2qny7r0.tnZe8V07atowi2fUIj0mH48ZLifvQDGwaApw3SYQcaK+6BMt91WosR9S1R1W"],
        &["sc_abc.def.acc_x.short", "authress_xxxxxxxxxxxx.xxxxx.acc_xxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "sidekiq_secret",
        "Sidekiq Enterprise / Pro credentials",
        r#"(?i:BUNDLE_ENTERPRISE__CONTRIBSYS__COM|BUNDLE_GEMS__CONTRIBSYS__COM)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{8}:[a-f0-9]{8})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Sidekiq Pro / Enterprise gem-server credentials (`<8 hex>:<8 hex>`) in `BUNDLE_..._CONTRIBSYS__COM` settings.")
    .validate(not_placeholder)
    .examples(
        &["export BUNDLE_ENTERPRISE__CONTRIBSYS__COM=8bc0daf1:db5d21c9"],
        &["BUNDLE_GEMS__CONTRIBSYS__COM: ${SIDEKIQ_CREDS}", "BUNDLE_GEMS__CONTRIBSYS__COM=00000000:00000000"],
    ),
    Detector::secret(
        "intra42_client_secret",
        "42 Intra client secret",
        r"\b(?P<v>s-s4t2(?:ud|af)-[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("42 school Intra API client secrets: `s-s4t2ud-` / `s-s4t2af-` and 64 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["INTRA_SECRET=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"],
        &["s-s4t2ud-0000000000000000000000000000000000000000000000000000000000000000", "s-s4t2ud-2ef6b8d2e60471b21f11"],
    ),
    Detector::secret(
        "defined_networking_token",
        "Defined Networking API token",
        r"\b(?P<v>dnkey-[A-Za-z0-9=_-]{26}-[A-Za-z0-9=_-]{52})(?:[^A-Za-z0-9=_-]|$)",
    )
    .docs("Defined Networking (managed Nebula) API keys: `dnkey-`, 26 characters, `-`, 52 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["DN_API_KEY=dnkey-rrB7W-gDc13x_WQYDZP8FxRdcW-biYP2lC2Fa2HijCXHGelEgAS_v5OzFEZCmqSIoO-xRsjMhvqXPxa"],
        &["dnkey-xxxxxxxxxxxxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "dnkey-TzasJhNbuR1A20qCnT_wl0nrUU"],
    ),
    Detector::secret(
        "adafruit_io_key",
        "Adafruit IO key",
        r"\b(?P<v>aio_[A-Za-z0-9]{28})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Adafruit IO keys: `aio_` and 28 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["ADAFRUIT_IO_KEY=aio_ndJne2AFpfnu8QG1IydUqpxLjqCl"],
        &["aio_xxxxxxxxxxxxxxxxxxxxxxxxxxxx", "aio_aK5Rg2XRxc"],
    ),
    Detector::secret(
        "cisco_meraki_api_key",
        "Cisco Meraki API key",
        r#"(?i:(?-i:[Mm]eraki|MERAKI))[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Cisco Meraki Dashboard API keys: 40 hex digits after `meraki` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["MERAKI_DASHBOARD_API_KEY=833933504b21eecf74084aabac968bdf6955dd02"],
        &["meraki: aaaaaaaaaa1111111111bbbbbbbbbb2222222222", "meraki-api-key: acdeFf05b1a6d4c890237bf08c5e6e8d2b4d0f2e"],
    ),
    Detector::secret(
        "twitch_api_token",
        "Twitch API token",
        r#"(?i:twitch)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-z0-9]{30})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Twitch client secrets and OAuth tokens: 30 lowercase alphanumerics after `twitch` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["TWITCH_CLIENT_SECRET=0ac6z5hbgxuuz68asnrreo4v3yvu81"],
        &["TWITCH_CLIENT_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "TWITCH_CHANNEL=acme"],
    ),
    Detector::secret(
        "salesforce_access_token",
        "Salesforce access token / session id",
        r"\b(?P<v>00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{80,120})(?:[^A-Za-z0-9._]|$)",
    )
    .docs("Salesforce OAuth access tokens and session ids: the org id (`00D...`), `!`, and a long random body.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["SF_ACCESS_TOKEN=00DgA03k4NOSt0qbZU!JfsvkTBcQ4JHptOjBHHhxxEB3RhjIIQbRMdDVkPs.72w2Df5lufK0TikNbnmgEUWPFiw8JkZt6ZDafqvjLUrDW9TrnQ"],
        &["00Dxxxxxxxxxxxxxxx!xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "00D5rYrCwXJpiiMlRg!short"],
    ),
    Detector::secret(
        "pagerduty_api_key",
        "PagerDuty API key",
        r#"(?i:pagerduty)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_+-]{20})(?:[^A-Za-z0-9_+-]|$)"#,
    )
    .docs("PagerDuty REST API keys: 20 characters (user tokens start `u+`) after `pagerduty` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["PAGERDUTY_TOKEN=u+yKlAFQjiVwEmoYK75R"],
        &["PAGERDUTY_TOKEN=xxxxxxxxxxxxxxxxxxxx", "PAGERDUTY_SERVICE=PXXXXXX"],
    ),
    Detector::secret(
        "opsgenie_api_key",
        "Opsgenie API key",
        r#"(?i:opsgenie)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Opsgenie API keys (UUIDs) after `opsgenie` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["OPSGENIE_API_KEY=8193d862-90ed-4e33-a233-c6039397f2f9"],
        &["OPSGENIE_API_KEY=00000000-0000-0000-0000-000000000000", "alert_id=0425cb84-83cc-40b0-a481-d7bdd042a0ae"],
    ),
    Detector::secret(
        "stytch_secret",
        "Stytch project secret",
        r"\b(?P<v>secret-(?:live|test)-[A-Za-z0-9_=-]{36})(?:[^A-Za-z0-9_=-]|$)",
    )
    .docs("Stytch project secrets: `secret-live-` / `secret-test-` and 36 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["STYTCH_SECRET=secret-live-2dNaTs9jWGhpj-9M2jI8njJ_4GBDCKcubSgK"],
        &["secret-live-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "secret-live-7RI4T55fEg"],
    ),
    Detector::secret(
        "hasura_admin_secret",
        "Hasura admin secret",
        r#"(?i:hasura[_-]?(?:graphql[_-]?)?admin[_-]?secret)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_=+/.-]{16,64})(?:[^A-Za-z0-9_=+/.-]|$)"#,
    )
    .docs("Hasura GraphQL Engine admin secrets after `HASURA_GRAPHQL_ADMIN_SECRET`.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["HASURA_GRAPHQL_ADMIN_SECRET=pHy0ALn7JAEShdO8wmHQ9A8uzXWCjFhJ"],
        &["HASURA_GRAPHQL_ADMIN_SECRET=myadminsecretkey", "HASURA_GRAPHQL_ADMIN_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
];
