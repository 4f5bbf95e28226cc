//! `vigil sweep --cluster`: publish a sweep's jobs, collect their rows, and
//! finish the report exactly as a local sweep does.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::RngCore;
use vigil_backtest::sweep::{SweepPlan, SweepReport, SweepRow};
use vigil_strategy::Registry;

use crate::wire::{Job, JobResult, Manifest, WireRow};
use crate::{ClusterError, Names};

/// How a distributed sweep runs.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Stream and subject names.
    pub names: Names,
    /// Files travel as paths below this folder (the workers' `--root`).
    pub root: PathBuf,
    /// Parameter sets per job (a worker runs a job's sets over one data pass).
    pub job_sets: usize,
    /// A job not acked within this long goes to another worker (workers that
    /// are alive extend it). Set when the work queue's consumer is created.
    pub ack_wait: Duration,
    /// Deliveries of a job before JetStream gives up on it.
    pub max_deliver: i64,
    /// Threads for what the coordinator runs itself (walk-forward windows;
    /// 0: every core).
    pub threads: usize,
    /// Show a progress bar.
    pub progress: bool,
}

/// What the coordinator saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Jobs published.
    pub jobs: usize,
    /// Results that repeated a job already counted (a redelivered job whose
    /// first worker finished after all): ignored.
    pub duplicates: usize,
    /// Jobs whose counted result came from a second or later delivery.
    pub redelivered: usize,
    /// Refusals (a worker's files differed), by reason.
    pub refusals: BTreeMap<String, usize>,
    /// The workers that ran jobs, with how many each.
    pub workers: BTreeMap<String, usize>,
}

/// Runs the sweep file `path` on the cluster: its report (byte-identical to
/// `vigil sweep`'s as JSON) and what happened on the way.
pub fn run(
    path: &Path,
    registry: &Registry,
    opts: &ClusterOptions,
) -> Result<(SweepReport, ClusterStats), ClusterError> {
    let plan = SweepPlan::load(path, registry, true)?;
    let root = opts
        .root
        .canonicalize()
        .map_err(|e| ClusterError::Files(format!("--root {}: {e}", opts.root.display())))?;
    let manifest = Manifest::of(&plan.base, &root)?;
    let run = {
        let mut b = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut b);
        hex::encode(b)
    };
    let jobs = jobs(&plan, &run, &manifest, opts.job_sets.max(1))?;
    tracing::info!(
        run,
        jobs = jobs.len(),
        sets = plan.sets.len(),
        config = manifest.config.path,
        "publishing a distributed sweep"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Files(format!("starting the runtime: {e}")))?;
    let (wire, stats) = runtime.block_on(exchange(&run, &jobs, opts, plan.sets.len()))?;
    let rows: Vec<SweepRow> = wire
        .into_iter()
        .map(|w| {
            let params = serde_json::to_value(&plan.sets[w.index]).unwrap_or_default();
            w.into_row(params)
        })
        .collect();
    let pool = plan.thread_pool(opts.threads)?;
    Ok((plan.finish(rows, registry, &pool)?, stats))
}

fn jobs(
    plan: &SweepPlan,
    run: &str,
    manifest: &Manifest,
    per_job: usize,
) -> Result<Vec<Job>, ClusterError> {
    plan.sets
        .chunks(per_job)
        .enumerate()
        .map(|(j, chunk)| {
            let sets = chunk
                .iter()
                .map(toml::to_string)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClusterError::Files(format!("encoding a parameter set: {e}")))?;
            Ok(Job {
                run: run.to_string(),
                job: j as u32,
                manifest: manifest.clone(),
                first: j * per_job,
                sets,
            })
        })
        .collect()
}

