//! The cost of a policy decision for a typical exchange: selecting the policies of an
//! exchange and deciding over its findings, with native rules only and with CEL conditions.
//! `cargo bench -p rampart-policy --bench decide`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_core::{DataClass, Direction, Finding};
use rampart_policy::{Catalog, Exchange, PolicySet, Source};

fn set(extra: &str) -> Arc<PolicySet> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let mut sources: Vec<Source> = ["default.yaml", "teams/payments.yaml"]
        .iter()
        .map(|p| Source {
            name: p.to_string(),
            text: std::fs::read_to_string(root.join(p)).unwrap(),
        })
        .collect();
    if !extra.is_empty() {
        sources.push(Source {
            name: "extra.yaml".into(),
            text: extra.into(),
        });
    }
    PolicySet::compile(&sources, &Catalog::default())
        .unwrap_or_else(|d| panic!("{d}"))
        .shared()
}

fn finding(class: DataClass, detector: &'static str) -> Finding {
    Finding {
        class,
        detector,
        span: rampart_core::Span::new(0, 1),
        score: 0.9,
        severity: rampart_core::Severity::High,
        owasp: &[],
        hash: rampart_core::ValueHash([0; 16]),
        layers: Vec::new(),
    }
}

fn exchange() -> Exchange {
    let mut ex = Exchange {
        direction: Some(Direction::Request),
        route: Some("openai".into()),
        host: Some("gateway.internal".into()),
        path: "/v1/chat/completions".into(),
        method: "POST".into(),
        provider: Some("openai".into()),
        model: Some("gpt-4o-mini".into()),
        destination: Some("api.openai.com".into()),
        ..Exchange::default()
    };
    ex.caller.namespace = Some("support".into());
    ex.caller.workload = Some("helpdesk".into());
    ex.caller.ip = Some("10.1.2.3".parse().unwrap());
    ex
}

const CEL: &str = r#"apiVersion: rampart.dev/v1
kind: RuntimePolicy
metadata: {name: conditions}
spec:
  selector: {providers: [openai, anthropic]}
  conditions:
    - name: bulk-pii
      when: 'total - counts["SECRET"] > 20'
      action: block
    - name: cards-outside-payments
      when: 'findings.exists(f, f.class == "CREDIT_CARD") && caller.namespace != "payments"'
      action: block
"#;

fn bench(c: &mut Criterion) {
    let ex = exchange();
    // a typical exchange with findings: an e-mail address, an SSN and a token
    let findings = vec![
        finding(DataClass::EmailAddress, "email_address"),
        finding(DataClass::UsSsn, "us_ssn"),
        finding(DataClass::Secret, "github_pat"),
    ];
    let mut g = c.benchmark_group("policy");
    let native = set("");
    g.bench_function("select_and_decide_native_3_findings", |b| {
        b.iter(|| {
            let sel = native.select(&ex);
            sel.decide(&ex, &findings).action
        })
    });
    g.bench_function("select_and_decide_native_clean", |b| {
        b.iter(|| {
            let sel = native.select(&ex);
            sel.decide(&ex, &[]).action
        })
    });
    g.bench_function("verdict_one_finding", |b| {
        let sel = native.select(&ex);
        b.iter(|| sel.verdict(&findings[1]).enforced.action)
    });
    let with_cel = set(CEL);
    g.bench_function("select_and_decide_cel_3_findings", |b| {
        b.iter(|| {
            let sel = with_cel.select(&ex);
            sel.decide(&ex, &findings).action
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
