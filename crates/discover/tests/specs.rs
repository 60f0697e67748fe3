//! Discovery on traffic generated from real OpenAPI specs (../shared/data/openapi-specs):
//! documented operations called with many parameter values, deprecated ones called, some never
//! called, undocumented endpoints called with many different ids, and operations of an older
//! API version. The inventory must report ≥ 90% of the endpoints of each status with the right
//! template and status, and fewer than 5% spurious endpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rampart_discover::openapi::{Spec, Specs};
use rampart_discover::{Event, Inventory};

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A parameter value of one of the shapes real ids have.
    fn value(&mut self) -> String {
        match self.below(4) {
            0 => format!("{}", 1000 + self.below(9_000_000)),
            1 => format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                self.next() as u32,
                self.below(1 << 16),
                self.below(1 << 12),
                self.below(1 << 12),
                self.next() & 0xffff_ffff_ffff
            ),
            2 => format!("{:024x}", self.next() as u128 * 7919),
            _ => format!("item{}", 100 + self.below(100_000)),
        }
    }
}

fn specs_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/openapi-specs")
}

/// The expected endpoints: (host, method, template) -> status.
type Truth = BTreeMap<(String, String, String), &'static str>;

fn fill(template: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(k) = rest.find('{') {
        out.push_str(&rest[..k]);
        let end = rest[k..].find('}').map_or(rest.len(), |e| k + e + 1);
        out.push_str(&rng.value());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn event(host: &str, method: &str, path: &str, t: u64) -> Event {
    Event {
        time: Some(format!("2024-05-01T10:{:02}:{:02}Z", (t / 60) % 60, t % 60)),
        scheme: "https".into(),
        host: host.into(),
        method: method.into(),
        path: path.into(),
        status: Some(200),
        ..Event::default()
    }
}

#[test]
fn endpoints_of_real_specs_are_found_with_their_template_and_status() {
    let dir = specs_dir();
    let mut files: Vec<_> = ["apis-guru", "oai-examples"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(dir.join(d))
                .expect("shared OpenAPI specs")
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "yaml"))
        .collect();
    files.sort();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut specs = Specs::default();
    let mut truth = Truth::new();
    let mut events = Vec::new();
    let mut t = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let spec = Spec::parse(&text, &f.to_string_lossy()).unwrap();
        // specs that name their host, and not one host twice (each host has one spec here)
        let Some(host) = spec.hosts.first().cloned() else {
            continue;
        };
        if specs.specs.iter().any(|s| s.hosts.contains(&host)) || spec.operations.is_empty() {
            continue;
        }
        let base = spec.bases[0].clone();
        for op in &spec.operations {
            let template = format!("{base}{}", op.path);
            let key = (host.clone(), op.method.clone(), template.clone());
            if truth.contains_key(&key) {
                continue;
            }
            // one operation in four is never called
            if !op.deprecated && rng.below(4) == 0 {
                truth.insert(key, "unused");
                continue;
            }
            truth.insert(
                key,
                if op.deprecated {
                    "zombie"
                } else {
                    "documented"
                },
            );
            for _ in 0..1 + rng.below(6) {
                t += 1;
                events.push(event(&host, &op.method, &fill(&template, &mut rng), t));
            }
        }
        // undocumented endpoints, each called with many different ids
        for (method, shadow) in [
            ("GET", "/internal/debug/{}"),
            ("DELETE", "/admin/accounts/{}/sessions"),
            ("GET", "/_private/exports/{}"),
        ] {
            let shadow_template = match shadow {
                "/internal/debug/{}" => "/internal/debug/{debugId}",
                "/admin/accounts/{}/sessions" => "/admin/accounts/{accountId}/sessions",
                _ => "/_private/exports/{exportId}",
            };
            truth.insert(
                (host.clone(), method.into(), shadow_template.into()),
                "shadow",
            );
            for _ in 0..25 {
                t += 1;
                let path = shadow.replace("{}", &rng.value());
                events.push(event(&host, method, &path, t));
            }
        }
        specs.specs.push(spec);
    }
    assert!(
        specs.specs.len() >= 20,
        "{} specs with a host",
        specs.specs.len()
    );
    let mut inv = Inventory::new(specs, []);
    for e in &events {
        inv.add(e);
    }
    let doc = inv.document();
    let reported: BTreeMap<(String, String, String), &str> = doc
        .endpoints
        .iter()
        .map(|e| ((e.host.clone(), e.method.clone(), e.path.clone()), e.status))
        .collect();
    assert_eq!(
        reported.len(),
        doc.endpoints.len(),
        "an endpoint appears once"
    );
    let mut by_status: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for (k, want) in &truth {
        let e = by_status.entry(want).or_default();
        e.1 += 1;
        match reported.get(k) {
            Some(got) if got == want => e.0 += 1,
            got => misses.push(format!("{k:?}: want {want}, got {got:?}")),
        }
    }
    let spurious: Vec<_> = reported
        .keys()
        .filter(|k| !truth.contains_key(*k))
        .collect();
    let report = format!(
        "{by_status:?}; {} spurious of {}; misses: {:#?}; spurious: {:#?}",
        spurious.len(),
        reported.len(),
        &misses[..misses.len().min(20)],
        &spurious[..spurious.len().min(20)]
    );
    for (status, (hit, all)) in &by_status {
        assert!(*hit * 10 >= *all * 9, "{status}: {hit}/{all}. {report}");
    }
    for s in ["documented", "unused", "shadow"] {
        assert!(
            by_status.get(s).is_some_and(|(_, n)| *n > 10),
            "{s}: {report}"
        );
    }
    assert!(spurious.len() * 20 < reported.len(), "{report}");
    println!("{report}");
}