/// The streams and the workers' consumer, created if missing.
pub(crate) async fn streams(
    js: &jetstream::Context,
    names: &Names,
    ack_wait: Duration,
    max_deliver: i64,
) -> Result<(stream::Stream, stream::Stream), ClusterError> {
    let jobs = js
        .get_or_create_stream(stream::Config {
            name: names.jobs_stream(),
            subjects: vec![names.jobs_wildcard()],
            retention: stream::RetentionPolicy::WorkQueue,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::nats(format!("stream {}", names.jobs_stream()), e))?;
    let results = js
        .get_or_create_stream(stream::Config {
            name: names.results_stream(),
            subjects: vec![names.results_wildcard()],
            max_age: Duration::from_secs(24 * 3600),
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::nats(format!("stream {}", names.results_stream()), e))?;
    jobs.get_or_create_consumer(
        &names.workers(),
        consumer::pull::Config {
            durable_name: Some(names.workers()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait,
            max_deliver,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| ClusterError::nats(format!("consumer {}", names.workers()), e))?;
    Ok((jobs, results))
}

/// Publishes the jobs and collects one result per job.
async fn exchange(
    run: &str,
    jobs: &[Job],
    opts: &ClusterOptions,
    sets: usize,
) -> Result<(Vec<WireRow>, ClusterStats), ClusterError> {
    let names = &opts.names;
    let client = async_nats::connect(&opts.url)
        .await
        .map_err(|e| ClusterError::nats(format!("connecting to {}", opts.url), e))?;
    let js = jetstream::new(client);
    let (_, results) = streams(&js, names, opts.ack_wait, opts.max_deliver).await?;
    // Listen before publishing, so no result can be missed.
    let listener = results
        .create_consumer(consumer::pull::Config {
            filter_subject: names.results(run),
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(300),
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::nats("listening for results", e))?;
    let mut incoming = listener
        .messages()
        .await
        .map_err(|e| ClusterError::nats("listening for results", e))?;
    for job in jobs {
        let payload = serde_json::to_vec(job).map_err(|e| ClusterError::Files(e.to_string()))?;
        js.send_publish(
            names.jobs(run),
            jetstream::message::PublishMessage::build()
                .payload(payload.into())
                .message_id(format!("{run}-{}", job.job)),
        )
        .await
        .map_err(|e| ClusterError::nats("publishing a job", e))?
        .await
        .map_err(|e| ClusterError::nats("publishing a job", e))?;
    }
    let bar = progress_bar(opts.progress, sets);
    let mut done: HashMap<u32, Vec<WireRow>> = HashMap::new();
    let mut refused: HashMap<u32, i64> = HashMap::new();
    let mut stats = ClusterStats {
        jobs: jobs.len(),
        ..Default::default()
    };
    while done.len() < jobs.len() {
        let msg = match tokio::time::timeout(Duration::from_secs(30), incoming.next()).await {
            Ok(Some(m)) => m.map_err(|e| ClusterError::nats("reading results", e))?,
            Ok(None) => return Err(ClusterError::nats("reading results", "the stream ended")),
            Err(_) => {
                let msg = format!(
                    "{} of {} jobs done; waiting for workers (`vigil worker --cluster {}`)",
                    done.len(),
                    jobs.len(),
                    opts.url
                );
                bar.suspend(|| eprintln!("{msg}"));
                continue;
            }
        };
        let result: JobResult = match serde_json::from_slice(&msg.payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "an unreadable result: ignored");
                continue;
            }
        };
        match result {
            JobResult::Rows {
                job,
                worker,
                rows,
                delivered,
                ..
            } => {
                if done.contains_key(&job) {
                    stats.duplicates += 1;
                    continue;
                }
                if delivered > 1 {
                    stats.redelivered += 1;
                }
                *stats.workers.entry(worker).or_default() += 1;
                bar.inc(rows.len() as u64);
                done.insert(job, rows);
            }
            JobResult::Refused {
                job,
                worker,
                reason,
                ..
            } => {
                bar.suspend(|| eprintln!("worker {worker} refused job {job}: {reason}"));
                *stats.refusals.entry(reason.clone()).or_default() += 1;
                let n = refused.entry(job).or_default();
                *n += 1;
                if *n >= opts.max_deliver && !done.contains_key(&job) {
                    return Err(ClusterError::Refused(format!(
                        "job {job} was refused at each of its {} deliveries; the last: {reason}",
                        opts.max_deliver
                    )));
                }
            }
        }
    }
    bar.finish_and_clear();
    // The run's results are in; leave nothing behind on the server.
    let _ = results.purge().filter(names.results(run)).await;
    let mut rows: Vec<WireRow> = done.into_values().flatten().collect();
    rows.sort_by_key(|r| r.index);
    Ok((rows, stats))
}

fn progress_bar(show: bool, sets: usize) -> ProgressBar {
    let bar = if show {
        ProgressBar::new(sets as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} backtests on the cluster  {elapsed} elapsed, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Deletes the cluster's streams (and with them its queue and results) from
/// the server at `url`.
pub fn remove(url: &str, names: &Names) -> Result<(), ClusterError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Files(format!("starting the runtime: {e}")))?;
    runtime.block_on(async {
        let client = async_nats::connect(url)
            .await
            .map_err(|e| ClusterError::nats(format!("connecting to {url}"), e))?;
        let js = jetstream::new(client);
        for name in [names.jobs_stream(), names.results_stream()] {
            let _ = js.delete_stream(&name).await;
        }
        Ok(())
    })
}
