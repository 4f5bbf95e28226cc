//! [`LlmSource`]: when to ask, what to ask, and what the answer becomes.
//!
//! The source watches the events the engine processed. On its schedule (every
//! N bars of the first instrument asked about, or at most once per interval),
//! it builds a request from a [`Snapshot`], resolves it — from the tape, or by
//! calling the model and recording the call — and turns each valid decision
//! into a signal stamped with the time the answer arrived: the decision time
//! plus the call's (recorded) latency. Whoever drives the engine delivers the
//! signals once its clock reaches that time ([`LlmSource::due`]).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use vigil_core::{Bar, InstrumentId, MarketEvent, Portfolio, Signal, Timestamp, Universe};

use crate::answer::{self, DropReason};
use crate::config::{LlmConfig, Provider, TapeMode};
use crate::prompt::{self, Snapshot};
use crate::provider;
use crate::request::{ChatRequest, Message};
use crate::tape::{Tape, TapeEntry, TapeError};

/// An error that stops a run.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// `[llm]` is wrong.
    #[error("[llm] {field}: {message}")]
    Config {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The tape could not be read or written.
    #[error(transparent)]
    Tape(#[from] TapeError),
    /// Replay met a request the tape does not hold.
    #[error("the tape {tape} holds no answer for the decision at {time} (request hash {hash}): the prompt, the model or a parameter changed since it was recorded; record it (mode = \"record-missing\") or restore the tape")]
    MissingTape {
        /// The tape file.
        tape: String,
        /// The decision time.
        time: Timestamp,
        /// The request's hash.
        hash: String,
    },
    /// The run starts before the model's knowledge cutoff.
    #[error("the run starts at {start}, before {model}'s knowledge cutoff {cutoff}: the model may know what happened next; set [llm] acknowledge_lookahead = true to run it anyway")]
    LookAhead {
        /// The run's first event.
        start: Timestamp,
        /// The cutoff.
        cutoff: String,
        /// The model.
        model: String,
    },
}

/// What the source did, for reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LlmStats {
    /// The provider and model.
    pub model: String,
    /// Decision points reached.
    pub decision_points: u64,
    /// Answers taken from the tape.
    pub replayed: u64,
    /// Calls made (and recorded).
    pub called: u64,
    /// Valid decisions.
    pub decisions: u64,
    /// Dropped answers and decisions, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost at the configured prices.
    pub cost: f64,
    /// Days on which a budget stopped calls.
    pub over_budget_days: u64,
}

/// A request ready to resolve.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The decision time.
    pub at: Timestamp,
    /// The request.
    pub request: ChatRequest,
    /// Its hash.
    pub hash: String,
}

#[derive(Default)]
struct Day {
    index: i64,
    calls: u32,
    tokens: u64,
    cost: f64,
    over: bool,
}

/// The LLM decision source.
pub struct LlmSource {
    cfg: LlmConfig,
    template: String,
    symbols: Vec<String>,
    ids: Vec<InstrumentId>,
    schema: serde_json::Value,
    tape: Tape,
    mode: TapeMode,
    key: Option<String>,
    history: Vec<VecDeque<Bar>>,
    grades: Vec<Option<(f64, String, Timestamp)>>,
    previous: VecDeque<String>,
    bars_seen: u64,
    last_decision: Option<Timestamp>,
    day: Day,
    pending: VecDeque<Signal>,
    stats: LlmStats,
    runtime: Option<tokio::runtime::Runtime>,
    http: reqwest::Client,
}

