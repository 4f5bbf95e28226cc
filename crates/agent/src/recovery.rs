//! Recovery by replay: the journaled inputs go through a fresh engine, so every
//! piece of state — cash, positions, working orders, risk state and the
//! strategy's own — comes back exactly; the replayed fills must equal the
//! journaled ones (decision 9 in docs/decisions.md).

use vigil_core::{Bar, MarketEvent};
use vigil_engine::{ControlAction, EngineInput};
use vigil_store::{Journal, RunStart, StoredFill};

use crate::error::AgentError;
use crate::AgentEngine;

/// Where the replay left the run.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The last journaled input's sequence number (−1: none).
    pub seq: i64,
    /// The feed position of the last journaled market input.
    pub last_feed_index: Option<u64>,
    /// Inputs replayed.
    pub inputs: u64,
    /// The run had already finished (its feed ended).
    pub finished: bool,
    /// The journaled bars, when a live grade model must be warmed up with them.
    pub history: Vec<Bar>,
    /// The journaled market inputs with their feed positions, when a replay must
    /// check that its data is still what the run saw.
    pub market: Vec<(u64, MarketEvent)>,
    /// The nonces (and request times) of the operator commands applied: a
    /// restarted agent refuses the same requests replayed.
    pub operator_nonces: Vec<(String, i64)>,
    /// The ids of the signals applied: a restarted agent refuses the same
    /// message again.
    pub signal_ids: Vec<String>,
    /// Per instrument, the time of the last funding a live venue reported
    /// (income at or before it is booked).
    pub funding_booked: Vec<(vigil_core::InstrumentId, vigil_core::Timestamp)>,
}

/// What the replay keeps beyond the engine state.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keep {
    /// The bars (a live grade model is warmed up with them).
    pub bars: bool,
    /// Every market input (a replay checks its data against them).
    pub market: bool,
}

/// Replays the journal of a resumed run through `engine`, keeping what `keep`
/// asks for.
pub async fn recover(
    engine: &mut AgentEngine,
    journal: &Journal,
    run_id: &str,
    start: &RunStart,
    keep: Keep,
    mut llm: Option<&mut crate::llm::AgentLlm>,
) -> Result<Recovered, AgentError> {
    let mut out = Recovered {
        seq: -1,
        ..Recovered::default()
    };
    if !matches!(start, RunStart::Resume { last_seq: Some(_) }) {
        return Ok(out);
    }
    let stored = journal.events(run_id).await?;
    engine.observer_mut().replaying = true;
    for e in &stored {
        let input: EngineInput =
            serde_json::from_str(&e.payload).map_err(|err| AgentError::BadJournalEvent {
                seq: e.seq,
                message: err.to_string(),
            })?;
        out.seq = e.seq;
        engine.observer_mut().begin(e.seq, None);
        engine.apply(&input)?;
        if let Some(l) = llm.as_deref_mut() {
            l.recover(&input, engine);
        }
        // What a replay would send was sent (or never will be) by the run that
        // journaled it: live orders are reconciled with the exchange afterwards.
        engine.venue_mut().take_outbox();
        match input {
            EngineInput::Market { feed_index, event } => {
                out.last_feed_index = Some(feed_index);
                if let (true, MarketEvent::Bar(b)) = (keep.bars, &event) {
                    out.history.push(*b);
                }
                if keep.market {
                    out.market.push((feed_index, event));
                }
            }
            EngineInput::Control {
                action: ControlAction::Finish,
                ..
            } => out.finished = true,
            EngineInput::Operator { by, .. } => out.operator_nonces.push((by.nonce, by.signed_at)),
            EngineInput::Signal { signal } => out.signal_ids.push(signal.id.to_string()),
            EngineInput::Venue { reports, .. } => note_funding(&mut out.funding_booked, &reports),
            EngineInput::Control { .. } => {}
        }
        out.inputs += 1;
    }
    engine.observer_mut().replaying = false;
    let replayed = std::mem::take(&mut engine.observer_mut().replayed_fills);
    let journaled = journal.fills(run_id).await?;
    check_fills(&replayed, &journaled)?;
    tracing::info!(
        events = out.inputs,
        fills = journaled.len(),
        "recovered from the journal"
    );
    Ok(out)
}

/// Keeps the latest funding time per instrument.
fn note_funding(
    booked: &mut Vec<(vigil_core::InstrumentId, vigil_core::Timestamp)>,
    reports: &[vigil_exec::ExecutionReport],
) {
    for r in reports {
        if let vigil_exec::ExecutionReport::Funding { instrument, ts, .. } = r {
            match booked.iter_mut().find(|(i, _)| i == instrument) {
                Some((_, t)) => *t = (*t).max(*ts),
                None => booked.push((*instrument, *ts)),
            }
        }
    }
}

/// The replayed fills must be the journaled ones, one for one.
fn check_fills(replayed: &[vigil_core::Fill], journaled: &[StoredFill]) -> Result<(), AgentError> {
    let n = replayed.len().max(journaled.len());
    for i in 0..n {
        let j = journaled.get(i).map(|f| {
            format!(
                "order {} {} {} @ {} fee {}",
                f.order_id, f.side, f.qty, f.price, f.fee
            )
        });
        let r = replayed.get(i).map(|f| {
            format!(
                "order {} {} {} @ {} fee {}",
                f.order_id.0, f.side, f.qty, f.price, f.fee
            )
        });
        if j != r {
            return Err(AgentError::Diverged {
                index: i,
                journaled: j.unwrap_or_else(|| "nothing".into()),
                replayed: r.unwrap_or_else(|| "nothing".into()),
            });
        }
    }
    Ok(())
}
