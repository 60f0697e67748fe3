//! AI workloads: model servers recognised by image, command and CRD (vLLM, TGI, Triton,
//! Ollama, llama.cpp, SGLang, KServe, Ray Serve, ...), the models they serve (from args, env,
//! volumes and model URIs), and AI provider credentials in the environment — by name only,
//! never by value.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::manifest::{Object, ObjectRef};
use crate::workload::{Container, containers, pod_spec};

/// A workload that serves models or calls AI providers.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AiWorkload {
    /// The object.
    pub object: ObjectRef,
    /// The model server it runs (`vllm`, `tgi`, `triton`, `ollama`, `llama.cpp`, `kserve`,
    /// ...), if it runs one.
    pub server: Option<String>,
    /// The models it serves or names (ids, paths or URIs).
    pub models: Vec<String>,
    /// AI provider credentials in its environment: variable names, never values.
    pub credentials: Vec<String>,
}

/// Model servers by image name (registry and tag left out): (substring, server).
const SERVER_IMAGES: &[(&str, &str)] = &[
    ("vllm-openai", "vllm"),
    ("vllm/", "vllm"),
    ("/vllm", "vllm"),
    ("text-generation-inference", "tgi"),
    ("text-embeddings-inference", "tei"),
    ("tritonserver", "triton"),
    ("ollama", "ollama"),
    ("llama.cpp", "llama.cpp"),
    ("llama-cpp", "llama.cpp"),
    ("llamacpp", "llama.cpp"),
    ("sglang", "sglang"),
    ("localai", "localai"),
    ("tensorrt-llm", "tensorrt-llm"),
    ("tensorrtllm", "tensorrt-llm"),
    ("torchserve", "torchserve"),
    ("tensorflow/serving", "tensorflow-serving"),
    ("mlserver", "mlserver"),
    ("kserve/", "kserve"),
    ("nvcr.io/nim/", "nim"),
    ("xinference", "xinference"),
    ("openllm", "openllm"),
    ("lmdeploy", "lmdeploy"),
    ("bentoml", "bentoml"),
    ("huggingface/transformers-inference", "hf-inference"),
];

/// Model servers by the program they run.
const SERVER_COMMANDS: &[(&str, &str)] = &[
    ("vllm", "vllm"),
    ("vllm.entrypoints", "vllm"),
    ("text-generation-launcher", "tgi"),
    ("tritonserver", "triton"),
    ("llama-server", "llama.cpp"),
    ("sglang.launch_server", "sglang"),
    ("torchserve", "torchserve"),
    ("tensorflow_model_server", "tensorflow-serving"),
    ("mlserver", "mlserver"),
    ("lmdeploy", "lmdeploy"),
];

/// Provider credentials by variable name.
pub const CREDENTIAL_VARS: &[&str] = &[
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_KEY",
    "ANTHROPIC_API_KEY",
    "CLAUDE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GENAI_API_KEY",
    "COHERE_API_KEY",
    "CO_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "TOGETHER_API_KEY",
    "TOGETHERAI_API_KEY",
    "DEEPSEEK_API_KEY",
    "PERPLEXITY_API_KEY",
    "PPLX_API_KEY",
    "OPENROUTER_API_KEY",
    "XAI_API_KEY",
    "FIREWORKS_API_KEY",
    "REPLICATE_API_TOKEN",
    "VOYAGE_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACE_API_KEY",
    "HUGGINGFACEHUB_API_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AI21_API_KEY",
    "NVIDIA_API_KEY",
    "NGC_API_KEY",
    "CEREBRAS_API_KEY",
];

/// Environment variables that name a model.
const MODEL_VARS: &[&str] = &[
    "MODEL",
    "MODEL_ID",
    "MODEL_NAME",
    "MODEL_PATH",
    "MODEL_URI",
    "HF_MODEL_ID",
    "HF_MODEL",
    "LLM_MODEL",
    "SERVED_MODEL_NAME",
    "OLLAMA_MODEL",
    "VLLM_MODEL",
];

/// Flags whose value is a model.
const MODEL_FLAGS: &[&str] = &[
    "--model",
    "--model-id",
    "--model-path",
    "--model_path",
    "--model-repository",
    "--model_repository",
    "--model-store",
    "--served-model-name",
    "--hf-repo",
    "--tokenizer",
    "-m",
];

/// Whether an environment variable name is an AI provider credential.
pub fn is_credential_var(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    CREDENTIAL_VARS.contains(&upper.as_str())
}

/// The model server an image runs, by name.
fn server_of_image(image: &str) -> Option<&'static str> {
    let image = image.to_ascii_lowercase();
    // the tag and digest are not part of the name
    let name = image.split('@').next().unwrap_or(&image);
    let name = match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    };
    SERVER_IMAGES
        .iter()
        .find(|(s, _)| name.contains(s))
        .map(|(_, server)| *server)
}

