//! `vigil worker`: runs a cluster's sweep jobs (see `vigil sweep --cluster`).

use vigil_strategy::Registry;

use super::sweep::ClusterArgs;

/// `vigil worker --cluster nats://…`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The NATS server (with JetStream), e.g. `nats://127.0.0.1:4222`.
    #[arg(long, value_name = "URL")]
    pub cluster: String,
    /// The cluster's prefix and root.
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
    /// Threads for a job's parameter sets (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// This worker's name in results and logs (default: host name and pid).
    #[arg(long)]
    pub name: Option<String>,
    /// Stop after this many jobs (default: until interrupted).
    #[arg(long)]
    pub max_jobs: Option<u64>,
}

/// Pulls and runs jobs until interrupted.
pub fn run(a: Args, registry: &Registry) -> anyhow::Result<()> {
    let (names, root) = a.cluster_args.resolve()?;
    let name = a.name.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".into());
        format!("{host}-{}", std::process::id())
    });
    let opts = vigil_cluster::worker::WorkerOptions {
        url: a.cluster,
        names,
        root,
        threads: a.threads,
        name,
        max_jobs: a.max_jobs,
    };
    vigil_cluster::worker::run(registry.clone(), &opts)?;
    Ok(())
}
