//! Posture and AI workloads on manifests: what each check finds, what a hardened workload
//! does not trip, and that no secret value reaches any output.

use rampart_k8s::manifest::parse;
use rampart_k8s::{Report, audit, sarif, text};

const KEY: &str = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o";

fn run(yaml: &str) -> (Report, Vec<rampart_k8s::Object>) {
    let objects = parse(yaml, "test.yaml").unwrap();
    (audit(&objects), objects)
}

fn rules(r: &Report) -> Vec<(&str, &str, &str)> {
    r.findings
        .iter()
        .map(|f| (f.id, f.rule, f.severity.name()))
        .collect()
}

fn has(r: &Report, id: &str, rule: &str) -> bool {
    r.findings.iter().any(|f| f.id == id && f.rule == rule)
}

/// A privileged vLLM pod with a plain API key in its env and a hostPath.
fn vllm() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vllm.yaml"
    ))
    .unwrap()
}

#[test]
fn a_privileged_vllm_pod_with_a_plain_key_and_a_host_path() {
    let (r, objects) = run(&vllm());
    assert!(has(&r, "K01:2025", "privileged"), "{:?}", rules(&r));
    assert!(has(&r, "K01:2025", "host-path"));
    assert!(has(&r, "K03:2025", "secret-in-env"));
    let env = r
        .findings
        .iter()
        .find(|f| f.rule == "secret-in-env")
        .unwrap();
    assert_eq!(env.container.as_deref(), Some("vllm"));
    assert_eq!(env.object.kind, "Deployment");
    assert_eq!(env.object.namespace.as_deref(), Some("ai"));
    assert!(env.message.contains("OPENAI_API_KEY"));
    // the AI workload, its model, its credentials by name
    assert_eq!(r.ai_workloads.len(), 1);
    let a = &r.ai_workloads[0];
    assert_eq!(a.server.as_deref(), Some("vllm"));
    assert!(
        a.models
            .contains(&"meta-llama/Llama-3.1-8B-Instruct".to_owned())
    );
    assert!(a.models.contains(&"hostPath:/mnt/models".to_owned()));
    assert_eq!(a.credentials, ["HF_TOKEN", "OPENAI_API_KEY"]);
    // most severe first
    assert_eq!(r.findings[0].rule, "privileged");
    // the key's value is in no output
    let json = serde_json::to_string(&r).unwrap();
    let sarif = sarif(&r, &objects).to_string();
    for out in [json, text(&r), sarif] {
        assert!(!out.contains(KEY) && !out.contains("sk-proj"), "{out}");
    }
}

#[test]
fn a_hardened_workload_has_no_findings() {
    let yaml = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {pod-security.kubernetes.io/enforce: restricted}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: api
        image: shop/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        env:
        - {name: LOG_LEVEL, value: info}
        - {name: DB_PASSWORD_FILE, value: /run/secrets/db}
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        resources:
          limits: {cpu: 500m, memory: 256Mi}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"#;
    let (r, _) = run(yaml);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(r.ai_workloads.is_empty());
}

#[test]
fn workload_checks() {
    let yaml = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: ops}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          hostPID: true
          hostNetwork: true
          serviceAccountName: backup
          initContainers:
          - name: init
            image: busybox
            securityContext: {runAsUser: 0}
          containers:
          - name: agent
            image: agent:1
            ports: [{containerPort: 80, hostPort: 8080}]
            securityContext:
              capabilities: {add: [SYS_ADMIN]}
              procMount: Unmasked
          volumes:
          - {name: sock, hostPath: {path: /var/run/docker.sock}}
          - {name: sneaky, hostPath: {path: "/var/log/../../etc//"}}
"#;
    let (r, _) = run(yaml);
    for (id, rule) in [
        ("K01:2025", "host-pid"),
        ("K01:2025", "host-network"),
        ("K01:2025", "run-as-root"),
        ("K01:2025", "added-capabilities"),
        ("K01:2025", "unmasked-proc"),
        ("K01:2025", "host-port"),
        ("K01:2025", "host-path"),
        ("K03:2025", "automounted-token"),
        ("K05:2025", "no-network-policy"),
    ] {
        assert!(has(&r, id, rule), "{id} {rule} not in {:?}", rules(&r));
    }
    let paths: Vec<(&str, &str)> = r
        .findings
        .iter()
        .filter(|f| f.rule == "host-path")
        .map(|f| (f.message.as_str(), f.severity.name()))
        .collect();
    assert_eq!(paths.len(), 2);
    assert!(paths.iter().all(|(_, s)| *s == "critical"), "{paths:?}");
    assert!(
        paths.iter().any(|(m, _)| m.contains("node's /etc ")),
        "{paths:?}"
    );
    let root = r
        .findings
        .iter()
        .find(|f| f.rule == "run-as-root" && f.container.as_deref() == Some("init"))
        .unwrap();
    assert_eq!(root.severity.name(), "high");
    let caps = r
        .findings
        .iter()
        .find(|f| f.rule == "added-capabilities")
        .unwrap();
    assert_eq!(caps.severity.name(), "high");
}

