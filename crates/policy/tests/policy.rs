//! Policy compilation, selection and decisions through the public API.

use std::sync::Arc;

use rampart_core::{Action, DataClass, Direction, Finding, Strategy};
use rampart_policy::{Catalog, EgressVerdict, Exchange, FailMode, PolicySet, Source};

const DETECTORS: &[&str] = &[
    "us_ssn",
    "email",
    "credit_card",
    "phone_nanp",
    "aws_access_key_id",
    "pem_private_key",
    "github_pat",
];

fn compile(yaml: &str) -> Arc<PolicySet> {
    PolicySet::compile(
        &[Source {
            name: "p.yaml".into(),
            text: yaml.into(),
        }],
        &Catalog {
            detectors: DETECTORS,
        },
    )
    .unwrap_or_else(|d| panic!("{d}"))
    .shared()
}

fn diagnostics(yaml: &str) -> Vec<String> {
    match PolicySet::compile(
        &[Source {
            name: "p.yaml".into(),
            text: yaml.into(),
        }],
        &Catalog {
            detectors: DETECTORS,
        },
    ) {
        Ok(set) => set.warnings.iter().map(|d| d.to_string()).collect(),
        Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
    }
}

fn finding(class: DataClass, detector: &'static str, score: f32) -> Finding {
    Finding {
        class,
        detector,
        span: rampart_core::Span::new(0, 1),
        score,
        severity: rampart_core::Severity::High,
        owasp: &[],
        hash: rampart_core::ValueHash([0; 16]),
        layers: Vec::new(),
    }
}

fn ssn() -> Finding {
    finding(DataClass::UsSsn, "us_ssn", 0.9)
}

fn request(provider: &str) -> Exchange {
    Exchange {
        direction: Some(Direction::Request),
        route: Some(provider.into()),
        host: Some("gateway.local".into()),
        path: "/v1/chat/completions".into(),
        method: "POST".into(),
        provider: Some(provider.into()),
        model: Some("gpt-4o-mini".into()),
        ..Exchange::default()
    }
}

fn policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: rampart.dev/v1\nkind: RuntimePolicy\nmetadata: {{name: {name}}}\nspec:\n{}\n---\n",
        spec.lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

const BASE: &str = "rules:
  - {name: pii, groups: [pii], action: redact}
  - {name: keys, groups: [private_keys, cloud_credentials], action: block}
  - {name: secrets, groups: [secrets], action: redact}";

#[test]
fn the_base_rules_redact_pii_and_block_keys() {
    let set = compile(&policy("base", BASE));
    let sel = set.select(&request("openai"));
    let d = sel.decide(&request("openai"), &[ssn()]);
    assert_eq!(
        (d.action, d.decided_by.as_str()),
        (Action::Redact, "base/pii")
    );
    assert_eq!(d.redacted, vec![DataClass::UsSsn]);
    let key = finding(DataClass::Secret, "aws_access_key_id", 1.0);
    let d = sel.decide(&request("openai"), &[ssn(), key]);
    assert_eq!(
        (d.action, d.decided_by.as_str()),
        (Action::Block, "base/keys")
    );
    assert_eq!(d.reason, "rampart_blocked");
    // a secret that is not a key: redacted
    let pat = finding(DataClass::Secret, "github_pat", 1.0);
    assert_eq!(sel.verdict(&pat).enforced.action, Action::Redact);
    assert_eq!(
        sel.redaction(DataClass::Secret, "github_pat", 1.0),
        Some(Strategy::Mask)
    );
    // nothing found: allowed
    assert_eq!(sel.decide(&request("openai"), &[]).action, Action::Allow);
}

#[test]
fn the_most_specific_selector_wins() {
    // "redact SSNs but block the whole flow if a private key appears, except for this service"
    let yaml = policy("base", BASE)
        + &policy(
            "key-rotation-service",
            "selector:\n  callers: {workloads: [key-rotator]}\nrules:\n  - {name: keys-allowed, groups: [private_keys], action: allow}",
        );
    let set = compile(&yaml);
    let pem = finding(DataClass::Secret, "pem_private_key", 1.0);
    let mut ex = request("openai");
    assert_eq!(set.select(&ex).verdict(&pem).enforced.action, Action::Block);
    ex.caller.workload = Some("key-rotator".into());
    let sel = set.select(&ex);
    let v = sel.verdict(&pem).enforced;
    assert_eq!(v.action, Action::Allow);
    assert_eq!(
        sel.origin_name(v.origin.unwrap()),
        "key-rotation-service/keys-allowed"
    );
    // what the specific policy does not mention still follows the base
    assert_eq!(sel.verdict(&ssn()).enforced.action, Action::Redact);
}

