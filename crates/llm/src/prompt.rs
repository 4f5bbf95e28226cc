//! Prompts from point-in-time snapshots. A snapshot holds only what the engine
//! had processed at the decision time (bars that had closed, grades that had
//! arrived, the positions then, the source's own earlier answers), so a prompt
//! can never contain data from after its decision.

use rust_decimal::Decimal;
use vigil_core::{Bar, Timestamp};

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 8] = [
    "time",
    "instruments",
    "bars",
    "grades",
    "positions",
    "cash",
    "equity",
    "previous",
];

/// The system message: the answer's contract.
pub const SYSTEM: &str = "You are the decision step of an automated trading agent. Decide only \
from the data in the user message; it is everything known at the decision time. Answer with JSON \
that follows the given schema exactly: one entry per instrument asked about, no other symbols, \
a confidence from 0 to 1, and a one-sentence rationale.";

/// What the model is shown.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The decision time.
    pub time: Timestamp,
    /// The instruments asked about.
    pub instruments: Vec<String>,
    /// Per instrument, its most recent closed bars (oldest first).
    pub bars: Vec<(String, Vec<Bar>)>,
    /// Per instrument, its latest grade (score, provider, time).
    pub grades: Vec<(String, f64, String, Timestamp)>,
    /// Open positions: symbol, signed quantity, average price.
    pub positions: Vec<(String, Decimal, Decimal)>,
    /// Account cash.
    pub cash: Decimal,
    /// Account equity.
    pub equity: Decimal,
    /// The source's earlier answers, one line each (oldest first).
    pub previous: Vec<String>,
}

/// Placeholders in `template` that are not known (`{{name}}`).
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let name = after[..j].trim();
        if !PLACEHOLDERS.contains(&name) {
            out.push(name.to_string());
        }
        rest = &after[j + 2..];
    }
    out
}

impl Snapshot {
    fn value(&self, name: &str) -> String {
        match name {
            "time" => self.time.to_rfc3339(),
            "instruments" => self.instruments.join(", "),
            "bars" => self
                .bars
                .iter()
                .map(|(sym, bars)| {
                    let rows: Vec<String> = bars
                        .iter()
                        .map(|b| {
                            format!(
                                "{},{},{},{},{},{}",
                                b.close_time.to_rfc3339(),
                                b.open,
                                b.high,
                                b.low,
                                b.close,
                                b.volume
                            )
                        })
                        .collect();
                    format!(
                        "{sym} (close_time,open,high,low,close,volume):\n{}",
                        rows.join("\n")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n\n"),
            "grades" if self.grades.is_empty() => "none".into(),
            "grades" => self
                .grades
                .iter()
                .map(|(s, score, provider, at)| {
                    format!("{s}: {score} ({provider}, {})", at.to_rfc3339())
                })
                .collect::<Vec<_>>()
                .join("\n"),
            "positions" if self.positions.is_empty() => "none".into(),
            "positions" => self
                .positions
                .iter()
                .map(|(s, q, p)| format!("{s}: {q} at {p}"))
                .collect::<Vec<_>>()
                .join("\n"),
            "cash" => self.cash.to_string(),
            "equity" => self.equity.to_string(),
            "previous" if self.previous.is_empty() => "none".into(),
            "previous" => self.previous.join("\n"),
            _ => String::new(),
        }
    }

    /// `template` with every `{{placeholder}}` filled.
    pub fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() * 2);
        let mut rest = template;
        while let Some(i) = rest.find("{{") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find("}}") else {
                out.push_str(&rest[i..]);
                return out;
            };
            out.push_str(&self.value(after[..j].trim()));
            rest = &after[j + 2..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_and_unknown_placeholders_named() {
        let s = Snapshot {
            time: Timestamp::from_secs(0),
            instruments: vec!["BTCUSDT".into()],
            cash: Decimal::from(100),
            ..Snapshot::default()
        };
        assert_eq!(
            s.render("At {{ time }} hold {{positions}}; cash {{cash}} for {{instruments}}."),
            "At 1970-01-01T00:00:00Z hold none; cash 100 for BTCUSDT."
        );
        assert_eq!(
            unknown_placeholders("{{bars}} {{rsi}} {{ price }}"),
            vec!["rsi", "price"]
        );
    }
}
