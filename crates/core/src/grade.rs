//! AI grades: 0–100 scores per token, point-in-time.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::instrument::AssetId;
use crate::time::Timestamp;

/// What a grade measures.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GradeKind {
    /// Short-horizon (trading) grade, e.g. Token Metrics' TM Trader Grade.
    Trader,
    /// Long-horizon (investing) grade, e.g. Token Metrics' TM Investor Grade.
    Investor,
    /// Token Metrics' combined TM Grade.
    Tm,
    /// Any other provider-defined grade, by name.
    Other(Arc<str>),
}

impl GradeKind {
    /// The canonical lowercase name: `trader`, `investor`, `tm`, or the custom name.
    pub fn as_str(&self) -> &str {
        match self {
            GradeKind::Trader => "trader",
            GradeKind::Investor => "investor",
            GradeKind::Tm => "tm",
            GradeKind::Other(s) => s,
        }
    }

    /// Parses a kind name (case-insensitive for the built-in kinds).
    pub fn parse(s: &str) -> GradeKind {
        match s.trim().to_ascii_lowercase().as_str() {
            "trader" => GradeKind::Trader,
            "investor" => GradeKind::Investor,
            "tm" => GradeKind::Tm,
            _ => GradeKind::Other(Arc::from(s.trim())),
        }
    }
}

impl fmt::Display for GradeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for GradeKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GradeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(GradeKind::parse(&String::deserialize(d)?))
    }
}

/// A score from 0 to 100 for one token, from one source, describing one moment.
///
/// `as_of` is the time the grade describes; `published_at` is when it became known.
/// Feeds deliver a grade at `published_at`, never earlier, so a backtest cannot act
/// on a grade before a live agent could have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// The token graded (e.g. `BTC`), interned in the run's universe.
    pub asset: AssetId,
    /// What the grade measures.
    pub kind: GradeKind,
    /// Who produced it, e.g. `token-metrics`, `vigil-model`.
    pub source: Arc<str>,
    /// The score, 0 to 100 inclusive.
    pub score: f64,
    /// The time the grade describes.
    pub as_of: Timestamp,
    /// The time the grade became known; never before `as_of`.
    pub published_at: Timestamp,
}

impl Grade {
    /// Whether a score is a finite number from 0 to 100.
    pub fn is_valid_score(score: f64) -> bool {
        score.is_finite() && (0.0..=100.0).contains(&score)
    }
}