#[test]
fn block_beats_allow_at_equal_specificity() {
    let yaml = policy(
        "a",
        "selector: {providers: [openai]}\nrules:\n  - {classes: [US_SSN], action: allow}",
    ) + &policy(
        "b",
        "selector: {methods: [POST]}\nrules:\n  - {classes: [US_SSN], action: block}",
    );
    let set = compile(&yaml);
    let d = set
        .select(&request("openai"))
        .decide(&request("openai"), &[ssn()]);
    assert_eq!(
        (d.action, d.decided_by.as_str()),
        (Action::Block, "b/rules[0]")
    );
}

#[test]
fn within_a_policy_a_detector_beats_a_class_beats_a_group() {
    let set = compile(&policy(
        "p",
        "rules:
  - {name: group, groups: [pii], action: block}
  - {name: class, classes: [US_SSN], action: monitor}
  - {name: detector, detectors: [us_ssn], action: redact, strategy: partial}
  - {name: glob, detectors: ['us_*'], action: allow}",
    ));
    let sel = set.select(&request("openai"));
    let v = sel.verdict(&ssn()).enforced;
    assert_eq!((v.action, v.strategy), (Action::Redact, Strategy::Partial));
    assert_eq!(sel.origin_name(v.origin.unwrap()), "p/detector");
    // other PII: only the group rule
    let mail = finding(DataClass::EmailAddress, "email", 0.9);
    assert_eq!(sel.verdict(&mail).enforced.action, Action::Block);
}

#[test]
fn monitor_policies_never_change_traffic_but_say_what_they_would_do() {
    let yaml = policy("base", BASE)
        + &policy(
            "trial",
            "mode: monitor\nselector: {providers: [openai]}\nrules:\n  - {classes: [US_SSN], action: block}",
        );
    let set = compile(&yaml);
    let d = set
        .select(&request("openai"))
        .decide(&request("openai"), &[ssn()]);
    assert_eq!((d.action, d.would), (Action::Redact, Action::Block));
    // only monitor policies: nothing is enforced
    let set = compile(&policy(
        "m",
        "mode: monitor\nrules:\n  - {classes: [US_SSN], action: block}",
    ));
    let d = set
        .select(&request("openai"))
        .decide(&request("openai"), &[ssn()]);
    assert_eq!((d.action, d.would), (Action::Monitor, Action::Block));
}

#[test]
fn a_flow_set_to_block_blocks_instead_of_redacting() {
    let yaml = policy("base", BASE)
        + &policy(
            "strict-ai",
            "selector: {providers: [anthropic]}\nflow: block",
        );
    let set = compile(&yaml);
    let d = set
        .select(&request("openai"))
        .decide(&request("openai"), &[ssn()]);
    assert_eq!(d.action, Action::Redact);
    let d = set
        .select(&request("anthropic"))
        .decide(&request("anthropic"), &[ssn()]);
    assert_eq!(
        (d.action, d.decided_by.as_str()),
        (Action::Block, "strict-ai/flow")
    );
}

#[test]
fn min_score_filters_weak_findings() {
    let set = compile(&policy(
        "p",
        "rules:\n  - {classes: [US_SSN], action: block, minScore: 0.8}",
    ));
    let sel = set.select(&request("openai"));
    assert_eq!(
        sel.verdict(&finding(DataClass::UsSsn, "us_ssn", 0.5))
            .enforced
            .action,
        Action::Monitor
    );
    assert_eq!(
        sel.verdict(&finding(DataClass::UsSsn, "us_ssn", 0.8))
            .enforced
            .action,
        Action::Block
    );
}