#[test]
fn rbac_checks() {
    let yaml = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get, list]
- apiGroups: [""]
  resources: [pods/exec]
  verbs: [create]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles]
  verbs: [bind, escalate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: narrow, namespace: shop}
rules:
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [settings]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: ci, namespace: build}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: open}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: Group, name: "system:unauthenticated", apiGroup: rbac.authorization.k8s.io}
"#;
    let (r, _) = run(yaml);
    let of = |name: &str| -> Vec<&str> {
        r.findings
            .iter()
            .filter(|f| f.object.name == name)
            .map(|f| f.rule)
            .collect()
    };
    assert_eq!(of("everything"), ["rbac-wildcard"]);
    assert_eq!(
        r.findings
            .iter()
            .find(|f| f.object.name == "everything")
            .unwrap()
            .severity
            .name(),
        "critical"
    );
    let mut reader = of("reader");
    reader.sort();
    assert_eq!(
        reader,
        ["pod-exec", "rbac-escalation-verbs", "secrets-access"]
    );
    assert!(of("narrow").is_empty());
    assert_eq!(of("ci-admin"), ["cluster-admin-binding"]);
    assert_eq!(of("open"), ["anonymous-access"]);
    assert!(has(&r, "K09:2025", "anonymous-access"));
}

#[test]
fn secrets_management_checks() {
    let yaml = format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: shop}}
data:
  STRIPE_KEY: sk_live_4eC39HqLyjWDarjtT1zdp7dcA1b2C3d4
  LOG_LEVEL: debug
  DATABASE_URL: postgres://app:Sup3rS3cretPassw0rd@db:5432/app
---
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: shop}}
stringData: {{password: hunter2hunter2}}
---
apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: shop}}
spec:
  containers:
  - name: c
    image: app:1
    env:
    - {{name: API_TOKEN, value: "{KEY}"}}
    - {{name: GREETING, value: hello}}
    - {{name: TOKEN_PATH, value: /var/run/token}}
    - {{name: PASSWORD, value: "$(DB_PASSWORD)"}}
"#
    );
    let (r, objects) = run(&yaml);
    let cm: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.rule == "secret-in-configmap")
        .map(|f| f.message.clone())
        .collect();
    assert_eq!(cm.len(), 2, "{cm:?}");
    assert!(cm.iter().any(|m| m.contains("STRIPE_KEY")));
    assert!(has(&r, "K03:2025", "secret-in-manifest"));
    let env: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == "secret-in-env")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(env.len(), 1, "{env:?}");
    assert!(env[0].contains("API_TOKEN"));
    let out = serde_json::to_string(&r).unwrap() + &text(&r) + &sarif(&r, &objects).to_string();
    for value in [KEY, "sk_live_4eC39", "Sup3rS3cret", "hunter2"] {
        assert!(!out.contains(value), "{value} leaked");
    }
}

#[test]
fn services_and_namespaces() {
    let yaml = r#"
apiVersion: v1
kind: Namespace
metadata: {name: legacy, labels: {pod-security.kubernetes.io/enforce: privileged}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bare}
---
apiVersion: v1
kind: Service
metadata: {name: kubelet-proxy, namespace: legacy}
spec: {type: LoadBalancer, ports: [{port: 443, targetPort: 10250}]}
"#;
    let (r, _) = run(yaml);
    assert!(has(&r, "K06:2025", "exposed-component"));
    assert!(has(&r, "K06:2025", "open-load-balancer"));
    let psa: Vec<(&str, &str)> = r
        .findings
        .iter()
        .filter(|f| f.rule == "no-pod-security")
        .map(|f| (f.object.name.as_str(), f.severity.name()))
        .collect();
    assert_eq!(psa, [("legacy", "medium"), ("bare", "low")]);
}

#[test]
fn model_servers_by_crd_and_clients_by_credential() {
    let yaml = r#"
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: sklearn, namespace: ml}
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: gs://kfserving-examples/models/sklearn/1.0/model
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ollama, namespace: ml}
spec:
  template:
    spec:
      containers:
      - name: ollama
        image: docker.io/ollama/ollama:0.3.12
        lifecycle: {postStart: {exec: {command: ["ollama", "pull", "llama3.2"]}}}
        env: [{name: OLLAMA_MODEL, value: "llama3.2:3b"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: chatbot, namespace: web}
spec:
  template:
    spec:
      containers:
      - name: app
        image: web/chatbot:3
        env:
        - name: ANTHROPIC_API_KEY
          valueFrom: {secretKeyRef: {name: llm, key: anthropic}}
"#;
    let (r, _) = run(yaml);
    let by = |name: &str| {
        r.ai_workloads
            .iter()
            .find(|a| a.object.name == name)
            .unwrap_or_else(|| panic!("{name} not in {:?}", r.ai_workloads))
    };
    assert_eq!(by("sklearn").server.as_deref(), Some("kserve"));
    assert_eq!(
        by("sklearn").models,
        ["gs://kfserving-examples/models/sklearn/1.0/model"]
    );
    assert_eq!(by("ollama").server.as_deref(), Some("ollama"));
    assert_eq!(by("ollama").models, ["llama3.2:3b"]);
    assert_eq!(by("chatbot").server, None);
    assert_eq!(by("chatbot").credentials, ["ANTHROPIC_API_KEY"]);
}

