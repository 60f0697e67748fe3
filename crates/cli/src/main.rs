//! `rampart`: the command-line entry point.
//!
//! Subcommands: `up` (the inline gateway), `scan` (files, folders, stdin; text, JSON, SARIF,
//! JSONL batch; redaction), `eval` (accuracy on labelled data), `detectors` (the registry
//! reference), `policy` (check, test, explain), `discover` (inventory from captured traffic),
//! `k8s audit` (Kubernetes posture of manifests), `controller`, `quarantine`, `completions`.
//! Exit codes: 0 nothing found, 1 findings, 2 error.
#![forbid(unsafe_code)]

use std::process::ExitCode;

/// mimalloc serves the gateway's many short-lived per-request allocations faster than the
/// system allocator (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

mod controller;
mod detectors_doc;
mod discover;
mod eval;
mod eval_threat;
mod k8s;
mod large;
mod logging;
mod policy;
mod scan;
mod up;

/// Runtime defense for cloud applications, their APIs and the AI models they call.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the inline gateway (embedded defaults: gateway on 127.0.0.1:8080, admin on :9090).
    Up(up::UpArgs),
    /// Scan files, folders or stdin for PII, secrets and API keys.
    Scan(scan::ScanArgs),
    /// Measure detection accuracy on labelled data (precision, recall, F1).
    Eval(eval::EvalArgs),
    /// Print the detector registry (Markdown reference with --markdown).
    Detectors(detectors_doc::DetectorsArgs),
    /// Check, test and explain policy files.
    Policy(policy::PolicyArgs),
    /// Inventory APIs, AI use and sensitive-data flows from HAR files and access logs;
    /// with OpenAPI specs, tell documented, shadow, zombie and unused endpoints apart.
    Discover(discover::DiscoverArgs),
    /// Kubernetes: audit manifests against the OWASP Kubernetes Top 10 (2025) and list the AI
    /// workloads they define.
    K8s(k8s::K8sArgs),
    /// Run the Kubernetes controller: identities by pod IP, posture, AI workloads, policies
    /// from RuntimePolicy resources, quarantines.
    Controller(controller::ControllerArgs),
    /// Quarantine a pod (label and isolating NetworkPolicy), or release it.
    Quarantine(controller::QuarantineArgs),
    /// Print shell completions: `rampart completions bash > /etc/bash_completion.d/rampart`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Detectors(args) => detectors_doc::run(args),
        Command::Policy(args) => policy::run(args),
        Command::Discover(args) => discover::run(args),
        Command::K8s(args) => k8s::run(args),
        Command::Controller(args) => controller::run(args),
        Command::Quarantine(args) => controller::quarantine(args),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "rampart",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        // the reader went away (`rampart scan . | head`): end quietly
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rampart: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
