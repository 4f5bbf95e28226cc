//! An agent's LLM decision source (`[llm]`): after each market input the
//! engine processed, the source may decide; the call runs in a task while the
//! loop goes on with everything but market data, which waits so that the
//! answer's signals land at the time the answer arrived — between the same
//! events a backtest over the same data puts them. Every call goes on the tape
//! (synced) and into the journal (a `llm_call` risk event) before its signals
//! are applied.

use std::collections::VecDeque;

use vigil_core::MarketEvent;
use vigil_engine::EngineInput;
use vigil_llm::source::Prepared;
use vigil_llm::tape::TapeEntry;
use vigil_llm::{LlmError, LlmSource};

use crate::AgentEngine;

/// The source, its call in flight and the market inputs waiting for it.
pub struct AgentLlm {
    source: LlmSource,
    inflight: Option<(Prepared, tokio::task::JoinHandle<TapeEntry>)>,
    held: VecDeque<EngineInput>,
    end: Option<EngineInput>,
    /// A journaled decision whose answer never reached the tape (the agent
    /// died during the call): asked again when the loop starts.
    reask: Option<Prepared>,
}

impl AgentLlm {
    /// Wraps a source (recording).
    pub fn new(source: LlmSource) -> AgentLlm {
        AgentLlm {
            source,
            inflight: None,
            held: VecDeque::new(),
            end: None,
            reask: None,
        }
    }

    /// Recovery: a journaled input, replayed. The source sees what the engine
    /// saw and takes its earlier answers from the tape; their signals were
    /// journaled as inputs of their own, so they are not delivered again.
    pub fn recover(&mut self, input: &EngineInput, engine: &AgentEngine) {
        if let EngineInput::Signal { signal } = input {
            self.source.forget(&signal.id);
            return;
        }
        let Some(event) = input.market_event() else {
            return;
        };
        if self.source.observe(event, engine.universe()) {
            let p = self
                .source
                .prepare(event.ts(), engine.portfolio(), engine.universe());
            if let Some(old) = self.reask.take() {
                tracing::warn!(at = %old.at, hash = %old.hash,
                    "an LLM decision without an answer on the tape is followed by later data: not asked again");
            }
            if !self.source.replay(&p) {
                // Market data waited for the answer, so this was the journal's
                // last market input: ask again before reading the feed.
                tracing::warn!(at = %p.at, hash = %p.hash,
                    "the agent stopped during an LLM call: asking again");
                self.reask = Some(p);
            }
        }
    }

    /// After recovery: asks again for a decision whose answer was lost.
    pub fn resume(&mut self) {
        if let Some(p) = self.reask.take() {
            let task = tokio::spawn(self.source.caller().call(p.clone()));
            self.inflight = Some((p, task));
        }
    }

    /// Whether a call is in flight.
    pub fn busy(&self) -> bool {
        self.inflight.is_some()
    }

    /// Keeps the feed's end until the answer in flight is settled.
    pub fn defer(&mut self, end: EngineInput) {
        self.end = Some(end);
    }

    /// What to do with `input`: wait for the call in flight (market data),
    /// or go — after the signals whose answer arrived before it.
    pub fn admit(&mut self, input: EngineInput) -> Admit {
        let Some(ts) = input.market_event().map(MarketEvent::ts) else {
            return Admit::Go(input);
        };
        if self.inflight.is_some() {
            self.held.push_back(input);
            return Admit::Held;
        }
        let signals: Vec<EngineInput> = self
            .source
            .due(ts)
            .into_iter()
            .filter_map(|e| match e {
                MarketEvent::Signal(signal) => Some(EngineInput::Signal { signal }),
                _ => None,
            })
            .collect();
        if signals.is_empty() {
            Admit::Go(input)
        } else {
            Admit::After(signals, input)
        }
    }

    /// After the engine processed `event`: starts a call when one is due.
    pub fn after(&mut self, event: &MarketEvent, engine: &AgentEngine) {
        let due = self.source.observe(event, engine.universe());
        if !due || self.inflight.is_some() {
            return;
        }
        let p = self
            .source
            .prepare(event.ts(), engine.portfolio(), engine.universe());
        if !self.source.budget_allows(p.at) {
            return;
        }
        tracing::info!(at = %p.at, hash = %p.hash, "asking the model");
        let task = tokio::spawn(self.source.caller().call(p.clone()));
        self.inflight = Some((p, task));
    }

    /// Resolves when the call in flight has an answer (never without one).
    pub async fn answered(&mut self) -> TapeEntry {
        match self.inflight.as_mut() {
            Some((_, task)) => match task.await {
                Ok(entry) => entry,
                Err(e) => {
                    let (p, _) = self.inflight.as_ref().expect("in flight");
                    failed_entry(p, &e.to_string())
                }
            },
            None => std::future::pending().await,
        }
    }

    /// The answer: recorded on the tape (its signals pending until the clock
    /// passes their arrival), noted for the journal; returns the inputs that
    /// waited for it, in order, and the feed's end if it came meanwhile.
    pub fn settle(
        &mut self,
        entry: TapeEntry,
        engine: &mut AgentEngine,
    ) -> Result<Vec<EngineInput>, LlmError> {
        let Some((p, _)) = self.inflight.take() else {
            return Ok(Vec::new());
        };
        let note = serde_json::json!({"type": "llm_call", "hash": entry.hash, "decided_at": entry.decided_at,
            "model": entry.model, "fingerprint": entry.fingerprint, "latency_ms": entry.latency_ms,
            "prompt_tokens": entry.prompt_tokens, "completion_tokens": entry.completion_tokens,
            "error": entry.error});
        self.source.record(&p, entry)?;
        engine.observer_mut().note(p.at, note);
        let mut out: Vec<EngineInput> = self.held.drain(..).collect();
        out.extend(self.end.take());
        Ok(out)
    }
}

/// What [`AgentLlm::admit`] decided.
pub enum Admit {
    /// Waits for the answer in flight.
    Held,
    /// Goes now.
    Go(EngineInput),
    /// Goes after these signals.
    After(Vec<EngineInput>, EngineInput),
}

fn failed_entry(p: &Prepared, why: &str) -> TapeEntry {
    TapeEntry {
        hash: p.hash.clone(),
        decided_at: p.at.to_rfc3339(),
        request: p.request.clone(),
        response: None,
        error: Some(format!("the call task failed: {why}")),
        model: None,
        fingerprint: None,
        latency_ms: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        recorded_at: String::new(),
    }
}