#[test]
fn hostile_manifests_do_not_break_the_audit() {
    // wrong types everywhere, deep nesting, anchors: read what can be read, never panic
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: 7, namespace: [x]}
spec:
  template:
    spec:
      containers: "not a list"
      volumes: [{hostPath: {path: 42}}, 3, null]
---
kind: Pod
metadata: {name: weird}
spec:
  hostNetwork: "yes"
  containers:
  - {name: c, securityContext: {privileged: "true", capabilities: {add: "ALL"}}, env: [{name: 1}, 2]}
---
base: &b {kind: Role, rules: [{verbs: "*"}]}
other: *b
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
subjects: "everyone"
"#;
    let (r, _) = run(yaml);
    // the audit ran on what could be read; booleans spelled as YAML 1.1 and kubectl take them
    // (`yes`, `"true"`) count as true
    assert!(has(&r, "K01:2025", "privileged"));
    assert!(has(&r, "K01:2025", "host-network"));
}

#[test]
fn yaml_1_1_booleans_count_as_kubectl_reads_them() {
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: x}
spec:
  hostPID: Yes
  automountServiceAccountToken: off
  containers:
  - name: c
    image: app
    securityContext: {privileged: on, allowPrivilegeEscalation: no, readOnlyRootFilesystem: YES}
"#;
    let (r, _) = run(yaml);
    assert!(has(&r, "K01:2025", "host-pid"), "{:?}", rules(&r));
    assert!(has(&r, "K01:2025", "privileged"));
    assert!(!has(&r, "K01:2025", "writable-root-filesystem"));
    assert!(!has(&r, "K03:2025", "automounted-token"));
}

#[test]
fn credentials_on_the_command_line_are_found_without_printing_them() {
    let yaml = format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: sync, namespace: ops}}
spec:
  template:
    spec:
      containers:
      - name: a
        image: tool
        args: ["--api-key={KEY}", "--verbose"]
      - name: b
        image: tool
        args: ["--token", "ghp_R2d9xKq7LmPz4WvT8bYc3NfJ6hGs1aEo5uQi"]
      - name: c
        image: curlimages/curl
        command: ["sh", "-c", "curl -H 'Authorization: token ghp_R2d9xKq7LmPz4WvT8bYc3NfJ6hGs1aEo5uQi' https://api.github.com/user"]
      - name: d
        image: tool
        args: ["--log-level=debug", "--token-file=/var/run/token", "--port", "8080"]
"#
    );
    let (r, objects) = run(&yaml);
    let by_container: Vec<(&str, &str)> = r
        .findings
        .iter()
        .filter(|f| f.rule == "secret-in-args")
        .map(|f| (f.container.as_deref().unwrap(), f.message.as_str()))
        .collect();
    let names: Vec<&str> = by_container.iter().map(|(c, _)| *c).collect();
    assert_eq!(names, ["a", "b", "c"], "{by_container:?}");
    assert!(
        by_container[0]
            .1
            .starts_with("--api-key on the command line")
    );
    assert!(by_container[1].1.starts_with("--token on the command line"));
    assert!(
        by_container[2]
            .1
            .starts_with("argument 3 on the command line")
    );
    let out = serde_json::to_string(&r).unwrap() + &text(&r) + &sarif(&r, &objects).to_string();
    assert!(
        !out.contains(KEY) && !out.contains("ghp_R2d9"),
        "a value leaked"
    );
}

#[test]
fn name_scoped_secret_access_and_empty_secrets_are_not_findings() {
    // the shapes real manifests use: a Role that reads only the secrets it names, and Secrets
    // shipped empty for the workload to fill
    let yaml = r#"
kind: Role
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: app, namespace: ui}
rules:
  - apiGroups: [""]
    resources: ["secrets"]
    resourceNames: ["app-certs", "app-csrf"]
    verbs: ["get", "update"]
---
apiVersion: v1
kind: Secret
metadata: {name: app-csrf, namespace: ui}
data: {csrf: ""}
---
apiVersion: v1
kind: Secret
metadata: {name: app-certs, namespace: ui}
"#;
    let (r, _) = run(yaml);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}