#[test]
fn selectors_match_what_they_name() {
    type Case = (&'static str, fn(&mut Exchange), bool);
    let cases: &[Case] = &[
        ("direction: response", |_| {}, false),
        ("direction: request", |_| {}, true),
        ("routes: ['open*']", |_| {}, true),
        ("hosts: ['*.LOCAL']", |_| {}, true),
        ("paths: ['/v1/**']", |_| {}, true),
        ("paths: ['/v2/{x}']", |_| {}, false),
        ("methods: [get]", |_| {}, false),
        ("providers: [openai]", |_| {}, true),
        ("models: ['gpt-4o*']", |_| {}, true),
        ("models: ['claude-*']", |_| {}, false),
        ("models: ['gpt-4o*']", |e| e.model = None, false),
        (
            "callers: {keys: ['team-a']}",
            |e| e.caller.key_id = Some("team-a".into()),
            true,
        ),
        (
            "callers: {namespaces: [payments]}",
            |e| e.caller.namespace = Some("payments".into()),
            true,
        ),
        (
            "callers: {serviceAccounts: ['billing-*']}",
            |e| e.caller.service_account = Some("billing-sa".into()),
            true,
        ),
        (
            "callers: {labels: {team: blue}}",
            |e| {
                e.caller.labels.insert("team".into(), "blue".into());
            },
            true,
        ),
        (
            "callers: {labels: {team: blue}}",
            |e| {
                e.caller.labels.insert("team".into(), "red".into());
            },
            false,
        ),
        (
            "callers: {cidrs: [10.0.0.0/8]}",
            |e| e.caller.ip = Some("10.1.2.3".parse().unwrap()),
            true,
        ),
        (
            "callers: {cidrs: [10.0.0.0/8, 192.168.1.7]}",
            |e| e.caller.ip = Some("192.168.1.7".parse().unwrap()),
            true,
        ),
        (
            "callers: {cidrs: [10.0.0.0/8]}",
            |e| e.caller.ip = Some("11.1.2.3".parse().unwrap()),
            false,
        ),
        // a caller the gateway knows nothing about matches no caller selector
        ("callers: {keys: ['*']}", |_| {}, false),
        ("callers: {workloads: ['*']}", |_| {}, false),
        ("callers: {namespaces: ['*']}", |_| {}, false),
        ("callers: {serviceAccounts: ['*']}", |_| {}, false),
        ("callers: {labels: {team: blue}}", |_| {}, false),
        ("callers: {cidrs: [0.0.0.0/0, '::/0']}", |_| {}, false),
        (
            "destinations: ['*.openai.com']",
            |e| e.destination = Some("api.openai.com".into()),
            true,
        ),
    ];
    for (selector, tweak, want) in cases {
        let set = compile(&policy(
            "p",
            &format!("selector: {{{selector}}}\nrules:\n  - {{classes: [US_SSN], action: block}}"),
        ));
        let mut ex = request("openai");
        tweak(&mut ex);
        assert_eq!(!set.select(&ex).is_empty(), *want, "{selector}");
    }
}

#[test]
fn egress_allow_lists_block_or_flag_the_rest() {
    let set = compile(&policy(
        "egress",
        "egress:\n  allow: ['api.openai.com', '*.anthropic.com']\n  deny: ['evil.anthropic.com']\n  unlisted: flag",
    ));
    let sel = set.select(&request("openai"));
    assert_eq!(sel.egress("api.openai.com").0, EgressVerdict::Allow);
    assert_eq!(sel.egress("API.Anthropic.com.").0, EgressVerdict::Allow);
    assert_eq!(sel.egress("evil.anthropic.com").0, EgressVerdict::Block);
    assert_eq!(sel.egress("api.mistral.ai").0, EgressVerdict::Flag);
    let open = compile(&policy("p", BASE));
    assert_eq!(
        open.select(&request("openai")).egress("anything.example").0,
        EgressVerdict::Allow
    );
}

#[test]
fn cel_conditions_see_the_exchange_and_its_findings() {
    let yaml = policy(
        "p",
        r#"rules:
  - {groups: [pii], action: redact}
conditions:
  - name: bulk
    when: 'counts["US_SSN"] >= 3'
    action: block
    reason: bulk export of SSNs
  - name: untrusted-caller-with-cards
    when: 'findings.exists(f, f.class == "CREDIT_CARD") && caller.namespace != "payments"'
    action: block
  - name: big-model
    when: 'request.model.startsWith("gpt-4o") && max_score > 0.95'
    action: monitor"#,
    );
    let set = compile(&yaml);
    let ex = request("openai");
    let sel = set.select(&ex);
    let d = sel.decide(&ex, &[ssn(), ssn()]);
    assert_eq!(d.action, Action::Redact);
    let d = sel.decide(&ex, &[ssn(), ssn(), ssn()]);
    assert_eq!(
        (d.action, d.decided_by.as_str(), d.reason.as_str()),
        (Action::Block, "p/bulk", "bulk export of SSNs")
    );
    let card = finding(DataClass::CreditCard, "credit_card", 0.99);
    let d = sel.decide(&ex, std::slice::from_ref(&card));
    assert_eq!(d.decided_by, "p/untrusted-caller-with-cards");
    assert!(d.conditions.contains(&"p/big-model".to_owned()), "{d:?}");
    let mut payments = ex.clone();
    payments.caller.namespace = Some("payments".into());
    let d = set.select(&payments).decide(&payments, &[card]);
    assert_eq!(d.action, Action::Redact);
}

#[test]
fn a_condition_that_fails_at_run_time_follows_the_fail_mode() {
    let cond =
        "conditions:\n  - {name: team, when: 'caller.labels[\"team\"] == \"blue\"', action: block}";
    let closed = compile(&policy("p", cond));
    let ex = request("openai");
    let d = closed.select(&ex).decide(&ex, &[]);
    assert_eq!(d.action, Action::Block);
    assert_eq!(d.errors.len(), 1, "{d:?}");
    let open = compile(&policy("p", &format!("fail: open\n{cond}")));
    let sel = open.select(&ex);
    assert_eq!(sel.fail(), FailMode::Open);
    assert_eq!(sel.decide(&ex, &[]).action, Action::Allow);
    // the documented guard: test for the label first
    let guarded = compile(&policy(
        "p",
        "conditions:\n  - {name: team, when: '\"team\" in caller.labels && caller.labels[\"team\"] == \"blue\"', action: block}",
    ));
    let d = guarded.select(&ex).decide(&ex, &[]);
    assert_eq!((d.action, d.errors.len()), (Action::Allow, 0), "{d:?}");
    let mut blue = ex.clone();
    blue.caller.labels.insert("team".into(), "blue".into());
    assert_eq!(
        guarded.select(&blue).decide(&blue, &[]).action,
        Action::Block
    );
}

#[test]
fn every_diagnostic_is_reported_with_its_place_and_a_hint() {
    let yaml = "apiVersion: rampart.dev/v2
kind: RuntimePolicy
metadata: {name: Bad_Name}
spec:
  mode: enforcing
  selector:
    direction: sideways
    paths: ['users/{id}']
    callers: {cidrs: [10.0.0.0/33]}
    providers: [openia]
  rules:
    - {classes: [US_SSM], action: redact}
    - {detectors: [us_ssnn], action: redact}
    - {classes: [EMAIL_ADDRESS], action: scrub, strategy: shred}
    - {action: block}
    - {classes: [US_SSN], action: block, minScore: 1.5}
  conditions:
    - {name: broken, when: 'total >', action: block}
    - {name: unknown, when: 'bodyy.size > 3', action: block}
    - {name: not-bool, when: 'total + 1', action: block}
  egress: {allow: ['[bad'], unlisted: maybe}
  llm:
    promptInjektion: {threshold: 2, action: block}
---
apiVersion: rampart.dev/v1
kind: RuntimePolicy
metadata: {name: fine}
spec:
  rules:
    - {classes: [US_SSN], action: redact}
---
apiVersion: rampart.dev/v1
kind: RuntimePolicy
metadata: {name: fine}
spec:
  rulez: []
";
    let d = diagnostics(yaml);
    let want = [
        "p.yaml:1:13: error: unsupported apiVersion `rampart.dev/v2`",
        "p.yaml:3:18: error: `Bad_Name` is not a valid policy name",
        "p.yaml:5:9: error: unknown mode `enforcing`",
        "p.yaml:7:16: error: unknown direction `sideways`",
        "p.yaml:8:13: error: bad path template `users/{id}`",
        "p.yaml:9:23: error: `10.0.0.0/33` is not an address range",
        "p.yaml:10:17: error: unknown provider `openia`",
        "p.yaml:12:18: error: unknown data class `US_SSM`",
        "p.yaml:13:20: error: unknown detector `us_ssnn`",
        "p.yaml:14:42: error: unknown action `scrub`",
        "p.yaml:14:59: error: unknown redaction strategy `shred`",
        "p.yaml:15:16: error: rule `rules[3]` matches nothing",
        "p.yaml:16:52: error: minScore 1.5 is outside 0..1",
        "p.yaml:18:28: error: condition `broken`: CEL does not parse",
        "p.yaml:19:29: error: condition `unknown` uses unknown variable bodyy",
        "p.yaml:20:30: error: condition `not-bool` fails on a sample exchange",
        "p.yaml:21:20: error: `[bad` is not a valid destination pattern",
        "p.yaml:21:39: error: unknown egress verdict `maybe`",
        "p.yaml:23:34: error: unknown LLM detector `promptInjektion`",
        "p.yaml:23:34: error: threshold 2 is outside 0..1",
        "p.yaml:36:3: error: unknown field `rulez`",
    ];
    for w in want {
        assert!(
            d.iter().any(|got| got.starts_with(w)),
            "missing `{w}` in:\n{}",
            d.join("\n")
        );
    }
    // in the order of the file
    let places: Vec<(u32, u32)> = d
        .iter()
        .map(|l| {
            let mut it = l.split(':').skip(1).map(|n| n.parse::<u32>().unwrap());
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    assert!(places.windows(2).all(|w| w[0] <= w[1]), "{places:?}");
    assert!(
        d.iter().all(|got| got.contains("\n  hint: ")),
        "{}",
        d.join("\n")
    );
    assert!(
        d.iter().any(|got| got.contains("did you mean `US_SSN`")),
        "{}",
        d.join("\n")
    );
    assert!(d.iter().any(|got| got.contains("did you mean `us_ssn`")));
    assert_eq!(d.len(), want.len(), "{}", d.join("\n"));
}

#[test]
fn duplicate_names_and_yaml_errors_point_at_the_place() {
    let yaml = policy("same", BASE) + &policy("same", BASE) + "apiVersion: [\n";
    let d = diagnostics(&yaml);
    assert!(
        d.iter()
            .any(|l| l.starts_with("p.yaml:12:") && l.contains("`same` is already defined")),
        "{}",
        d.join("\n")
    );
    assert!(
        d.iter()
            .any(|l| l.starts_with("p.yaml:19:13: error: expected string scalar")),
        "{}",
        d.join("\n")
    );
}

#[test]
fn warnings_do_not_stop_compilation() {
    let d = diagnostics(&policy(
        "p",
        "rules:\n  - {detectors: ['nothing_like_this_*'], action: block}\n  - {classes: [US_SSN], action: block, strategy: hash}",
    ));
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].contains("warning: detector pattern `nothing_like_this_*` matches no detector"));
    assert!(d[1].contains("warning: rule `rules[1]` has a strategy but does not redact"));
}

#[test]
fn the_shipped_policies_compile_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let mut sources = Vec::new();
    for path in [
        "default.yaml",
        "strict.yaml",
        "monitor-only.yaml",
        "teams/payments.yaml",
    ] {
        sources.push(Source {
            name: path.into(),
            text: std::fs::read_to_string(dir.join(path)).unwrap(),
        });
    }
    let set = PolicySet::compile(&sources, &Catalog::default()).unwrap_or_else(|d| panic!("{d}"));
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);
    assert_eq!(set.names().len(), 8);
}

