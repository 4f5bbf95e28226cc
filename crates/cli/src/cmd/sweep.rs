//! `vigil sweep`: a backtest over a parameter grid or sample, in parallel —
//! here, or spread over `vigil worker`s through NATS JetStream (`--cluster`).

use std::path::PathBuf;

use vigil_strategy::Registry;

use super::write_file;

/// `vigil sweep <sweep.toml>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The sweep file (see backtests/sweeps/*.toml).
    pub config: PathBuf,
    /// Worker threads (default: all cores; with `--cluster`, for the
    /// walk-forward the coordinator runs). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Write every row as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write every row as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Rows to print.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// The most parameter sets one pass over the data drives (memory grows
    /// with it; 1: every set reads the data itself). Results do not depend
    /// on it.
    #[arg(long, default_value_t = vigil_backtest::batch::MAX_BATCH, conflicts_with = "cluster")]
    pub batch: usize,
    /// Print the sweep's wall time to stderr (for benchmarks: see
    /// scripts/bench-sweep.sh).
    #[arg(long)]
    pub timing: bool,
    /// Run on a cluster: publish the sets as jobs to this NATS server (with
    /// JetStream) for `vigil worker`s, e.g. `nats://127.0.0.1:4222`.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// The cluster's prefix and root.
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
    /// With `--cluster`: parameter sets per job (a worker runs a job's sets
    /// over one pass of the data).
    #[arg(long, default_value_t = 8, requires = "cluster")]
    pub job_sets: usize,
    /// With `--cluster`: a job not acked within this long goes to another
    /// worker (live workers extend it while they run). Taken when the work
    /// queue is first created.
    #[arg(long, default_value = "30s", requires = "cluster")]
    pub ack_wait: vigil_core::Interval,
}

/// What `vigil sweep --cluster` and `vigil worker` share.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Names of the cluster's streams and subjects (several clusters can
    /// share one NATS server under different prefixes).
    #[arg(long, default_value = "vigil")]
    pub cluster_prefix: String,
    /// The folder paths are relative to on every machine: jobs name the
    /// config and data files by their path below it and their SHA-256.
    /// Default: the current directory.
    #[arg(long)]
    pub root: Option<PathBuf>,
}

impl ClusterArgs {
    /// The names and the root.
    pub fn resolve(&self) -> anyhow::Result<(vigil_cluster::Names, PathBuf)> {
        let names = vigil_cluster::Names::new(&self.cluster_prefix).map_err(anyhow::Error::msg)?;
        let root = match &self.root {
            Some(r) => r.clone(),
            None => std::env::current_dir()?,
        };
        Ok((names, root))
    }
}

/// Runs the sweep, writes the files asked for and prints the table.
pub fn run(a: Args, registry: &Registry) -> anyhow::Result<()> {
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    let r = match &a.cluster {
        Some(url) => {
            let (names, root) = a.cluster_args.resolve()?;
            let opts = vigil_cluster::coordinator::ClusterOptions {
                url: url.clone(),
                names,
                root,
                job_sets: a.job_sets,
                ack_wait: std::time::Duration::from_nanos(a.ack_wait.nanos() as u64),
                max_deliver: 5,
                threads: a.threads,
                progress,
            };
            let (r, stats) = vigil_cluster::coordinator::run(&a.config, registry, &opts)?;
            eprintln!(
                "cluster: {} jobs by {} worker(s) ({}); {} ran again after a worker stopped, {} repeated result(s) ignored, {} refusal(s)",
                stats.jobs,
                stats.workers.len(),
                stats
                    .workers
                    .iter()
                    .map(|(w, n)| format!("{w}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                stats.redelivered,
                stats.duplicates,
                stats.refusals.values().sum::<usize>()
            );
            r
        }
        None => vigil_backtest::sweep::run_sweep_batched(
            &a.config, registry, a.threads, progress, a.batch,
        )?,
    };
    if a.timing {
        eprintln!(
            "timing: {} parameter sets in {:.3} s",
            r.rows.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if let Some(p) = &a.csv {
        write_file(p, r.to_csv())?;
    }
    if let Some(p) = &a.json {
        write_file(p, serde_json::to_string_pretty(&r)? + "\n")?;
    }
    print!("{}", crate::render::sweep(&r, a.top));
    Ok(())
}
