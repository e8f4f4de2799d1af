//! The hot loop: one thread that blocks for a batch from the ingest
//! hand-off, drains what else is queued (up to a bound), runs it through the
//! engine, then journals the step's transitions and only then announces
//! them. Detection itself does no I/O; the journal write is once per step,
//! not per reading.

use std::time::Duration;

use linepack_ingest::handoff::HandoffReceiver;
use linepack_network::Network;

use crate::alarm::{Alarm, AlarmEvent, Namer, Transition};
use crate::engine::Engine;
use crate::journal::{Journal, JournalError};

/// Which clock moves time-based checks (stale, delays, shelves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The readings' own timestamps (replay): time advances with the data.
    Recording,
    /// The wall clock (live), also when no reading arrives.
    Wall,
}

/// Batches drained per step at most, so a step's journal transaction and
/// announcement stay short.
const MAX_BATCHES_PER_STEP: usize = 64;

/// What the loop did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub batches: u64,
    pub readings: u64,
    pub transitions: u64,
}

/// Runs until every sender of the hand-off is gone. `announce` receives each
/// step's events after they are durable in the journal.
///
/// # Errors
/// [`JournalError`] when a step cannot be journaled: the loop stops rather
/// than announce what it could not record.
pub fn run(
    rx: &HandoffReceiver,
    network: &Network,
    engine: &mut Engine,
    journal: &mut Journal,
    clock: Clock,
    mut announce: impl FnMut(&[AlarmEvent]),
) -> Result<LoopStats, JournalError> {
    let mut stats = LoopStats::default();
    let mut transitions: Vec<Transition> = Vec::new();
    let mut commit = Commit::default();
    loop {
        let first = match clock {
            Clock::Recording => match rx.recv() {
                Some(b) => Some(b),
                None => break,
            },
            Clock::Wall => match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(b) => b,
                Err(_) => break,
            },
        };
        transitions.clear();
        let mut next = first;
        let mut drained = 0;
        while let Some(batch) = next {
            stats.batches += 1;
            stats.readings += batch.readings.len() as u64;
            engine.process(&batch, &mut transitions);
            drained += 1;
            next = if drained < MAX_BATCHES_PER_STEP {
                rx.try_recv()
            } else {
                None
            };
        }
        let now = match clock {
            Clock::Recording => engine.clock_ms(),
            Clock::Wall => linepack_ingest::mqtt::client::now_ms(),
        };
        engine.tick(now, &mut transitions);
        if transitions.is_empty() {
            continue;
        }
        stats.transitions += transitions.len() as u64;
        commit.run(&transitions, network, engine, journal, &mut announce)?;
    }
    Ok(stats)
}

/// Journals transitions, then announces them: the one way transitions
/// leave the engine. Keeps its buffers between steps.
#[derive(Default)]
pub struct Commit {
    entries: Vec<(Transition, AlarmEvent, Alarm)>,
    events: Vec<AlarmEvent>,
}

impl Commit {
    /// # Errors
    /// [`JournalError`]: nothing is announced then.
    pub fn run(
        &mut self,
        transitions: &[Transition],
        network: &Network,
        engine: &Engine,
        journal: &mut Journal,
        announce: &mut impl FnMut(&[AlarmEvent]),
    ) -> Result<(), JournalError> {
        if transitions.is_empty() {
            return Ok(());
        }
        let namer = Namer { network, engine };
        self.entries.clear();
        self.events.clear();
        for t in transitions {
            let e = namer.event(t);
            let alarm = engine.alarm(&t.key).cloned().expect("a transition's alarm exists");
            self.events.push(e.clone());
            self.entries.push((t.clone(), e, alarm));
        }
        journal.record(&self.entries)?;
        announce(&self.events);
        Ok(())
    }
}