#[test]
fn a_selection_keeps_its_snapshot() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PolicySet>();
    assert_send_sync::<rampart_policy::Selection>();
    let set = compile(&policy("p", BASE));
    let version = set.version().to_owned();
    let sel = set.select(&request("openai"));
    drop(set);
    assert_eq!(sel.version(), version);
    assert_eq!(sel.verdict(&ssn()).enforced.action, Action::Redact);
}

const LIMITS: &str = "apiVersion: rampart.dev/v1
kind: RuntimeLimit
metadata: {name: team-budget}
spec:
  key: [caller, model]
  requests: {count: 100, per: 1m, burst: 10}
  concurrent: 4
  tokens:
    input: {perMinute: 10000}
    total: {perDay: 1000000}
  spend: {perDay: 25, perMonth: 500.5}
  maxTokensPerRequest: 8192
---
";

#[test]
fn limits_are_documents_that_policies_reference() {
    use rampart_policy::{Budget, KeyPart, Quantity, Rate, Window};
    let yaml = LIMITS.to_owned()
        + &policy("base", &format!("{BASE}\nlimits: [team-budget]"))
        + &policy("trial", "mode: monitor\nlimits: [team-budget]");
    let set = compile(&yaml);
    assert_eq!(set.limit_names(), ["team-budget"]);
    let limits = set.select(&request("openai")).limits();
    assert_eq!(limits.len(), 1);
    let l = &limits[0];
    assert_eq!(l.key, [KeyPart::Caller, KeyPart::Model]);
    assert_eq!(
        l.requests,
        Some(Rate {
            count: 100,
            interval_ms: 60_000,
            burst: 10
        })
    );
    assert_eq!(l.concurrent, Some(4));
    assert_eq!(l.max_tokens_per_request, Some(8192));
    assert!(l.budgets.contains(&Budget {
        what: Quantity::InputTokens,
        window: Window::Minute,
        max: 10_000
    }));
    assert!(l.budgets.contains(&Budget {
        what: Quantity::TotalTokens,
        window: Window::Day,
        max: 1_000_000
    }));
    assert!(l.budgets.contains(&Budget {
        what: Quantity::SpendMicros,
        window: Window::Month,
        max: 500_500_000
    }));
    // a monitor-mode policy's limits are not enforced
    let only_trial =
        compile(&(LIMITS.to_owned() + &policy("trial", "mode: monitor\nlimits: [team-budget]")));
    assert!(only_trial.select(&request("openai")).limits().is_empty());
}

