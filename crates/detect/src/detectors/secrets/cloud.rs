//! Secret detectors: cloud platforms, infrastructure and secret managers.
//!
//! Root cloud credentials (AWS keys, GCP service-account keys, Azure storage keys and connection
//! strings) are critical; platform tokens with a vendor prefix are matched on their own, plain
//! random ones only next to the vendor's name.

use rampart_core::Severity;

use crate::detector::{Detector, Gate};
use crate::validate::not_placeholder;

use super::generic::{kw_token, password_value, token};

/// An AWS secret access key: 40 base64 characters mixing upper- and lowercase letters and digits.
fn aws_secret(v: &[u8]) -> bool {
    v.len() == 40 && token(v)
}

/// A HashiCorp Vault legacy token body (`s.` and 24 characters): needs at least three digits and
/// both letter cases, which identifiers such as `s.AcceptanceTimeoutSeconds` lack.
fn vault_legacy(v: &[u8]) -> bool {
    let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
    let upper = v.iter().filter(|b| b.is_ascii_uppercase()).count();
    let lower = v.iter().skip(2).filter(|b| b.is_ascii_lowercase()).count();
    digits >= 3 && upper >= 2 && lower >= 2 && not_placeholder(v)
}

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "aws_access_key_id",
        "AWS access key ID",
        r"\b(?P<v>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})\b",
    )
    .docs("AWS access key IDs: `AKIA` (long-term), `ASIA` (temporary) and related prefixes, then 16 upper-case letters or digits (issued ids are base32, but hand-made and hostile ones use any digit); the documentation key ending in `EXAMPLE` is rejected.")
    .validate(not_placeholder)
    .entropy(3.0)
    .severity(Severity::Critical)
    .examples(
        &["AWS_ACCESS_KEY_ID=AKIA4HBW6E62M7NGFVGF", "aws_access_key_id = ASIAEUJTXP3UJSVRLCHZ", "key AKIA0HBW1E89M7NGF0GF"],
        &["aws_access_key: AKIAIOSFODNN7EXAMPLE", "TODAYINASIAASACKOFRICEFELLOVER", "AKIAKMVX2XJNTRTT", "key = AKIAXXXXXXXXXXXXXXXX", "AKIA4HBW6E62M7NGFVGF0", "xAKIA4HBW6E62M7NGFVGF"],
    ),
    Detector::secret(
        "aws_secret_access_key",
        "AWS secret access key",
        r#"(?i:aws[_-]?secret[_-]?(?:access[_-]?)?key|secret[_-]?access[_-]?key|secretaccesskey|aws[_-]?secret)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
    )
    .docs("AWS secret access keys: 40 base64 characters after a keyword such as `aws_secret_access_key` or `SecretAccessKey`; placeholders and single-class strings are rejected.")
    .validate(aws_secret)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &["aws_secret_access_key = HRgwyONmXuPooIjV8oKNaFfjL4M4jCL5zMaO6mGX", r#""SecretAccessKey": "Zi+gm+S0GYaowQESWuHyn2ISK/QKqi76c7fHtn1i""#, "AWS_SECRET_ACCESS_KEY=zqxhuZp9ovOUzjRsy2lnkez7CLP1LZhsifWoaCTr"],
        &["aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = ${AWS_SECRET}", "0xvcEOawVdg4e7lLsO2X2ZiBZ/jXqUJqEJT3pqJo"],
    ),
    Detector::secret(
        "aws_session_token",
        "AWS session token",
        r#"(?i:aws[_-]?session[_-]?token|aws[_-]?security[_-]?token|x-amz-security-token|sessiontoken)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9/+=]{100,450})"#,
    )
    .docs("Temporary AWS session tokens: 100+ base64 characters after `aws_session_token`, `SessionToken` or `X-Amz-Security-Token`.")
    .validate(token)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &["aws_session_token = IQoJb3JpZ2luX2VjOcOwsnCIaW2n1LKoNwyMX7QvUE88nLg2SnWoJpkKXytEjww1T1ZmYvQt3LDKvte15tIXKiFd2ortdKJtFotam42PyBFyQUuxLFu4dqFQzHILfkbjU3HoZN8wsSMTTOTBg7UaiASpXavzZKyP8xIEDqFYBuDfvGHpL59W2DpH+UKfBVWQz6pLzoiPhgSH4fcf4Syv3Y4D1L+7JrvPgabxbYgneHl8j5dTcrpgHkJYVCSkvJ6ZZaI/q8xXcJWXy76QsO26mpUnwl393bw7gSDCQ6wrkBs/bPMA+SsAFe4boRKm", r#""SessionToken": "FwoGZXIvYXdzEIYmkf02ksZsvYu3qhJ7nxlhScIZC6pnmzf0iimwGRnbI0hBjaaOY3Z5VuJS4fhT8g0w/hUETtAyRxJPIeWank/VecAm5IoNYqkk/dO2Nf3pNERvIvOSODBGrBq4PmI8OHSe8S4i9xdMtgd0Snc/q0e/RBezGMejwbSbl6HxF+AZnnOcrPaO47L697BhIlS4UgPMxqkpZ""#],
        &["aws_session_token = ${AWS_SESSION_TOKEN}", "aws_session_token = ZU0afzjskxBniYKrvF+CDgZzhJf6lDUKAYcCKFgi"],
    ),
    Detector::secret(
        "aws_session_token_value",
        "AWS session token (by prefix)",
        r"\b(?P<v>(?:FwoGZXIvYXdzE|IQoJb3JpZ2luX2Vj)[A-Za-z0-9/+=]{100,450})",
    )
    .docs("AWS STS session tokens recognised by their fixed base64 opening (`IQoJb3JpZ2luX2Vj`, `FwoGZXIvYXdzE`).")
    .validate(token)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &["token: IQoJb3JpZ2luX2VjTIEI6GgR415Q9FnkGCyBB5IMwf9UZHtOoNg4vgACb3WkC/TPPVeRWR4ANqbAJphEfUeWA+MGDPvdacIngjUq1f/48PGbocqxVtwGr3ZbgjO1AMpNa58HFCUawEjsWHIo4Kg5RABJ1sKEtjFyU/qYQWPiNMIcgoC1M7KE8GHYJRdnkYZKAmvcBHLTQOEHTAHL/fGfmUqHNBcaqWjNO7Kk+jcFm+yNaIp7KPVYoKOMp0VhezDYGyC7IDbL28Y8qa+utd/2+QhTXkD/FQKEui65O8N8E4RcrOcT7ijZHh7UXAdDfFooN1XUXsPfRY+M866Il1VQnCETOG0ajQe2XtF5Y990D66BgH"],
        &["IQoJb3JpZ2luX2VjwNHUsjhHJJqPDkPsya8R", "IQoJb3JpZ2luX2Vjxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "aws_mws_auth_token",
        "Amazon MWS auth token",
        r"\b(?P<v>amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Amazon Marketplace Web Service auth tokens: `amzn.mws.` and a UUID.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["MWS_AUTH_TOKEN=amzn.mws.15405615-14a9-4438-ad7f-46501405187d"],
        &["amzn.mws.00000000-0000-0000-0000-000000000000", "amzn.mws.022979537eb7584cdff80681f55026f2"],
    ),
    Detector::secret(
        "aws_bedrock_api_key",
        "Amazon Bedrock API key (long-term)",
        r"\b(?P<v>ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{60,400}={0,2})(?:[^A-Za-z0-9+/=]|$)",
    )
    .docs("Long-term Amazon Bedrock API keys: `ABSK` and base64 of `BedrockAPIKey-...`.")
    .validate(not_placeholder)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &["AWS_BEARER_TOKEN_BEDROCK=ABSKQmVkcm9ja0FQSUtleSLyw1+AtjRMXW2M4lhR8D91H6WMiAJ3GR2ANu2JP85A+ZpKSfu+NX+heg0UacplwFsl4wVmTVqVgI4YCYcsD+0cdYK0hmvzlCsNr4GHgvhlwYAj="],
        &["ABSKQmVkcm9ja0FQSUtleS1EXAMPLE", "AXSKQmVkcm9ja0FQSUtleSAAD+1JNMulIGUTijg45mMhk+4V37I8eEct7jHRqaYKgsXXCnxeHY+NGVLJh3ACl6hmqsLr0kO8Pj1rTZuNB7H7gkRl0DdduEjUOVRpFNxLpYu7="],
    ),
    Detector::secret(
        "aws_bedrock_short_term_key",
        "Amazon Bedrock API key (short-term)",
        r"\b(?P<v>bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=]{0,440})",
    )
    .docs("Short-term Amazon Bedrock API keys: `bedrock-api-key-` and base64 of a presigned `bedrock.amazonaws.com` URL.")
    .validate(not_placeholder)
    .severity(Severity::Critical)
    .examples(
        &["AWS_BEARER_TOKEN_BEDROCK=bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbinwJqZPFVBc0qm5S6+oMt/2Hrw9Cdg54onYqG7hBUhbtAgKNPtLXhd64lvsmb6rhCSEAXyhymL9Z5yMtdJMPjZW9Wf3WkhqKLm74hFvcFKQHfElgKbmHy4YOF2dhp6OSR0fnIQcT869SMVisLFEYNCRLJvMEGd5Vzl+SFOAB+KXc1ijuqJzJWtfM6TBR1GCvNPFhJ3TKa"],
        &["bedrock-api-key-", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29x"],
    ),
    Detector::secret(
        "gcp_service_account_key",
        "Google Cloud service-account key",
        r#"\\?"private_key_id\\?"[ \t]{0,3}:[ \t]{0,3}\\?"(?P<v>[a-f0-9]{40})\\?""#,
    )
    .docs("Google Cloud service-account JSON keys, found by their 40-hex `private_key_id` field (the `\"type\": \"service_account\"` and `client_email` fields around it raise confidence).")
    .validate(token)
    .context(&["service_account", "gserviceaccount", "client_email", "project_id"])
    .severity(Severity::Critical)
    .examples(
        &[r#"{"type": "service_account", "project_id": "acme-prod", "private_key_id": "94b7e1a06b2f589700d2745da02f6ef846325540", "client_email": "ci@acme-prod.iam.gserviceaccount.com"}"#],
        &[r#""private_key_id": "0000000000000000000000000000000000000000""#, r#""private_key_id": "347a2299c0e2fef5f487d60792729ffe""#],
    ),
    Detector::secret(
        "gcp_oauth_client_secret",
        "Google OAuth client secret",
        r"\b(?P<v>GOCSPX-[A-Za-z0-9_-]{28})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Google OAuth 2.0 client secrets: `GOCSPX-` and 28 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &[r#""client_secret": "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""#],
        &["GOCSPX-xxxxxxxxxxxxxxxxxxxxxxxxxxxx", "GOCSPX-47ArE_Tb1B2E"],
    ),
    Detector::secret(
        "google_oauth_access_token",
        "Google OAuth access token",
        r"\b(?P<v>ya29\.[A-Za-z0-9_-]{30,480})",
    )
    .docs("Google OAuth 2.0 access tokens: `ya29.` and a long url-safe body.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["access_token=ya29.Q-_SucCNexxEKfceK7D48z3IQyO0XUIq_ifAmcBiOZ40cVavaXzdHpNwSA1v4f9NuysJrJmf7XIbT6udtgkEPfXkXoanblZ9EVe9Tzc_kREoBVYbPNAJqIW04rkKw1MvJtRqNcJGsLTzARNTfy_1d2CZekdqN2Le"],
        &["ya29.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ya29.Tj_WhQlDS0"],
    ),
    Detector::secret(
        "google_oauth_refresh_token",
        "Google OAuth refresh token",
        r"\b(?P<v>1//0[A-Za-z0-9_-]{40,300})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Google OAuth 2.0 refresh tokens: `1//0` and a long url-safe body.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &[r#""refresh_token": "1//0j43JiFc9FZAQn8TPMtK1WuLOAcUbY4UzjBqhG837JAIiotjoeNDXDYc50P-w1UzvBd7KmsUZZ0khGCoPEAyunaxnWG0P3jm5CgsA""#],
        &["1//0xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "http://1//0abc"],
    ),
    Detector::secret(
        "azure_storage_connection_string",
        "Azure Storage connection string",
        "DefaultEndpointsProtocol=https?;AccountName=[A-Za-z0-9]{3,24};AccountKey=(?P<v>[A-Za-z0-9+/]{86}==)",
    )
    .docs("Azure Storage connection strings with an embedded 88-character account key.")
    .validate(token)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &[r#"AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=3d2GUV4eYiRNbX+evFbDb4xhcEo8E2MRIQf1+Xzi3NCxv6NmKt7L9tlS+aYA69nMJv4qkEEf/tWQ/EegNcQ+FW==;EndpointSuffix=core.windows.net""#],
        &["DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=<key>;", "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=="],
    ),
    Detector::secret(
        "azure_storage_account_key",
        "Azure Storage account key",
        r#"(?i:accountkey|azure[_-]?storage[_-]?(?:account[_-]?)?(?:access[_-]?)?key|storage[_-]?account[_-]?key)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9+/]{86}==)(?:[^A-Za-z0-9+/=]|$)"#,
    )
    .docs("Azure Storage account keys (88 base64 characters) after `AccountKey` or `AZURE_STORAGE_KEY`.")
    .validate(kw_token)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &["AZURE_STORAGE_KEY=e089Y+WBuU95EYwVA4+KR8zj8HT7oheDDg0WwLLmgv/1331QN1syzHvQPHVFdYjSz6mRBGLCDrjeQJzAkk7HJx=="],
        &["AZURE_STORAGE_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "AZURE_STORAGE_KEY=TduCo2SaMKlehiFIMWLlcnSnL8O7nPed4cvVU9s1"],
    ),
    Detector::secret(
        "azure_sas_token",
        "Azure shared access signature",
        r"\bsv=20\d{2}-\d{2}-\d{2}&[A-Za-z0-9=&%:._+-]{0,300}?\bsig=(?P<v>[A-Za-z0-9%+/]{40,100})(?:[^A-Za-z0-9%+/]|$)",
    )
    .docs("Azure SAS tokens: a signed-version `sv=` date followed by a `sig=` signature (url-encoded base64); the signature is reported.")
    .validate(token)
    .entropy(3.5)
    .severity(Severity::Critical)
    .examples(
        &["https://acme.blob.core.windows.net/backups?sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2031-01-01T00:00:00Z&spr=https&sig=BiogU/O6JjfEfhO+FFOVdGFn+0+bSxmfsKwsO/ELB08%3D"],
        &["?sv=2022-11-02&ss=b&sig=<signature>", "sv=2022-11-02&sp=r&sig=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "azure_ad_client_secret",
        "Microsoft Entra ID (Azure AD) client secret",
        r#"(?:^|[\\'"\x60\s>=:(,)])(?P<v>[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?:$|[\\'"\x60\s<),])"#,
    )
    .docs("Entra ID application client secrets: three characters, a digit, `Q~`, then 31-34 characters.")
    .gate(Gate::Inner { literal: "Q~", within: 5 })
    .validate(token)
    .entropy(3.0)
    .severity(Severity::Critical)
    .examples(
        &["client_secret=9CQ8Q~LFmb6z5IAwoTcBqtqvQw2vjLlgJSwOirTP", r#"AZURE_CLIENT_SECRET: "J2t7Q~pkpe11hj1sU_YgHGU40EicdIHte2_aU""#],
        &["client_secret=bP88Q~xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", "abc8Q~short"],
    ),
    Detector::secret(
        "azure_devops_pat",
        "Azure DevOps personal access token",
        r#"(?i:azure[_-]?devops|azdo|ado[_-]?pat|vsts)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-z2-7]{52}|[A-Za-z0-9]{84})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Azure DevOps PATs (52 lowercase base32 characters, or the newer 84-character format) after an `AZURE_DEVOPS` / `AZDO` keyword.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.85)
    .examples(
        &["AZURE_DEVOPS_EXT_PAT=a57tbf2r3nvij57xcicb6bhb4o722awltgcqzfzfwmccktkds43n", "AZURE_DEVOPS_PAT: QgxOYRHJkCmnbK53U1J8tKUx1e9b6PXVb6db3g83Er3nLOZYewA1vWhJWOSXHyu6SgWLYZJEqBY5QgXmDBt8"],
        &["AZURE_DEVOPS_EXT_PAT=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "AZURE_DEVOPS_ORG=https://dev.azure.com/acme"],
    ),
    Detector::secret(
        "azure_shared_access_key",
        "Azure Service Bus / Event Hubs shared access key",
        "SharedAccessKeyName=[A-Za-z0-9._-]{1,64};SharedAccessKey=(?P<v>[A-Za-z0-9+/]{42,43}=)",
    )
    .docs("Service Bus, Event Hubs and IoT Hub connection strings carrying a `SharedAccessKey`.")
    .validate(token)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &["Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=7TvZWK6dTbQrQ9yydlD1OvzGC+W0FkDQNtZ2EsrD/Tx="],
        &["SharedAccessKeyName=Root;SharedAccessKey=<your-key>", "SharedAccessKeyName=Root;SharedAccessKey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
    ),
    Detector::secret(
        "azure_app_config_secret",
        "Azure App Configuration access key",
        "Id=[A-Za-z0-9+/=:-]{1,60};Secret=(?P<v>[A-Za-z0-9+/]{42,43}=)",
    )
    .docs("Azure App Configuration connection strings (`Endpoint=...;Id=...;Secret=<base64>`).")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["APP_CONFIG=Endpoint=https://acme.azconfig.io;Id=3OA6-l0-s0:GQ1R3o1CJBC5SSQC;Secret=f1CIar+56NGTOm69zwE4/rgPRoUwsMtwP4I9Vl/z3jz="],
        &["Endpoint=https://acme.azconfig.io;Id=abc;Secret=<secret>", "Id=abc;Secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
    ),
    Detector::secret(
        "alibaba_access_key_id",
        "Alibaba Cloud AccessKey ID",
        r"\b(?P<v>LTAI[A-Za-z0-9]{12,20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Alibaba Cloud AccessKey IDs: `LTAI` and 12-20 alphanumerics.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["ALIBABA_CLOUD_ACCESS_KEY_ID=LTAIBarxOUntVxJX7Y5B8172"],
        &["LTAIxxxxxxxxxxxxxxxxxxxx", "LTAI9794Twgf"],
    ),
    Detector::secret(
        "alibaba_access_key_secret",
        "Alibaba Cloud AccessKey secret",
        r#"(?i:alibaba|aliyun|alicloud)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{30})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Alibaba Cloud AccessKey secrets: 30 alphanumerics after `alibaba` / `aliyun` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .severity(Severity::Critical)
    .examples(
        &["ALIBABA_CLOUD_ACCESS_KEY_SECRET=oCa7HsZ5dqdQ4AD2jQUbIrzUeXOFGI"],
        &["ALIBABA_CLOUD_ACCESS_KEY_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", r#"aliyun_region = "cn-hangzhou""#],
    ),
    Detector::secret(
        "tencent_secret_id",
        "Tencent Cloud SecretId",
        r"\b(?P<v>AKID[A-Za-z0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Tencent Cloud API SecretIds: `AKID` and 32 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["TENCENTCLOUD_SECRET_ID=AKIDVNjPcYDeLcs8XcAbAW4TFTE3MpC8LsXA"],
        &["AKIDxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "AKIDKgqyAggvM2CbDtJB"],
    ),
    Detector::secret(
        "digitalocean_pat",
        "DigitalOcean personal access token",
        r"\b(?P<v>dop_v1_[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("DigitalOcean personal access tokens: `dop_v1_` and 64 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["DIGITALOCEAN_TOKEN=dop_v1_da1e049a647ace11293244f07e70c1f18c2c38ff89891fdc163276f685639344"],
        &["dop_v1_0000000000000000000000000000000000000000000000000000000000000000", "dop_v1_dac7af462d5801d6b82b1fcabdd1c011"],
    ),
    Detector::secret(
        "digitalocean_oauth_token",
        "DigitalOcean OAuth access token",
        r"\b(?P<v>doo_v1_[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("DigitalOcean OAuth access tokens: `doo_v1_` and 64 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &[r#"token = "doo_v1_d7f2006983fc21dcf13fb5d3664f6236554592f0bd9b8231327d219fd5107399""#],
        &["doo_v1_0000000000000000000000000000000000000000000000000000000000000000", "doo_v1_e4f3986f2ae25ab105b84df535ad4fbe"],
    ),
    Detector::secret(
        "digitalocean_refresh_token",
        "DigitalOcean OAuth refresh token",
        r"\b(?P<v>dor_v1_[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("DigitalOcean OAuth refresh tokens: `dor_v1_` and 64 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &[r#"refresh = "dor_v1_1c48819280730c9c1a63a8d64f7810cb433c89570928a450058e3ed535aa122a""#],
        &["dor_v1_0000000000000000000000000000000000000000000000000000000000000000", "dor_v1_e3d5bbf85cec9171fe1db283e9f9b73d"],
    ),
    Detector::secret(
        "digitalocean_spaces_key",
        "DigitalOcean Spaces access key",
        r"\b(?P<v>DO00[A-Z0-9]{16})\b",
    )
    .docs("DigitalOcean Spaces access key IDs: `DO00` and 16 uppercase alphanumerics.")
    .validate(token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["SPACES_ACCESS_KEY_ID=DO002IQZ77NPF0IVBA4L"],
        &["DO00XXXXXXXXXXXXXXXX", "DO00MT4MVC7CQ3"],
    ),
    Detector::secret(
        "heroku_api_key",
        "Heroku API key",
        r#"(?i:heroku)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Heroku API keys are UUIDs, reported only after `heroku` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["HEROKU_API_KEY=ac3859a2-7f83-4f7b-a1c0-ec4c79f8fca0", r#"heroku_api_key = "18448271-330e-447f-a270-af47f8bd8de6""#],
        &["HEROKU_API_KEY=00000000-0000-0000-0000-000000000000", "request_id=7a87ae96-a4ad-4e29-a294-c1db91aeb9df"],
    ),
    Detector::secret(
        "heroku_api_key_v2",
        "Heroku API key (HRKU format)",
        r"\b(?P<v>HRKU-AA[A-Za-z0-9_-]{58})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Heroku API keys in the current format: `HRKU-AA` and 58 url-safe characters.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["HEROKU_API_KEY=HRKU-AAzyz7zuC0spMG1DXpdoqeBNXEMKLHXZpFJTmR_DDP5B2DZ45StxdSuUlTY5"],
        &["HRKU-AAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "HRKU-AAzOJ0XqTOfm2mvRLLaK5f"],
    ),
    Detector::secret(
        "cloudflare_api_token",
        "Cloudflare API token",
        r#"(?i:cloudflare|cf[_-]api[_-]token|cf[_-]token)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Cloudflare API tokens: 40 url-safe characters after `cloudflare` or `CF_API_TOKEN` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["CLOUDFLARE_API_TOKEN=Y5kJHjYmDUOJD6-Ztj3-BbKMlguxwpKC2_OuUmEO", r#"CF_API_TOKEN: "2R981TiaZqpoLbpY_djCio1krjzFHhvmuXSdwCKS""#],
        &["CLOUDFLARE_API_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", r#"cloudflare_zone = "example-zone-name""#],
    ),
    Detector::secret(
        "cloudflare_global_api_key",
        "Cloudflare global API key",
        r#"(?i:cloudflare|cf[_-]api[_-]key|cf[_-]auth[_-]key)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{37})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Cloudflare global API keys: 37 hex digits after `cloudflare` or `CF_API_KEY` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["CF_API_KEY=bba16725f2b7009eb2f4f2f7b9f9cb10021f8", r#"CLOUDFLARE_API_KEY="c3c2a213130f999411a6f0355cce4ba7c707a""#],
        &["CF_API_KEY=0000000000000000000000000000000000000", "CF_API_KEY=8be0cca03bec08aeebb3089b75300451"],
    ),
    Detector::secret(
        "cloudflare_origin_ca_key",
        "Cloudflare Origin CA key",
        r"\b(?P<v>v1\.0-[a-f0-9]{24}-[a-f0-9]{146})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Cloudflare Origin CA keys: `v1.0-`, 24 hex digits, `-`, 146 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["CF_ORIGIN_CA_KEY=v1.0-8445538427b522b32e31afaf-8f3a98aff50b8cb06c438d4532912782e6d430eee72c072c0ffb3e59d99e98e1ad7ca14e234392a5d30965ff78a7496291f1fe58a6d5e6c4429a57ad0e1bad96c80009c460aa8ca18e"],
        &["v1.0-000000000000000000000000-00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "v1.0-05f61c393f4804dbffcf5ea9-29f0160fcb50baa4705a75e0b8bb3848edf29c08"],
    ),
    Detector::secret(
        "fastly_api_token",
        "Fastly API token",
        r#"(?i:fastly)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Fastly API tokens: 32 url-safe characters after `fastly` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["FASTLY_API_TOKEN=QA5VWea7gDu9igCHYkTJ5R5_j105SoGb"],
        &["FASTLY_API_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "FASTLY_SERVICE_ID=Sq14UTA1Gvr1dIQ8XFU1dL"],
    ),
    Detector::secret(
        "ibm_cloud_api_key",
        "IBM Cloud API key",
        r#"(?i:ibm[_-]?cloud|ibmcloud|ibm)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{44})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("IBM Cloud IAM API keys: 44 url-safe characters after `ibm` / `IBMCLOUD` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["IBMCLOUD_API_KEY=QqL5a0rCSuzG6pmJxs6ueUdG4BvehRC8947D4z79jeBq"],
        &["IBMCLOUD_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "IBM_REGION=us-south"],
    ),
    Detector::secret(
        "oracle_oci_auth_token",
        "Oracle Cloud (OCI) auth token",
        r#"(?i:(?:oci|oracle)[\w.-]{0,20}?auth[_-]?token)\\?["']?[ \t]{0,3}(?::=|=>|[=:])[ \t]{0,3}\\?["']?(?P<v>[A-Za-z0-9;:()\[\]{}#+._<>-]{20})(?:["'\s,]|$)"#,
    )
    .docs("Oracle Cloud auth tokens (20 random characters including punctuation) after an `OCI_AUTH_TOKEN`-style keyword.")
    .validate(token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &[r#"OCI_AUTH_TOKEN="xpkLL8QD;(oOBQd.+mMU""#],
        &[r#"OCI_AUTH_TOKEN="xxxxxxxxxxxxxxxxxxxx""#, "OCI_AUTH_TOKEN=${OCI_TOKEN}"],
    ),
    Detector::secret(
        "linode_api_token",
        "Linode (Akamai) API token",
        r#"(?i:linode)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Linode personal access tokens: 64 hex digits after `linode` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["LINODE_TOKEN=4d6922eadbdbd0aa37b8d25a491a3124adda24233893a49cc9fb623ee711c947"],
        &["LINODE_TOKEN=0000000000000000000000000000000000000000000000000000000000000000", "sha256=beafc0e6403f05dd3384eddbbf1ce79d7f16c95e234361957b050ff5f1cf35c7"],
    ),
    Detector::secret(
        "scaleway_secret_key",
        "Scaleway secret key",
        r#"(?i:scaleway|scw[_-]?secret)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Scaleway secret keys are UUIDs, reported after `scaleway` / `SCW_SECRET_KEY` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["SCW_SECRET_KEY=8dc2c447-62ca-4b4d-a5d2-e737568984f2"],
        &["SCW_SECRET_KEY=00000000-0000-0000-0000-000000000000", "id=ccbb5c01-b4fe-4a04-a8ee-468b91f7f6e3"],
    ),
    Detector::secret(
        "scaleway_access_key",
        "Scaleway access key",
        r"\b(?P<v>SCW[A-Z0-9]{17})\b",
    )
    .docs("Scaleway access key IDs: `SCW` and 17 uppercase alphanumerics.")
    .validate(token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["SCW_ACCESS_KEY=SCW22ZUSD9EIO9FOL7NE"],
        &["SCWXXXXXXXXXXXXXXXXX", "SCW5CO29IPBY5"],
    ),
    Detector::secret(
        "vultr_api_key",
        "Vultr API key",
        r#"(?i:vultr)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Z0-9]{36})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Vultr API keys: 36 uppercase alphanumerics after `vultr` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["VULTR_API_KEY=MID2W5JCFHRZAYFYQEX2H8XSAKGZG5VY5OGR"],
        &["VULTR_API_KEY=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "VULTR_REGION=ewr"],
    ),
    Detector::secret(
        "flyio_access_token",
        "Fly.io access token",
        r"\b(?P<v>fo1_[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Fly.io OAuth-style tokens: `fo1_` and 43 url-safe characters.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["FLY_ACCESS_TOKEN=fo1_NHSnA2UQzsVrDtkMl-RWwRcOlbb7J5Mk4lGi__wwu_P"],
        &["fo1_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "doppler_integration_flyio"],
    ),
    Detector::secret(
        "flyio_macaroon",
        "Fly.io macaroon token",
        r"\b(?:FlyV1 )?(?P<v>fm[12][ar]?_[A-Za-z0-9+/=,]{100,440})",
    )
    .docs("Fly.io macaroon tokens (`FlyV1 fm2_...`, `fm1r_...`): long base64 bodies.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &[r#"FLY_API_TOKEN="FlyV1 fm2_JYgGmrxL4RquqnLn6cAqXLGnUBKIr9787I4aGijsMjnPhON/D8LlCXqooGkMBMepkduO2spa5XUmWsFogx8CAN5heo+EuStzA73UKJiVyxiIIWb71HxVuXUIeLUr4HY9Jyd9AUSWedTMVywyBaNYKTOLfPQceNYpkvUeT3MeqzTH61gq5ZBBLu51e1FxDJ3kBzOMQIldXs/S/kbEsCMMFUe/PKuuaNysp+wbvZw/WOb8UIOrBaJx2q5sOvsorJb8lyo9ilTjnTGJ80R2X8Rh4ZGkZRhLlyn+BW3JvN6Bw3sB""#, "FLY_API_TOKEN=fm1r_M2XVRrc6tqxWiLsCJZyX7+JzbaBCNOakIQHL0Et6JSi2iKmahEtIDVqfX5c1ttn3aR+tXzwn5yVLdhLKhmrh+2fjawAYfP0LPEYWAPtG51IB86saE2p+Mc4RFtFkSFSpgOsGWzU/v0KTsATMIkx6WJxgHw8YHlDZX3rxFsBDYbGRtT2k4SvtiVPgpNoNm8r4h8vFj9Yp"],
        &["fm2_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "TF Fly.io"],
    ),
    Detector::secret(
        "vercel_token",
        "Vercel access token",
        r#"(?i:vercel)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>(?:vc[pirak]_)?[A-Za-z0-9]{24,60})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Vercel access tokens (24 alphanumerics, or newer `vcp_`-style prefixed tokens) after `vercel` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["VERCEL_TOKEN=AdMpHiDadvliJkt19HCpPx7d"],
        &["VERCEL_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxx", "VERCEL_ORG_ID=team_abc"],
    ),
    Detector::secret(
        "netlify_pat",
        "Netlify personal access token",
        r"\b(?P<v>nfp_[A-Za-z0-9]{36,40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Netlify personal access tokens: `nfp_` and 36-40 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["NETLIFY_AUTH_TOKEN=nfp_mikyUMrnFWMdMm4SNrp0uT7Fqe4WwRWugCAu"],
        &["nfp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "nfp_3htUyKLF4POk"],
    ),
    Detector::secret(
        "netlify_access_token",
        "Netlify access token",
        r#"(?i:netlify)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{40,46})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Netlify access tokens without a prefix: 40-46 url-safe characters after `netlify` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["NETLIFY_AUTH_TOKEN=qo-824nqgMuPpFXk10r7pkbCvJT5zz-LHU5sJYmlwT6"],
        &["NETLIFY_AUTH_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "NETLIFY_SITE_ID=a1a80394-d9ca-4ff4-ad6a-d213921b8e09"],
    ),
    Detector::secret(
        "supabase_access_token",
        "Supabase access token",
        r"\b(?P<v>sbp_[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Supabase management API tokens: `sbp_` and 40 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SUPABASE_ACCESS_TOKEN=sbp_c3cbfd208a1eb83c7929066bb7218485742ea8ae"],
        &["sbp_0000000000000000000000000000000000000000", "sbp_45d8482f3e7e65d316c3"],
    ),
    Detector::secret(
        "supabase_secret_key",
        "Supabase secret API key",
        r"\b(?P<v>sb_secret_[A-Za-z0-9_-]{20,64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Supabase secret API keys: `sb_secret_` and a url-safe body (the `sb_publishable_` key is public).")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["SUPABASE_SECRET_KEY=sb_secret_IhmIkwVkrCrz5DJ-gRVSTgCVx-6z_OM"],
        &["SUPABASE_PUBLISHABLE_KEY=sb_publishable_rQDXCaS1V2rf7432oM2cmGa-L4ZrUPf", "sb_secret_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "databricks_token",
        "Databricks personal access token",
        r"\b(?P<v>dapi[a-f0-9]{32}(?:-\d)?)(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Databricks PATs: `dapi` and 32 hex digits, optionally `-N`.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["DATABRICKS_TOKEN=dapibde0fff3f6431dde9e385c9bd85181f7", "token = dapi1edb8412ed28e60d313fc2c0dbe00dbc-2"],
        &["DATABRICKS_TOKEN=dapi123456789012345678a9bc01234defg5", "dapi00000000000000000000000000000000"],
    ),
    Detector::secret(
        "snowflake_password",
        "Snowflake credential",
        r#"(?i:snowflake|snowsql)[\w.-]{0,24}?(?i:password|passwd|pwd|token|secret)\\?["']?[ \t]{0,3}(?::=|=>|[=:])[ \t]{0,3}\\?["']?(?P<v>[^\s"'\x60,;]{8,64})(?:["'\x60\s,;]|$)"#,
    )
    .docs("Snowflake passwords and tokens after a `SNOWFLAKE_PASSWORD`-style keyword, with the strict password checks (no placeholders, variable references or plain words).")
    .validate(password_value)
    .score(0.75)
    .examples(
        &[r#"SNOWFLAKE_PASSWORD="ioNtCda2Gx!P8EQ""#, "snowsql_pwd: X3EhQFds7isjmZqF"],
        &[r#"SNOWFLAKE_PASSWORD="${SNOWFLAKE_PASSWORD}""#, "SNOWFLAKE_PASSWORD=changeme", "SNOWFLAKE_PASSWORD=<password>"],
    ),
    Detector::secret(
        "doppler_token",
        "Doppler token",
        r"\b(?P<v>dp\.(?:pt|sa|ct|scim|audit|st(?:\.[a-z0-9_-]{1,40})?)\.[A-Za-z0-9]{40,44})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Doppler personal, service, service-account, CLI, SCIM and audit tokens: `dp.pt.`, `dp.st.`, ... and 40-44 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["DOPPLER_TOKEN=dp.pt.Z4SrX9UHh3u03k3Wfw7oNakPoKFhZIDJE9Yx9J3tgBm", "DOPPLER_TOKEN=dp.st.prd.UGMDYXSxLVz8rS7wKVMFUEMPhQO8R0Cpk8FpEs60RTu"],
        &["dp.pt.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "dp.pt.2fsEXbr3E2647ZXWsull"],
    ),
    Detector::secret(
        "vault_service_token",
        "HashiCorp Vault service token",
        r"\b(?P<v>hvs\.[A-Za-z0-9_-]{90,120})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Vault service tokens: `hvs.` and 90-120 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .severity(Severity::Critical)
    .examples(
        &["VAULT_TOKEN=hvs.cwvscBZ90ufHcd-XSrYaHzHKT6BMa0bF0ctdIDdJbVDcBdUHsl7OGYY96rGqxG41POX-PdaCp_sI9uXrKnhMiciEl2H4BrD"],
        &["hvs.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "hvs.dT0QDLaYBj-SYVsyrmWDF3L9"],
    ),
    Detector::secret(
        "vault_batch_token",
        "HashiCorp Vault batch token",
        r"\b(?P<v>hvb\.[A-Za-z0-9_-]{138,300})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Vault batch tokens: `hvb.` and 138+ url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["VAULT_TOKEN=hvb.d8vcNhwG7dLTzoIuCKSEtyo6KHVrZNFbL1EmPvM_S2AZbQTpKOptwR3UWmKlRWqf53pJN9ESE4p6T6JkAzDQZ2wLCdgOaks7bU-xrURHSQ87xcHM8Oh8zD34XMAZ2k4RMl-IsiPrAGfw23WljqSM3eQWro2ddG7N"],
        &["hvb.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "hvb.ocrcw9Sm_bpjdgNnFodipsEmgr7rAtqrBrEfKKzz"],
    ),
    Detector::secret(
        "vault_legacy_token",
        "HashiCorp Vault token (legacy)",
        r"\b(?P<v>s\.[A-Za-z0-9]{24})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Vault tokens in the pre-1.10 format: `s.` and 24 alphanumerics with digits and both letter cases.")
    .validate(vault_legacy)
    .context(&["vault", "token", "x-vault-token"])
    .score(0.75)
    .examples(
        &["VAULT_TOKEN=s.W703UqcYjJz49FFhqMFh1BE9", "vault login s.cKiH5En7k1YUYVfqQWWpjl3w"],
        &["s.AcceptanceTimeoutSeconds ", "s.xxxxxxxxxxxxxxxxxxxxxxxx", "s.THISSTRINGISALLUPPERCASE"],
    ),
    Detector::secret(
        "consul_nomad_token",
        "HashiCorp Consul / Nomad ACL token",
        r#"(?i:consul|nomad)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Consul and Nomad ACL tokens (UUIDs) after `CONSUL_HTTP_TOKEN` / `NOMAD_TOKEN` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["CONSUL_HTTP_TOKEN=dbea47c3-4487-4609-a15f-45d9eb7ea09a", r#"NOMAD_TOKEN="6fa31dcd-f407-45af-accb-89d160465656""#],
        &["CONSUL_HTTP_TOKEN=00000000-0000-0000-0000-000000000000", "CONSUL_HTTP_ADDR=http://127.0.0.1:8500"],
    ),
    Detector::secret(
        "railway_token",
        "Railway API token",
        r#"(?i:railway)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Railway account and project tokens (UUIDs) after `RAILWAY_TOKEN` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["RAILWAY_TOKEN=c21aa2b2-2076-4249-aeec-7281db61187c"],
        &["RAILWAY_TOKEN=00000000-0000-0000-0000-000000000000", "RAILWAY_ENVIRONMENT=production"],
    ),
    Detector::secret(
        "terraform_cloud_token",
        "Terraform Cloud / HCP Terraform API token",
        r"\b(?P<v>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})(?:[^A-Za-z0-9_=-]|$)",
    )
    .docs("Terraform Cloud user, team and organization tokens: 14 characters, `.atlasv1.`, 60-70 characters.")
    .gate(Gate::Inner { literal: ".atlasv1.", within: 14 })
    .validate(token)
    .entropy(3.5)
    .examples(
        &[r#"token = "a9saLqXkRbdlkC.atlasv1.hfNqCLQn_xx2x6pVbThqk96zgLu-E5GEowHqEt5EsF_F1Okwqw4GJDYX8K-1aabaIYQ""#],
        &[r#"token = "xxxxxxxxxxxxxx.atlasv1.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx""#, "zRJV5ngnNZPoUR.atlasv1.9rU1J3UbfVLHCNkp7lkO"],
    ),
    Detector::secret(
        "pulumi_access_token",
        "Pulumi access token",
        r"\b(?P<v>pul-[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Pulumi access tokens: `pul-` and 40 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["PULUMI_ACCESS_TOKEN=pul-72aef1999d9544d5e4927ea5b4bbf3ba604fba9c"],
        &["pul-0000000000000000000000000000000000000000", "vipul-f0eb1acf0da84c06a50c5b2c59932001997786b176dec02bd16128ee9ea83628.png"],
    ),
    Detector::secret(
        "firebase_fcm_server_key",
        "Firebase Cloud Messaging server key",
        r"\b(?P<v>AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{134})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Legacy FCM server keys: `AAAA`, 7 characters, `:APA91b`, 134 url-safe characters.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["FCM_SERVER_KEY=AAAAYSP8_5t:APA91bvXwHG8Z17H1qT63nFdjjTGhct5EgkAM3nOAKIYVRzbhWwwndSioREIHQ49oDyVan0YfYZjU0cmYFrLCjrlWtSFiKI6pz3P4qLTJ25gAvHo7KZVXgZgwFQWsH6gawXFJOk2wb2o"],
        &["AAAAC5RsDg2:APA91bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "AAAA2jIrQnX:APA91bt59IFe3GmW1KaY2yRudc"],
    ),
    Detector::secret(
        "openshift_user_token",
        "OpenShift user token",
        r"\b(?P<v>sha256~[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("OpenShift OAuth user tokens: `sha256~` and 43 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["oc login --token=sha256~YFxrBnBWNhIhh01SB-8nEDMJN5r0aZOtGbzQATCAMTg --server=https://api.cluster:6443"],
        &["sha256~XXXXXXXXXX_PUT_YOUR_TOKEN_HERE_XXXXXXXXXXXX", "sha256~okQMYimXZN74PJQ4NrG8"],
    ),
    Detector::secret(
        "render_api_key",
        "Render API key",
        r"\b(?P<v>rnd_[A-Za-z0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Render API keys: `rnd_` and 32 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["RENDER_API_KEY=rnd_tki764VIgp9U7m2vXWZ8Qxy0dSHhUNvZ"],
        &["rnd_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "rnd_EQn0m6VrxYOj"],
    ),
    Detector::secret(
        "clickhouse_cloud_secret",
        "ClickHouse Cloud API secret",
        r"\b(?P<v>4b1d[A-Za-z0-9]{38})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("ClickHouse Cloud API key secrets: `4b1d` and 38 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["CLICKHOUSE_KEY_SECRET=4b1dfP9biTyozvsd7HSbs7jg4tfPqmQY3x723ZAdQN"],
        &["key = 4b1dXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "key = adf4b1d9Kt0uLn51DJ0cYvdt8B7x49nJM16FQtfqLDiet"],
    ),
    Detector::secret(
        "scalingo_api_token",
        "Scalingo API token",
        r"\b(?P<v>tk-us-[A-Za-z0-9_-]{48})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Scalingo API tokens: `tk-us-` and 48 url-safe characters.")
    .validate(not_placeholder)
    .entropy(3.5)
    .examples(
        &["SCALINGO_API_TOKEN=tk-us-w8c-K2eqgiyus6t7ijmfbmv9OlUbxkQ1W55kOJYyecD44hLP"],
        &["tk-us-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "tk-us-2X2ZydDtrVhZfRFVNlJP"],
    ),
    Detector::secret(
        "yandex_api_key",
        "Yandex Cloud API key",
        r"\b(?P<v>AQVN[A-Za-z0-9_-]{35,38})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Yandex Cloud API keys: `AQVN` and 35-38 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["YC_API_KEY=AQVNJ51z7rgL9Mioa7SH8Sw46hwGBK4QM7ReKUDQ"],
        &["AQVNxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "AQVN3wbylkLkH76m0S64CNrr"],
    ),
    Detector::secret(
        "yandex_static_key",
        "Yandex Cloud static access key",
        r#"(?i:yandex|yc)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>YC[A-Za-z0-9_-]{38})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Yandex Cloud static access key secrets: `YC` and 38 url-safe characters, after `yandex` / `yc` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["YC_SECRET_ACCESS_KEY=YCcXCJZfCsek8iXVyQ2UiPUeiB9goNgfG0krOv7m"],
        &["YC_SECRET_ACCESS_KEY=YCxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "YCHTHs01dG4Zj8Tn3V9XKhcV8LpiwHh-VgnhiE1L"],
    ),
    Detector::secret(
        "backblaze_application_key",
        "Backblaze B2 application key",
        r#"(?i:backblaze|b2)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>K\d{3}[A-Za-z0-9+/]{27})(?:[^A-Za-z0-9+/=]|$)"#,
    )
    .docs("Backblaze B2 application keys: `K` and three digits then 27 base64 characters, after `b2` / `backblaze` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["B2_APPLICATION_KEY=K005Rks4ZtryUFG89OBPTa8L/A/BMPt"],
        &["B2_APPLICATION_KEY=K005xxxxxxxxxxxxxxxxxxxxxxxxxxx", "K005h2eO3zeUt7xqTpEEmxSwwLy9M6F"],
    ),
];
