//! Secret detectors: private keys, tokens, connection strings and credentials in headers and
//! URLs.
//!
//! PEM and OpenSSH private keys (real or `\n`-escaped newlines), PuTTY keys, JWTs (the header
//! must decode to JSON with `"alg"`), database and other URLs with embedded passwords, JDBC and
//! ADO.NET connection strings, and `Authorization: Basic` / `Bearer` headers. Placeholder
//! passwords (`password`, `****`, `${VAR}`, ...) are rejected.

use base64::Engine as _;
use rampart_core::Severity;

use crate::detector::{Detector, Gate};
use crate::validate::{is_placeholder, not_placeholder};

use super::generic::{BASE64, BASE64_URL, password_value, specific_format, token};

/// Passwords that appear in documentation and default configurations rather than in real
/// deployments.
const WEAK_PASSWORDS: &[&[u8]] = &[
    b"password",
    b"passwd",
    b"pass",
    b"pwd",
    b"secret",
    b"test",
    b"user",
    b"username",
    b"admin",
    b"root",
    b"guest",
    b"postgres",
    b"mysql",
    b"redis",
    b"mongo",
    b"mongodb",
    b"rabbitmq",
    b"dbpass",
    b"dbpassword",
    b"db_password",
    b"mypassword",
    b"yourpassword",
    b"pass123",
    b"password123",
    b"p@ssw0rd",
    b"p@ssword",
    b"passw0rd",
    b"foo",
    b"bar",
    b"token",
    b"apikey",
    b"api_key",
    b"key",
    b"xxx",
    b"123",
    b"1234",
    b"12345",
    b"123456",
    b"none",
    b"null",
    b"empty",
];

/// The password of a URL or `user:password` pair: no placeholder, no variable or template
/// reference, no well-known default, not a bare port number, and not a token that a more
/// specific detector reports.
fn url_password(v: &[u8]) -> bool {
    let Some(&first) = v.first() else {
        return false;
    };
    if v.len() < 3
        || matches!(first, b'$' | b'%' | b'{' | b'<' | b'[' | b'*' | b'#' | b'&')
        || (v.len() <= 5 && v.iter().all(u8::is_ascii_digit))
        || v.iter().all(|&b| b == first)
        || WEAK_PASSWORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
    {
        return false;
    }
    !is_placeholder(v) && !specific_format(v)
}

/// The body of a PEM private key (between the BEGIN and END lines): at least 64 base64 characters
/// and no documentation filler such as `...` or `<your key>`.
fn pem_body(v: &[u8]) -> bool {
    let start = v
        .get(5..)
        .and_then(|rest| memchr::memmem::find(rest, b"-----"))
        .map_or(0, |i| i + 10);
    let end = memchr::memmem::rfind(v, b"-----END").unwrap_or(v.len());
    let Some(body) = v.get(start..end) else {
        return false;
    };
    let b64 = body
        .iter()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .count();
    let lower = |w: &[u8]| body.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
    b64 >= 64
        && ![
            &b"..."[..],
            b"xxxxxxxx",
            b"<",
            b"${",
            b"{{",
            b"redacted",
            b"placeholder",
            b"your_",
            b"example",
            b"truncated",
        ]
        .iter()
        .any(|w| lower(w))
}

/// An OpenSSH private key: a PEM body that opens with the `openssh-key-v1` magic
/// (`b3BlbnNzaC1rZXktdjE` in base64).
fn openssh_body(v: &[u8]) -> bool {
    pem_body(v) && memchr::memmem::find(v, b"b3BlbnNzaC1rZXktdjE").is_some()
}

/// A JWT: the header decodes (base64url) to a JSON object with an `"alg"` member.
fn jwt(v: &[u8]) -> bool {
    let header = v.split(|&b| b == b'.').next().unwrap_or_default();
    let mut buf = [0u8; 768];
    if header.len() > 1000 {
        return false;
    }
    let Ok(n) = BASE64_URL.decode_slice(header, &mut buf) else {
        return false;
    };
    let json = &buf[..n];
    json.first() == Some(&b'{') && memchr::memmem::find(json, b"\"alg\"").is_some()
}

/// A base64 `user:password` pair (HTTP Basic credentials, Docker `auth`): printable ASCII with a
/// colon and a password that passes [`url_password`].
fn basic_credentials(v: &[u8]) -> bool {
    let mut buf = [0u8; 256];
    if v.len() > 340 {
        return false;
    }
    let Ok(n) = BASE64.decode_slice(v, &mut buf) else {
        return false;
    };
    let pair = &buf[..n];
    if pair.first() == Some(&b'{') || !pair.iter().all(|b| (0x20..0x7f).contains(b)) {
        return false;
    }
    match pair.iter().position(|&b| b == b':') {
        Some(colon) => url_password(&pair[colon + 1..]),
        None => false,
    }
}

/// A bearer or API-key header value: a random-looking token that no more specific detector
/// (JWT, vendor prefixes) reports.
fn header_token(v: &[u8]) -> bool {
    token(v) && !specific_format(v)
}

