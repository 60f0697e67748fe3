//! Secret detectors: payments, commerce and crypto exchanges.
//!
//! Payment-provider secret keys carry mode prefixes (`sk_live_`, `rk_live_`, `sq0csp-`,
//! `access_token$production$`); test-mode and publishable keys are reported with lower severity.

use rampart_core::Severity;

use crate::detector::Detector;
use crate::validate::not_placeholder;

use super::generic::{kw_token, token};

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "paystack_secret_key",
        "Paystack secret key",
        r"\b(?P<v>sk_(?:live|test)_[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Paystack secret keys: `sk_live_` / `sk_test_` and 40 lowercase hex digits (listed before Stripe, whose keys are mixed-case).")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["PAYSTACK_SECRET_KEY=sk_live_6ab27fb04ee54b20b895053558f1c19b26848eee"],
        &["sk_live_0000000000000000000000000000000000000000", "sk_live_10fc44dfef396ff785c1"],
    ),
    Detector::secret(
        "stripe_secret_key",
        "Stripe live secret key",
        r"\b(?P<v>sk_(?:live|prod)_[A-Za-z0-9]{20,247})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Stripe live-mode secret keys: `sk_live_` and 24-247 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["STRIPE_SECRET_KEY=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", "stripe.api_key = 'sk_live_5GU9BtMRVUbxSWDSM7COr3K4'"],
        &["sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", "sk_live_rJwwCUv5GH", "STRIPE_SECRET_KEY=sk_live_your_key_here"],
    ),
    Detector::secret(
        "stripe_test_secret_key",
        "Stripe test secret key",
        r"\b(?P<v>sk_test_[A-Za-z0-9]{20,247})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Stripe test-mode secret keys: `sk_test_` and 24-247 alphanumerics (no live data, medium severity).")
    .validate(token)
    .entropy(3.5)
    .severity(Severity::Medium)
    .examples(
        &["STRIPE_SECRET_KEY=sk_test_51pEkqyhcMgQyCfVW6ZfkfnCi31IVmHhfBGuiEv5ttacsp6GAeDrgqCXbNcsCP2ucVqzEjs7OPDc0yRe8FVV3dLU85G5OrIjRWB"],
        &["sk_test_xxxxxxxxxxxxxxxxxxxxxxxx", "sk_test_uOehI8VqsR"],
    ),
    Detector::secret(
        "stripe_restricted_key",
        "Stripe restricted key",
        r"\b(?P<v>rk_(?:live|test|prod)_[A-Za-z0-9]{20,247})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Stripe restricted API keys: `rk_live_` / `rk_test_` and 24-247 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["STRIPE_RESTRICTED_KEY=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"],
        &["rk_live_xxxxxxxxxxxxxxxxxxxxxxxx", "rk_live_2u8MsEVcuz"],
    ),
    Detector::secret(
        "stripe_publishable_key",
        "Stripe live publishable key",
        r"\b(?P<v>pk_live_[A-Za-z0-9]{20,247})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Stripe live publishable keys: public by design (embedded in web pages), reported at low severity.")
    .validate(token)
    .entropy(3.5)
    .score(0.6)
    .severity(Severity::Low)
    .examples(
        &["const stripe = Stripe('pk_live_51TO0Uai379N5b2Cgr1Bcw9gvl7pBp6U8s48u0RYpn4NEm5Xr8BvOUoGLujB84foAxIX24MPzsyAZ3dGz7cOOFxgop0uyyl4Pkh');"],
        &["pk_live_xxxxxxxxxxxxxxxxxxxxxxxx", "pk_test_3hdH2hHeseFXPbwoKPcRKgrmUpG7ugTYbuUJr8M6lsGO62badLRZlfFACTNjsIfCvlGjUoc14MW3Zjua3BOwwFpvonyQXxTazt7"],
    ),
    Detector::secret(
        "stripe_webhook_secret",
        "Stripe / Svix webhook signing secret",
        r"\b(?P<v>whsec_[A-Za-z0-9+/=]{32,88})(?:[^A-Za-z0-9+/=_-]|$)",
    )
    .docs("Webhook signing secrets of Stripe and Svix-based services: `whsec_` and 32+ characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["STRIPE_WEBHOOK_SECRET=whsec_8acixc4mnI1WUei14cjR7o9t7doE6Ykw"],
        &["whsec_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "whsec_aqjMck9RqO"],
    ),
    Detector::secret(
        "square_access_token",
        "Square access token",
        r"\b(?P<v>EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Square access tokens: `EAAA` and 60 url-safe characters, or the older `sq0atp-` and 22.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["SQUARE_ACCESS_TOKEN=EAAAjkWRh6-22GgJAsvKHR1u0Bw2Jm3LjwzZii1FSKeekD8pOX0MDQRZ8zB0x-4o", "SQUARE_TOKEN=sq0atp-rLYyKImzZEbXyPv5IfwsLp"],
        &["EAAAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "aws-cli@sha256:eaaa7b11777babe28e6133a8b19ff71cea687e0d7f05158dee95a71f76ce3d00"],
    ),
    Detector::secret(
        "square_oauth_secret",
        "Square OAuth application secret",
        r"\b(?P<v>sq0csp-[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Square OAuth application secrets: `sq0csp-` and 43 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["SQUARE_APP_SECRET=sq0csp-4f3prUQTQeaXwUu9G2uU2Gt5kJtG2oh0G512EDihOqr"],
        &["sq0csp-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sq0csp-kWsQKkf1mOD0dFGuCjto"],
    ),
    Detector::secret(
        "braintree_access_token",
        "Braintree / PayPal access token",
        r"\b(?P<v>access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Braintree (PayPal) access tokens: `access_token$production$<merchant>$<32 hex>`.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["BRAINTREE_ACCESS_TOKEN=access_token$production$59xsbm87iu9iicee$07e644dcb1c64776c3732a6d04e36d7d"],
        &["access_token$production$xxxxxxxxxxxxxxxx$00000000000000000000000000000000", "access_token$sandbox$lcxcsice6ujgf3ro"],
    ),
    Detector::secret(
        "paypal_client_secret",
        "PayPal REST client secret",
        r#"(?i:paypal)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{80})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("PayPal REST API client secrets: 80 url-safe characters after `paypal` in an assignment.")
    .validate(kw_token)
    .entropy(4.0)
    .examples(
        &["PAYPAL_CLIENT_SECRET=EUxsaeDDvqMZ5r83FevwJZ1RLqUi8sS-3xvjUKEBoGV08iy2pqnIN62hskwD16z_H8BtcGUE5moWTWb5"],
        &["PAYPAL_CLIENT_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "PAYPAL_MODE=live"],
    ),
    Detector::secret(
        "shopify_access_token",
        "Shopify Admin API access token",
        r"\b(?P<v>shpat_[a-fA-F0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Shopify Admin API access tokens: `shpat_` and 32 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SHOPIFY_ACCESS_TOKEN=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"],
        &["shpat_00000000000000000000000000000000", "shpat_7fd6c772b8ec0161"],
    ),
    Detector::secret(
        "shopify_custom_app_token",
        "Shopify custom app access token",
        r"\b(?P<v>shpca_[a-fA-F0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Shopify custom app access tokens: `shpca_` and 32 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["X-Shopify-Access-Token: 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"],
        &["shpca_00000000000000000000000000000000", "shpca_7ae4f8b174b20ec3"],
    ),
    Detector::secret(
        "shopify_private_app_token",
        "Shopify private app access token",
        r"\b(?P<v>shppa_[a-fA-F0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Shopify private app passwords: `shppa_` and 32 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SHOPIFY_PASSWORD=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"],
        &["shppa_00000000000000000000000000000000", "shppa_a2c3c57b0e3a8e5e"],
    ),
    Detector::secret(
        "shopify_shared_secret",
        "Shopify app shared secret",
        r"\b(?P<v>shpss_[a-fA-F0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Shopify app shared secrets: `shpss_` and 32 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SHOPIFY_API_SECRET=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"],
        &["shpss_00000000000000000000000000000000", "shpss_876ee4a7d6b0bdbc"],
    ),
    Detector::secret(
        "adyen_api_key",
        "Adyen API key",
        r#"(?i:adyen)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>AQE[A-Za-z0-9+/=._-]{80,250})(?:[^A-Za-z0-9+/=._-]|$)"#,
    )
    .docs("Adyen API keys (start `AQE`, long base64 with separators) after `adyen` in an assignment.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["ADYEN_API_KEY=AQEepJ81qPgAAFgq73UMBhB2y4fMRm2sov0WH3sdjgJoFgNN3h5H9ja7O+j74YH==-Xmrytm7Bc9y/IcOBiP2YF//ejYpdGu7nhQapOXxl=-EZHd97DZWfRXbeAEz66O"],
        &["ADYEN_API_KEY=AQExxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ADYEN_MERCHANT_ACCOUNT=AcmeECOM"],
    ),
    Detector::secret(
        "coinbase_api_secret",
        "Coinbase API secret",
        r#"(?i:coinbase)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_+/=-]{64,88})(?:[^A-Za-z0-9_+/=-]|$)"#,
    )
    .docs("Coinbase API secrets and access tokens (64-88 base64 characters) after `coinbase` in an assignment.")
    .validate(kw_token)
    .entropy(4.0)
    .examples(
        &["COINBASE_API_SECRET=0vNnBbXhOmFWlGunxM2t6cnQl7AxPFpRdPaDhqjcl/2CwpIPNgDhWGFtXAlsnTOFRQNkKmNTK/r8RE0D83EguA=="],
        &["COINBASE_API_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "COINBASE_API_KEY_NAME=organizations/abc/apiKeys/def"],
    ),
    Detector::secret(
        "binance_api_secret",
        "Binance API key / secret",
        r#"(?i:binance)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Binance API keys and secrets: 64 alphanumerics after `binance` in an assignment.")
    .validate(kw_token)
    .entropy(4.0)
    .examples(
        &["BINANCE_SECRET_KEY=QmgS5a0Tx1dHNeKZIK3aVni7P8Hp3gTPsJYaFpaOOMQYUjLqrSCYvSwZUCu8tF2C"],
        &["BINANCE_SECRET_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "BINANCE_BASE_URL=https://api.binance.com"],
    ),
    Detector::secret(
        "kraken_api_secret",
        "Kraken API secret",
        r#"(?i:kraken)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9/+=_-]{80,90})(?:[^A-Za-z0-9/+=_-]|$)"#,
    )
    .docs("Kraken private API keys: 80-90 base64 characters after `kraken` in an assignment.")
    .validate(kw_token)
    .entropy(4.0)
    .examples(
        &["KRAKEN_PRIVATE_KEY=02MttCsafKgH4w0p+HSsg/3o3MYOLnGA4cgFhyNadsxSF+oIs+rcj1MJkcAa6+MPbCZtPsjvfAlcnctfpmaaOt=="],
        &["KRAKEN_PRIVATE_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "kraken.kubeconfig.token=sha256~abc"],
    ),
    Detector::secret(
        "plaid_access_token",
        "Plaid access token",
        r"\b(?P<v>access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Plaid item access tokens: `access-production-` (or sandbox/development) and a UUID.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &[r#""access_token": "access-production-eea353fd-92d3-41cf-a108-437bbbdaed19""#],
        &["access-production-00000000-0000-0000-0000-000000000000", "access-production-7b4abc4e7505ebb43501"],
    ),
    Detector::secret(
        "plaid_secret",
        "Plaid API secret",
        r#"(?i:plaid)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{30})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Plaid secrets: 30 hex digits after `plaid` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["PLAID_SECRET=2f0c3e6ee1eb959333619292a2a917"],
        &["PLAID_SECRET=000000000000000000000000000000", "PLAID_ENV=sandbox"],
    ),
    Detector::secret(
        "flutterwave_secret_key",
        "Flutterwave secret / encryption key",
        r"\b(?P<v>FLWSECK(?:_TEST)?-[a-z0-9]{32}-X|FLWSECK_TEST[a-f0-9]{12})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Flutterwave secret keys (`FLWSECK-...-X`, `FLWSECK_TEST-...-X`) and encryption keys (`FLWSECK_TEST` and 12 hex digits).")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["FLW_SECRET_KEY=FLWSECK-84f9abecb6d9fd8470293e566a92e854-X", "FLW_ENCRYPTION_KEY=FLWSECK_TEST262a89d03cf0"],
        &["FLWSECK-00000000000000000000000000000000-X", "FLWSECK-246acfacbb82a645e393-X"],
    ),
    Detector::secret(
        "flutterwave_public_key",
        "Flutterwave public key",
        r"\b(?P<v>FLWPUBK(?:_TEST)?-[a-z0-9]{32}-X)(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Flutterwave public keys: `FLWPUBK-...-X` (client-side by design, low severity).")
    .validate(token)
    .entropy(3.0)
    .score(0.6)
    .severity(Severity::Low)
    .examples(
        &["FLW_PUBLIC_KEY=FLWPUBK-7c71be8d79850313750eba7625d0c55f-X"],
        &["FLWPUBK-00000000000000000000000000000000-X", "FLWPUBK-d997a6119a-X"],
    ),
    Detector::secret(
        "razorpay_key_id",
        "Razorpay key ID",
        r"\b(?P<v>rzp_(?:live|test)_[A-Za-z0-9]{14})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Razorpay key ids (`rzp_live_` and 14 alphanumerics): half of a key pair, medium severity.")
    .validate(token)
    .entropy(3.0)
    .score(0.8)
    .severity(Severity::Medium)
    .examples(
        &["RAZORPAY_KEY_ID=rzp_live_xO4oCKihnoZDPF"],
        &["rzp_live_xxxxxxxxxxxxxx", "rzp_live_XercJ7Jg"],
    ),
    Detector::secret(
        "razorpay_key_secret",
        "Razorpay key secret",
        r#"(?i:razorpay|rzp)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{24})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Razorpay key secrets: 24 alphanumerics after `razorpay` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["RAZORPAY_KEY_SECRET=lcdXn1VzgDWJHW4F7AFcfGMn"],
        &["RAZORPAY_KEY_SECRET=xxxxxxxxxxxxxxxxxxxxxxxx", "RAZORPAY_KEY_ID=rzp_live_5MitEGdO2Xpmox"],
    ),
    Detector::secret(
        "mollie_api_key",
        "Mollie API key",
        r#"(?i:mollie)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>(?:live|test)_[A-Za-z0-9]{30})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Mollie API keys (`live_` / `test_` and 30 alphanumerics) after `mollie` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["MOLLIE_API_KEY=live_ovzWWUrjt5GrS85CY5cMcVPaLsKVuR"],
        &["MOLLIE_API_KEY=live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "live_Vktzrl2enKBDAXsY6uDjTuj3lrUNL9"],
    ),
    Detector::secret(
        "gocardless_access_token",
        "GoCardless access token",
        r#"(?i:gocardless)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>live_[A-Za-z0-9_=-]{40})(?:[^A-Za-z0-9_=-]|$)"#,
    )
    .docs("GoCardless live access tokens (`live_` and 40 characters) after `gocardless` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["GOCARDLESS_ACCESS_TOKEN=live_42VTDMJ2vOIguiC_VXWU8YNzG1rhi7P1ARBQMW03"],
        &["GOCARDLESS_ACCESS_TOKEN=live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "live_nN3dPJGVuewGNkoiwasTetjTXIMwL38UhQJIrfD5"],
    ),
    Detector::secret(
        "checkout_secret_key",
        "Checkout.com secret key",
        r"\b(?P<v>sk_sbox_[a-z0-9]{26}|sk_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Checkout.com secret keys: `sk_sbox_` and 26 characters, or `sk_` and a UUID.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["CKO_SECRET_KEY=sk_sbox_bf50cju6sn5zz0iltw7xm88bum", "CKO_SECRET_KEY=sk_e9651714-d584-452b-a072-f0980d5a9ae5"],
        &["sk_sbox_xxxxxxxxxxxxxxxxxxxxxxxxxx", "sk_00000000-0000-0000-0000-000000000000"],
    ),
    Detector::secret(
        "paddle_api_key",
        "Paddle API key",
        r"\b(?P<v>pdl_(?:live|sdbx)_apikey_[A-Za-z0-9_]{40,80})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Paddle Billing API keys: `pdl_live_apikey_` / `pdl_sdbx_apikey_` and a random body.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["PADDLE_API_KEY=pdl_live_apikey_8jq2its49kezy37owoh4tlwjpn_dfdOLUowpn5boJmnqZlVaW_m00"],
        &["pdl_live_apikey_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "pdl_live_apikey_C460pdEclU"],
    ),
    Detector::secret(
        "midtrans_server_key",
        "Midtrans server key",
        r"\b(?P<v>(?:SB-)?Mid-server-[A-Za-z0-9_-]{24})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Midtrans server keys: `Mid-server-` (or `SB-Mid-server-`) and 24 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["MIDTRANS_SERVER_KEY=Mid-server-EJ7yT3b97f0K6WMlbFCHyzir"],
        &["Mid-server-xxxxxxxxxxxxxxxxxxxxxxxx", "Mid-server-d0EqfzVcxz"],
    ),
    Detector::secret(
        "xendit_secret_key",
        "Xendit secret key",
        r"\b(?P<v>xnd_(?:production|development)_[A-Za-z0-9]{40,80})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Xendit secret keys: `xnd_production_` / `xnd_development_` and a random body.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["XENDIT_SECRET_KEY=xnd_production_RQhkHOnrJEJDgqacFMzgJoxLgqUzDffCuoDo3IqUjhPy2KBcBxu4dHvGdRMI"],
        &["xnd_production_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xnd_production_Ytbd8dSqCg"],
    ),
    Detector::secret(
        "chargebee_api_key",
        "Chargebee API key",
        r#"(?i:chargebee)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>(?:live|test)_[A-Za-z0-9]{30,40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Chargebee API keys (`live_` / `test_` and 30-40 alphanumerics) after `chargebee` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["CHARGEBEE_API_KEY=live_67gYhIOuUNOCYXCoUd6dY9mczAUU1KFwBO"],
        &["CHARGEBEE_API_KEY=live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "CHARGEBEE_SITE=acme"],
    ),
];
