//! The agent's life, one phase after another.

use serde::{Deserialize, Serialize};

/// Where the agent is in its life; `/status` shows it as a lowercase word.
///
/// ```text
/// starting → recovering (journal replay) → reconciling (live only) → running
///          → stopping (signal) → stopped        (restart to resume)
///          → finished                           (the feed ended; the run is complete)
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Loading the config, opening the journal, connecting.
    #[default]
    Starting,
    /// Replaying the journal through a fresh engine.
    Recovering,
    /// Live: comparing the journal's working orders and balances with the venue.
    Reconciling,
    /// Processing the feed.
    Running,
    /// A stop was requested: intake stopped, the journal is being flushed.
    Stopping,
    /// Stopped before the feed ended; a restart resumes.
    Stopped,
    /// The feed ended; the run is complete.
    Finished,
}

impl Phase {
    /// The word `/status` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Recovering => "recovering",
            Phase::Reconciling => "reconciling",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
            Phase::Finished => "finished",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
