//! Why the agent stopped with an error.

use vigil_core::config::ConfigError;
use vigil_engine::EngineError;
use vigil_feed::FeedError;
use vigil_store::StoreError;

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The config file is wrong (names file, line and field).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Credentials or a password are missing or unreadable (environment, keystore).
    #[error("{0}")]
    Credentials(String),
    /// The live venue refused to start or failed.
    #[error("live: {0}")]
    Live(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] StoreError),
    /// The feed failed (names file, line and field for recorded data).
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The engine stopped.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The LLM decision source (its tape cannot be written).
    #[error("llm: {0}")]
    Llm(#[from] vigil_llm::LlmError),
    /// Replaying the journal did not reproduce what was journaled.
    #[error("recovery: replaying the journal diverged at fill {index}: journaled {journaled}, replayed {replayed}")]
    Diverged {
        /// Index of the first differing fill.
        index: usize,
        /// What the journal holds.
        journaled: String,
        /// What the replay produced.
        replayed: String,
    },
    /// A journaled input could not be read back.
    #[error("journal event {seq} is unreadable: {message}")]
    BadJournalEvent {
        /// Its sequence number.
        seq: i64,
        /// Why.
        message: String,
    },
    /// The status endpoint could not start.
    #[error("status endpoint {addr}: {message}")]
    Status {
        /// The address.
        addr: String,
        /// Why.
        message: String,
    },
}
