//! `rampart policy check | test | explain`: policy files validated, tested against cases kept
//! beside them, and decisions explained.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use rampart_core::{Direction, Finding};
use rampart_detect::{ScanOptions, Scanner};
use rampart_gateway::policies::{self, LoadError};
use rampart_policy::names::{PROVIDER_NAMES, SIGNAL_NAMES};
use rampart_policy::{Caller, Catalog, Exchange, PolicySet, Source, testcase};

/// Arguments of `rampart policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate policy files: every diagnostic with file:line:column and a hint. Exit 0 when
    /// they compile, 1 when they do not.
    Check {
        /// Policy files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run the test cases (`*_test.yaml`) of the given files or folders against their
    /// policies. Exit 0 when all pass, 1 when any fails.
    Test {
        /// Test files or folders holding them [default: policies].
        paths: Vec<PathBuf>,
    },
    /// Decide one exchange and print which policy and rule decided, and why.
    Explain(Box<ExplainArgs>),
}

/// The exchange `explain` decides.
#[derive(Debug, Args)]
struct ExplainArgs {
    /// Policy files or folders [default: the embedded default policy].
    #[arg(long = "policy", value_name = "PATH")]
    policies: Vec<PathBuf>,
    /// request or response.
    #[arg(long, default_value = "request")]
    direction: String,
    /// Provider id (openai, anthropic, gemini, cohere); also the route name.
    #[arg(long)]
    provider: Option<String>,
    /// Route name (an API route's name); default: the provider.
    #[arg(long)]
    route: Option<String>,
    /// Request path.
    #[arg(long, default_value = "/v1/chat/completions")]
    path: String,
    /// HTTP method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// Model name.
    #[arg(long)]
    model: Option<String>,
    /// Request host.
    #[arg(long)]
    host: Option<String>,
    /// Egress destination host.
    #[arg(long)]
    destination: Option<String>,
    /// Caller API-key id.
    #[arg(long)]
    key_id: Option<String>,
    /// Caller workload.
    #[arg(long)]
    workload: Option<String>,
    /// Caller namespace.
    #[arg(long)]
    namespace: Option<String>,
    /// Caller service account.
    #[arg(long)]
    service_account: Option<String>,
    /// Caller source address.
    #[arg(long)]
    ip: Option<std::net::IpAddr>,
    /// Caller label KEY=VALUE; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// An abuse signal the caller raised (volume_spike, near_duplicate_prompts,
    /// max_length_generations, embedding_enumeration); repeatable.
    #[arg(long = "signal", value_name = "NAME")]
    signals: Vec<String>,
    /// The body to scan: a file, or `-` for stdin [default: stdin].
    #[arg(long)]
    body: Option<PathBuf>,
}

/// Runs `rampart policy ...`.
pub fn run(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PolicyCommand::Check { paths } => check(&paths),
        PolicyCommand::Test { paths } => test(&paths),
        PolicyCommand::Explain(a) => explain(*a),
    }
}