#[test]
fn limit_mistakes_are_diagnosed() {
    let yaml = "apiVersion: rampart.dev/v1
kind: RuntimeLimit
metadata: {name: bad}
spec:
  key: [caller, planet]
  requests: {count: 0, per: 1 minute}
  spend: {perDay: -3}
---
apiVersion: rampart.dev/v1
kind: RuntimeLimit
metadata: {name: empty}
spec: {}
---
"
    .to_owned()
        + &policy("p", "limits: [nope]");
    let d = diagnostics(&yaml);
    for want in [
        "p.yaml:5:17: error: unknown key part `planet`",
        "p.yaml:6:21: error: requests.count must be at least 1",
        "p.yaml:6:29: error: `1 minute` is not a duration",
        "p.yaml:7:19: error: spend -3 is not a positive amount of USD",
        "p.yaml:11:18: error: limit `empty` limits nothing",
        "p.yaml:18:12: error: policy `p` references the unknown limit `nope`",
    ] {
        assert!(
            d.iter().any(|l| l.starts_with(want)),
            "missing `{want}` in:\n{}",
            d.join("\n")
        );
    }
    assert_eq!(d.len(), 6, "{}", d.join("\n"));
}

#[test]
fn llm_thresholds_act_on_threat_findings_and_specific_keys_win() {
    let set = compile(&policy(
        "guard",
        "llm:
  promptInjection: {threshold: 0.8, action: block}
  indirectInjection: {threshold: 0.6, action: redact}
  hiddenText: {threshold: 0.5, action: redact}
  unsafeOutput: {threshold: 0.5, action: redact, allowHosts: [docs.example.com, '*.example.org']}
  systemPromptLeak: {threshold: 0.5, action: block, canary: true}",
    ));
    let sel = set.select(&request("openai"));
    let inj = |d: &'static str, s: f32| sel.verdict(&finding(DataClass::PromptInjection, d, s));
    assert_eq!(inj("prompt_injection", 0.9).enforced.action, Action::Block);
    assert_eq!(inj("jailbreak", 0.9).enforced.action, Action::Block);
    // under the threshold: not a finding at all
    assert_eq!(inj("prompt_injection", 0.7).enforced.action, Action::Allow);
    // the indirect key is more specific than the class for indirect findings
    assert_eq!(inj("indirect_tool", 0.65).enforced.action, Action::Redact);
    assert_eq!(inj("indirect_tool", 0.9).enforced.action, Action::Redact);
    assert_eq!(
        sel.redaction(DataClass::HiddenText, "zero_width", 1.0),
        Some(Strategy::Remove)
    );
    assert_eq!(
        sel.redaction(DataClass::UnsafeOutput, "html_script", 1.0),
        Some(Strategy::Remove)
    );
    let leak = finding(DataClass::SystemPromptLeak, "canary", 1.0);
    assert!(sel.blocks(&leak));
    assert!(sel.canary());
    assert_eq!(sel.allow_hosts(), ["*.example.org", "docs.example.com"]);
    let d = sel.decide(
        &request("openai"),
        &[finding(
            DataClass::PromptInjection,
            "prompt_injection",
            0.95,
        )],
    );
    assert_eq!(d.action, Action::Block);
    assert_eq!(d.decided_by, "guard/llm.promptInjection");
}