impl std::fmt::Debug for LlmSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSource")
            .field("model", &self.cfg.model)
            .field("tape", &self.tape.path())
            .field("key", &self.key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

fn config_err(field: &str, message: impl Into<String>) -> LlmError {
    LlmError::Config {
        field: field.into(),
        message: message.into(),
    }
}

impl LlmSource {
    /// A source for `universe`, its files relative to `dir`; `mode` as the run
    /// needs (agents record).
    pub fn new(
        cfg: LlmConfig,
        dir: &Path,
        universe: &Universe,
        mode: TapeMode,
    ) -> Result<LlmSource, LlmError> {
        cfg.check().map_err(|(f, m)| config_err(f, m))?;
        let template = match (&cfg.prompt, &cfg.template) {
            (Some(p), _) => p.clone(),
            (None, Some(path)) => std::fs::read_to_string(dir.join(path)).map_err(|e| {
                config_err("template", format!("{}: {e}", dir.join(path).display()))
            })?,
            (None, None) => unreachable!("checked"),
        };
        let unknown = prompt::unknown_placeholders(&template);
        if !unknown.is_empty() {
            return Err(config_err(
                "prompt",
                format!(
                    "unknown placeholder(s) {}: known are {}",
                    unknown.join(", "),
                    prompt::PLACEHOLDERS.join(", ")
                ),
            ));
        }
        let symbols: Vec<String> = if cfg.instruments.is_empty() {
            universe
                .instruments()
                .iter()
                .map(|i| i.symbol.clone())
                .collect()
        } else {
            cfg.instruments.clone()
        };
        let ids = symbols
            .iter()
            .map(|s| {
                universe.id(s).ok_or_else(|| {
                    config_err(
                        "instruments",
                        format!("`{s}` is not an instrument of this run"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let record = mode != TapeMode::Replay;
        let tape = Tape::open(&dir.join(&cfg.tape), record)?;
        let key = record
            .then(|| std::env::var(cfg.key_env()).ok())
            .flatten()
            .filter(|k| !k.is_empty());
        if record && key.is_none() && cfg.provider == Provider::Anthropic {
            return Err(config_err(
                "api_key_env",
                format!("recording needs the API key in ${}", cfg.key_env()),
            ));
        }
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| config_err("base_url", e.to_string()))?;
        Ok(LlmSource {
            schema: answer::schema(cfg.answer, &symbols),
            history: vec![VecDeque::new(); ids.len()],
            grades: vec![None; ids.len()],
            stats: LlmStats {
                model: format!("{:?}:{}", cfg.provider, cfg.model).to_lowercase(),
                ..LlmStats::default()
            },
            template,
            symbols,
            ids,
            tape,
            mode,
            key,
            previous: VecDeque::new(),
            bars_seen: 0,
            last_decision: None,
            day: Day::default(),
            pending: VecDeque::new(),
            runtime: None,
            http,
            cfg,
        })
    }

    /// Refuses a run starting before the model's knowledge cutoff, unless
    /// acknowledged.
    pub fn check_start(&self, start: Timestamp) -> Result<(), LlmError> {
        match self.cfg.cutoff() {
            Some(cutoff) if start < cutoff && !self.cfg.acknowledge_lookahead => {
                Err(LlmError::LookAhead {
                    start,
                    cutoff: self.cfg.knowledge_cutoff.clone().unwrap_or_default(),
                    model: self.cfg.model.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> &LlmStats {
        &self.stats
    }

    /// Takes in an event the engine processed; whether a decision is due now.
    pub fn observe(&mut self, event: &MarketEvent, universe: &Universe) -> bool {
        match event {
            MarketEvent::Bar(b) => {
                let Some(k) = self.ids.iter().position(|i| *i == b.instrument) else {
                    return false;
                };
                let h = &mut self.history[k];
                h.push_back(*b);
                while h.len() > self.cfg.history_bars.max(1) {
                    h.pop_front();
                }
                if k != 0 {
                    return false;
                }
                self.bars_seen += 1;
                let now = b.close_time;
                match (self.cfg.every_bars, self.cfg.every) {
                    (Some(n), _) => self.bars_seen.is_multiple_of(u64::from(n)),
                    (None, Some(every)) => self
                        .last_decision
                        .is_none_or(|t| now.nanos() - t.nanos() >= every.nanos()),
                    (None, None) => false,
                }
            }
            MarketEvent::Grade(g) => {
                for (k, id) in self.ids.iter().enumerate() {
                    if universe.get(*id).base == g.asset {
                        self.grades[k] = Some((g.score, g.source.to_string(), g.published_at));
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// The request for a decision at `now`, from the portfolio as it is.
    pub fn prepare(
        &mut self,
        now: Timestamp,
        portfolio: &Portfolio,
        universe: &Universe,
    ) -> Prepared {
        self.last_decision = Some(now);
        self.stats.decision_points += 1;
        let snap = Snapshot {
            time: now,
            instruments: self.symbols.clone(),
            bars: self
                .symbols
                .iter()
                .zip(&self.history)
                .map(|(s, h)| (s.clone(), h.iter().copied().collect()))
                .collect(),
            grades: self
                .symbols
                .iter()
                .zip(&self.grades)
                .filter_map(|(s, g)| g.as_ref().map(|(sc, p, t)| (s.clone(), *sc, p.clone(), *t)))
                .collect(),
            positions: portfolio
                .open_positions()
                .map(|p| {
                    (
                        universe.get(p.instrument).symbol.clone(),
                        p.qty,
                        p.avg_price,
                    )
                })
                .collect(),
            cash: portfolio.account_cash(),
            equity: portfolio.equity(),
            previous: self.previous.iter().cloned().collect(),
        };
        let request = ChatRequest {
            provider: self.cfg.provider,
            base_url: self.cfg.base_url(),
            model: self.cfg.model.clone(),
            temperature: self.cfg.temperature,
            seed: self.cfg.seed,
            max_tokens: self.cfg.max_tokens,
            messages: vec![
                Message {
                    role: "system".into(),
                    content: prompt::SYSTEM.into(),
                },
                Message {
                    role: "user".into(),
                    content: snap.render(&self.template),
                },
            ],
            schema: self.schema.clone(),
        };
        let hash = request.hash();
        Prepared {
            at: now,
            request,
            hash,
        }
    }

    /// Whether the day's budget allows a call at `at`.
    fn within_budget(&mut self, at: Timestamp) -> bool {
        let index = at.nanos().div_euclid(86_400_000_000_000);
        if self.day.index != index {
            self.day = Day {
                index,
                ..Day::default()
            };
        }
        let b = &self.cfg.budget;
        let over = b.calls_per_day.is_some_and(|n| self.day.calls >= n)
            || b.tokens_per_day.is_some_and(|n| self.day.tokens >= n)
            || b.cost_per_day.is_some_and(|c| self.day.cost >= c);
        if over && !self.day.over {
            self.day.over = true;
            self.stats.over_budget_days += 1;
            tracing::warn!(day = %at, "the LLM budget for the day is spent: no more calls until tomorrow");
        }
        !over
    }

    /// Resolves a request: the tape's entry, or (when recording) a call now.
    /// Blocks; for backtests.
    pub fn resolve_blocking(&mut self, p: Prepared) -> Result<(), LlmError> {
        if !self.within_budget(p.at) {
            self.drop_all(DropReason::OverBudget);
            return Ok(());
        }
        let entry = match (self.tape.get(&p.hash), self.mode) {
            (Some(e), TapeMode::Replay | TapeMode::RecordMissing) => {
                self.stats.replayed += 1;
                e.clone()
            }
            (None, TapeMode::Replay) => {
                return Err(LlmError::MissingTape {
                    tape: self.tape.path().display().to_string(),
                    time: p.at,
                    hash: p.hash,
                })
            }
            _ => {
                let rt = match self.runtime.take() {
                    Some(rt) => rt,
                    None => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| config_err("runtime", e.to_string()))?,
                };
                let entry = rt.block_on(self.caller().call(p.clone()));
                self.runtime = Some(rt);
                return self.record(&p, entry);
            }
        };
        self.absorb(&p, &entry);
        Ok(())
    }

    /// What makes calls, detached from the source (an agent runs it in a task).
    pub fn caller(&self) -> Caller {
        Caller {
            http: self.http.clone(),
            key: self.key.clone(),
            timeout: Duration::from_nanos(self.cfg.timeout.nanos().max(1) as u64),
            retries: self.cfg.retries,
        }
    }

    /// A call made: on the tape (synced), then its signals pending.
    pub fn record(&mut self, p: &Prepared, entry: TapeEntry) -> Result<(), LlmError> {
        self.stats.called += 1;
        self.tape.append(entry.clone())?;
        self.absorb(p, &entry);
        Ok(())
    }

    /// The tape's answer for `p`, absorbed, when it holds one (an agent
    /// rebuilding its state after a restart); `false` when it does not.
    pub fn replay(&mut self, p: &Prepared) -> bool {
        if !self.within_budget(p.at) {
            self.drop_all(DropReason::OverBudget);
            return true;
        }
        match self.tape.get(&p.hash).cloned() {
            Some(e) => {
                self.stats.replayed += 1;
                self.absorb(p, &e);
                true
            }
            None => false,
        }
    }

    /// Whether a call at `at` is within the day's budget; counts it if not.
    pub fn budget_allows(&mut self, at: Timestamp) -> bool {
        let ok = self.within_budget(at);
        if !ok {
            self.drop_all(DropReason::OverBudget);
        }
        ok
    }
}

/// Makes model calls; cheap to clone, holds no borrow of the source. `Debug`
/// hides the key.
#[derive(Clone)]
pub struct Caller {
    http: reqwest::Client,
    key: Option<String>,
    timeout: Duration,
    retries: u32,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// Calls the model and builds the tape entry (an error is an entry too:
    /// a replay must see the same failure).
    pub async fn call(self, p: Prepared) -> TapeEntry {
        let (r, latency) = provider::call(
            &self.http,
            &p.request,
            self.key.as_deref(),
            self.timeout,
            self.retries,
        )
        .await;
        let (response, error) = match r {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let parsed = response
            .as_ref()
            .and_then(|v| provider::parse(p.request.provider, v).ok());
        TapeEntry {
            hash: p.hash.clone(),
            decided_at: p.at.to_rfc3339(),
            request: p.request.clone(),
            model: parsed.as_ref().map(|c| c.model.clone()),
            fingerprint: parsed.as_ref().and_then(|c| c.fingerprint.clone()),
            prompt_tokens: parsed.as_ref().map_or(0, |c| c.prompt_tokens),
            completion_tokens: parsed.as_ref().map_or(0, |c| c.completion_tokens),
            response,
            error,
            latency_ms: latency.as_millis() as u64,
            recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

impl LlmSource {
    fn drop_all(&mut self, reason: DropReason) {
        *self.stats.dropped.entry(reason.name().into()).or_default() += 1;
    }

    /// Turns a resolved call into pending signals, counts and the memory of
    /// earlier answers.
    pub fn absorb(&mut self, p: &Prepared, e: &TapeEntry) {
        let arrival = Timestamp(p.at.nanos() + e.latency_ms as i64 * 1_000_000);
        self.day.calls += 1;
        self.day.tokens += e.prompt_tokens + e.completion_tokens;
        let cost = (e.prompt_tokens as f64 * self.cfg.budget.input_cost_per_mtok
            + e.completion_tokens as f64 * self.cfg.budget.output_cost_per_mtok)
            / 1e6;
        self.day.cost += cost;
        self.stats.cost += cost;
        self.stats.prompt_tokens += e.prompt_tokens;
        self.stats.completion_tokens += e.completion_tokens;
        let completion = match (&e.response, &e.error) {
            (Some(v), _) => provider::parse(p.request.provider, v),
            (None, err) => Err(err.clone().unwrap_or_default()),
        };
        let parsed = match completion {
            Err(why) => {
                tracing::warn!(at = %p.at, error = %why, "LLM call failed: no decision");
                answer::Parsed {
                    decisions: Vec::new(),
                    dropped: vec![(DropReason::CallFailed, why)],
                }
            }
            Ok(c) if c.refused => answer::Parsed {
                decisions: Vec::new(),
                dropped: vec![(DropReason::Refused, "the model refused".into())],
            },
            Ok(c) => answer::parse(self.cfg.answer, &self.symbols, &c.text, c.truncated),
        };
        for (reason, why) in &parsed.dropped {
            tracing::warn!(at = %p.at, reason = reason.name(), %why, "LLM answer dropped");
            *self.stats.dropped.entry(reason.name().into()).or_default() += 1;
        }
        let expires = self
            .cfg
            .signal_ttl
            .map(|ttl| Timestamp(arrival.nanos() + ttl.nanos()));
        let mut line = Vec::new();
        for d in &parsed.decisions {
            self.stats.decisions += 1;
            let k = self
                .symbols
                .iter()
                .position(|s| *s == d.symbol)
                .expect("validated symbol");
            line.push(format!(
                "{} {} ({:.2}): {}",
                d.symbol,
                d.direction.map_or_else(
                    || format!("score {}", d.score.unwrap_or_default()),
                    |x| x.to_string()
                ),
                d.confidence,
                d.rationale
            ));
            self.pending.push_back(Signal {
                id: Arc::from(format!("llm-{}-{}", &p.hash[..12], d.symbol)),
                instrument: self.ids[k],
                direction: d.direction,
                score: d.score,
                source: Arc::from("llm"),
                received_at: arrival,
                expires_at: expires,
            });
        }
        let summary = if line.is_empty() {
            "no decision".to_string()
        } else {
            line.join("; ")
        };
        self.previous
            .push_back(format!("{}: {summary}", p.at.to_rfc3339()));
        while self.previous.len() > self.cfg.previous_answers {
            self.previous.pop_front();
        }
    }

    /// The signals whose answer arrived before `now` (an event at `now` comes
    /// first, as in an agent), oldest first.
    pub fn due(&mut self, now: Timestamp) -> Vec<MarketEvent> {
        let mut out = Vec::new();
        while self.pending.front().is_some_and(|s| s.received_at < now) {
            if let Some(s) = self.pending.pop_front() {
                out.push(MarketEvent::Signal(s));
            }
        }
        out
    }

    /// Forgets a pending signal that was already delivered (an agent's journal
    /// holds it); `false` when none has that id.
    pub fn forget(&mut self, id: &str) -> bool {
        let before = self.pending.len();
        self.pending.retain(|s| &*s.id != id);
        self.pending.len() < before
    }

    /// Signals still waiting (their answer arrives after the data ends).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}