#[test]
fn older_versions_of_documented_operations_are_zombies() {
    let spec = Spec::parse(
        r#"{"openapi": "3.0.0", "info": {"title": "t", "version": "2"},
            "servers": [{"url": "https://api.example.com/v2"}],
            "paths": {"/orders/{orderId}": {"get": {}}, "/orders": {"post": {"deprecated": true}}}}"#,
        "t",
    )
    .unwrap();
    let mut inv = Inventory::new(Specs { specs: vec![spec] }, []);
    for (m, p) in [
        ("GET", "/v1/orders/17"),
        ("GET", "/v1/orders/18"),
        ("POST", "/v2/orders"),
    ] {
        inv.add(&event("api.example.com", m, p, 1));
    }
    let doc = inv.document();
    let got: BTreeSet<(String, String, &str)> = doc
        .endpoints
        .iter()
        .map(|e| (e.method.clone(), e.path.clone(), e.status))
        .collect();
    let want: BTreeSet<(String, String, &str)> = [
        ("GET", "/v1/orders/{orderId}", "zombie"),
        ("GET", "/v2/orders/{orderId}", "unused"),
        ("POST", "/v2/orders", "zombie"),
    ]
    .iter()
    .map(|(m, p, s)| (m.to_string(), p.to_string(), *s))
    .collect();
    assert_eq!(got, want);
    assert!(
        doc.endpoints
            .iter()
            .filter(|e| e.status == "zombie")
            .all(|e| e.owasp == ["API9:2023"])
    );
}

#[test]
fn a_hundred_thousand_raw_paths_collapse_into_their_templates() {
    let mut inv = Inventory::new(Specs::default(), []);
    let mut rng = Rng(7);
    let mut n = 0;
    for i in 0..25_000u64 {
        for (m, p) in [
            ("GET", format!("/api/v1/users/{}", 100_000 + i)),
            (
                "GET",
                format!("/api/v1/users/{}/orders/{}", 100_000 + i, rng.value()),
            ),
            (
                "PUT",
                format!("/files/{:024x}", rng.next() as u128 * 31 + i as u128),
            ),
            ("GET", format!("/profiles/user{}x", i)),
        ] {
            inv.add(&event("app.internal", m, &p, i));
            n += 1;
        }
    }
    assert_eq!(n, 100_000);
    let doc = inv.document();
    let got: BTreeSet<(String, String)> = doc
        .endpoints
        .iter()
        .map(|e| (e.method.clone(), e.path.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("GET", "/api/v1/users/{userId}"),
        ("GET", "/api/v1/users/{userId}/orders/{orderId}"),
        ("PUT", "/files/{fileId}"),
        ("GET", "/profiles/{profileId}"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(doc.endpoints.iter().map(|e| e.calls).sum::<u64>(), 100_000);
}

#[test]
fn a_spec_without_a_host_covers_the_hosts_that_serve_it() {
    let spec = Spec::parse(
        r#"{"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "servers": [{"url": "/api"}],
            "paths": {"/orders/{orderId}": {"get": {}}, "/orders": {"post": {}}}}"#,
        "t",
    )
    .unwrap();
    let mut inv = Inventory::new(Specs { specs: vec![spec] }, []);
    for (h, m, p) in [
        ("shop.internal", "GET", "/api/orders/17"),
        ("shop.internal", "GET", "/api/admin/dump"),
        ("cdn.example.com", "GET", "/assets/app.js"),
    ] {
        inv.add(&event(h, m, p, 1));
    }
    let got: BTreeSet<(String, String, String, &str)> = inv
        .document()
        .endpoints
        .iter()
        .map(|e| (e.host.clone(), e.method.clone(), e.path.clone(), e.status))
        .collect();
    let want: BTreeSet<(String, String, String, &str)> = [
        (
            "shop.internal",
            "GET",
            "/api/orders/{orderId}",
            "documented",
        ),
        ("shop.internal", "POST", "/api/orders", "unused"),
        ("shop.internal", "GET", "/api/admin/dump", "shadow"),
        ("cdn.example.com", "GET", "/assets/app.js", "observed"),
    ]
    .iter()
    .map(|(h, m, p, s)| (h.to_string(), m.to_string(), p.to_string(), *s))
    .collect();
    assert_eq!(got, want);
}