#[test]
fn llm_options_in_the_wrong_place_are_diagnosed() {
    let d = diagnostics(&policy(
        "bad",
        "llm:
  promptInjection: {threshold: 0.8, action: block, canary: true}
  unsafeOutput: {threshold: 0.5, action: redact, allowHosts: ['https://x.io/']}
  promptInjecton: {threshold: 1.5, action: block}",
    ));
    let all = d.join("\n");
    assert!(
        all.contains("`canary` applies to `systemPromptLeak`"),
        "{all}"
    );
    assert!(all.contains("is not a host name"), "{all}");
    assert!(all.contains("did you mean `promptInjection`"), "{all}");
    assert!(all.contains("outside 0..1"), "{all}");
    assert!(d.iter().all(|l| l.starts_with("p.yaml:")), "{all}");
}

#[test]
fn threat_inspection_is_needed_only_when_a_policy_can_act_on_it() {
    let data_only = compile(&policy("data", BASE));
    assert!(!data_only.select(&request("openai")).inspects_threats());
    let guard = compile(&policy(
        "guard",
        "llm:\n  hiddenText: {threshold: 0.5, action: redact}",
    ));
    assert!(guard.select(&request("openai")).inspects_threats());
    let by_class = compile(&policy(
        "c",
        "rules: [{classes: [UNSAFE_OUTPUT], action: monitor}]",
    ));
    assert!(by_class.select(&request("openai")).inspects_threats());
    let by_group = compile(&policy(
        "g",
        "rules: [{groups: [llm_threats], action: monitor}]",
    ));
    assert!(by_group.select(&request("openai")).inspects_threats());
}

