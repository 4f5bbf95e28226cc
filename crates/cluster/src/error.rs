//! Why a distributed sweep or a worker stopped.

/// Why a distributed sweep or a worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The sweep itself (its config, its sets, its data) is wrong.
    #[error(transparent)]
    Sweep(#[from] vigil_backtest::BacktestError),
    /// The NATS server could not be reached or refused an operation.
    #[error("NATS {what}: {message}")]
    Nats {
        /// What was being done.
        what: String,
        /// The client's error.
        message: String,
    },
    /// A file the sweep needs could not be read or is outside the root.
    #[error("{0}")]
    Files(String),
    /// A job could not run anywhere (every delivery refused it).
    #[error("{0}")]
    Refused(String),
}

impl ClusterError {
    /// A NATS failure while doing `what`.
    pub fn nats(what: impl Into<String>, e: impl std::fmt::Display) -> ClusterError {
        ClusterError::Nats {
            what: what.into(),
            message: e.to_string(),
        }
    }
}
