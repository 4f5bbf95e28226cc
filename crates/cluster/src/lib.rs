//! Distributed sweeps on NATS JetStream.
//!
//! `vigil sweep <sweep.toml> --cluster nats://…` (the [coordinator]) splits a
//! sweep's parameter sets into jobs — contiguous batches that a worker runs
//! over one shared pass of the data — and publishes them to a work-queue
//! stream; `vigil worker --cluster nats://…` ([worker]), any number of them on
//! any machine, pulls a job, checks that the config and every data file it
//! holds have the SHA-256 the job names (else it refuses the job), runs it,
//! publishes the rows and acks. A worker that dies holding a job: JetStream
//! redelivers it after the ack deadline (a live worker extends it with
//! progress acks); a job whose result arrives twice counts once. The
//! coordinator ranks the rows and computes the deflated Sharpe ratio, PBO and
//! walk-forward exactly as a local sweep does, so the JSON is byte-identical.
//!
//! On the wire (JSON): [`Job`] on `<prefix>.jobs.<run>` (stream
//! `<PREFIX>_JOBS`, work-queue retention, durable pull consumer
//! `<prefix>-workers`), [`JobResult`] on `<prefix>.results.<run>` (stream
//! `<PREFIX>_RESULTS`), each result with the message id `<run>-<job>` so the
//! server drops a repeat inside its duplicate window.

#![warn(missing_docs)]

pub mod coordinator;
mod error;
mod names;
pub mod wire;
pub mod worker;

pub use error::ClusterError;
pub use names::Names;
pub use wire::{Job, JobResult, Manifest};
