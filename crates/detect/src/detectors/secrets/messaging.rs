//! Secret detectors: messaging, SMS, e-mail and push providers.
//!
//! Twilio, SendGrid, Mailgun, Mailchimp, Brevo and similar keys. A Twilio account SID is an
//! identifier, not a secret: it is reported only when an auth token keyword is near, because the
//! pair is a complete credential.

use rampart_core::Severity;

use crate::detector::{Detector, Gate};
use crate::validate::not_placeholder;

use super::generic::{kw_token, token};

/// A Resend API key: `re_`, a short id and a secret, with digits and both letter cases.
fn resend_key(v: &[u8]) -> bool {
    token(v.get(3..).unwrap_or_default())
}

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "twilio_account_sid",
        "Twilio account SID (with auth token)",
        r"\b(?P<v>AC[a-f0-9]{32})\b",
    )
    .docs("Twilio account SIDs (`AC` and 32 hex digits), reported only when an auth-token keyword is nearby: the SID and the token together are a full credential.")
    .validate(token)
    .entropy(3.0)
    .context(&["auth_token", "authtoken", "auth token", "twilio_auth_token"])
    .require_context()
    .score(0.7)
    .severity(Severity::Medium)
    .examples(
        &["TWILIO_ACCOUNT_SID=ACd4a857ee1d834e16f04185914594f536\nTWILIO_AUTH_TOKEN=a8a25f285a2997a386684c1182f91803"],
        &[r#"account_sid = "AC0621515c836975e7d392ab6227997329""#, "AC00000000000000000000000000000000 auth_token"],
    ),
    Detector::secret(
        "twilio_auth_token",
        "Twilio auth token",
        r#"(?i:twilio)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Twilio auth tokens: 32 hex digits after a `TWILIO_AUTH_TOKEN`-style keyword.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["TWILIO_AUTH_TOKEN=8c744d03dbfae0e15ebf30b2031df323"],
        &["TWILIO_AUTH_TOKEN=00000000000000000000000000000000", "TWILIO_PHONE=+15555550100"],
    ),
    Detector::secret(
        "twilio_api_key",
        "Twilio API key SID",
        r"\b(?P<v>SK[a-f0-9]{32})\b",
    )
    .docs("Twilio API key SIDs: `SK` and 32 hex digits.")
    .validate(token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["TWILIO_API_KEY=SK2ad639c1c7ff8631d15bfa033bffda72"],
        &["SK00000000000000000000000000000000", "SK741e1869187f468018b1"],
    ),
    Detector::secret(
        "sendgrid_api_key",
        "SendGrid API key",
        r"\b(?P<v>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("SendGrid API keys: `SG.`, 22 characters, `.`, 43 characters.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["SENDGRID_API_KEY=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"],
        &["SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "SG.E5dXdFJOb-aiqR_wLHKQII"],
    ),
    Detector::secret(
        "mailgun_api_key",
        "Mailgun API key",
        r#"(?i:mailgun)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>key-[a-f0-9]{32}|[a-f0-9]{32}-[a-f0-9]{8}-[a-f0-9]{8})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Mailgun private API and webhook signing keys (`key-` and 32 hex digits, or `<32 hex>-<8>-<8>`) after `mailgun` in an assignment.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["MAILGUN_API_KEY=key-0174d15050efaf0c324bdf2b9361a4e0", r#"MAILGUN_API_KEY="9cc8ef8fc35bf8de367d70e04c213dfc-b2d84957-274067b4""#],
        &["MAILGUN_API_KEY=key-00000000000000000000000000000000", "key-b2e4794ee37d5e83e0c261da6f018e31"],
    ),
    Detector::secret(
        "mailchimp_api_key",
        "Mailchimp API key",
        r"\b(?P<v>[a-f0-9]{32}-us\d{1,2})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Mailchimp marketing API keys: 32 hex digits and the data-centre suffix `-usNN`.")
    .gate(Gate::Inner { literal: "-us", within: 32 })
    .validate(token)
    .entropy(3.0)
    .examples(
        &[r#"MAILCHIMP_KEY = "0685e6cdfadb95af8ff3287097f98cb7-us18""#, "mailchimp_api_key: 69d3974ba1dae0eec8f38e538a778990-us6"],
        &["00000000000000000000000000000000-us18", "e01dfc683d09b2111fe6534f4d4393e8-eu1"],
    ),
    Detector::secret(
        "mandrill_api_key",
        "Mandrill (Mailchimp Transactional) API key",
        r#"(?i:mandrill|mailchimp[_-]?transactional)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>(?:md-)?[A-Za-z0-9_-]{22})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Mandrill keys (`md-` and 22 characters) after `mandrill` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["MANDRILL_API_KEY=md-lBmX5E9ykFENkR135S2hUR"],
        &["MANDRILL_API_KEY=md-xxxxxxxxxxxxxxxxxxxxxx", "md-aXyyIEmzXSMMWHdt9N_rSa"],
    ),
    Detector::secret(
        "postmark_server_token",
        "Postmark server token",
        r#"(?i:postmark)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Postmark server and account tokens are UUIDs, reported after `postmark` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["POSTMARK_SERVER_TOKEN=45c23160-8e13-40ce-afac-c4dbf882b0c4"],
        &["POSTMARK_SERVER_TOKEN=00000000-0000-0000-0000-000000000000", "message_id=6284125e-443a-423c-ac37-69327977614c"],
    ),
    Detector::secret(
        "mailjet_api_key",
        "Mailjet API key / secret",
        r#"(?i:mailjet|mj[_-]?apikey)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Mailjet API keys and secrets: 32 hex digits after `mailjet` / `MJ_APIKEY` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["MJ_APIKEY_PRIVATE=f7179479ba9c892ff90868c82b64ef65"],
        &["MJ_APIKEY_PRIVATE=00000000000000000000000000000000", "md5=7557acacc6a308480e7ac81a4373068a"],
    ),
    Detector::secret(
        "vonage_api_secret",
        "Vonage (Nexmo) API secret",
        r#"(?i:vonage|nexmo)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{16})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Vonage / Nexmo API secrets: 16 alphanumerics after `vonage` / `nexmo` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["VONAGE_API_SECRET=DIoDpNg5Md2oBXdx"],
        &["VONAGE_API_SECRET=xxxxxxxxxxxxxxxx", "VONAGE_API_SECRET=abcdefghabcdefgh"],
    ),
    Detector::secret(
        "messagebird_api_key",
        "MessageBird (Bird) API key",
        r#"(?i:message[_-]?bird)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{25})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("MessageBird access keys: 25 alphanumerics after `messagebird` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["MESSAGEBIRD_API_KEY=F0sMndrNvX89JxPaB28rAVDsM"],
        &["MESSAGEBIRD_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxx", "MESSAGEBIRD_ORIGINATOR=Acme"],
    ),
    Detector::secret(
        "brevo_api_key",
        "Brevo (Sendinblue) API key",
        r"\b(?P<v>xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Brevo / Sendinblue API keys: `xkeysib-`, 64 hex digits, `-`, 16 alphanumerics.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["BREVO_API_KEY=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"],
        &["xkeysib-0000000000000000000000000000000000000000000000000000000000000000-xxxxxxxxxxxxxxxx", "xkeysib-12272fb8e0d4753537546302a096cc69"],
    ),
    Detector::secret(
        "brevo_smtp_key",
        "Brevo (Sendinblue) SMTP key",
        r"\b(?P<v>xsmtpsib-[a-f0-9]{64}-[A-Za-z0-9]{16})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Brevo / Sendinblue SMTP keys: `xsmtpsib-`, 64 hex digits, `-`, 16 alphanumerics.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SMTP_PASSWORD=xsmtpsib-605b144a37c50f16d6857076288c9c19351ebb69b7bd9e4e45f6ffed95e483ba-Nn0hSBuDwSumklz3"],
        &["xsmtpsib-0000000000000000000000000000000000000000000000000000000000000000-xxxxxxxxxxxxxxxx", "xsmtpsib-405c7258b5466becdcf9475a008c54ee"],
    ),
    Detector::secret(
        "resend_api_key",
        "Resend API key",
        r"\b(?P<v>re_[A-Za-z0-9]{8,10}_[A-Za-z0-9]{20,30})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Resend API keys: `re_`, a short key id, `_`, and a random secret.")
    .validate(resend_key)
    .entropy(3.5)
    .examples(
        &["RESEND_API_KEY=re_YwIL59qP_tCf4KXIPlkndtFmYU7Z9iWOT"],
        &["re_compile_patterninthestandardlib", "re_xxxxxxxx_xxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "pusher_secret",
        "Pusher Channels app secret",
        r#"(?i:pusher[_-]?(?:app[_-]?)?secret)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{20})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Pusher Channels app secrets: 20 hex digits after `PUSHER_APP_SECRET` (the app key is public).")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["PUSHER_APP_SECRET=64a3557ac9fdd335da39"],
        &["PUSHER_APP_SECRET=00000000000000000000", "PUSHER_APP_KEY=e1e7f25bb002fe74f275"],
    ),
    Detector::secret(
        "sparkpost_api_key",
        "SparkPost API key",
        r#"(?i:sparkpost)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("SparkPost API keys: 40 hex digits after `sparkpost` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["SPARKPOST_API_KEY=a10e2c4c55375e395f27638e9f228058a1cfc4ef"],
        &["SPARKPOST_API_KEY=0000000000000000000000000000000000000000", "commit bfbadbfa8eca23b52b6392a6b1bcfd71ed84d90d"],
    ),
    Detector::secret(
        "plivo_auth_token",
        "Plivo auth token",
        r#"(?i:plivo)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Plivo auth tokens: 40 alphanumerics after `plivo` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["PLIVO_AUTH_TOKEN=gX733iyIg9iYaycvPByf9gz8Ud0bMwSodyHsM6Nb"],
        &["PLIVO_AUTH_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "PLIVO_AUTH_ID=MACWAIQZIL7RQGLURNW8"],
    ),
    Detector::secret(
        "telnyx_api_key",
        "Telnyx API key",
        r"\b(?P<v>KEY[0-9A-F]{32}_[A-Za-z0-9]{22})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Telnyx API v2 keys: `KEY`, 32 uppercase hex digits, `_`, 22 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["TELNYX_API_KEY=KEYCC0604EEF628E321D7E460E0E5D8AC0A_HXYymc23nyZiRVEF5wql6s"],
        &["KEY00000000000000000000000000000000_xxxxxxxxxxxxxxxxxxxxxx", "KEYA9DD65998383F4921A92C22BA5A46C8A"],
    ),
    Detector::secret(
        "mailersend_api_token",
        "MailerSend API token",
        r"\b(?P<v>mlsn\.[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("MailerSend API tokens: `mlsn.` and 64 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["MAILERSEND_API_KEY=mlsn.d8473223b9594fea33616791e6d3132bda8bcbb278bec030868e054661601e3f"],
        &["mlsn.0000000000000000000000000000000000000000000000000000000000000000", "mlsn.0d148ccf161ceaf9bff0"],
    ),
    Detector::secret(
        "onesignal_api_key",
        "OneSignal API key",
        r"\b(?P<v>os_v2_(?:app|org)_[a-z0-9]{56,120})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("OneSignal app and organization API keys: `os_v2_app_` / `os_v2_org_` and a long lowercase body.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["ONESIGNAL_API_KEY=os_v2_app_loonxf5hxjk9vmdje3lnpf40gd7jfmzdjo4ze7s25hafdjzllq7bdjo2epjcbn7di4sj8q0lndb2zjnu949733necri8626frto4jfpvy0t11frdj"],
        &["os_v2_app_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "os_v2_app_c9xf2u53l2d25ppr31qi"],
    ),
    Detector::secret(
        "onesignal_api_key_legacy",
        "OneSignal REST API key (legacy)",
        r#"(?i:onesignal)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{48})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older OneSignal REST API keys: 48 alphanumerics after `onesignal` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["ONESIGNAL_REST_API_KEY=eQZee9f2fXysLffHukJBm97dHTQnDddyZI25LdM6HY9tDMC5"],
        &["ONESIGNAL_REST_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ONESIGNAL_APP_ID=1ee18478-1a7c-402e-a1ae-e5dcbfb2616c"],
    ),
    Detector::secret(
        "ably_api_key",
        "Ably API key",
        r#"(?i:ably)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{6}:[A-Za-z0-9_+/=-]{43})(?:[^A-Za-z0-9_+/=-]|$)"#,
    )
    .docs("Ably API keys (`<app>.<key id>:<43-character secret>`) after `ably` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["ABLY_API_KEY=TiO1FX.XXAcBB:G3fxz7FWCIDbmDe9y1JMWGKiGkEPiZ3ETS2hgyRedno"],
        &["ABLY_API_KEY=NK6AVv.Xe0OZ5:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ABLY_CHANNEL=updates"],
    ),
    Detector::secret(
        "infobip_api_key",
        "Infobip API key",
        r#"(?i:infobip)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Infobip API keys (32 hex digits, `-`, a UUID) after `infobip` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["INFOBIP_API_KEY=b9993ab34db26bf35ff5427c97de7469-d87e6ca4-178a-46cf-af27-bdf28f7fae1c"],
        &["INFOBIP_API_KEY=00000000000000000000000000000000-00000000-0000-0000-0000-000000000000", "INFOBIP_BASE_URL=https://api.infobip.com"],
    ),
    Detector::secret(
        "sendbird_api_token",
        "Sendbird API token",
        r#"(?i:sendbird)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Sendbird API tokens: 40 hex digits after `sendbird` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["SENDBIRD_API_TOKEN=dd1fd069345df9da379333ad2c23cbdf19ecee56"],
        &["SENDBIRD_API_TOKEN=0000000000000000000000000000000000000000", "SENDBIRD_APP_ID=9E73806A-7827-428F-A217-FF1A607F6FF3"],
    ),
];
