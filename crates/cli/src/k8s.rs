//! `rampart k8s`: Kubernetes posture. `audit` checks manifests (files, folders, `helm
//! template` output on stdin) against the OWASP Kubernetes Top 10 (2025) and lists the AI
//! workloads they define.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use rampart_core::Severity;

/// `rampart k8s` arguments.
#[derive(Debug, Args)]
pub struct K8sArgs {
    #[command(subcommand)]
    command: K8sCommand,
}

#[derive(Debug, Subcommand)]
enum K8sCommand {
    /// Check manifests against the OWASP Kubernetes Top 10 (2025) and list AI workloads.
    /// Exit 0 when no finding is at or above --fail-on, 1 when one is, 2 when a file could
    /// not be read (the others are still checked and reported).
    Audit(AuditArgs),
    /// Print Rampart's CustomResourceDefinitions (RuntimePolicy, RuntimeLimit, Quarantine) as
    /// YAML, generated from their Rust types.
    Crds,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people.
    Text,
    /// `{"findings": [...], "ai_workloads": [...]}`.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

/// The lowest severity that fails the audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
    /// Never fail on findings.
    None,
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// Manifest files or folders (YAML, many documents per file, or JSON; `List` kinds are
    /// expanded); `-` reads stdin. Repeatable.
    #[arg(short = 'f', long = "file", value_name = "PATH", required = true)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value = "low")]
    fail_on: FailOn,
}

/// Runs `rampart k8s`.
pub fn run(args: K8sArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        K8sCommand::Audit(a) => audit(a),
        K8sCommand::Crds => {
            print!("{}", rampart_controller::crd::crds_yaml());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn audit(a: AuditArgs) -> anyhow::Result<ExitCode> {
    let read = rampart_k8s::manifest::read(&a.files);
    for (file, why) in &read.errors {
        eprintln!("rampart: error: {file}: {why}");
    }
    if read.files == 0 && !read.errors.is_empty() {
        return Ok(ExitCode::from(2));
    }
    let report = rampart_k8s::audit(&read.objects);
    let out = match a.format {
        Format::Text => rampart_k8s::text(&report),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Sarif => {
            serde_json::to_string_pretty(&rampart_k8s::sarif(&report, &read.objects))? + "\n"
        }
    };
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    if !read.errors.is_empty() {
        return Ok(ExitCode::from(2));
    }
    let threshold = match a.fail_on {
        FailOn::Info => Some(Severity::Info),
        FailOn::Low => Some(Severity::Low),
        FailOn::Medium => Some(Severity::Medium),
        FailOn::High => Some(Severity::High),
        FailOn::Critical => Some(Severity::Critical),
        FailOn::None => None,
    };
    let failed = threshold.is_some_and(|t| report.findings.iter().any(|f| f.severity >= t));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
