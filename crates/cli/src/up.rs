//! `rampart up`: the inline gateway on embedded defaults, or on a configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rampart_gateway::{Config, Gateway};

/// Arguments of `rampart up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// A YAML configuration file (every field is optional; flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where applications connect [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Health, readiness and metrics [default: 127.0.0.1:9090].
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Audit events and state [default: ./rampart-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Send a provider's traffic elsewhere: PROVIDER=URL (openai, anthropic, gemini, cohere);
    /// repeatable.
    #[arg(long = "upstream", value_name = "PROVIDER=URL")]
    upstreams: Vec<String>,
    /// Policy files or folders (RuntimePolicy YAML), replacing the configuration's `policies`;
    /// repeatable. Without any, the embedded default policy applies.
    #[arg(long = "policy", value_name = "PATH")]
    policies: Vec<PathBuf>,
    /// Start even when no loaded policy is in enforce mode (an empty or monitor-only set);
    /// without it such a set is refused at start and on reload.
    #[arg(long)]
    allow_unenforced: bool,
    /// The inventory store: `postgres://…` so replicas share one inventory, or a SQLite file
    /// [default: <data-dir>/inventory.db].
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Check the configuration (policies compile, stores and files open, the controller URL
    /// is valid), print what would run, and exit: 0 when it is good, 2 when it is not.
    #[arg(long)]
    check: bool,
}

/// Runs the gateway until interrupted.
pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            Config::from_yaml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(a) = args.listen {
        config.listen = a;
    }
    if let Some(a) = args.admin_listen {
        config.admin_listen = a;
    }
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if !args.policies.is_empty() {
        config.policies = args.policies.clone();
    }
    if args.allow_unenforced {
        config.allow_unenforced = true;
    }
    if let Some(store) = &args.store {
        config.discovery.store = Some(store.clone());
    }
    for u in &args.upstreams {
        let (id, url) = u
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--upstream takes PROVIDER=URL, got {u:?}"))?;
        config
            .upstreams
            .insert(id.trim().to_owned(), url.trim().to_owned());
    }
    crate::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let check = args.check;
    runtime.block_on(async move {
        let summary = summary(&config);
        let gateway = Gateway::new(config).await?;
        let policies = gateway.policy_set().names().join(", ");
        if check {
            println!("configuration OK\n{summary}\n  policies: {policies}");
            return Ok(());
        }
        let running = gateway.start().await?;
        tracing::info!(
            listen = %running.addr,
            admin = %running.admin_addr,
            policies = %policies,
            config = %summary.replace('\n', ";"),
            "rampart gateway started"
        );
        // SIGHUP reloads the policy files
        #[cfg(unix)]
        {
            let mut hup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
            let gw = gateway.clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let gw = gw.clone();
                    let result = tokio::task::spawn_blocking(move || gw.reload_policies()).await;
                    match result {
                        Ok(Ok(r)) => eprintln!("rampart: SIGHUP: policies {r:?}"),
                        Ok(Err(e)) => eprintln!("rampart: SIGHUP: policies not reloaded:\n{e}"),
                        Err(_) => {}
                    }
                }
            });
        }
        // announced once every signal handler is in place
        eprintln!(
            "rampart: gateway on http://{} (admin http://{}); point your SDK's base URL here, e.g. OPENAI_BASE_URL=http://{}/v1",
            running.addr, running.admin_addr, running.addr
        );
        shutdown_signal().await?;
        eprintln!("rampart: draining (exchanges in flight may finish; send the signal again to stop now)");
        let drained = tokio::select! {
            drained = running.shutdown() => drained,
            _ = shutdown_signal() => anyhow::bail!("stopped before the exchanges in flight finished"),
        };
        if drained.cut {
            eprintln!("rampart: stopped; the grace period ran out and open connections were cut");
        } else {
            eprintln!("rampart: stopped");
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What a configuration runs: addresses, data dir, upstreams and routes (URLs without
/// credentials), the policy sources, the inventory store and the controller.
fn summary(c: &Config) -> String {
    let url = |u: &str| rampart_gateway::config::redact_url(u);
    let upstreams: Vec<String> = c
        .upstreams
        .iter()
        .map(|(k, v)| format!("{k}={}", url(v)))
        .collect();
    let routes: Vec<String> = c
        .routes
        .iter()
        .map(|r| format!("{}->{}", r.prefix, url(&r.upstream)))
        .collect();
    let policies: Vec<String> = if c.policies.is_empty() {
        vec!["<embedded default>".into()]
    } else {
        c.policies.iter().map(|p| p.display().to_string()).collect()
    };
    format!(
        "  listen: {}\n  admin: {}\n  data dir: {}\n  upstreams: {}\n  routes: {}\n  policy files: {}\n  discovery: {}\n  controller: {}",
        c.listen,
        c.admin_listen,
        c.data_dir.display(),
        if upstreams.is_empty() {
            "(provider defaults)".into()
        } else {
            upstreams.join(", ")
        },
        if routes.is_empty() {
            "(none)".into()
        } else {
            routes.join(", ")
        },
        policies.join(", "),
        if c.discovery.enabled {
            c.discovery
                .store
                .as_deref()
                .map(url)
                .unwrap_or_else(|| format!("{}/inventory.db", c.data_dir.display()))
        } else {
            "off".into()
        },
        c.kubernetes.controller.as_deref().unwrap_or("(none)")
    )
}

/// Resolves on Ctrl-C or SIGTERM (errors setting up the handlers resolve at once).
pub async fn terminated() {
    let _ = shutdown_signal().await;
}

/// Resolves on Ctrl-C, or on SIGTERM (what Kubernetes sends) where there is one.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