/// The model server a command line runs.
fn server_of_argv(argv: &[&str]) -> Option<&'static str> {
    let first = argv.first()?;
    let program = first.rsplit('/').next().unwrap_or(first);
    for (cmd, server) in SERVER_COMMANDS {
        if program == *cmd {
            return Some(server);
        }
    }
    // `python -m vllm.entrypoints.openai.api_server`, `ollama serve`, `serve run` (Ray Serve)
    for w in argv.windows(2) {
        if w[0] == "-m"
            && let Some((_, server)) = SERVER_COMMANDS.iter().find(|(c, _)| w[1].starts_with(c))
        {
            return Some(server);
        }
        if w[0].ends_with("ollama") && w[1] == "serve" {
            return Some("ollama");
        }
        if w[0].ends_with("serve") && (w[1] == "run" || w[1] == "deploy") {
            return Some("ray-serve");
        }
    }
    // a shell line: `sh -c "vllm serve ..."`
    let joined = argv.join(" ");
    if joined.contains("vllm serve") || joined.contains("vllm.entrypoints") {
        return Some("vllm");
    }
    if joined.contains("text-generation-launcher") {
        return Some("tgi");
    }
    if joined.contains("llama-server") {
        return Some("llama.cpp");
    }
    if joined.contains("ollama serve") {
        return Some("ollama");
    }
    None
}

/// The models a command line names: flag values, and `vllm serve MODEL`.
fn models_of_argv(argv: &[&str], models: &mut BTreeSet<String>) {
    // a shell line is split into words
    let words: Vec<&str> = argv.iter().flat_map(|a| a.split_whitespace()).collect();
    for (i, w) in words.iter().enumerate() {
        if let Some((flag, value)) = w.split_once('=')
            && MODEL_FLAGS.contains(&flag)
        {
            add_model(value, models);
            continue;
        }
        // `python -m module` names a module, not a model
        let python_module = *w == "-m"
            && i > 0
            && words[i - 1]
                .rsplit('/')
                .next()
                .is_some_and(|p| p.starts_with("python"));
        if MODEL_FLAGS.contains(w)
            && !python_module
            && let Some(v) = words.get(i + 1)
            && !v.starts_with('-')
        {
            add_model(v, models);
        }
        let prev = if i > 0 { words[i - 1] } else { "" };
        let positional = (*w == "serve" && prev.ends_with("vllm"))
            || ((*w == "pull" || *w == "run") && prev.ends_with("ollama"));
        if positional && let Some(v) = words.get(i + 1).filter(|v| !v.starts_with('-')) {
            add_model(v, models);
        }
    }
}

fn add_model(v: &str, models: &mut BTreeSet<String>) {
    let v = v.trim_matches(['"', '\'']);
    // a shell variable is not a model name
    if !v.is_empty() && !v.starts_with('$') && v.len() <= 300 && models.len() < 50 {
        models.insert(v.to_owned());
    }
}

