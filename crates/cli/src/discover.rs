//! `rampart discover`: the inventory of APIs, AI use and data flows from captured traffic
//! (HAR files, JSON access logs of Envoy or nginx), without an inline deployment. With
//! OpenAPI specs, endpoints are classified documented, shadow, zombie or unused.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use rampart_discover::openapi::{Spec, Specs};
use rampart_discover::{Inventory, har, logs, render};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A summary for people.
    Text,
    /// The inventory document: endpoints, AI use, flows.
    Json,
    /// An OpenAPI 3.1 document reconstructed from traffic.
    Openapi,
    /// The flow graph as a Mermaid flowchart.
    Mermaid,
    /// The flow graph as Graphviz DOT.
    Dot,
}

/// `rampart discover` arguments.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// A HAR capture (browser, proxy or tool export); repeatable.
    #[arg(long = "har", value_name = "FILE")]
    pub hars: Vec<PathBuf>,
    /// A JSON-lines access log (Envoy or nginx JSON format); repeatable.
    #[arg(long = "access-log", value_name = "FILE")]
    pub logs: Vec<PathBuf>,
    /// An OpenAPI 3.0/3.1 or Swagger 2.0 spec (JSON or YAML); repeatable. It covers the hosts
    /// its servers name (when they name none, the hosts seen serving its operations).
    #[arg(long = "openapi", value_name = "FILE")]
    pub specs: Vec<PathBuf>,
    /// A host that is Rampart's gateway: AI calls to it count as through the gateway;
    /// repeatable.
    #[arg(long = "gateway", value_name = "HOST")]
    pub gateways: Vec<String>,
    /// A data store: `HOST[:PORT]=KIND` (`orders-db.internal=postgresql`); repeatable. Stores
    /// are also recognised without it, by hosted-store domain, port and store API shape.
    #[arg(long = "data-store", value_name = "HOST=KIND", value_parser = parse_store)]
    pub stores: Vec<(String, String)>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// `HOST[:PORT]=KIND`.
fn parse_store(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((h, k)) if !h.trim().is_empty() && !k.trim().is_empty() => {
            Ok((h.trim().to_owned(), k.trim().to_owned()))
        }
        _ => Err(format!("expected HOST[:PORT]=KIND, got {s:?}")),
    }
}

/// Runs `rampart discover`. Exit status 0, or 2 when an input could not be read (the others
/// are still read and reported).
pub fn run(args: DiscoverArgs) -> anyhow::Result<ExitCode> {
    if args.hars.is_empty() && args.logs.is_empty() && args.specs.is_empty() {
        anyhow::bail!(
            "nothing to read: give --har FILE, --access-log FILE and/or --openapi FILE (see rampart discover --help)"
        );
    }
    let mut specs = Specs::default();
    for path in &args.specs {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let spec =
            Spec::parse(&text, &name).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        specs.specs.push(spec);
    }
    let mut inv =
        Inventory::new(specs, args.gateways.iter().cloned()).with_stores(args.stores.clone());
    // a file that cannot be read is reported and the others still count; the exit status
    // then says something was left out
    let mut failed = 0;
    // HAR files, then access logs
    let inputs = args
        .hars
        .iter()
        .map(|p| (p, true))
        .chain(args.logs.iter().map(|p| (p, false)));
    for (path, is_har) in inputs {
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                if is_har {
                    har::parse(&bytes)
                        .map(|h| (h.events, h.skipped, "entries without an http(s) URL"))
                } else {
                    let log = logs::parse(&String::from_utf8_lossy(&bytes));
                    Ok((
                        log.events,
                        log.skipped,
                        "lines that are not JSON access-log records",
                    ))
                }
            });
        match read {
            Ok((events, skipped, what)) => {
                if skipped > 0 {
                    eprintln!(
                        "rampart discover: {}: {skipped} {what} skipped",
                        path.display()
                    );
                }
                for e in &events {
                    inv.add(e);
                }
            }
            Err(e) => {
                eprintln!("rampart: error: {}: {e}", path.display());
                failed += 1;
            }
        }
    }
    let doc = inv.document();
    let out = match args.format {
        Format::Text => render::text(&doc),
        Format::Json => serde_json::to_string_pretty(&doc)? + "\n",
        Format::Openapi => serde_json::to_string_pretty(&render::openapi(&doc))? + "\n",
        Format::Mermaid => render::mermaid(&doc),
        Format::Dot => render::dot(&doc),
    };
    use std::io::Write as _;
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
