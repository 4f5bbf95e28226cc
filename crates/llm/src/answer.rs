//! The answer's JSON schema and its validation. A model's answer is data from
//! outside: a malformed, truncated or off-schema answer, an unknown symbol or
//! an out-of-range value is counted and dropped — never traded.

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::AnswerKind;

/// The schema of an answer about `symbols`.
pub fn schema(kind: AnswerKind, symbols: &[String]) -> Value {
    let mut item = json!({
        "type": "object",
        "properties": {
            "symbol": {"type": "string", "enum": symbols},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string"}
        },
        "additionalProperties": false
    });
    let (field, spec) = match kind {
        AnswerKind::Direction => (
            "direction",
            json!({"type": "string", "enum": ["long", "short", "flat"]}),
        ),
        AnswerKind::Score => (
            "score",
            json!({"type": "number", "minimum": 0, "maximum": 100}),
        ),
    };
    item["properties"][field] = spec;
    item["required"] = json!(["symbol", field, "confidence", "rationale"]);
    json!({
        "type": "object",
        "properties": {"decisions": {"type": "array", "items": item}},
        "required": ["decisions"],
        "additionalProperties": false
    })
}

/// One valid decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// The instrument's symbol.
    pub symbol: String,
    /// −1, 0 or 1 (`direction` answers).
    pub direction: Option<i8>,
    /// 0 to 100 (`score` answers).
    pub score: Option<f64>,
    /// 0 to 1.
    pub confidence: f64,
    /// The model's reason, kept for the journal.
    pub rationale: String,
}

/// Why (part of) an answer was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The call failed: timeout, HTTP error, retries exhausted.
    CallFailed,
    /// The model refused or a content filter stopped it.
    Refused,
    /// Cut at the token cap.
    Truncated,
    /// Not JSON.
    Malformed,
    /// JSON, but not the schema.
    OffSchema,
    /// A symbol not asked about (a hallucinated ticker).
    UnknownSymbol,
    /// A value outside its range.
    OutOfRange,
    /// The day's budget was spent: no call made.
    OverBudget,
}

impl DropReason {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::CallFailed => "call_failed",
            DropReason::Refused => "refused",
            DropReason::Truncated => "truncated",
            DropReason::Malformed => "malformed",
            DropReason::OffSchema => "off_schema",
            DropReason::UnknownSymbol => "unknown_symbol",
            DropReason::OutOfRange => "out_of_range",
            DropReason::OverBudget => "over_budget",
        }
    }
}

/// An answer, validated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// What may be traded.
    pub decisions: Vec<Decision>,
    /// What was dropped, and why.
    pub dropped: Vec<(DropReason, String)>,
}

impl Parsed {
    fn whole(reason: DropReason, why: impl Into<String>) -> Parsed {
        Parsed {
            decisions: Vec::new(),
            dropped: vec![(reason, why.into())],
        }
    }
}

/// Validates an answer's text against the schema for `symbols`. A truncated
/// answer is dropped whole even when what arrived parses.
pub fn parse(kind: AnswerKind, symbols: &[String], text: &str, truncated: bool) -> Parsed {
    if truncated {
        return Parsed::whole(DropReason::Truncated, "the answer hit the token cap");
    }
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Parsed::whole(DropReason::Malformed, format!("not JSON: {e}")),
    };
    let Some(obj) = v.as_object() else {
        return Parsed::whole(DropReason::OffSchema, "not an object");
    };
    if obj.keys().any(|k| k != "decisions") {
        return Parsed::whole(DropReason::OffSchema, "fields beyond `decisions`");
    }
    let Some(items) = obj.get("decisions").and_then(Value::as_array) else {
        return Parsed::whole(DropReason::OffSchema, "no `decisions` list");
    };
    let mut out = Parsed::default();
    for item in items {
        match decision(kind, symbols, item) {
            Ok(d) if out.decisions.iter().any(|x| x.symbol == d.symbol) => out.dropped.push((
                DropReason::OffSchema,
                format!("{} answered twice", d.symbol),
            )),
            Ok(d) => out.decisions.push(d),
            Err(drop) => out.dropped.push(drop),
        }
    }
    out
}