/// Whether a string is a model URI (`hf://`, `s3://`, `gs://`, `pvc://`, `oci://`, ...).
fn is_model_uri(s: &str) -> bool {
    [
        "hf://",
        "s3://",
        "gs://",
        "gcs://",
        "pvc://",
        "oci://",
        "azureblob://",
        "https://huggingface.co/",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// The AI workload an object is, if it is one.
pub fn recognise(o: &Object) -> Option<AiWorkload> {
    let mut server: Option<String> = None;
    let mut models = BTreeSet::new();
    let mut credentials = BTreeSet::new();
    // KServe, its runtimes, and Ray Serve by kind
    match (
        o.id.kind.as_str(),
        o.api_version.split('/').next().unwrap_or(""),
    ) {
        ("InferenceService", "serving.kserve.io") => {
            server = Some("kserve".into());
            let predictor = o.value.pointer("/spec/predictor");
            for p in predictor.and_then(Value::as_object).into_iter().flatten() {
                if let Some(uri) = p.1.get("storageUri").and_then(Value::as_str) {
                    add_model(uri, &mut models);
                }
                if let Some(uri) = p.1.get("storageUris").and_then(Value::as_array) {
                    for u in uri.iter().filter_map(Value::as_str) {
                        add_model(u, &mut models);
                    }
                }
            }
            for c in predictor
                .and_then(|p| p.get("containers"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                scan_container(
                    Container {
                        list: "containers",
                        name: c.get("name").and_then(Value::as_str).unwrap_or(""),
                        value: c,
                    },
                    &mut server,
                    &mut models,
                    &mut credentials,
                );
            }
        }
        ("ServingRuntime" | "ClusterServingRuntime", "serving.kserve.io") => {
            server = Some("kserve".into());
        }
        ("RayService", "ray.io") => server = Some("ray-serve".into()),
        _ => {}
    }
    if let Some(spec) = pod_spec(o) {
        for c in containers(spec) {
            scan_container(c, &mut server, &mut models, &mut credentials);
        }
        // model volumes: a claim or image volume whose name says it holds models
        for v in spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            let claim = v
                .pointer("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str);
            let image = v.pointer("/image/reference").and_then(Value::as_str);
            let host = v.pointer("/hostPath/path").and_then(Value::as_str);
            if server.is_some()
                && (name.contains("model") || claim.is_some_and(|c| c.contains("model")))
            {
                if let Some(c) = claim {
                    add_model(&format!("pvc://{c}"), &mut models);
                }
                if let Some(i) = image {
                    add_model(&format!("oci://{i}"), &mut models);
                }
                if let Some(h) = host {
                    add_model(&format!("hostPath:{h}"), &mut models);
                }
            }
        }
    }
    if server.is_none() && credentials.is_empty() {
        return None;
    }
    Some(AiWorkload {
        object: o.id.clone(),
        server,
        models: models.into_iter().collect(),
        credentials: credentials.into_iter().collect(),
    })
}

fn scan_container(
    c: Container<'_>,
    server: &mut Option<String>,
    models: &mut BTreeSet<String>,
    credentials: &mut BTreeSet<String>,
) {
    let argv = c.argv();
    let found = server_of_image(c.image()).or_else(|| server_of_argv(&argv));
    if server.is_none()
        && let Some(s) = found
    {
        *server = Some(s.to_owned());
    }
    let is_server = found.is_some();
    if is_server {
        models_of_argv(&argv, models);
    }
    for (name, value) in c.env() {
        if is_credential_var(name) {
            credentials.insert(name.to_owned());
        }
        if let Some(v) = value {
            let upper = name.to_ascii_uppercase();
            if (is_server && MODEL_VARS.contains(&upper.as_str())) || is_model_uri(v) {
                add_model(v, models);
            }
        }
    }
    // env from a secret whose name says it holds provider keys: the secret's name is all
    // that is known
    for from in c
        .value
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = from.pointer("/secretRef/name").and_then(Value::as_str) {
            let n = name.to_ascii_lowercase();
            if [
                "openai",
                "anthropic",
                "gemini",
                "cohere",
                "mistral",
                "huggingface",
                "hf-token",
            ]
            .iter()
            .any(|p| n.contains(p))
            {
                credentials.insert(format!("envFrom:{name}"));
            }
        }
    }
    for a in &argv {
        if is_model_uri(a) {
            add_model(a, models);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(container: Value) -> Object {
        Object::from_value(
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "llm", "namespace": "ai"},
                "spec": {"template": {"spec": {"containers": [container]}}}}),
            "",
            None,
        )
        .unwrap()
    }

    #[test]
    fn model_servers_and_their_models_are_recognised() {
        let vllm = recognise(&deployment(serde_json::json!({
            "name": "vllm", "image": "vllm/vllm-openai:v0.6.3",
            "args": ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000"],
            "env": [{"name": "HF_TOKEN", "value": "hf_xxx"}]})))
        .unwrap();
        assert_eq!(vllm.server.as_deref(), Some("vllm"));
        assert_eq!(vllm.models, ["meta-llama/Llama-3.1-8B-Instruct"]);
        assert_eq!(vllm.credentials, ["HF_TOKEN"]);
        let tgi = recognise(&deployment(serde_json::json!({
            "name": "tgi", "image": "ghcr.io/huggingface/text-generation-inference:2.4",
            "env": [{"name": "MODEL_ID", "value": "mistralai/Mistral-7B-Instruct-v0.3"}]})))
        .unwrap();
        assert_eq!(
            (tgi.server.as_deref(), tgi.models.as_slice()),
            (
                Some("tgi"),
                &["mistralai/Mistral-7B-Instruct-v0.3".to_owned()][..]
            )
        );
        // `python3 -m vllm.entrypoints…`: the module is not a model, the flag's value is
        let module = recognise(&deployment(serde_json::json!({
            "name": "v", "image": "vllm/vllm-openai:latest",
            "command": ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "Qwen/Qwen2.5-1.5B",
                        "--served-model-name", "${MODEL}"]})))
        .unwrap();
        assert_eq!(module.models, ["Qwen/Qwen2.5-1.5B"]);
        let shell = recognise(&deployment(serde_json::json!({
            "name": "x", "image": "python:3.12",
            "command": ["sh", "-c", "pip install vllm && vllm serve Qwen/Qwen2.5-7B --port 8000"]})))
        .unwrap();
        assert_eq!(shell.server.as_deref(), Some("vllm"));
        assert_eq!(shell.models, ["Qwen/Qwen2.5-7B"]);
        let client = recognise(&deployment(serde_json::json!({
            "name": "app", "image": "shop/api:1.2",
            "env": [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]})))
        .unwrap();
        assert_eq!(client.server, None);
        assert_eq!(client.credentials, ["OPENAI_API_KEY"]);
        assert!(
            recognise(&deployment(
                serde_json::json!({"name": "web", "image": "nginx:1.27"})
            ))
            .is_none()
        );
    }
}
