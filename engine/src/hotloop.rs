//! The hot loop: one thread that blocks for a batch from the ingest
//! hand-off, drains what else is queued (up to a bound, and no further once
//! a batch changed a leak alarm), runs it through the engine, then journals
//! the step's transitions and only then announces them. Detection itself
//! does no I/O; the journal write is once per step, not per reading.

use std::time::{Duration, Instant};

use linepack_ingest::handoff::HandoffReceiver;
use linepack_ingest::telemetry::Batch;
use linepack_network::Network;

use crossbeam_channel::Receiver;

use crate::alarm::{Alarm, AlarmEvent, AlarmKind, Namer, Transition};
use crate::command::{self, Command};
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

/// What the loop tells the world: every step's events once they are
/// durable, and after every step which sensors it read.
pub trait Observer {
    /// The step's events, after the journal has them.
    fn announce(&mut self, events: &[AlarmEvent]);

    /// After every step (also one without readings).
    fn stepped(&mut self, _engine: &Engine, _step: &Step) {}

    /// Each batch, once the engine has it (the archive keeps it).
    fn processed(&mut self, _batch: Batch) {}
}

/// What one step did.
#[derive(Debug)]
pub struct Step<'a> {
    /// The sensors it read, in order (repeats included).
    pub sensors_read: &'a [u32],
    pub readings: usize,
    pub transitions: usize,
    /// Detection, journal and announcement.
    pub took: Duration,
    /// Batches still waiting in the hand-off.
    pub queued: usize,
}

impl<F: FnMut(&[AlarmEvent])> Observer for F {
    fn announce(&mut self, events: &[AlarmEvent]) {
        self(events);
    }
}

/// Runs until every sender of the hand-off is gone. Operator commands from
/// `commands` are carried out between steps, through the same journal
/// before announce path as detections.
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
    commands: Option<&Receiver<Command>>,
    observer: &mut impl Observer,
) -> Result<LoopStats, JournalError> {
    let mut stats = LoopStats::default();
    let mut transitions: Vec<Transition> = Vec::new();
    let mut sensors_read: Vec<u32> = Vec::new();
    let mut commit = Commit::default();
    let never = crossbeam_channel::never();
    let commands = commands.unwrap_or(&never);
    loop {
        // Live, time moves without readings: tick at least twice a second.
        // On the recording's clock only readings move it.
        let idle = match clock {
            Clock::Recording => Duration::from_secs(3600),
            Clock::Wall => Duration::from_millis(500),
        };
        let first = crossbeam_channel::select! {
            recv(rx.channel()) -> b => match b {
                Ok(b) => Some(b),
                Err(_) => break,
            },
            recv(commands) -> c => {
                if let Ok(c) = c {
                    command::carry_out(c, network, engine, journal, &mut commit, clock, observer)?;
                }
                None
            }
            default(idle) => None,
        };
        if first.is_none() && clock == Clock::Recording {
            continue;
        }
        let started = Instant::now();
        transitions.clear();
        sensors_read.clear();
        let mut next = first;
        let mut drained = 0;
        let mut scanned = 0;
        while let Some(batch) = next {
            stats.batches += 1;
            stats.readings += batch.readings.len() as u64;
            engine.process(&batch, &mut transitions);
            sensors_read.extend(batch.readings.iter().map(|r| r.sensor.index() as u32));
            observer.processed(batch);
            drained += 1;
            // A leak alarm's event carries the zone's report, which later
            // periods refine: commit it with the report of its own batch, not
            // of whatever else is queued (the same on every replay). Other
            // alarms carry only what their transition holds, so a storm of
            // them still shares one journal write.
            let leak_changed = transitions[scanned..].iter().any(|t| t.key.kind == AlarmKind::Leak);
            scanned = transitions.len();
            next = if drained < MAX_BATCHES_PER_STEP && !leak_changed {
                rx.try_recv()
            } else {
                None
            };
        }
        let now = now_ms(engine, clock);
        engine.tick(now, &mut transitions);
        stats.transitions += transitions.len() as u64;
        commit.run(&transitions, network, engine, journal, observer)?;
        observer.stepped(
            engine,
            &Step {
                sensors_read: &sensors_read,
                readings: sensors_read.len(),
                transitions: transitions.len(),
                took: started.elapsed(),
                queued: rx.len(),
            },
        );
    }
    Ok(stats)
}

/// The engine's time for ticks and commands.
pub(crate) fn now_ms(engine: &Engine, clock: Clock) -> i64 {
    match clock {
        Clock::Recording => engine.clock_ms(),
        Clock::Wall => linepack_ingest::mqtt::client::now_ms(),
    }
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
        observer: &mut impl Observer,
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
        observer.announce(&self.events);
        Ok(())
    }
}
