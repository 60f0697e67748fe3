//! Kubernetes manifests from untrusted hands: any text is read as YAML or JSON documents
//! without panicking, every object is audited and checked for AI workloads, and the report
//! renders as text and SARIF. The input is also spliced into a real workload so the fuzzer
//! spends its time in the checks, not only in the YAML parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SEED: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: llm, namespace: ai}
spec:
  template:
    spec:
      hostPID: true
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.6
        args: [--model, meta-llama/Llama-3.1-8B-Instruct, --api-key=abc]
        securityContext: {privileged: yes, capabilities: {add: [SYS_ADMIN]}}
        env: [{name: OPENAI_API_KEY, value: sk-test}]
      volumes: [{name: m, hostPath: {path: /var/../etc}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
rules: [{apiGroups: ['*'], resources: [secrets], verbs: [get]}]
";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let cut = data.first().map_or(0, |&b| b as usize % SEED.len());
    let cut = (0..=cut).rev().find(|&i| SEED.is_char_boundary(i)).unwrap_or(0);
    for yaml in [text.to_string(), format!("{}{}{}", &SEED[..cut], text, &SEED[cut..])] {
        let Ok(objects) = rampart_k8s::manifest::parse(&yaml, "fuzz.yaml") else {
            continue;
        };
        let report = rampart_k8s::audit(&objects);
        let _ = rampart_k8s::text(&report);
        let _ = rampart_k8s::sarif(&report, &objects);
        let _ = serde_json::to_string(&report);
    }
});
