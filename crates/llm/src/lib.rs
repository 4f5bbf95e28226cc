//! An LLM as a decision source for vigil strategies — and a backtestable one.
//!
//! On a schedule the [`source::LlmSource`] builds a prompt from a point-in-time
//! snapshot (recent bars, latest grades, positions, its own earlier answers),
//! asks an OpenAI-compatible chat-completions endpoint or the Anthropic
//! Messages API for a JSON answer of a fixed schema, and turns each valid
//! per-instrument decision into a [`vigil_core::Signal`] delivered at the time
//! the answer arrived. Every call goes on a [`tape::Tape`]: a backtest replays
//! it byte for byte instead of calling the model again (which would answer
//! differently, and may have seen the future in training).
//!
//! * [`config`]: `[llm]`, shared by backtest and agent configs.
//! * [`request`]: the request and its hash (everything that can change an answer).
//! * [`provider`]: the two wire formats, with 429 `Retry-After`, 5xx and timeouts.
//! * [`answer`]: the answer's schema and its validation (malformed, truncated,
//!   off-schema, unknown symbol, out of range: counted and dropped, never traded).
//! * [`prompt`]: snapshots and templates.
//! * [`tape`]: the record of every call.
//! * [`source`]: the schedule, the budgets and the signals.

#![warn(missing_docs)]

pub mod answer;
pub mod config;
#[cfg(feature = "mock")]
pub mod mock;
pub mod prompt;
pub mod provider;
pub mod request;
pub mod source;
pub mod tape;

pub use config::{LlmConfig, Provider, TapeMode};
pub use source::{LlmError, LlmSource, LlmStats};
