//! Why a backtest could not run.

use vigil_core::config::ConfigError;
use vigil_engine::EngineError;
use vigil_feed::FeedError;

/// Why a backtest could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The config is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data is wrong.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The engine stopped.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No bar fell within the run: nothing was computed.
    #[error("{0}")]
    NoBars(String),
    /// The LLM decision source stopped the run (a missing tape entry, a
    /// period before the model's knowledge cutoff, a tape that cannot be read).
    #[error(transparent)]
    Llm(#[from] vigil_llm::LlmError),
    /// The error another run of the same shared data pass met (the data, read
    /// once for several runs, failed for all of them): its message.
    #[error("{0}")]
    Shared(String),
}