fn check(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let sources = policies::read_sources(paths).map_err(|e| anyhow::anyhow!("{e}"))?;
    match policies::compile(&sources) {
        Ok(set) => {
            for w in &set.warnings {
                eprintln!("{w}");
            }
            println!(
                "ok: {} {} in {} {} ({} warning{}), version {}",
                set.names().len(),
                plural(set.names().len(), "policy", "policies"),
                sources.len(),
                plural(sources.len(), "file", "files"),
                set.warnings.len(),
                if set.warnings.len() == 1 { "" } else { "s" },
                set.version()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(d) => {
            for diag in &d.0 {
                eprintln!("{diag}");
            }
            let errors = d.errors().count();
            eprintln!(
                "{errors} {} in {} {}",
                plural(errors, "error", "errors"),
                sources.len(),
                plural(sources.len(), "file", "files")
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Test files under `paths`.
fn test_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                walk(&e, out)?;
            }
        } else if policies::is_test_file(p) {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            anyhow::bail!("{}: no such file or folder", p.display());
        }
        if p.is_file() {
            out.push(p.clone());
        } else {
            walk(p, &mut out).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        }
    }
    Ok(out)
}

fn test(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("policies")]
    } else {
        paths.to_vec()
    };
    let files = test_files(&paths)?;
    if files.is_empty() {
        anyhow::bail!("no test files (*_test.yaml) under the given paths");
    }
    let scanner = Scanner::builtin();
    let ids = policies::detector_ids();
    let catalog = Catalog { detectors: &ids };
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut sets: BTreeMap<Vec<PathBuf>, Arc<PolicySet>> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        let source = Source {
            name: file.display().to_string(),
            text,
        };
        // names (detectors, classes, providers, signals, expectations) are checked like
        // policies' names, so a case cannot pass by naming a detector that does not exist
        let tests = match testcase::parse_checked(&source, &catalog) {
            Ok(t) => t,
            Err(d) => {
                eprintln!("{d}");
                failed += 1;
                continue;
            }
        };
        let dir = file.parent().unwrap_or(Path::new("."));
        let policy_paths: Vec<PathBuf> = if tests.policies.is_empty() {
            vec![dir.to_path_buf()]
        } else {
            tests.policies.iter().map(|p| dir.join(p)).collect()
        };
        let set = match sets.get(&policy_paths) {
            Some(s) => s.clone(),
            None => {
                let set = match policies::read_sources(&policy_paths)
                    .and_then(|s| policies::compile(&s).map_err(LoadError::Invalid))
                {
                    Ok(set) => set.shared(),
                    Err(e) => {
                        eprintln!("{}: the policies do not compile:\n{e}", file.display());
                        failed += 1;
                        continue;
                    }
                };
                sets.insert(policy_paths.clone(), set.clone());
                set
            }
        };
        let cases = tests.cases;
        for located in cases {
            let case = &located.case;
            let findings = match findings_of(scanner, case) {
                Ok(f) => f,
                Err(e) => {
                    println!("FAIL {} {}: {e}", located.place, case.name);
                    failed += 1;
                    continue;
                }
            };
            match case.check(&set, &findings) {
                Ok(()) => {
                    println!("PASS {} {}", located.place, case.name);
                    passed += 1;
                }
                Err(why) => {
                    println!("FAIL {} {}: {why}", located.place, case.name);
                    failed += 1;
                }
            }
        }
    }
    println!(
        "{passed} passed, {failed} failed ({} test {})",
        files.len(),
        plural(files.len(), "file", "files")
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn findings_of(scanner: &Scanner, case: &testcase::TestCase) -> Result<Vec<Finding>, String> {
    let mut findings: Vec<Finding> = Vec::new();
    if let Some(body) = &case.body {
        let scan = scanner
            .scan(body.as_bytes(), &ScanOptions::default())
            .map_err(|e| format!("the body cannot be scanned: {e}"))?;
        findings.extend(scan.findings().cloned());
        // provider exchanges: the LLM threats of the body too
        if case.exchange.provider.is_some() {
            findings.extend(rampart_gateway::llm::findings(
                &case.exchange.path,
                case.exchange.direction == Some(Direction::Response),
                body.as_bytes(),
                &rampart_detect::HashKey::new([0; 32]),
            ));
        }
    }
    for f in &case.findings {
        findings.push(f.to_finding()?);
    }
    Ok(findings)
}

fn explain(a: ExplainArgs) -> anyhow::Result<ExitCode> {
    // the closed sets among the options (route, host, namespace, workload, ... are free-form)
    if let Some(p) = &a.provider {
        PROVIDER_NAMES
            .check(p)
            .map_err(|e| anyhow::anyhow!("--provider: {e}"))?;
    }
    for s in &a.signals {
        SIGNAL_NAMES
            .check(s)
            .map_err(|e| anyhow::anyhow!("--signal: {e}"))?;
    }
    let set = policies::load(&a.policies)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .shared();
    let direction = match a.direction.as_str() {
        "request" => Direction::Request,
        "response" => Direction::Response,
        other => anyhow::bail!("--direction: unknown direction `{other}`; use request or response"),
    };
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--label takes KEY=VALUE, got {l:?}"))?;
        labels.insert(k.to_owned(), v.to_owned());
    }
    let ex = Exchange {
        direction: Some(direction),
        route: a.route.clone().or_else(|| a.provider.clone()),
        host: a.host,
        path: a.path,
        method: a.method.to_ascii_uppercase(),
        provider: a.provider,
        model: a.model,
        caller: Caller {
            ip: a.ip,
            key_id: a.key_id,
            workload: a.workload,
            namespace: a.namespace,
            service_account: a.service_account,
            labels,
        },
        destination: a.destination.clone(),
        port: None,
        signals: a.signals.clone(),
    };
    let mut body = Vec::new();
    match a.body.as_deref() {
        Some(p) if p != Path::new("-") => {
            body = std::fs::read(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
        }
        _ => {
            std::io::stdin().read_to_end(&mut body)?;
        }
    }
    let scan = Scanner::builtin()
        .scan(&body, &ScanOptions::default())
        .map_err(|e| anyhow::anyhow!("the body cannot be scanned: {e}"))?;
    let mut findings: Vec<Finding> = scan.findings().cloned().collect();
    if ex.provider.is_some() {
        findings.extend(rampart_gateway::llm::findings(
            &ex.path,
            direction == Direction::Response,
            &body,
            &rampart_detect::HashKey::new([0; 32]),
        ));
    }
    let sel = set.select(&ex);
    println!("policy set {}", set.version());
    println!("{}", sel.explain(&ex, &findings));
    if let Some(dest) = &a.destination {
        let (verdict, origin) = sel.egress(dest);
        println!(
            "egress to {dest}: {verdict:?}{}",
            origin
                .map(|o| format!(" (by {})", sel.origin_name(o)))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