fn decision(
    kind: AnswerKind,
    symbols: &[String],
    item: &Value,
) -> Result<Decision, (DropReason, String)> {
    let off = |why: &str| (DropReason::OffSchema, format!("{why}: {item}"));
    let obj = item.as_object().ok_or_else(|| off("not an object"))?;
    let field = match kind {
        AnswerKind::Direction => "direction",
        AnswerKind::Score => "score",
    };
    if obj
        .keys()
        .any(|k| !["symbol", "confidence", "rationale", field].contains(&k.as_str()))
    {
        return Err(off("unexpected field"));
    }
    let symbol = obj
        .get("symbol")
        .and_then(Value::as_str)
        .ok_or_else(|| off("no symbol"))?;
    if !symbols.iter().any(|s| s == symbol) {
        return Err((
            DropReason::UnknownSymbol,
            format!("`{symbol}` was not asked about"),
        ));
    }
    let confidence = obj
        .get("confidence")
        .and_then(Value::as_f64)
        .ok_or_else(|| off("no numeric confidence"))?;
    if !(0.0..=1.0).contains(&confidence) {
        return Err((
            DropReason::OutOfRange,
            format!("{symbol}: confidence {confidence}"),
        ));
    }
    let rationale = obj
        .get("rationale")
        .and_then(Value::as_str)
        .ok_or_else(|| off("no rationale"))?
        .to_string();
    let (direction, score) = match kind {
        AnswerKind::Direction => {
            let d = match obj.get("direction").and_then(Value::as_str) {
                Some("long") => 1,
                Some("short") => -1,
                Some("flat") => 0,
                _ => return Err(off("direction is not long, short or flat")),
            };
            (Some(d), None)
        }
        AnswerKind::Score => {
            let s = obj
                .get("score")
                .and_then(Value::as_f64)
                .ok_or_else(|| off("no numeric score"))?;
            if !(0.0..=100.0).contains(&s) {
                return Err((DropReason::OutOfRange, format!("{symbol}: score {s}")));
            }
            (None, Some(s))
        }
    };
    Ok(Decision {
        symbol: symbol.to_string(),
        direction,
        score,
        confidence,
        rationale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms() -> Vec<String> {
        vec!["BTCUSDT".into(), "ETHUSDT".into()]
    }

    #[test]
    fn a_valid_answer_keeps_each_decision_and_drops_each_bad_one() {
        let text = r#"{"decisions":[
            {"symbol":"BTCUSDT","direction":"long","confidence":0.8,"rationale":"trend"},
            {"symbol":"DOGEUSDT","direction":"long","confidence":0.9,"rationale":"moon"},
            {"symbol":"ETHUSDT","direction":"sideways","confidence":0.5,"rationale":"?"}
        ]}"#;
        let p = parse(AnswerKind::Direction, &syms(), text, false);
        assert_eq!(p.decisions.len(), 1);
        assert_eq!(p.decisions[0].direction, Some(1));
        let reasons: Vec<DropReason> = p.dropped.iter().map(|d| d.0).collect();
        assert_eq!(
            reasons,
            vec![DropReason::UnknownSymbol, DropReason::OffSchema]
        );
    }

    #[test]
    fn truncated_malformed_and_out_of_range_answers_are_dropped() {
        let ok =
            r#"{"decisions":[{"symbol":"BTCUSDT","score":70,"confidence":0.5,"rationale":"x"}]}"#;
        assert_eq!(
            parse(AnswerKind::Score, &syms(), ok, false).decisions.len(),
            1
        );
        let p = parse(AnswerKind::Score, &syms(), ok, true);
        assert_eq!(p.dropped[0].0, DropReason::Truncated);
        assert!(p.decisions.is_empty());
        let p = parse(
            AnswerKind::Score,
            &syms(),
            r#"{"decisions":[{"symbol":"BTC"#,
            false,
        );
        assert_eq!(p.dropped[0].0, DropReason::Malformed);
        let high = ok.replace("70", "170");
        assert_eq!(
            parse(AnswerKind::Score, &syms(), &high, false).dropped[0].0,
            DropReason::OutOfRange
        );
        let extra = r#"{"decisions":[],"note":"hi"}"#;
        assert_eq!(
            parse(AnswerKind::Score, &syms(), extra, false).dropped[0].0,
            DropReason::OffSchema
        );
    }

    #[test]
    fn the_schema_lists_the_symbols_and_requires_every_field() {
        let s = schema(AnswerKind::Direction, &syms());
        let item = &s["properties"]["decisions"]["items"];
        assert_eq!(
            item["properties"]["symbol"]["enum"],
            json!(["BTCUSDT", "ETHUSDT"])
        );
        assert_eq!(
            item["required"],
            json!(["symbol", "direction", "confidence", "rationale"])
        );
        assert_eq!(item["additionalProperties"], json!(false));
    }
}
