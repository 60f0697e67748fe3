//! `rampart controller` (the Kubernetes controller) and `rampart quarantine` (cut a pod off
//! the network by hand, or release it). Both use the in-cluster configuration when they run
//! in a pod, else the kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rampart_controller::controller::{self, Config};
use rampart_controller::quarantine::{self, Settings};

/// `rampart controller` arguments.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Where the controller's API (identities, policies, posture, workloads, quarantine
    /// requests) and its health and metrics listen.
    #[arg(long, default_value = "0.0.0.0:9091")]
    listen: SocketAddr,
    /// An environment variable holding the bearer token `/v1/*` requires.
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// The namespace Rampart runs in: quarantined pods may still reach its pods.
    #[arg(long, env = "RAMPART_NAMESPACE", default_value = "rampart")]
    rampart_namespace: String,
    /// Quarantined pods get no DNS either.
    #[arg(long)]
    no_dns_in_quarantine: bool,
    /// A kubeconfig file (default: in-cluster, else KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The inventory store (`postgres://…`, shared with the gateways) the cluster's
    /// workloads and posture are written to.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// This cluster's name in the store.
    #[arg(long, env = "RAMPART_CLUSTER", default_value = "default")]
    cluster: String,
}

/// `rampart quarantine` arguments.
#[derive(Debug, Args)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    command: QuarantineCommand,
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// Label a pod and isolate it with a NetworkPolicy that denies ingress and egress except
    /// DNS and Rampart; `--release` undoes it. Idempotent.
    Pod(PodArgs),
}

#[derive(Debug, Args)]
struct PodArgs {
    /// The pod, as NAMESPACE/NAME.
    target: String,
    /// Release the pod instead.
    #[arg(long)]
    release: bool,
    /// Why (recorded on the pod and the policy).
    #[arg(long, default_value = "quarantined by hand")]
    reason: String,
    /// Who asks (recorded); default: $USER.
    #[arg(long)]
    by: Option<String>,
    /// Print the objects that would be written, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The namespace Rampart runs in (its pods stay reachable).
    #[arg(long, env = "RAMPART_NAMESPACE", default_value = "rampart")]
    rampart_namespace: String,
    /// A kubeconfig file.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

async fn client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| anyhow::anyhow!("no cluster configuration: {e}"))?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// Runs `rampart controller` until SIGTERM or Ctrl-C.
pub fn run(args: ControllerArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    let token = match &args.token_env {
        Some(var) => {
            Some(std::env::var(var).map_err(|_| anyhow::anyhow!("--token-env: {var} is not set"))?)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = client(args.kubeconfig.as_ref()).await?;
        let store = match &args.store {
            Some(url) => Some(
                rampart_store::Store::open(url)
                    .await
                    .map_err(|e| anyhow::anyhow!("--store: {e}"))?,
            ),
            None => None,
        };
        let (stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::up::terminated().await;
            let _ = stop.send(true);
        });
        controller::run(
            client,
            Config {
                listen: args.listen,
                token,
                quarantine: Settings {
                    allow_dns: !args.no_dns_in_quarantine,
                    rampart_namespace: args.rampart_namespace,
                },
                store,
                cluster: args.cluster,
                ..Config::default()
            },
            rx,
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `rampart quarantine`.
pub fn quarantine(args: QuarantineArgs) -> anyhow::Result<ExitCode> {
    let QuarantineCommand::Pod(a) = args.command;
    let (ns, pod) = a
        .target
        .split_once('/')
        .filter(|(n, p)| !n.is_empty() && !p.is_empty() && !p.contains('/'))
        .ok_or_else(|| anyhow::anyhow!("expected NAMESPACE/NAME, got {:?}", a.target))?;
    let by =
        a.by.clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = client(a.kubeconfig.as_ref()).await?;
        let settings = Settings {
            allow_dns: true,
            rampart_namespace: a.rampart_namespace.clone(),
        };
        let outcome = if a.release {
            quarantine::release(&client, ns, pod, a.dry_run).await
        } else {
            quarantine::apply(&client, ns, pod, &a.reason, &by, &settings, a.dry_run).await
        }
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!("pod {ns}/{pod} not found"),
            e => anyhow::anyhow!("{e}"),
        })?;
        if a.dry_run {
            for o in &outcome.objects {
                println!("---\n{}", serde_saphyr::to_string(o)?);
            }
        } else {
            // the record a console and the controller see; the controller keeps it applied
            if !a.release {
                let _ = controller::request_quarantine(&client, ns, pod, &a.reason, &by).await;
            } else {
                let api: kube::Api<rampart_controller::crd::Quarantine> =
                    kube::Api::namespaced(client.clone(), ns);
                let _ = api
                    .delete(
                        &quarantine::label_value(pod),
                        &kube::api::DeleteParams::default(),
                    )
                    .await;
            }
            eprintln!(
                "{} {ns}/{pod}{}",
                if a.release { "released" } else { "quarantined" },
                if outcome.changed {
                    ""
                } else {
                    " (it already was)"
                }
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