/// A base64-encoded PEM private key (as in Kubernetes `client-key-data`): the first 48 decoded
/// bytes hold a `PRIVATE KEY` BEGIN line.
fn base64_pem(v: &[u8]) -> bool {
    let mut buf = [0u8; 48];
    let Some(head) = v.get(..64) else {
        return false;
    };
    BASE64.decode_slice(head, &mut buf).is_ok()
        && memchr::memmem::find(&buf, b"PRIVATE KEY").is_some()
}

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "openssh_private_key",
        "OpenSSH private key",
        r"-----BEGIN OPENSSH PRIVATE KEY-----[A-Za-z0-9+/=\s:,.()\\-]{40,4500}?-----END OPENSSH PRIVATE KEY-----",
    )
    .docs("OpenSSH private keys (`ssh-keygen` format): BEGIN/END lines around a body that starts with the `openssh-key-v1` magic; real or `\\n`-escaped newlines.")
    .validate(openssh_body)
    .severity(Severity::Critical)
    .examples(
        &["-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU6DV//xjyGheRtkvtmPkUl51jjLKOxIZSZ\nUFm5cj5mR3n8Dbi870IsIZ7L9dLRJUCiJebusEFdQt0cP06bVFKlc7GRKIBkjECb\nL1ZOV6wVDikXh2vVD/6Umvd9z5joJR5Q4dT37WiuSaCjsMxCvTaje+4+iOZ+SDEZ\nlMTWf1GnoGFR/+//nf4LLsnqe260GBmQ/fCSBDfcRIe7zrsXzRpjuZMlxeaPPEEx\nyb+tu0llzRQXE0aq8ulMR6ejU8mZrPqZ8wi8qTjVnQ3yh3Qa9VfCS3wQOGEJ4aDW\nTdNo0vEfRmqm9MCgWOuvtYf3Yn6OmHOYk2r6ovWyjJM+wsqwSpQVkyix4oP1bWeK\ni0Y3enwZc3caM9Op8TNGAlDQ8/Rmk6SSHi12E1nVWhLL/V+UEwSYNquR6PxE74ti\nOalT6oNfB6yXYlnP2qcszTBeR/SlfwOFxHjkiKiaBYW4eB887p1Rz588l7xxcET0\nTui/1PFvfinkuSc5H2dMVKfiOw==\n-----END OPENSSH PRIVATE KEY-----", r#"{"deploy_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmVp+i7kHOhD1Okd7J0LyoIBbyUX2LAgHiPx\nEJLRXEXXv8PlwcApRLI8W8lBcgELmO3ZwnV+67FPjWA5ENYIe2kiMxHkGH0WzeB3\nbxxHlHejpHmaSXHTmYwfWdr9GLDDo9XRTJnAXvJ7c5lJ7R3T1UTGfIJoqSjmvS9h\nGonBFCVgb/VqqpsHbGE89Xxoy3qkkMLut52FuP7uMvCjaL2g0xdxSgiF1ZdOZKh1\nwn3/rIP6++tWtFZH+l4eESYYA9NGdiJNBG/pvx73+QgD0gYIjJII3Fs2MUx7YoG1\niMsov8/rfHOZKRAvz8LB8xwEVyr/3qkwFXVs84oXJo8QW6EIaknLJ5lTe8epxEco\nsRsy33YmrsunD4vm+3S2wN1fwiuXfiUqiU7CTseiuDYuAp3juIo0Qyxf3OXQNA0t\ntS+mxQaV08YrfFbCVkeJmon8SiBV3o3XmfcnuIB+/WTqNkWbA8qqwqjhq9xFmaRm\n9aBay6OV+3ymwI/JujpmXA3saw==\n-----END OPENSSH PRIVATE KEY-----"}"#],
        &["-----BEGIN OPENSSH PRIVATE KEY----------END OPENSSH PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE...\n...\n-----END OPENSSH PRIVATE KEY-----"],
    ),
    Detector::secret(
        "private_key_pem",
        "PEM private key",
        r"-----BEGIN (?:[A-Z0-9]{1,12} ){0,2}PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=\s:,.()\\-]{40,7800}?-----END (?:[A-Z0-9]{1,12} ){0,2}PRIVATE KEY(?: BLOCK)?-----",
    )
    .docs("PEM private keys of every kind (RSA, EC, DSA, PKCS#8, encrypted, PGP blocks): BEGIN/END lines around at least 64 base64 characters; the body may use real or `\\n`-escaped newlines.")
    .validate(pem_body)
    .severity(Severity::Critical)
    .examples(
        &["-----BEGIN RSA PRIVATE KEY-----\nOQyMfXJHNCzYEA8vb3cNZdZw5Y4DUdiujk9urDQvwjG3sIcW6z/BKJa5YiMXdJQo\ndzPCjui6U721a4gkV31T7MKKcKYcdRChzYkhbKFs/8rqSYdHfobbzLlwRvwuGDhO\nUdggxcPvgAU6iK45lt5Q6AGGWzaYZU6/UgCl+gk5uZ16HXsoK/gjQEHzVIfYbGaf\nzL/g5z1+cyCtCnVwAyQedSIQqSR5jvhtQ/J88tBhMDHctdjS7xsyH86tN39iYeVH\n2F2O7H8m4jIZBy95VdD49m3NHlTCAceH6JLY+U9hl28dH6AdGfRQHSlfIyJ4zj1+\nFCnWoYVooHqHykOZ6qElBOozJW2HQ7Ijfb2RUOCaBJk1RIc7Nk+LkGuvaIf6gBov\n2I0WAapChlLi2gQ5JkwSvUvcQRWduhS3a380tdBPeVNa0wxbqtJ/iFE3wxPwcWbr\ns5x0cgxizKiOI46zzKkOO4VbhxM33rCg3zvFYYIW3wBkutwjqaA/mZ7Rp86XQWLX\nwlmazwCbkmvcpO7i4m3yViuRqy94nnNlSwwXffMl6dRjxP3MfEsCNtlwWu0Zfz7p\nRO2i4trkUfPmhH6N+HqM4SeSeIuroylGTXbETm0g1NCp7tQfadfHCsL0A7SYx9Zw\n+XCL3/gOx6zPVO9BDckNKttF7F0ZhcKnbOinrMKO14Ep8Akas3IjFA9+ZgpOekDy\nOm/ug7xVOlOfNw2fwMtlJnw0mj0Vsdu9I64G1/o23bnrTt5aivfu34mlfSyO5nzt\nwqwO/aZd+Wy1hK6PjQVhK3vQ+nvz++UI\n-----END RSA PRIVATE KEY-----", r#"key: "-----BEGIN EC PRIVATE KEY-----\nL5Zxz3ycvPKw2am06IqcgHY9YqE9XmJu942QM2OXdLhbmgdAjBcblUD7NAaR8PXh\nrl4agfQ6Ic37JRtNTJsrfzzVc8Lm4pjbnB4yamyHKVB6WCZQAdHm8JUQdpOQ6CR3\nh2XZOnNMiEgkHlSdk+A/75vOi/zgKRTd\n-----END EC PRIVATE KEY-----""#, "-----BEGIN ENCRYPTED PRIVATE KEY-----\npYANLnUKiRRZ8OKOXN/7LvCy0aqkNVKo0v2TzRLoLaGBpTvOAOzTG2C5/+IaaIhD\nk+D4Pg56UZ8H0C9zOuw8Tv+Vi9T38XzpSsRhRSON1K6IAZCY+kzk97CqwemkYHrE\nd9IWovLDxU39EkCpM+Ez6QdJ0U8m8IetyymowqL5EiN4k3Qu3jIz41WZDhemHJa3\nv9xKfdJcV1kow3v+SXbsguuCBO6TUCXisJnZgOmaZcT3NnnDt5eXC8qMBBn+knW0\ncGGARjEUnuERukMul6fUWWZDu4tUg/aXrTrvJkhzy7suygeHP+i8hsO+N3fxDKdx\nIO2a0TtHFxOb/DsxeEXG6L3WT9Qy+tCPEL1v4+N4uTK8tx/LjWE+6C5sChmqfEBp\nI2pud6hLAY1KQoBZ\n-----END ENCRYPTED PRIVATE KEY-----", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\nOA1DB7d5pQhZhxpA1zog8+W5N+dxFprqDx/1zdo3++MlKaRLIUCMpsOW6NwyOm7c\n53TTrejM1DCg2qCCv07yIi4rL90xvkIeqD7Stdgak5+0NWxP9nI3s7w6jnPbDYgO\nXIuerbMDXEnNI0gPLm7A1uiuUL2fpisaT1AZKYvi2fji1ItuOrDcOJH5nRdwyhwD\naJpsRoKUpz0D/txZQsJ1tSTLFd8J6yeg28/VlDrPCqZX67kt3zZ8380oyp6tcapW\nJzpjsrNLeDRKg2VYTiZa/O3lpaFN4SLw4puMHLQlnuznEx28kicuxOwV5mCk800f\n5jSvK1gUfuDgUbq+kMbRrRqrIagwxZGBTKopSLOeyEIrnsCoQS/YuQm5nlxtrvhi\nc0ZPJ5czE6xDwE5TXFTgFtK6eeOR5Xd6nvBjvOHskMPWUmZGgBr2vjQ/kSpSi+ZL\n3y5x5rIN1BvKv3jFKb9yDqMyq0pGE5LxR/DlAigJg25M2DiTeZo+GHrW6iA4/wh7\nSZXbALR71V8ruCIKx/AWxr+BCLYisHs1qkQWtK1Z7fVdRSDqEpZnFmYVoZ7L8oES\nYZK2GKmLP7zfzOHFrV/+/ryIKtko3FyWpDQop5ec5NpV47PkFbTejB0mz7pRD0ng\nEUAieLu5xBBO5r2+4ydGu8ugjn8=\n=AQID\n-----END PGP PRIVATE KEY BLOCK-----"],
        &["-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA...\n...your key here...\n-----END RSA PRIVATE KEY-----", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----", "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----"],
    ),
    Detector::secret(
        "private_key_pem_partial",
        "PEM private key (truncated)",
        r"-----BEGIN (?:[A-Z0-9]{1,12} ){0,2}PRIVATE KEY(?: BLOCK)?-----(?:\r?\n|\\r?\\n|[ \t]){1,4}(?:[A-Za-z-]{1,20}: [A-Za-z0-9,-]{1,60}(?:\r?\n|\\r?\\n)){0,2}(?:\r?\n|\\r?\\n)?[A-Za-z0-9+/=]{64}[A-Za-z0-9+/=\\\r\n]{0,4800}",
    )
    .docs("The start of a PEM private key whose END line is missing (truncated logs, split chunks): the BEGIN line and at least 64 base64 characters; the finding covers the BEGIN line and all the key lines that follow (up to 4800 bytes), so redaction removes the whole fragment.")
    .validate(not_placeholder)
    .entropy(4.0)
    .score(0.8)
    .severity(Severity::Critical)
    .examples(
        &["-----BEGIN RSA PRIVATE KEY-----\nrJufj/sydESZ4qSJ1S1g4mzQ+L8cUSGfzkUOWGJmHX8Q6Rm4ZYy87cs/D3u++uRa\n[truncated]"],
        &["-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...", "-----BEGIN CERTIFICATE-----\nXJYx8UGEXastcbVyndepvoWW7TzwGyTxYz3DmNMbTUZmr9HqSaFcKfmqWqAdAueM"],
    ),
    Detector::secret(
        "private_key_pem_base64",
        "Base64-encoded PEM private key",
        "LS0tLS1CRUdJTi[A-Za-z0-9+/=]{60,6000}",
    )
    .docs("PEM private keys encoded once more in base64 (Kubernetes `client-key-data`, CI variables): the decoded start must be a `PRIVATE KEY` BEGIN line.")
    .validate(base64_pem)
    .severity(Severity::Critical)
    .examples(
        &["client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpPUXlNZlhKSE5DellFQTh2YjNjTlpkWnc1WTREVWRpdWprOXVyRFF2d2pHM3NJY1c2ei9CS0phNVlpTVhkSlFvCmR6UENqdWk2VTcyMWE0Z2tWMzFUN01LS2NLWWNkUkNoellraGJLRnMvOHJxU1lkSGZvYmJ6TGx3UnZ3dUdEaE8KVWRnZ3hjUHZnQVU2aUs0NWx0NVE2QUdHV3phWVpVNi9VZ0NsK2drNXVaMTZIWHNvSy9nalFFSHpWSWZZYkdhZgp6TC9nNXoxK2N5Q3RDblZ3QXlRZWRTSVFxU1I1anZodFEvSjg4dEJoTURIY3RkalM3eHN5SDg2dE4zOWlZZVZICjJGMk83SDhtNGpJWkJ5OTVWZEQ0OW0zTkhsVENBY2VINkpMWStVOWhsMjhkSDZBZEdmUlFIU2xmSXlKNHpqMSsKRkNuV29ZVm9vSHFIeWtPWjZxRWxCT296SlcySFE3SWpmYjJSVU9DYUJKazFSSWM3TmsrTGtHdXZhSWY2Z0JvdgoySTBXQWFwQ2hsTGkyZ1E1Smt3U3ZVdmNRUldkdWhTM2EzODB0ZEJQZVZOYTB3eGJxdEovaUZFM3d4UHdjV2JyCnM1eDBjZ3hpektpT0k0Nnp6S2tPTzRWYmh4TTMzckNnM3p2RllZSVczd0JrdXR3anFhQS9tWjdScDg2WFFXTFgKd2xtYXp3Q2JrbXZjcE83aTRtM3lWaXVScXk5NG5uTmxTd3dYZmZNbDZkUmp4UDNNZkVzQ050bHdXdTBaZno3cApSTzJpNHRya1VmUG1oSDZOK0hxTTRTZVNlSXVyb3lsR1RYYkVUbTBnMU5DcDd0UWZhZGZIQ3NMMEE3U1l4OVp3CitYQ0wzL2dPeDZ6UFZPOUJEY2tOS3R0RjdGMFpoY0tuYk9pbnJNS08xNEVwOEFrYXMzSWpGQTkrWmdwT2VrRHkKT20vdWc3eFZPbE9mTncyZndNdGxKbncwbWowVnNkdTlJNjRHMS9vMjNibnJUdDVhaXZmdTM0bWxmU3lPNW56dAp3cXdPL2FaZCtXeTFoSzZQalFWaEszdlErbnZ6KytVSQotLS0tLUVORCBSU0EgUFJJVkFURSBLRVktLS0tLQ=="],
        &["certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkRIZXhCS3NBd0owMWFYblcreDVJank4V2R0Tys2aXN3Uk1rbUg5NUNlWldGb2Ntbm91ZUxkeVpuUlRkUE5sVG0KN3FEUVBiZHE1NTN0aHowdVVKc1VicWRMTG4rMnlobVpoVmtQeitkL01PdzBSejRHSDNGQ1pjMitLNFFtQ3lGbAo0MEV2cVQ0VjdCbFczY3IrRDhQYVdMVnRYNHlQNUV3UmZaZi8wdlVmTEkvRVJ0Wm1md25EdC9YNHNLVEdpbHdOCm8zQVBqeDN4dDNkUk0zNTdpQnh3eHJWWVdubWl0dzYwU0dEOG5sbjdFeTRjZDNBSzlBQ3BaMEt1V3FVZUMwdEkKT0xvbHY4b3pySnFsUlZEZithSlp0bkpad1oyV1FWb0F5QkJkb25FMS9raXBKM214bzFVdHErUUZoMnQvSXJPRApOd0FZeGVEV1ZkUDh3YlBBTS9WelUrY2xFWllLbzRVMUphOVh3RkltTDYzM0Q5eFUzbEFiTTZscFlkR0hrSmg1Ck1SbkorMDRidUFIYUxKYjFaakVOYVZlVktmSTduY3Z4K29jdXhsNjl3NzFmNUJhRzRlNkdjNGtmVFRFcnNOTjAKSDhiVzgzanptU2pLRVVzOTVWaFZiR0pBRmRnbzNtZExoS01pTE1iTHBvM3FCdFk1MUV4TE16WXprckRTaDhUNAo4aE5ZamM1SnpSUEtxWGtaODRtK0NnPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQ==", "LS0tLS1CRUdJTiBSU0Eg"],
    ),
    Detector::secret(
        "putty_private_key",
        "PuTTY private key",
        r"PuTTY-User-Key-File-[23]: [a-z0-9-]{3,40}(?:\r?\n|\\r?\\n)[\s\S]{0,1200}?Private-Lines: \d{1,3}(?:\r?\n|\\r?\\n)(?P<v>[A-Za-z0-9+/=\r\n\\]{40,3000})",
    )
    .docs("PuTTY `.ppk` private keys (v2 and v3): the `Private-Lines` block is reported.")
    .validate(not_placeholder)
    .entropy(4.0)
    .severity(Severity::Critical)
    .examples(
        &["PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy@acme\nPublic-Lines: 2\n4JUj0f9Hm3uBTtjBJeX1zdYSuCs3f7VVFsyp3DYFMoRxceS/yO1NsAz3NZfUKztI\nsp+v6Wn3svMx4Oej\nPrivate-Lines: 1\nIpkWOguvN1R8WVGp2ux2z15f3coOZebbxwJtaY4gNF+7pmTqOob6oA==\nPrivate-MAC: 5a1baf0e591196dc1d3e503a9645f0e4647dc3929c7eb575637ddcd698d3148b"],
        &["PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy@acme\nPublic-Lines: 2\n6liYK0SgPHqcO12/SMbWRsTYX/lYVfqTR1+h5hu3BPhFY8T90fvU4/pVKg9wlRCM\nc5NW6v05Oom7FeFv", "PuTTY-User-Key-File-3: ssh-rsa"],
    ),
    Detector::secret(
        "jwt",
        "JSON Web Token",
        r"eyJ[A-Za-z0-9_-]{8,600}\.eyJ[A-Za-z0-9_-]{8,4000}\.[A-Za-z0-9_-]{0,700}",
    )
    .docs("JSON Web Tokens (`eyJ...` header, `eyJ...` payload, optional signature); the header must base64url-decode to JSON with an `\"alg\"` member.")
    .validate(jwt)
    .entropy(3.0)
    .examples(
        &["id_token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1XzhjMWYyYSIsIm5hbWUiOiJEYW5hIFJleWVzIiwiaWF0IjoxNzE2MjQwMDAwLCJleHAiOjE3MTYyNDM2MDB9.2TR-mBDmhrIs4Dx5a7PbVEdpaR6zj1allZSIMEXSHo0", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2F1dGguYWNtZS5pbyIsInN1YiI6IjQyIiwiYXVkIjoiYXBpIn0.QEN_SqR-yfpIidTA5yYvzo686PmnAS_qtyDLb9ts_YmlkaxC-K8YFzLrCD9Q4ekA22dDmlGML7iAKr5UGsqcd9suMABt9CdDc-MEBK892EP0JHXELTQ0oLyZRsNESSMEVOGzbU3S4m8sM0c_xLPboUd-jSt_kQ2aaWDIlxt6_cU5e_8kBriiQ8bXu1jxJQgiB4ZuFB7LktTYzSpOjiqeKGhPp8ghnt96HX0s3jvoHJ5ZPQZGBVP-sYRVvkCJPA-r24sghif-6bgc_1W8UII0O3QBFgZ9F_G6xExbEtZypH_Vo4onvj0aW3IXzSPukJ-nLOkEvGaVm3ztvPxkfU0D0Q"],
        &["eyJxxxxxxxxxxxxxxxxxxxx.eyJxxxxxxxxxxxxxxxxxxxx.sig", "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlc2lnbmF0dXJl", "eyJhbGciOiJIUzI1NiJ9"],
    ),
    Detector::secret(
        "database_url_password",
        "Database URL with password",
        r#"\b(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse|snowflake|cockroachdb|couchdbs?|neo4j(?:\+s)?|oracle|db2|cassandra|influxdb|memcached)(?:\+[a-z0-9]{2,16})?://[^\s:/@'"<>]{0,64}:(?P<v>[^\s:/@'"<>]{1,128})@[A-Za-z0-9._\[\]-]{1,255}"#,
    )
    .docs("Database connection URLs (PostgreSQL, MySQL, MongoDB, Redis, AMQP, SQL Server, ClickHouse, ...) with an embedded password; placeholders, variable references and default passwords are rejected.")
    // `jdbc:` + `cockroachdb` + `+` and a 16-byte driver name come before `://` at most
    .gate(Gate::Inner { literal: "://", within: 33 })
    .validate(url_password)
    .score(0.95)
    .examples(
        &["DATABASE_URL=postgres://app:G5E2JLycTLRi@db.internal:5432/app", r#"MONGO_URI="mongodb+srv://svc:Il9RuAl8OF%40x@cluster0.abcde.mongodb.net/prod""#, "redis://:iXSE0a4oMeE7ssE6@cache:6379/0"],
        &["postgres://user:password@localhost/db", "mysql://root:${MYSQL_PASSWORD}@db/app", "postgresql://app:****@db:5432/app", "mongodb://admin:<password>@host"],
    ),
    Detector::secret(
        "url_credentials",
        "URL with embedded credentials",
        r#"\b(?:https?|ftps?|sftp|ssh|git|smtps?|imaps?|pop3s?|ldaps?|wss?|svn|rsync)://[A-Za-z0-9._~%!$&*+,;=-]{1,64}:(?P<v>[^\s:/@'"<>]{3,128})@[A-Za-z0-9.-]{1,253}"#,
    )
    .docs("URLs with a `user:password@host` part (HTTP, FTP, SMTP, LDAP, git, ...); placeholders, variable references and tokens reported by more specific detectors are skipped.")
    .gate(Gate::Inner { literal: "://", within: 5 })
    .validate(url_password)
    .examples(
        &["https://deploy:DDPw47gUet30On@nexus.acme.io/repository/", "ftp://backup:2KriLMfsrz!@files.acme.io/"],
        &["https://user:pass@example.com", "https://user:${TOKEN}@example.com", "http://example.com:8080@evil.io"],
    ),
    Detector::secret(
        "jdbc_password",
        "JDBC connection string password",
        r#"\bjdbc:[a-z0-9]{2,20}:[^\s'"]{0,200}?[;?&:](?i:password|pwd)=(?P<v>[^;&\s'"]{1,128})"#,
    )
    .docs("JDBC URLs that carry `password=` (or `pwd=`) as a property.")
    .validate(url_password)
    .examples(
        &["spring.datasource.url=jdbc:sqlserver://db.acme.io:1433;databaseName=app;user=svc;password=70FSDliR6V9h!;", "jdbc:mysql://db/app?user=svc&password=eiPoPw6FoBg6"],
        &["jdbc:mysql://db/app?user=svc&password=${DB_PASS}", "jdbc:postgresql://db/app?user=svc&password=password"],
    ),
    Detector::secret(
        "connection_string_password",
        "ADO.NET / ODBC connection string password",
        r#"\b(?i:server|data source|host|address|addr)=[^;'"\n]{1,100};[^'"\n]{0,250}?\b(?i:password|pwd)=(?P<v>[^;'"\s]{1,128})"#,
    )
    .docs("Connection strings in `Server=...;User Id=...;Password=...;` form (ADO.NET, ODBC, Npgsql).")
    .validate(url_password)
    .examples(
        &[r#""DefaultConnection": "Server=sql.acme.io;Database=app;User Id=svc;Password=mFctbi8Gjt#1;""#],
        &["Server=db;Database=app;User Id=sa;Password=<password>;", "Host=db;Username=app;Password=${DB_PASSWORD}"],
    ),
    Detector::secret(
        "basic_auth_header",
        "HTTP Basic credentials",
        r#"(?i:authorization)\\?["']?[ \t]{0,3}[:=][ \t]{0,3}\\?["']?(?i:basic)[ \t]{1,3}(?P<v>[A-Za-z0-9+/]{6,300}={0,2})(?:[^A-Za-z0-9+/=]|$)"#,
    )
    .docs("HTTP `Authorization: Basic` headers whose value decodes to `user:password` with a real (non-placeholder, non-empty) password.")
    .validate(basic_credentials)
    .examples(
        &["Authorization: Basic ZGVwbG95OlpxOCF2UjJtVHg5dw==", "curl -H 'Authorization: Basic ZGVwbG95OlpxOCF2UjJtVHg5dw==' https://api.acme.io"],
        &["Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic YnJvd3Nlcjo=", "Authorization: Basic ..."],
    ),
    Detector::secret(
        "bearer_token_header",
        "HTTP Bearer token",
        r#"(?i:authorization)\\?["']?[ \t]{0,3}[:=][ \t]{0,3}\\?["']?(?:(?i:bearer|token|api-token|apikey|key|splunk|ssws)[ \t]{1,3})?(?P<v>[A-Za-z0-9._~+/=-]{16,400})(?:[^A-Za-z0-9._~+/=-]|$)"#,
    )
    .docs("HTTP `Authorization` headers (`Bearer`, `Token`, `Api-Token`, `Key`, `SSWS`, `Splunk` or no scheme) with an opaque token (JWTs and vendor-prefixed tokens are reported by their own detectors).")
    .validate(header_token)
    .entropy(3.0)
    .score(0.85)
    .examples(
        &["Authorization: Bearer L12v0qOF7owcmUDYv2ffu2uE8e95kgvNvN5AK4Ps", r#"-H "Authorization: Token ddcf540afb19e01fc2af0868f6f2b3a65322ba5d""#, "Authorization: a3e38dcb-0878-47f5-ae55-a1529ae138b8"],
        &["Authorization: Bearer XXXXXXXXXXXX", "Authorization: Bearer ${ACCESS_TOKEN}", "Authorization: Bearer short", "Authorization: Basic ZGVwbG95OlpxOCF2UjJtVHg5dw=="],
    ),
    Detector::secret(
        "api_key_header",
        "API key header",
        r#"(?i:x-api-key|x-auth-token|x-access-token|x-api-token|api-key|api-token|ocp-apim-subscription-key|x-functions-key)\\?["']?[ \t]{0,3}:[ \t]{0,3}\\?["']?(?P<v>[A-Za-z0-9._~+/=-]{16,200})(?:[^A-Za-z0-9._~+/=-]|$)"#,
    )
    .docs("API keys sent in request headers (`X-API-Key:`, `api-key:`, `Ocp-Apim-Subscription-Key:`, ...) that no more specific detector reports.")
    .validate(header_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["X-API-Key: hlPE2Oar9BLuuQCJzN1B0f3jdF6IXxWa", r#"-H "api-key: 314adba36dcd36c01c7aa687c0fa46e2""#],
        &["X-API-Key: {{apiKey}}", "X-API-Key: xxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "curl_basic_auth",
        "curl -u credentials",
        r#"\bcurl\b[^\n]{0,200}?[ \t](?:-u|--user)(?:[ \t]{1,3}|=)["']?[^\s"':<>]{0,64}["']?:["']?(?P<v>[^\s"'<>]{3,64})(?:["'\s]|$)"#,
    )
    .docs("Passwords given to curl with `-u user:password` / `--user`; variable references and placeholders are rejected.")
    .validate(url_password)
    .examples(
        &["curl -u deploy:rA1yELNEImzw https://api.acme.io/v1/ping", "curl -s --user 'svc:sqSNAd5l!9' https://nexus.acme.io"],
        &[r#"curl -u "$USER:$PASS" https://x"#, "curl --user user:pass https://x", "curl -u elastic:changeme http://localhost:9200"],
    ),
    Detector::secret(
        "docker_config_auth",
        "Docker registry auth",
        r#"\\?"auth\\?"[ \t]{0,3}:[ \t]{0,3}\\?"(?P<v>[A-Za-z0-9+/]{8,300}={0,2})\\?""#,
    )
    .docs("Registry credentials in Docker `config.json` (`\"auth\": \"<base64 user:password>\"`).")
    .validate(basic_credentials)
    .context(&["auths", "docker", "registry"])
    .examples(
        &[r#"{"auths": {"registry.acme.io": {"auth": "YWNtZWJvdDpIZjdrUTJ4THA5WnQ="}}}"#],
        &[r#"{"auths": {"r.io": {"auth": "dXNlcjpwYXNzd29yZA=="}}}"#, r#""auth": "bearer""#],
    ),
    Detector::secret(
        "wireguard_private_key",
        "WireGuard private key",
        r"(?i:privatekey)[ \t]{0,3}=[ \t]{0,3}(?P<v>[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=)(?:[^A-Za-z0-9+/=]|$)",
    )
    .docs("WireGuard interface private keys (`PrivateKey = <44 base64 characters>`).")
    .validate(token)
    .entropy(3.5)
    .severity(Severity::Critical)
    .examples(
        &["[Interface]\nPrivateKey = AaTZelTuvY2fnCR4OaNytC+3Vp57wzz1quOtIQkxB9A=\nAddress = 10.0.0.2/32"],
        &["PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "PublicKey = BJ8ZdTeBFjg+IvwWvXMls2g9BbBZDvGGqkUG/Xr7z9A="],
    ),
    Detector::secret(
        "hex_private_key",
        "Raw hex private key (wallet / signing key)",
        r#"(?i:priv(?:ate)?[_-]?key|wallet[_-]?key|signer[_-]?key|deployer[_-]?key)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>(?:0x)?[a-fA-F0-9]{64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("256-bit private keys in hex (Ethereum and other secp256k1 / ed25519 wallets and signers) after a `PRIVATE_KEY`-style keyword.")
    .validate(token)
    .entropy(3.0)
    .severity(Severity::Critical)
    .examples(
        &["PRIVATE_KEY=0x565817eb95d22c5ebcf91a4ccee13a2a70043a154ef3cf266f60fa3ba9c76de6", r#"deployer_key: "471ef86b91884bbaa3aff952ee3edb80fdc3a0e4dd97e5aa4e010715f9113267""#],
        &["PRIVATE_KEY=0x0000000000000000000000000000000000000000000000000000000000000000", "PRIVATE_KEY_PATH=/etc/keys/signer.pem"],
    ),
    Detector::secret(
        "xml_password",
        "Password in an XML element",
        r"<(?i:password|passwd|pwd)>(?P<v>[^<\s]{6,128})</(?i:password|passwd|pwd)>",
    )
    .docs("Passwords in XML elements (`<password>...</password>` in Maven `settings.xml`, app configs), with the strict password checks.")
    .validate(password_value)
    .score(0.8)
    .examples(
        &["<server><id>nexus</id><username>deploy</username><password>MNTRi1pIceqY!</password></server>"],
        &["<password>${env.NEXUS_PASSWORD}</password>", "<password>changeme</password>"],
    ),
    Detector::secret(
        "netrc_password",
        ".netrc password",
        r"\bmachine[ \t]{1,4}[A-Za-z0-9.-]{1,100}[ \t\r\n]{1,4}login[ \t]{1,4}[^\s]{1,64}[ \t\r\n]{1,4}password[ \t]{1,4}(?P<v>[^\s]{4,128})",
    )
    .docs("Passwords in `.netrc` entries (`machine <host> login <user> password <secret>`).")
    .validate(url_password)
    .examples(
        &["machine api.heroku.com\n  login ops@acme.io\n  password ylxOPl6hlDogK51cEZem"],
        &["machine example.com login user password password", "machine h login u password $TOKEN"],
    ),
    Detector::secret(
        "sshpass_password",
        "sshpass password",
        r#"\bsshpass[ \t]{1,3}-p[ \t]{0,3}["']?(?P<v>[^\s"']{4,64})"#,
    )
    .docs("Passwords passed on the command line with `sshpass -p`.")
    .validate(url_password)
    .examples(
        &["sshpass -p 'fFYtfiD6MQ!' ssh deploy@10.0.0.5"],
        &[r#"sshpass -p "$SSH_PASS" ssh host"#, "sshpass -p password ssh host"],
    ),
    Detector::secret(
        "mysql_cli_password",
        "MySQL client password argument",
        r#"\bmysql(?:dump|admin)?\b[^\n]{0,120}?[ \t](?:-p|--password=)["']?(?P<v>[^\s"'-][^\s"']{3,64})"#,
    )
    .docs("Passwords given to `mysql`, `mysqldump` or `mysqladmin` with `-p<password>` / `--password=`.")
    .validate(url_password)
    .score(0.8)
    .examples(
        &["mysqldump -u backup -pgCKGQI2FaO8A --all-databases > dump.sql"],
        &["mysql -u root -p", "mysql -u root -p$MYSQL_ROOT_PASSWORD"],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords() {
        assert!(url_password(b"Zq8vR2mTx9"));
        assert!(!url_password(b"password"));
        assert!(!url_password(b"${DB_PASS}"));
        assert!(!url_password(b"****"));
        assert!(!url_password(b"8080"));
        assert!(!url_password(b"yyy"));
        assert!(!url_password(b"ghp_KglOAKeaXhAgljjxglxiOLXlGEPPMSapUc3c"));
        assert!(!url_password(b""));
    }

    #[test]
    fn jwt_headers() {
        assert!(jwt(b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"));
        assert!(!jwt(b"eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiI0MiJ9.c2ln"));
        assert!(!jwt(b"eyJ!!!.eyJ.x"));
    }

    #[test]
    fn basic_pairs() {
        // deploy:Zq8!vR2mTx9w
        assert!(basic_credentials(b"ZGVwbG95OlpxOCF2UjJtVHg5dw=="));
        // user:password
        assert!(!basic_credentials(b"dXNlcjpwYXNzd29yZA=="));
        // browser: (no password)
        assert!(!basic_credentials(b"YnJvd3Nlcjo="));
        // {"alg":"HS256","typ":"JWT"}
        assert!(!basic_credentials(b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"));
    }

    #[test]
    fn pem_bodies() {
        let key = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQAB\n-----END RSA PRIVATE KEY-----";
        assert!(pem_body(key));
        assert!(!pem_body(
            b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----"
        ));
        assert!(!pem_body(
            b"-----BEGIN RSA PRIVATE KEY----------END RSA PRIVATE KEY-----"
        ));
    }
}