#[test]
fn monitor_policies_neither_insert_canaries_nor_widen_the_allowlist() {
    let set = compile(&policy(
        "trial",
        "mode: monitor
llm:
  systemPromptLeak: {threshold: 0.5, action: block, canary: true}
  unsafeOutput: {threshold: 0.5, action: redact, allowHosts: [cdn.example.com]}",
    ));
    let sel = set.select(&request("openai"));
    assert!(!sel.canary());
    assert!(sel.allow_hosts().is_empty());
    // what they would do is still recorded
    let leak = finding(DataClass::SystemPromptLeak, "canary", 1.0);
    assert_eq!(sel.verdict(&leak).would.action, Action::Block);
    assert_eq!(sel.verdict(&leak).enforced.action, Action::Allow);
}

#[test]
fn exchanges_only_monitor_policies_select_are_never_refused_for_being_uninspectable() {
    let ex = request("openai");
    // a monitor-mode policy that says `fail: closed` cannot refuse: monitor never changes traffic
    let monitor = compile(&policy(
        "watch",
        "mode: monitor\nfail: closed\nrules:\n  - {name: pii, groups: [pii], action: redact}",
    ));
    assert_eq!(monitor.select(&ex).fail(), FailMode::Open);
    // an enforce-mode policy without a fail setting fails closed
    let enforce = compile(&policy(
        "guard",
        "rules:\n  - {name: pii, groups: [pii], action: redact}",
    ));
    assert_eq!(enforce.select(&ex).fail(), FailMode::Closed);
}
