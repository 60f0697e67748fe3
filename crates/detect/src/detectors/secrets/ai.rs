//! Secret detectors: AI providers.
//!
//! Model-provider API keys: most carry a vendor prefix (`sk-proj-`, `sk-ant-api03-`, `hf_`, `gsk_`,
//! ...) and are matched on their own; the few plain random keys (Cohere, Mistral, DeepSeek, ...) are
//! reported only next to the vendor's name in an assignment.

use crate::detector::Detector;
use crate::validate::not_placeholder;

use super::generic::{kw_token, token};

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "openai_api_key",
        "OpenAI API key (legacy user key)",
        r"\b(?P<v>sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Legacy OpenAI user keys: `sk-`, 20 characters, the marker `T3BlbkFJ` (base64 of \"OpenAI\"), 20 characters.")
    .validate(not_placeholder)
    .examples(
        &["OPENAI_API_KEY=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", r#"openai.api_key = "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""#],
        &["sk-iS2oJf5bxo5GWVDvJRe9T3BlbkFIUhXAfMJ4F9LzZibiLSiG", "sk-xxxxxxxxxxxxxxxxxxxxT3BlbkFJxxxxxxxxxxxxxxxxxxxx", "sk-IlLaHAmxWdk8abux6RwT3BlbkFJ45DlkqGLvMCpEgXo9wnZ"],
    ),
    Detector::secret(
        "openai_project_key",
        "OpenAI project API key",
        r"\b(?P<v>sk-(?:proj|None)-[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("OpenAI project keys: `sk-proj-` (or the older `sk-None-`), url-safe characters around the `T3BlbkFJ` marker.")
    .validate(not_placeholder)
    .examples(
        &["OPENAI_API_KEY=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", r#"{"key": "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"}"#],
        &["sk-proj-Tl066QQoz5lhiri9gbPzaAL-qsbbWCaIQHi_qPU69Aob__NMz38zq21MY7a_a3S-wzM_59uZxCT3BlbkFjVu85vmrdtmATCRxd-gl6GGrIY3uFPGmM_nCyj4ceqHBOmYbvrip5msyvxVM9xyfe6AV02ba500", "sk-proj-abc123T3BlbkFJdef456", "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxT3BlbkFJxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "openai_service_account_key",
        "OpenAI service-account key",
        r"\b(?P<v>sk-svcacct-[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("OpenAI service-account keys: `sk-svcacct-`, url-safe characters around the `T3BlbkFJ` marker.")
    .validate(not_placeholder)
    .examples(
        &[r#"export OPENAI_API_KEY="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""#],
        &["sk-svcacct-sDikrqRTIA9M8EEbKXKiLWYUNR8TSO46v07Pgae5N4ojSQtYOfy0VcSeJPeUW2lJx2vNFJunO2", "sk-svcacct-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxT3BlbkFJxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "openai_admin_key",
        "OpenAI admin key",
        r"\b(?P<v>sk-admin-[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("OpenAI organization admin keys: `sk-admin-`, url-safe characters around the `T3BlbkFJ` marker.")
    .validate(not_placeholder)
    .examples(
        &["OPENAI_ADMIN_KEY=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"],
        &["sk-admin-vLLdjJlku_Kv-sv7dQM1YZ4AbEKqFQPQV42Wph_NB8AYdRfov7MxT8tb73", "sk-admin-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxT3BlbkFJxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "anthropic_api_key",
        "Anthropic API key",
        r"\b(?P<v>sk-ant-api\d{2}-[A-Za-z0-9_-]{80,100}AA)(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Anthropic API keys: `sk-ant-api03-`, 93 url-safe base64 characters ending in `AA`.")
    .validate(not_placeholder)
    .examples(
        &["ANTHROPIC_API_KEY=sk-ant-api03-Xq3vN8rT2kLmP9sW4yZ7bC1dF6gH0jK5nR8tV2wY4zA3cE7fG9hJ1kL3mN5pQ7rS9tU1vW3xY5zA7bC9dE1fG3hJ5kL7mN9pAA", r#"client = Anthropic(api_key="sk-ant-api03-voaGSMIra_K7YO7gUNTt8dm0rO-S_zBhSDnr0QW8GBrhDR2d6dH_SKb43WMH_j8rkTOZZYuQ3U2CWsWnV8zyB23XaD2DyAA")"#],
        &["sk-ant-api03-short", "sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxAA", "sk-ant-api03-08Kew5bHCVs0w945_aOTS2vWV75tlVw0ruCp4LX14DmTEkOSTD_sjTVjyRKRC4W3a4FqRcyKNlXlErGyx0dqlBOm1nyk3BB"],
    ),
    Detector::secret(
        "anthropic_admin_key",
        "Anthropic admin API key",
        r"\b(?P<v>sk-ant-admin\d{2}-[A-Za-z0-9_-]{80,100}AA)(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Anthropic Admin API keys: `sk-ant-admin01-`, 93 url-safe base64 characters ending in `AA`.")
    .validate(not_placeholder)
    .examples(
        &["ANTHROPIC_ADMIN_KEY=sk-ant-admin01-Jsx4t2QzkIQs87fONQRG_DOoGv_fABUpPhCf07CCXIs1hM2_RnURUonydNCtajwqkxTCIY68AeEfrZuCoJtuTHTn5YPgnAA"],
        &["sk-ant-admin01-2suU_lOBYvzNflALn7CzECh6Jg7KoVl8MeZqZOw5AA", "sk-ant-admin01-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxAA"],
    ),
    Detector::secret(
        "anthropic_oauth_token",
        "Anthropic OAuth token",
        r"\b(?P<v>sk-ant-(?:oat|ort)\d{2}-[A-Za-z0-9_-]{80,120})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Anthropic OAuth access (`sk-ant-oat01-`) and refresh (`sk-ant-ort01-`) tokens, as issued to Claude Code and other OAuth clients.")
    .validate(not_placeholder)
    .entropy(3.5)
    .examples(
        &["CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-ZL4HqV1wj1yRsWytiz-EhEMacN4lHstaI0aGWrDfY2xL3ARggyjQwmo_mZZyGCZ7t0qB23l21VJVUXSx55-UE9kzrR3UuAA"],
        &["sk-ant-oat01-0HMEq3A8dpqJ71JjXJyqcHW487qCRi", "sk-ant-oat01-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "google_api_key",
        "Google API key (Gemini, Maps, Firebase)",
        r"\b(?P<v>AIza[0-9A-Za-z_-]{35})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Google Cloud / Gemini / Firebase API keys: `AIza` and 35 url-safe characters; placeholders are rejected.")
    .validate(not_placeholder)
    .entropy(3.5)
    .examples(
        &["GEMINI_API_KEY=AIzaP3ejecc7UID6YqkLl06zJ0MzfpAgkAe1wFp", r#"const firebaseConfig = { apiKey: "AIzaezG7xe4hcbOdmeHEeGxzV5-ifGuk1LTAK2b" };"#],
        &["AIzaSyabcdefghijklmnopqrstuvwxyz1234567", r#"apiKey: "AIzaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa""#, "AIza9vwEBUiVdnNO21W8_ioMd4AONxp7uP"],
    ),
    Detector::secret(
        "cohere_api_key",
        "Cohere API key",
        r#"(?i:cohere|co_api_key)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Cohere keys are 40 random alphanumerics with no prefix, so they are reported only after `cohere` or `CO_API_KEY` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["COHERE_API_KEY=aWHWOUTiOC1ZXgzo9jBhxxavOq4xSzRjbaFDfmOj", r#"co = cohere.Client("q9v7aNmdHOv6Geu9ArEUkJQYjY2VkyPhRI2ds5cs")"#, "CO_API_KEY: w5wTueQX0wlYHkBzTDAlP1FMzIG3zSxwhtcMhAZU"],
        &["CO_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", r#"cohere_model = "command-r-plus-08-2024""#, "8qN1lXrABy1N8K0N5DIdTskwcppHNFQeJ5jiv5oi"],
    ),
    Detector::secret(
        "huggingface_token",
        "Hugging Face access token",
        r"\b(?P<v>hf_[A-Za-z0-9]{34})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Hugging Face user access tokens: `hf_` and 34 letters (both cases), not a placeholder.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["huggingface-cli login --token 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", "HF_TOKEN=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"],
        &["- (id)hf_requiredCharacteristicTypesForDisplayMetadata;", "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "hf_jMFtnFDUumTxxJMMeLKs"],
    ),
    Detector::secret(
        "huggingface_org_token",
        "Hugging Face organization API token",
        r"\b(?P<v>api_org_[A-Za-z0-9]{34})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Legacy Hugging Face organization tokens: `api_org_` and 34 letters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["use_auth_token='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'"],
        &["api_org_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "const api_org_controller = require('../controllers');"],
    ),
    Detector::secret(
        "mistral_api_key",
        "Mistral AI API key",
        r#"(?i:mistral)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Mistral keys are 32 random alphanumerics with no prefix: reported only after `mistral` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["MISTRAL_API_KEY=qL8mSRkvO5XiPK88T44yIUSPHyGS4wMa", r#"mistral_key: "ZE9EeIiAVbAEwyLJTW45AiwuyHy5jF6s""#],
        &["MISTRAL_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", r#"mistral_model = "mistral-large-latest""#, "key=rhMBpGNNLFfKHjNls8SqJA3lRGF9PoUb"],
    ),
    Detector::secret(
        "groq_api_key",
        "Groq API key",
        r"\b(?P<v>gsk_[A-Za-z0-9]{52})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Groq keys: `gsk_` and 52 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["GROQ_API_KEY=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"],
        &["gsk_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "gsk_t20XPpYyFdOq1u4we9g6hRn43HqGiglUt5gVis2A"],
    ),
    Detector::secret(
        "replicate_api_token",
        "Replicate API token",
        r"\b(?P<v>r8_[A-Za-z0-9]{37})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Replicate tokens: `r8_` and 37 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["REPLICATE_API_TOKEN=r8_NJROmojSkwmXydtksY4Q5e4WyncshHIcCH83M"],
        &["r8_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "r8_XwVF23u93fSAQVTjD8fK"],
    ),
    Detector::secret(
        "perplexity_api_key",
        "Perplexity API key",
        r"\b(?P<v>pplx-[A-Za-z0-9]{48})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Perplexity keys: `pplx-` and 48 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["PERPLEXITY_API_KEY='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'"],
        &["PERPLEXITY_API_KEY=pplx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "pplx-6r6FL6bEXGey44mk2Ng1TbevKc12i0"],
    ),
    Detector::secret(
        "xai_api_key",
        "xAI (Grok) API key",
        r"\b(?P<v>xai-[A-Za-z0-9]{80})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("xAI keys: `xai-` and 80 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["XAI_API_KEY=xai-92Eupayi9z56yHmZAAOkzy7ih7XDS7g46ZQ6cM5bO9SkUwJYrx7Y6zwoYhBbS8uYsSfLT4kfkXvEA2lB"],
        &["xai-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xai-tAm7dQ2Tc7eMao4zKqLe7lSQEwfSaBWHyKjam2Ya"],
    ),
    Detector::secret(
        "deepseek_api_key",
        "DeepSeek API key",
        r#"(?i:deepseek)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>sk-[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("DeepSeek keys are `sk-` and 32 hex digits; reported only after `deepseek` in an assignment.")
    .validate(token)
    .entropy(3.0)
    .score(0.85)
    .examples(
        &["DEEPSEEK_API_KEY=sk-0a758a3715ff7cb60afee41743ceb088", r#"deepseek_key = "sk-e1acfec35e507af0c9a6a94f98de6beb""#],
        &["DEEPSEEK_API_KEY=sk-00000000000000000000000000000000", "sk-11e170e163a82f980edcbf70a93f6ec7"],
    ),
    Detector::secret(
        "together_api_key",
        "Together AI API key",
        r"\b(?P<v>tgp_v1_[A-Za-z0-9_-]{40,64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Together AI keys in the current format: `tgp_v1_` and 40-64 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["TOGETHER_API_KEY=tgp_v1_47-VLMuRp8dhYflwInpXvUlvrhC-v2AIohhR8xjnl3t"],
        &["tgp_v1_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "tgp_v1_NU43aDArHbn69TcwS1RZ"],
    ),
    Detector::secret(
        "together_api_key_legacy",
        "Together AI API key (legacy hex)",
        r#"(?i:together)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older Together AI keys: 64 hex digits, reported only after `together` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["TOGETHER_API_KEY=d605e97819e3d3d7998f1148354194ce389bff8f7068407854538d5b62c987ff"],
        &["TOGETHER_API_KEY=0000000000000000000000000000000000000000000000000000000000000000", "sha256=8262bddb8be1efdde8756ce378969743d341ac33470904a693bd7b05953cf851"],
    ),
    Detector::secret(
        "fireworks_api_key",
        "Fireworks AI API key",
        r#"(?i:fireworks)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>(?:fw_)?[A-Za-z0-9]{24,48})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Fireworks AI keys (`fw_` and 24 characters, or 48 older alphanumerics) after `fireworks` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["FIREWORKS_API_KEY=fw_BzHOJ94yqfHi8ugMEoX18upg", "fireworks_api_key: PuJPq0KhCEBl1fDb7JVV0ei4KdbZWiBd0LN0PYcTU5MCSzUX"],
        &["FIREWORKS_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", r#"fireworks_model = "accounts/fireworks/models/llama""#],
    ),
    Detector::secret(
        "openrouter_api_key",
        "OpenRouter API key",
        r"\b(?P<v>sk-or-v1-[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("OpenRouter keys: `sk-or-v1-` and 64 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["OPENROUTER_API_KEY=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"],
        &["sk-or-v1-0000000000000000000000000000000000000000000000000000000000000000", "sk-or-v1-3092407179c683d037b7ab65e251210b"],
    ),
    Detector::secret(
        "langsmith_api_key",
        "LangSmith API key",
        r"\b(?P<v>lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("LangSmith personal (`lsv2_pt_`) and service (`lsv2_sk_`) keys: 32 hex digits, `_`, 10 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["LANGCHAIN_API_KEY=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", r#"LANGSMITH_API_KEY="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""#],
        &["lsv2_pt_00000000000000000000000000000000_0000000000", "lsv2_pt_3281cd14a531e5d8d80988ef9cdd92d7"],
    ),
    Detector::secret(
        "pinecone_api_key",
        "Pinecone API key",
        r"\b(?P<v>pcsk_[A-Za-z0-9]{4,8}_[A-Za-z0-9]{40,80})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Pinecone keys in the current format: `pcsk_`, a short key id, `_`, and a long random secret.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["PINECONE_API_KEY=pcsk_NApZVV_BumQMcD3GPE7mXPsJ4GMb4g6JZbpZhlks3RTF88RQsVeHLoUaceJyeFxbtqaPgy"],
        &["pcsk_xxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "pcsk_FcyqZL_Q2XU1ZWLxcKefk4qK3FY"],
    ),
    Detector::secret(
        "pinecone_api_key_legacy",
        "Pinecone API key (legacy UUID)",
        r#"(?i:pinecone)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older Pinecone keys are UUIDs, reported only after `pinecone` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .score(0.75)
    .examples(
        &["PINECONE_API_KEY=4046a0e8-ab43-40fb-aed1-2a95f7fc456b"],
        &["PINECONE_API_KEY=00000000-0000-0000-0000-000000000000", "request_id=413bfe5a-5f3c-4439-a3b7-df3a29d171b3"],
    ),
    Detector::secret(
        "elevenlabs_api_key",
        "ElevenLabs API key",
        r"\b(?P<v>sk_[a-f0-9]{48})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("ElevenLabs keys: `sk_` and 48 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["ELEVENLABS_API_KEY=sk_0d316cad914a4c7229a26652bd7bf21092f8937502312d10", r#"headers = {"xi-api-key": "sk_e175c380a43138b6378496001a917565a82b311740f7f513"}"#],
        &["sk_000000000000000000000000000000000000000000000000", "sk_e2a406bc80fca21600de63f5f8008fee"],
    ),
    Detector::secret(
        "elevenlabs_api_key_legacy",
        "ElevenLabs API key (legacy)",
        r#"(?i:elevenlabs|eleven_labs|xi[_-]api[_-]key)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older ElevenLabs keys: 32 hex digits after `elevenlabs` or `xi-api-key`.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["ELEVENLABS_API_KEY=d207f49a9c640148f68dad5c031f3de2", r#""xi-api-key": "be656c031cb2cfd80c6e7fc47a943701""#],
        &["ELEVENLABS_API_KEY=00000000000000000000000000000000", "md5=9b391251b7e0ce18f75cca01412e8336"],
    ),
    Detector::secret(
        "assemblyai_api_key",
        "AssemblyAI API key",
        r#"(?i:assembly[_-]?ai)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("AssemblyAI keys: 32 hex digits after `assemblyai` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["ASSEMBLYAI_API_KEY=e101d07c01c94e130740b9bfa74d1dd7"],
        &["ASSEMBLYAI_API_KEY=ffffffffffffffffffffffffffffffff", "md5=483d1b9f7911249da7c1ced97e5220a3"],
    ),
    Detector::secret(
        "deepgram_api_key",
        "Deepgram API key",
        r#"(?i:deepgram)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Deepgram keys: 40 hex digits after `deepgram` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["DEEPGRAM_API_KEY=3b3fda766e590c80d17d4f196e9e15def1c57db9"],
        &["DEEPGRAM_API_KEY=0000000000000000000000000000000000000000", "sha1=d7f2e325ee03c0dfc4fe4fb8ee1e68392eecf339"],
    ),
    Detector::secret(
        "stability_api_key",
        "Stability AI API key",
        r#"(?i:stability|dreamstudio)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>sk-[A-Za-z0-9]{48})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Stability AI keys: `sk-` and 48 alphanumerics after `stability` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .score(0.85)
    .examples(
        &["STABILITY_API_KEY=sk-TV2x7vpRj7LazekBWVslaxO1TxXDZBp1EdUjE5AZS7i0QJh7"],
        &["STABILITY_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sk-nvDGacJ6zJTeyuAz83nEQAT5oOG7sIvXxmsf9nXJWrhhJ9kW"],
    ),
    Detector::secret(
        "wandb_api_key",
        "Weights & Biases API key",
        r#"(?i:wandb)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Weights & Biases keys: 40 hex digits after `wandb` (e.g. `WANDB_API_KEY=`).")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.85)
    .examples(
        &["WANDB_API_KEY=3dd379633d23881742c866002d08f71c2b7a4234", r#"wandb_key: "b03b46ed056dd5a596f85c1d26f938ab47c869bc""#],
        &["WANDB_API_KEY=0000000000000000000000000000000000000000", "commit 129ed18aafacef6febd07695b91d588bb54cacca"],
    ),
    Detector::secret(
        "azure_openai_key",
        "Azure OpenAI / AI services key",
        r#"(?i:azure[_-]?openai|azure[_-]?ai|aoai)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32}|[A-Za-z0-9]{84})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Azure OpenAI / Cognitive Services keys (32 hex digits, or the newer 84-character keys) after `azure_openai` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.85)
    .examples(
        &["AZURE_OPENAI_API_KEY=f977501a1d2f4aea0beeb07d16a5d87c", r#"AZURE_OPENAI_KEY="FAjJhqF8JYhqhDpKTQaGmUHJsiNRFJ1EdldfPOJM8yLGC0cM66TNvjbRkQN0bqXfOiw9VAgHgoyl6cgY7rp3""#],
        &["AZURE_OPENAI_API_KEY=00000000000000000000000000000000", "AZURE_OPENAI_ENDPOINT=https://myres.openai.azure.com/"],
    ),
    Detector::secret(
        "nvidia_api_key",
        "NVIDIA API key",
        r"\b(?P<v>nvapi-[A-Za-z0-9_-]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("NVIDIA NGC / NIM keys: `nvapi-` and 64 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["NVIDIA_API_KEY=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"],
        &["nvapi-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "nvapi-C7LOW09NpU4hbAdYH591F_nr2IlLXS"],
    ),
    Detector::secret(
        "tavily_api_key",
        "Tavily API key",
        r"\b(?P<v>tvly-(?:dev-|prod-)?[A-Za-z0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Tavily search keys: `tvly-` (optionally `tvly-dev-`) and 32 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["TAVILY_API_KEY=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", "TAVILY_API_KEY=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"],
        &["tvly-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "tvly-RnPlBzYkEPxhk55Z"],
    ),
    Detector::secret(
        "llamacloud_api_key",
        "LlamaCloud API key",
        r"\b(?P<v>llx-[A-Za-z0-9]{48})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("LlamaIndex / LlamaCloud keys: `llx-` and 48 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["LLAMA_CLOUD_API_KEY=llx-MZzg3qRWC3YSZuumLnEdS1NqQ2cpUf9pmYtuAGT8TIQMlOiB"],
        &["llx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "llx-vcZI7FltVBSr9qT6q1Ow"],
    ),
    Detector::secret(
        "cerebras_api_key",
        "Cerebras API key",
        r"\b(?P<v>csk-[a-z0-9]{48})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Cerebras inference keys: `csk-` and 48 lowercase alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["CEREBRAS_API_KEY=csk-kxbbzb7jv4632os20zmecifsytfsb2lgkf8qdmby5oyeyjl0"],
        &["csk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "csk-zfea3685l17ism1ve4kl"],
    ),
    Detector::secret(
        "voyage_api_key",
        "Voyage AI API key",
        r#"(?i:voyage)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>pa-[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Voyage AI keys: `pa-` and 43 url-safe characters, after `voyage` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .score(0.85)
    .examples(
        &["VOYAGE_API_KEY=pa-rxX6ExprIx_2Yi2lWps4iU4jC5M8djCxXJO9hkKfZnD"],
        &["VOYAGE_API_KEY=pa-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "pa-Lqn8mWuLRFv97k8RFdRoVoZoK2TsD73zduY1lAXFm59"],
    ),
    Detector::secret(
        "firecrawl_api_key",
        "Firecrawl API key",
        r"\b(?P<v>fc-[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Firecrawl web-scraping API keys: `fc-` and 32 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["FIRECRAWL_API_KEY=fc-9ecbcddc2be01c04b9281f50ebfc20de"],
        &["fc-00000000000000000000000000000000", "fc-afef7e648c64692a"],
    ),
    Detector::secret(
        "dashscope_api_key",
        "Alibaba DashScope / Qwen API key",
        r#"(?i:dashscope|qwen|bailian)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>sk-[A-Za-z0-9]{32,48})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Alibaba Cloud Model Studio (DashScope, Qwen) keys: `sk-` and 32+ characters, after `dashscope` / `qwen` in an assignment.")
    .validate(token)
    .entropy(3.0)
    .score(0.85)
    .examples(
        &["DASHSCOPE_API_KEY=sk-0156be813d72ea8511da7a009b1263c0"],
        &["DASHSCOPE_API_KEY=sk-00000000000000000000000000000000", "sk-78b602a9afa2ef4fb86e0d8273600d42"],
    ),
    Detector::secret(
        "moonshot_api_key",
        "Moonshot AI (Kimi) API key",
        r#"(?i:moonshot|kimi)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>sk-[A-Za-z0-9]{32,64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Moonshot AI / Kimi keys: `sk-` and 32-64 alphanumerics, after `moonshot` / `kimi` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .score(0.85)
    .examples(
        &["MOONSHOT_API_KEY=sk-UzGfsy26y2hW49Cx59VZYP6xokTk7qmZqgnFFh9YPmTeta9K"],
        &["MOONSHOT_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sk-yFHgPuCweXhd3rjFSHAWecOVFh2cInkCXEB4GF4yiX99uSaZ"],
    ),
    Detector::secret(
        "fal_api_key",
        "fal.ai API key",
        r#"(?i:fal[_-]?(?:ai[_-]?)?(?:api[_-]?)?key)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("fal.ai keys (`<key id UUID>:<32 hex secret>`) after `FAL_KEY` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["FAL_KEY=c4c2e577-4aa9-479a-a6ff-ca0f954d0ed1:f5d1ae7dd66aaa70383bff5ff70600d7"],
        &["FAL_KEY=00000000-0000-0000-0000-000000000000:00000000000000000000000000000000", "3f87006f-1151-476d-a68f-a28b39130dea:0ce6fddcde4995b1baa2a7934d6f1099"],
    ),
    Detector::secret(
        "exa_api_key",
        "Exa search API key",
        r#"(?i:exa[_-]api[_-]key)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Exa search API keys (UUIDs) after `EXA_API_KEY` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["EXA_API_KEY=fd0a17df-c7a5-4ac7-a233-5e276126b3bc"],
        &["EXA_API_KEY=00000000-0000-0000-0000-000000000000", "example_key = e4719992-b6aa-4c70-aaa7-1fd9f290b033"],
    ),
    Detector::secret(
        "runway_api_key",
        "Runway API key",
        r"\b(?P<v>key_[a-f0-9]{128})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Runway ML API keys: `key_` and 128 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["RUNWAYML_API_SECRET=key_943dbd602d3ab4ec81986a0564b75e5f9f44aef699ef46aa79f21b9bf408e3d9989f07a2695e3fe73fb1c603f403ab4f0e2c9e74f67ccea235ebf6a835071550"],
        &["key_00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "key_df7271909ba0139439635bffb1000c448c98984c943f489fefac5c689bf39c01"],
    ),
    Detector::secret(
        "langfuse_secret_key",
        "Langfuse secret key",
        r"\b(?P<v>sk-lf-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Langfuse secret keys: `sk-lf-` and a UUID (the `pk-lf-` public key is not reported).")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["LANGFUSE_SECRET_KEY=sk-lf-d23638ad-7d49-42d6-aa32-974d4edd657a"],
        &["LANGFUSE_PUBLIC_KEY=pk-lf-ac360f08-e8e2-448d-ac9e-982275e21261", "sk-lf-00000000-0000-0000-0000-000000000000"],
    ),
];
