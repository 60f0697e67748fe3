//! Secret detectors: chat, collaboration and project tools.
//!
//! Slack tokens and webhooks, Discord bot tokens and webhooks, Telegram bot tokens, Teams and
//! Power Automate webhooks, and API tokens of collaboration tools (Notion, Linear, Asana, Figma,
//! ...). A webhook URL is itself a credential: whoever holds it can post to the channel.

use crate::detector::{Detector, Gate};
use crate::validate::not_placeholder;

use super::generic::{discord_token_shape, kw_token, token};

/// A Discord bot token: three url-safe base64 parts, the first of which decodes to a numeric user
/// id (17-20 digits).
fn discord_bot_token(v: &[u8]) -> bool {
    discord_token_shape(v) && not_placeholder(v)
}

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "slack_bot_token",
        "Slack bot token",
        r"\b(?P<v>xoxb-\d{8,14}-(?:\d{8,14}-)?[A-Za-z0-9]{18,34})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Slack bot tokens: `xoxb-`, numeric workspace and bot ids, and a 24-character secret (older tokens have one id).")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SLACK_BOT_TOKEN=xoxb-343740467524-1131037330942-8ZPpYsjsdxNbv8IARQSdW3Ox", r#""bot_token": "xoxb-942151988531-Oc5JO5dyrSKSfRyBjCDjIWvT""#],
        &["xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx", "xoxb-12345-abcd234", "xoxb-0000000000-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "slack_user_token",
        "Slack user token",
        r"\b(?P<v>xox[pe]-\d{8,14}-\d{8,14}-\d{8,14}-[A-Za-z0-9]{28,34})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Slack user tokens: `xoxp-`, three numeric ids and a 32-character secret.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SLACK_USER_TOKEN=xoxp-934265877785-514161520871-156808030589-e2c9b03a2a2d46feeec72f859f853365"],
        &[r#""token3": "xoxp-1234-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d""#, "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "xoxp-000000000000-000000000000-000000000000-00000000000000000000000000000000"],
    ),
    Detector::secret(
        "slack_app_token",
        "Slack app-level token",
        r"\b(?P<v>xapp-\d-[A-Z0-9]{9,12}-\d{10,13}-[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Slack app-level tokens: `xapp-1-`, the app id, a numeric id and 64 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SLACK_APP_TOKEN=xapp-1-A06KBGJYBO5-6622461416932-012aa42b8964a2e897acdd1b04233dceda73c0063a70b0336ead177119da4e66"],
        &["xapp-1-A000000000-0000000000000-0000000000000000000000000000000000000000000000000000000000000000", "xapp-1-YF90NHBMBEL"],
    ),
    Detector::secret(
        "slack_config_access_token",
        "Slack configuration access token",
        r"\b(?P<v>xoxe\.xox[bp]-\d-[A-Za-z0-9]{163,166})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Slack app configuration access tokens: `xoxe.xoxp-1-` and 163-166 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["SLACK_CONFIG_TOKEN=xoxe.xoxp-1-0cLhZG2V9Ln6GxlmR8dhrx4RmuDg3EUklH87svDXcHX4Gdi23PF7lezUYKgqlevGlvCW2ROEVgdrEnIrBWL7PYBPrRPjyxlgRFTx6S086rqni6Tfuy34D5dl9XttvXpgN6OHzzAdkczpnF6PHqtEIkCBtYGkEvknSsNB"],
        &["xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere", "xoxe.xoxp-1-initial"],
    ),
    Detector::secret(
        "slack_config_refresh_token",
        "Slack configuration refresh token",
        r"\b(?P<v>xoxe-\d-[A-Za-z0-9]{146})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Slack app configuration refresh tokens: `xoxe-1-` and 146 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["SLACK_CONFIG_REFRESH_TOKEN=xoxe-1-rSitavHPeCdEAfFW6y3MVglWgWbQTP9roKse4NMS2IC5GgPe1unGWjTAOMohaqoWg8jO899af2o1va4ixGfOZkQbmTtY5eiEyYrSlNZ8APCrMumuRDQQwiOSB5TbaVo53Bf9CyQcIsTz0J8Z0G"],
        &["xoxe-1-xxx", "XOxE-RROAmw, Home and Garden, 5:24, 20120323"],
    ),
    Detector::secret(
        "slack_legacy_workspace_token",
        "Slack legacy workspace / refresh token",
        r"\b(?P<v>xox[ar]-(?:\d-)?(?:\d{6,14}-){1,3}[A-Za-z0-9]{10,64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Legacy Slack workspace app (`xoxa-`) and refresh (`xoxr-`) tokens with numeric id groups.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &[r#""access_token": "xoxa-2-574035096-50209339538-3296416401214-562f392c7788cf73a3""#],
        &["xoxa-faketoken", "xoxa-access-token-string", "https://github.com/xoxa-nyc/xoxa-nyc.github.io"],
    ),
    Detector::secret(
        "slack_legacy_token",
        "Slack legacy token",
        r"\b(?P<v>xox[os]-\d{3,14}-\d{3,14}-\d{3,14}-[a-fA-F0-9]{10,64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Legacy Slack tokens (`xoxs-`, `xoxo-`): three numeric ids and a hex secret.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &[r#""access_token": "xoxs-134747752740-774324560371-418910629401-6cfea26cf6""#],
        &["https://indieweb.org/images/3/35/2018-250-xoxo-indieweb-1.jpg", "xoxs-000-000-000-0000000000"],
    ),
    Detector::secret(
        "slack_webhook_url",
        "Slack incoming webhook URL",
        r"(?:https?://)?hooks\.slack\.com/services/(?P<v>T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{23,25})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Slack incoming webhooks: `hooks.slack.com/services/T.../B.../<24-character secret>`; the path is reported.")
    .validate(token)
    .examples(
        &["SLACK_WEBHOOK=https://hooks.slack.com/services/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"],
        &["https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "https://hooks.slack.com/services/"],
    ),
    Detector::secret(
        "slack_workflow_webhook",
        "Slack workflow webhook URL",
        r"(?:https?://)?hooks\.slack\.com/(?:workflows|triggers)/(?P<v>T[A-Z0-9]{6,12}/A[A-Z0-9]{6,12}/\d{10,20}/[A-Za-z0-9]{20,32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Slack workflow and trigger webhooks: `hooks.slack.com/workflows/T.../A.../<id>/<secret>`.")
    .validate(token)
    .examples(
        &["https://hooks.slack.com/workflows/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"],
        &["https://hooks.slack.com/workflows/T00000000/A00000000/000000000000000000/XXXXXXXXXXXXXXXXXXXXXXXX", "hooks.slack.com/workflows/"],
    ),
    Detector::secret(
        "discord_bot_token",
        "Discord bot token",
        r"\b(?P<v>(?:M[Tjz]|N[DTjz]|O[DT])[A-Za-z0-9_-]{21,26}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Discord bot tokens: three url-safe base64 parts whose first part decodes to the bot's numeric user id.")
    .validate(discord_bot_token)
    .entropy(3.5)
    .examples(
        &["DISCORD_TOKEN=NTk3MzQ4MjYxMDU1OTEyOTYz.Jfe01i.1uqDPZN-NlAOW4pYYpx0dV8hYWvsQzo1x8ifsl", r#"client.run("MTE4NDU5MjY3MzgwNDUwMzEwNA.ULk0N7.oyv18t78A9LdGaAm76uYSxygmXnZp6KPgXVjr3")"#],
        &["DISCORD_TOKEN=MXxXxXxXxXxXxXxXxXxXxXxX.xxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "Nabcdefghijklmnopqrstuvw.eb14hZ.u8T14Or-tCz2AZqa9tsB87gHo6fG73RiYsEkHF"],
    ),
    Detector::secret(
        "discord_webhook_url",
        "Discord webhook URL",
        r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v\d{1,2})?/webhooks/(?P<v>\d{17,20}/[A-Za-z0-9_-]{60,68})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Discord webhooks: `discord.com/api/webhooks/<id>/<68-character token>`; the id and token are reported.")
    .validate(token)
    .examples(
        &["DISCORD_WEBHOOK=https://discord.com/api/webhooks/1106439634320811507/EMHZo9U-UFGUSiaJMXh9MilclRJHNDQUklUDuwKI0ISkW0-scilJmwdB8hqCDEnvo1nc"],
        &["https://discord.com/api/webhooks/000000000000000000/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "https://discord.com/api/webhooks/123/abc"],
    ),
    Detector::secret(
        "discord_client_secret",
        "Discord OAuth client secret",
        r#"(?i:discord)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Discord application client secrets: 32 url-safe characters after `discord` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["DISCORD_CLIENT_SECRET=WbUmgJVpxM1pph5cWV5_Re_H2wwfCZFh"],
        &["discord=00000000000000000000000000000000", "discord=01234567890123456789012345678901"],
    ),
    Detector::secret(
        "telegram_bot_token",
        "Telegram bot token",
        r"\b(?P<v>\d{8,10}:AA[A-Za-z0-9_-]{33})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Telegram Bot API tokens: the numeric bot id, `:AA`, and 33 url-safe characters.")
    .gate(Gate::Inner { literal: ":AA", within: 10 })
    .validate(token)
    .entropy(3.5)
    .examples(
        &["TELEGRAM_BOT_TOKEN=1805400492:AAZxF_djC-qV4wm9lCccRxqsSRuMsLU504k", r#"bot = Bot(token="300517039:AAr3mQzQt2rJqmEnM_F7PlVCGdxxY3bFAel")"#],
        &["TELEGRAM_BOT_TOKEN=123456789:AAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "9436688923:ABxG1M-RP3Gl8aUmjy0X309Q1HnJUWiPnIc"],
    ),
    Detector::secret(
        "teams_incoming_webhook",
        "Microsoft Teams incoming webhook URL",
        r"https://[A-Za-z0-9-]{1,60}\.webhook\.office\.com/webhookb2/(?P<v>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/IncomingWebhook/[a-f0-9]{32}/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:/V2[A-Za-z0-9_-]{20,80})?)",
    )
    .docs("Microsoft Teams (Office 365 connector) incoming webhooks on `webhook.office.com/webhookb2/`; the path is reported.")
    .validate(not_placeholder)
    .examples(
        &["TEAMS_WEBHOOK=https://acme.webhook.office.com/webhookb2/09a215a8-808d-4eed-a33a-02d7473e6cf7@77bc5868-f067-48fe-a4fb-e880ff711cd9/IncomingWebhook/08828db0d74bfd982b593ab30a675d52/773a5ebb-3906-48eb-af21-026e8c45193e"],
        &["https://acme.webhook.office.com/webhookb2/00000000-0000-0000-0000-000000000000@00000000-0000-0000-0000-000000000000/IncomingWebhook/00000000000000000000000000000000/00000000-0000-0000-0000-000000000000", "https://acme.webhook.office.com/webhookb2/"],
    ),
    Detector::secret(
        "power_automate_webhook",
        "Power Automate / Logic Apps signed webhook URL",
        r"https://[A-Za-z0-9.-]{1,80}\.logic\.azure\.com(?::443)?/workflows/[a-f0-9]{32}/triggers/[A-Za-z0-9_.-]{1,40}/paths/invoke\?[A-Za-z0-9=&%._-]{0,150}?\bsig=(?P<v>[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Teams workflow, Power Automate and Logic Apps HTTP triggers: the `sig=` signature in the invoke URL is the credential.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["https://prod-12.westus.logic.azure.com:443/workflows/f2368868266bc91270b687447735389c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=t8anEjqpRCq8F92erO5DiHzBiOOJO0gnWXFNaUGl8lE"],
        &["https://prod-12.westus.logic.azure.com/workflows/b9ab6546b27f6b23be30dd153a42ca11/triggers/manual/paths/invoke?api-version=2016-06-01&sig=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "https://prod-12.westus.logic.azure.com/workflows/"],
    ),
    Detector::secret(
        "mattermost_token",
        "Mattermost access token",
        r#"(?i:mattermost)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-z0-9]{26})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Mattermost personal access and bot tokens: 26 lowercase alphanumerics after `mattermost` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["MATTERMOST_TOKEN=afe2a5r0bdkssowxt6rlpoy0by"],
        &["MATTERMOST_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxx", "MATTERMOST_URL=https://chat.acme.io"],
    ),
    Detector::secret(
        "zoom_client_secret",
        "Zoom client secret / token",
        r#"(?i:zoom)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Zoom OAuth client secrets and secret tokens: 32 alphanumerics after `zoom` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["ZOOM_CLIENT_SECRET=ASLcY1T1rMrDO70ubspOoewZVDMXdszu"],
        &["ZOOM_CLIENT_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "zoom_level = 14"],
    ),
    Detector::secret(
        "webex_access_token",
        "Webex access token",
        r#"(?i:webex|spark)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{64}_[A-Za-z0-9]{4}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Webex bot and integration tokens (64 alphanumerics, `_`, a 4-character cluster code, `_`, the org UUID) after `webex` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["WEBEX_TOKEN=aTn01ZerItTBS5221Q2M9AXk13zGlITknacxb4UlgCkRuc4sWjGzCCANflR8CGVk_P0A1_b92995e3-d62a-4c5d-a0aa-241618df97e8"],
        &["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_P0A1_00000000-0000-0000-0000-000000000000", "C8M8ztyPWJWxBeU6J8Y3jku3AtQ5fK2nLkfJiygUDj6DBlIYbZGtMvECmC3WKfMp_P0A1"],
    ),
    Detector::secret(
        "notion_api_token",
        "Notion integration token",
        r"\b(?P<v>ntn_\d{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Notion integration tokens: `ntn_` with 11 digits and 35 characters, or the older `secret_` and 43 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["NOTION_TOKEN=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", "NOTION_API_KEY=secret_RX7X9KeMIvCFTuQFVFY9R67oGi55xjtLymhraglm9WZ"],
        &["ntn_12345678901", "ntn_123456789012345678901234567890123456789012345678901234567890", "secret_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "linear_api_key",
        "Linear API key",
        r"\b(?P<v>lin_(?:api|oauth)_[A-Za-z0-9]{40,64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Linear personal API keys (`lin_api_`) and OAuth tokens (`lin_oauth_`).")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["LINEAR_API_KEY=lin_api_LaUXVuDfeQoGrNxXLMpBdkM5WfhEVST0ROUzlDJ1"],
        &["lin_api_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "lin_api_9xe4EgquXXTOTD4ILMLs"],
    ),
    Detector::secret(
        "asana_pat",
        "Asana personal access token",
        r"\b(?P<v>[12]/\d{13,19}(?:/\d{13,19})?:[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Asana personal access tokens: `1/` or `2/`, numeric ids, `:`, 32 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["ASANA_TOKEN=2/1198552704880947/1934563587625024:43dc9e3326ace0033208409abaf6dfda", "ASANA_PAT=1/1256609248949587:941c9e572c4c48f80cfd74786b8b4cce"],
        &["1/1234567890123456:00000000000000000000000000000000", "2/2308437082151468"],
    ),
    Detector::secret(
        "figma_pat",
        "Figma personal access token",
        r"\b(?P<v>figd_[A-Za-z0-9_-]{36,48})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Figma personal access tokens: `figd_` and about 40 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["FIGMA_TOKEN=figd_0sBlBUT27erR8v3_wvzOjJoMSfkHaKu3jUCjD8Gj"],
        &["figd_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "figd_A-gCf--8vX"],
    ),
    Detector::secret(
        "intercom_access_token",
        "Intercom access token",
        r#"(?i:intercom)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9=_+/-]{60})(?:[^A-Za-z0-9=_+/-]|$)"#,
    )
    .docs("Intercom access tokens: 60 base64 characters after `intercom` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["INTERCOM_ACCESS_TOKEN=dG9rOjQk5AuINYpRgLjpV+Ym7n+8vpPXjEic+4iRZXd04bGc8NvTyiVuoRyk"],
        &["INTERCOM_ACCESS_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "INTERCOM_APP_ID=abc123"],
    ),
    Detector::secret(
        "zendesk_api_token",
        "Zendesk API token",
        r#"(?i:zendesk)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Zendesk API tokens: 40 alphanumerics after `zendesk` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["ZENDESK_API_TOKEN=FmOtMCZ9Axh8LqIPwcbMGEgYzDcJad2D7goKxmdl"],
        &["ZENDESK_API_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ZENDESK_SUBDOMAIN=acme"],
    ),
    Detector::secret(
        "gitter_token",
        "Gitter access token",
        r#"(?i:gitter)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-z0-9_-]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Gitter access tokens: 40 characters after `gitter` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["GITTER_TOKEN=zdtl0itkp91vrfsy8i2w9wnx8mse9gtx4l6p2ayy"],
        &["GITTER_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "GITTER_ROOM=acme/dev"],
    ),
    Detector::secret(
        "trello_token",
        "Trello API token",
        r#"(?i:trello)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>ATTA[A-Za-z0-9]{60,72}|[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Trello tokens (`ATTA...` or 64 hex digits) after `trello` in an assignment.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["TRELLO_TOKEN=ATTA2xrxrYEmvk6UrSctcb7bki07yc119c6DlkgpZbf6Sre2hdr6DnkfA6IVYSVCZBuO", "TRELLO_TOKEN=da19814d65bc9c48f7088cb1ee2145c5f620b5caefc8420848466078bf332ada"],
        &["TRELLO_TOKEN=0000000000000000000000000000000000000000000000000000000000000000", "TRELLO_BOARD=abc123"],
    ),
    Detector::secret(
        "clickup_api_token",
        "ClickUp personal API token",
        r"\b(?P<v>pk_\d{5,10}_[A-Z0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("ClickUp personal tokens: `pk_`, the user id, `_`, 32 uppercase alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["CLICKUP_TOKEN=pk_49255180_ELIAZH6BPHI6C9QKVHDXFCL48Y4VIDQN"],
        &["pk_12345678_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "pk_19104670_AY7PJ2Z8ZM"],
    ),
    Detector::secret(
        "pushover_token",
        "Pushover application token",
        r#"(?i:pushover)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-z0-9]{30})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Pushover API tokens and user keys: 30 lowercase alphanumerics after `pushover` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["PUSHOVER_TOKEN=v345jkfkp2pitft493o4f7sccc47g2"],
        &["PUSHOVER_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "PUSHOVER_SOUND=magic"],
    ),
];
