//! `vigil worker --cluster`: pull jobs, check their files by hash, run them,
//! publish the rows, ack.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, AckKind};
use futures_util::StreamExt;
use vigil_backtest::sweep::rows_for;
use vigil_backtest::LoadedConfig;
use vigil_strategy::Registry;

use crate::wire::{Checker, Job, JobResult, WireRow};
use crate::{ClusterError, Names};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// The NATS server.
    pub url: String,
    /// Stream and subject names (the coordinator's prefix).
    pub names: Names,
    /// Where the job's paths are (this machine's copy of the files).
    pub root: PathBuf,
    /// Threads for a job's sets (0: every core).
    pub threads: usize,
    /// This worker's name in results and logs.
    pub name: String,
    /// Stop after this many jobs (default: run until interrupted).
    pub max_jobs: Option<u64>,
}

/// Pulls and runs jobs until interrupted (or `max_jobs` are done).
pub fn run(registry: Registry, opts: &WorkerOptions) -> Result<(), ClusterError> {
    let root = opts
        .root
        .canonicalize()
        .map_err(|e| ClusterError::Files(format!("--root {}: {e}", opts.root.display())))?;
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .map_err(|e| ClusterError::Files(format!("starting worker threads: {e}")))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Files(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        tokio::select! {
            r = work(Arc::new(registry), opts, root, pool) => r,
            _ = tokio::signal::ctrl_c() => {
                tracing::info!(worker = opts.name, "interrupted; a job in hand goes back to the queue");
                Ok(())
            }
        }
    })
}

/// The workers' consumer, once a coordinator has created it.
async fn consumer(
    js: &jetstream::Context,
    names: &Names,
) -> Result<consumer::Consumer<consumer::pull::Config>, ClusterError> {
    let mut said = false;
    loop {
        if let Ok(stream) = js.get_stream(names.jobs_stream()).await {
            if let Ok(c) = stream.get_consumer(&names.workers()).await {
                return Ok(c);
            }
        }
        if !std::mem::replace(&mut said, true) {
            tracing::info!(
                stream = names.jobs_stream(),
                "waiting for a coordinator to create the work queue"
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn work(
    registry: Arc<Registry>,
    opts: &WorkerOptions,
    root: PathBuf,
    pool: Arc<rayon::ThreadPool>,
) -> Result<(), ClusterError> {
    let client = async_nats::connect(&opts.url)
        .await
        .map_err(|e| ClusterError::nats(format!("connecting to {}", opts.url), e))?;
    let js = jetstream::new(client);
    let mut queue = consumer(&js, &opts.names).await?;
    let ack_wait = queue
        .info()
        .await
        .map_err(|e| ClusterError::nats("reading the work queue", e))?
        .config
        .ack_wait;
    tracing::info!(worker = opts.name, url = opts.url, root = %root.display(), ack_wait = ?ack_wait, "worker ready");
    let mut runner = Runner {
        checker: Checker::default(),
        root,
        registry,
        pool,
        ack_wait,
    };
    let mut jobs = 0u64;
    while opts.max_jobs.is_none_or(|m| jobs < m) {
        let mut batch = queue
            .batch()
            .max_messages(1)
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| ClusterError::nats("pulling a job", e))?;
        let Some(msg) = batch.next().await else {
            continue;
        };
        let msg = msg.map_err(|e| ClusterError::nats("pulling a job", e))?;
        let delivered = msg.info().map_or(1, |i| i.delivered);
        let job: Job = match serde_json::from_slice(&msg.payload) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "an unreadable job: terminated");
                let _ = msg.ack_with(AckKind::Term).await;
                continue;
            }
        };
        let outcome = runner.handle(&job, delivered, &msg).await;
        let (result, ack) = match outcome {
            Ok(rows) => {
                let result = JobResult::Rows {
                    run: job.run.clone(),
                    job: job.job,
                    worker: opts.name.clone(),
                    delivered,
                    rows,
                };
                (result, AckKind::Ack)
            }
            Err(reason) => {
                let result = JobResult::Refused {
                    run: job.run.clone(),
                    job: job.job,
                    worker: opts.name.clone(),
                    reason,
                };
                // Back to the queue, after a pause, for a worker whose files match.
                (result, AckKind::Nak(Some(Duration::from_secs(1))))
            }
        };
        publish(&js, &opts.names, &job, &result).await?;
        msg.ack_with(ack)
            .await
            .map_err(|e| ClusterError::nats("acking a job", e))?;
        // Said once the result is out and the job acked (or returned).
        match &result {
            JobResult::Rows { rows, .. } => {
                tracing::info!(
                    worker = opts.name,
                    run = job.run,
                    job = job.job,
                    sets = rows.len(),
                    "done job"
                );
            }
            JobResult::Refused { reason, .. } => {
                tracing::warn!(
                    worker = opts.name,
                    run = job.run,
                    job = job.job,
                    reason,
                    "refused job; back to the queue"
                );
            }
        }
        jobs += 1;
    }
    Ok(())
}

/// What running a job needs.
struct Runner {
    checker: Checker,
    root: PathBuf,
    registry: Arc<Registry>,
    pool: Arc<rayon::ThreadPool>,
    ack_wait: Duration,
}

impl Runner {
    /// Checks and runs one job, extending its ack deadline while it runs.
    async fn handle(
        &mut self,
        job: &Job,
        delivered: i64,
        msg: &jetstream::Message,
    ) -> Result<Vec<WireRow>, String> {
        tracing::info!(
            run = job.run,
            job = job.job,
            first = job.first,
            sets = job.sets.len(),
            delivered,
            config = job.manifest.config.path,
            "running job"
        );
        let config = self.checker.check(&job.manifest, &self.root)?;
        let sets = job
            .sets
            .iter()
            .map(|t| toml::from_str::<toml::Table>(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("a parameter set does not parse: {e}"))?;
        let (registry, pool, first) = (self.registry.clone(), self.pool.clone(), job.first);
        let mut work = tokio::task::spawn_blocking(move || {
            let base = LoadedConfig::load(&config).map_err(|e| e.to_string())?;
            let rows = pool.install(|| rows_for(&base, first, &sets, &registry));
            Ok::<_, String>(rows.iter().map(WireRow::of).collect::<Vec<_>>())
        });
        let mut tick = tokio::time::interval((self.ack_wait / 3).max(Duration::from_millis(100)));
        tick.tick().await;
        loop {
            tokio::select! {
                done = &mut work => return done.map_err(|e| format!("the job panicked: {e}"))?,
                _ = tick.tick() => {
                    // Still at it: keep the job from going to another worker.
                    let _ = msg.ack_with(AckKind::Progress).await;
                }
            }
        }
    }
}

async fn publish(
    js: &jetstream::Context,
    names: &Names,
    job: &Job,
    result: &JobResult,
) -> Result<(), ClusterError> {
    let payload = serde_json::to_vec(result).map_err(|e| ClusterError::Files(e.to_string()))?;
    let mut publish = jetstream::message::PublishMessage::build().payload(payload.into());
    if matches!(result, JobResult::Rows { .. }) {
        // A repeat (a redelivered job finished twice) is dropped by the server.
        publish = publish.message_id(format!("{}-{}", job.run, job.job));
    }
    js.send_publish(names.results(&job.run), publish)
        .await
        .map_err(|e| ClusterError::nats("publishing a result", e))?
        .await
        .map_err(|e| ClusterError::nats("publishing a result", e))?;
    Ok(())
}
