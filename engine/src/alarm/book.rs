//! The ISA-18.2 alarm state machine. No I/O: every method changes state and
//! returns the transitions it caused; the caller journals and announces them.
//!
//! An alarm is one condition on one source (deduplicated by [`AlarmKey`]).
//! Underneath runs the annunciation cycle
//!
//! ```text
//!   normal ─active→ unacknowledged ─ack→ acknowledged ─clear→ normal
//!                   │                                 ↑
//!                   └─clear→ returned_unacknowledged ─ack┘ (─active→ unacknowledged)
//! ```
//!
//! and three modifiers take the alarm out of annunciation: out of service
//! (manual, until returned), suppressed by design (by logic, e.g. downstream
//! of a failed station) and shelved (manual, with expiry). While any applies
//! the condition is still tracked; when the last lifts, the alarm comes back
//! unacknowledged if its condition is active, else normal.

use std::collections::HashMap;

use super::kind::{AlarmKind, Priority};

/// What an alarm is on. Sensors and consumers by the network's dense
/// indices, zones by the sensor table's (`SensorTable::zone_names`), sites
/// numbered by the engine as they appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Sensor(u32),
    Consumer(u32),
    Zone(u32),
    Site(u32),
    System,
}

/// One condition on one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlarmKey {
    pub kind: AlarmKind,
    pub source: Source,
}

/// The state operators see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlarmState {
    Normal,
    Unacknowledged,
    Acknowledged,
    ReturnedUnacknowledged,
    Shelved,
    SuppressedByDesign,
    OutOfService,
}

impl AlarmState {
    pub fn name(self) -> &'static str {
        match self {
            AlarmState::Normal => "normal",
            AlarmState::Unacknowledged => "unacknowledged",
            AlarmState::Acknowledged => "acknowledged",
            AlarmState::ReturnedUnacknowledged => "returned_unacknowledged",
            AlarmState::Shelved => "shelved",
            AlarmState::SuppressedByDesign => "suppressed",
            AlarmState::OutOfService => "out_of_service",
        }
    }

    pub fn parse(s: &str) -> Option<AlarmState> {
        [
            AlarmState::Normal,
            AlarmState::Unacknowledged,
            AlarmState::Acknowledged,
            AlarmState::ReturnedUnacknowledged,
            AlarmState::Shelved,
            AlarmState::SuppressedByDesign,
            AlarmState::OutOfService,
        ]
        .into_iter()
        .find(|st| st.name() == s)
    }
}

/// The annunciation cycle underneath the modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cycle {
    Normal,
    Unack,
    Acked,
    RtnUnack,
}

/// One alarm and everything known about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Alarm {
    pub key: AlarmKey,
    cycle: Cycle,
    /// Whether the condition holds now.
    pub active: bool,
    pub priority: Priority,
    /// When the condition last became active, ms.
    pub raised_ms: i64,
    /// Time of the last change, ms.
    pub last_ms: i64,
    /// The value that caused the last change, and the limit it crossed.
    pub value: f64,
    pub limit: f64,
    pub shelved_until_ms: Option<i64>,
    pub suppressed: bool,
    pub out_of_service: bool,
}

impl Alarm {
    /// The state operators see: the strongest modifier, else the cycle.
    pub fn state(&self) -> AlarmState {
        if self.out_of_service {
            AlarmState::OutOfService
        } else if self.suppressed {
            AlarmState::SuppressedByDesign
        } else if self.shelved_until_ms.is_some() {
            AlarmState::Shelved
        } else {
            self.cycle_state()
        }
    }

    /// The annunciation cycle's state, whatever modifies it.
    pub fn cycle_state(&self) -> AlarmState {
        match self.cycle {
            Cycle::Normal => AlarmState::Normal,
            Cycle::Unack => AlarmState::Unacknowledged,
            Cycle::Acked => AlarmState::Acknowledged,
            Cycle::RtnUnack => AlarmState::ReturnedUnacknowledged,
        }
    }

    fn modified(&self) -> bool {
        self.out_of_service || self.suppressed || self.shelved_until_ms.is_some()
    }
}

/// Who changed an alarm and why (operator actions; `None` for the process).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Actor {
    pub user: String,
    pub comment: String,
}

/// A change of an alarm's state or priority.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub key: AlarmKey,
    pub from: AlarmState,
    pub to: AlarmState,
    pub priority: Priority,
    pub ts_ms: i64,
    pub value: f64,
    pub limit: f64,
    pub active: bool,
    pub actor: Option<Actor>,
    pub shelved_until_ms: Option<i64>,
}

/// An operator command that does not apply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no such alarm")]
    UnknownAlarm,
    #[error("the alarm is {0}; only an unacknowledged or returned-unacknowledged alarm can be acknowledged")]
    NotAwaitingAcknowledgement(&'static str),
    #[error("the alarm is {0}; it cannot be shelved")]
    CannotShelve(&'static str),
    #[error("the alarm is not shelved")]
    NotShelved,
    #[error("the shelving expiry must be after now")]
    ExpiryInThePast,
}

/// Every alarm of one shard (or of the engine's own system alarms).
#[derive(Debug, Default)]
pub struct AlarmBook {
    alarms: Vec<Alarm>,
    index: HashMap<AlarmKey, usize>,
    /// Sources under design suppression, with how many reasons apply, and
    /// the kinds it covers.
    suppressed_sources: HashMap<Source, u32>,
}

impl AlarmBook {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &AlarmKey) -> Option<&Alarm> {
        self.index.get(key).map(|&i| &self.alarms[i])
    }

    pub fn alarms(&self) -> &[Alarm] {
        &self.alarms
    }

    /// Alarms not in their normal, quiet state.
    pub fn standing(&self) -> impl Iterator<Item = &Alarm> {
        self.alarms
            .iter()
            .filter(|a| a.state() != AlarmState::Normal || a.active)
    }

    /// The transition that brought `a` to its state from `from`.
    pub fn transition(a: &Alarm, from: AlarmState, actor: Option<Actor>) -> Transition {
        Transition {
            key: a.key,
            from,
            to: a.state(),
            priority: a.priority,
            ts_ms: a.last_ms,
            value: a.value,
            limit: a.limit,
            active: a.active,
            actor,
            shelved_until_ms: a.shelved_until_ms,
        }
    }

    /// The process reports a condition (`active` or not) for `key`. An
    /// alarm is created on its first activation; a higher `priority` while
    /// active escalates it. Pushes a transition when the state or priority
    /// changes.
    #[allow(clippy::too_many_arguments)]
    pub fn condition(
        &mut self,
        key: AlarmKey,
        active: bool,
        ts_ms: i64,
        value: f64,
        limit: f64,
        priority: Priority,
        out: &mut Vec<Transition>,
    ) {
        let (i, new) = match self.index.get(&key) {
            Some(&i) => (i, false),
            None if !active => return,
            None => {
                let suppressed =
                    self.suppressed_sources.get(&key.source).is_some_and(|&n| n > 0) && is_consequential(key.kind);
                self.alarms.push(Alarm {
                    key,
                    cycle: Cycle::Normal,
                    active: false,
                    priority,
                    raised_ms: ts_ms,
                    last_ms: ts_ms,
                    value,
                    limit,
                    shelved_until_ms: None,
                    suppressed,
                    out_of_service: false,
                });
                self.index.insert(key, self.alarms.len() - 1);
                (self.alarms.len() - 1, true)
            }
        };
        let a = &mut self.alarms[i];
        // A new alarm comes from normal, even if it is born suppressed: the
        // journal records it.
        let from = if new { AlarmState::Normal } else { a.state() };
        let old_priority = a.priority;
        if active == a.active && !(active && priority > a.priority) {
            return;
        }
        if active && !a.active {
            a.raised_ms = ts_ms;
            a.priority = priority;
        } else if active {
            a.priority = a.priority.max(priority); // escalation
        }
        a.active = active;
        a.last_ms = ts_ms;
        a.value = value;
        a.limit = limit;
        a.cycle = match (a.cycle, active) {
            (Cycle::Normal | Cycle::RtnUnack, true) => Cycle::Unack,
            (Cycle::Unack, false) => Cycle::RtnUnack,
            (Cycle::Acked, false) => Cycle::Normal,
            (c, _) => c,
        };
        if a.modified() {
            // Not annunciated: keep the cycle where the modifier's lifting
            // will put it.
            a.cycle = if active { Cycle::Unack } else { Cycle::Normal };
        }
        if a.state() != from || a.priority != old_priority {
            out.push(Self::transition(a, from, None));
        }
    }

    fn find(&mut self, key: &AlarmKey) -> Result<&mut Alarm, CommandError> {
        let i = *self.index.get(key).ok_or(CommandError::UnknownAlarm)?;
        Ok(&mut self.alarms[i])
    }

    /// An operator acknowledges the alarm.
    ///
    /// # Errors
    /// [`CommandError`] when there is no such alarm or it awaits no acknowledgement.
    pub fn acknowledge(&mut self, key: &AlarmKey, ts_ms: i64, actor: Actor) -> Result<Transition, CommandError> {
        let a = self.find(key)?;
        let from = a.state();
        a.cycle = match from {
            AlarmState::Unacknowledged => Cycle::Acked,
            AlarmState::ReturnedUnacknowledged => Cycle::Normal,
            other => return Err(CommandError::NotAwaitingAcknowledgement(other.name())),
        };
        a.last_ms = ts_ms;
        Ok(Self::transition(a, from, Some(actor)))
    }

    /// An operator shelves the alarm until `until_ms`.
    ///
    /// # Errors
    /// [`CommandError`] for an unknown alarm, a past expiry, or an alarm out
    /// of service or suppressed (shelving would hide nothing).
    pub fn shelve(
        &mut self,
        key: &AlarmKey,
        ts_ms: i64,
        until_ms: i64,
        actor: Actor,
    ) -> Result<Transition, CommandError> {
        if until_ms <= ts_ms {
            return Err(CommandError::ExpiryInThePast);
        }
        let a = self.find(key)?;
        let from = a.state();
        if matches!(from, AlarmState::OutOfService | AlarmState::SuppressedByDesign) {
            return Err(CommandError::CannotShelve(from.name()));
        }
        a.shelved_until_ms = Some(until_ms);
        a.cycle = if a.active { Cycle::Unack } else { Cycle::Normal };
        a.last_ms = ts_ms;
        Ok(Self::transition(a, from, Some(actor)))
    }

    /// An operator un-shelves the alarm before its expiry.
    ///
    /// # Errors
    /// [`CommandError`] for an unknown or not shelved alarm.
    pub fn unshelve(&mut self, key: &AlarmKey, ts_ms: i64, actor: Actor) -> Result<Transition, CommandError> {
        let a = self.find(key)?;
        if a.shelved_until_ms.is_none() {
            return Err(CommandError::NotShelved);
        }
        let from = a.state();
        a.shelved_until_ms = None;
        a.last_ms = ts_ms;
        Ok(Self::transition(a, from, Some(actor)))
    }

    /// An operator takes the alarm out of service, or returns it.
    ///
    /// # Errors
    /// [`CommandError::UnknownAlarm`].
    pub fn set_out_of_service(
        &mut self,
        key: &AlarmKey,
        out_of_service: bool,
        ts_ms: i64,
        actor: Actor,
    ) -> Result<Transition, CommandError> {
        let a = self.find(key)?;
        let from = a.state();
        a.out_of_service = out_of_service;
        a.cycle = if a.active { Cycle::Unack } else { Cycle::Normal };
        a.last_ms = ts_ms;
        Ok(Self::transition(a, from, Some(actor)))
    }

    /// Shelves that reached their expiry lift.
    pub fn expire_shelves(&mut self, now_ms: i64, out: &mut Vec<Transition>) {
        for a in &mut self.alarms {
            if a.shelved_until_ms.is_some_and(|t| t <= now_ms) {
                let from = a.state();
                a.shelved_until_ms = None;
                a.last_ms = now_ms;
                if a.state() != from {
                    out.push(Self::transition(a, from, None));
                }
            }
        }
    }

    /// Design suppression of the consequential alarms of `sources` begins
    /// (`on`) or ends, for one reason (reasons are counted: a source stays
    /// suppressed while any applies).
    pub fn suppress(&mut self, sources: &[Source], on: bool, ts_ms: i64, out: &mut Vec<Transition>) {
        let mut now_suppressed = HashMap::with_capacity(sources.len());
        for s in sources {
            let n = self.suppressed_sources.entry(*s).or_insert(0);
            *n = if on { *n + 1 } else { n.saturating_sub(1) };
            now_suppressed.insert(*s, *n > 0);
        }
        for a in &mut self.alarms {
            let Some(&now) = now_suppressed.get(&a.key.source) else {
                continue;
            };
            if is_consequential(a.key.kind) && a.suppressed != now {
                let from = a.state();
                a.suppressed = now;
                a.cycle = if a.active { Cycle::Unack } else { Cycle::Normal };
                a.last_ms = ts_ms;
                if a.state() != from {
                    out.push(Self::transition(a, from, None));
                }
            }
        }
    }

    /// Puts an alarm back as the journal last recorded it (restart).
    /// Suppression is not taken from the journal but from what suppresses
    /// its source now (closed valves; failed stations are re-derived after
    /// the restore).
    pub fn restore(&mut self, alarm: Alarm) {
        let mut alarm = alarm;
        let key = alarm.key;
        alarm.suppressed =
            is_consequential(key.kind) && self.suppressed_sources.get(&key.source).is_some_and(|&n| n > 0);
        match self.index.get(&key) {
            Some(&i) => self.alarms[i] = alarm,
            None => {
                self.alarms.push(alarm);
                self.index.insert(key, self.alarms.len() - 1);
            }
        }
    }
}

/// Alarms that follow from a loss of gas upstream: suppressed by design
/// downstream of a failed station or a closed valve.
pub fn is_consequential(kind: AlarmKind) -> bool {
    matches!(
        kind,
        AlarmKind::Low
            | AlarmKind::LowLow
            | AlarmKind::RateOfChange
            | AlarmKind::Flatline
            | AlarmKind::ShutoffClosed
            | AlarmKind::UsageAboveProfile
    )
}

/// An alarm as the journal recorded it: its annunciation cycle (normal,
/// unacknowledged, acknowledged or returned-unacknowledged) under the
/// modifiers, which are the public fields.
///
/// # Errors
/// When `cycle` is a modifier, not a cycle state.
#[allow(clippy::too_many_arguments)]
pub fn restored_alarm(
    key: AlarmKey,
    cycle: AlarmState,
    active: bool,
    priority: Priority,
    raised_ms: i64,
    last_ms: i64,
    value: f64,
    limit: f64,
) -> Result<Alarm, String> {
    let cycle = match cycle {
        AlarmState::Normal => Cycle::Normal,
        AlarmState::Unacknowledged => Cycle::Unack,
        AlarmState::Acknowledged => Cycle::Acked,
        AlarmState::ReturnedUnacknowledged => Cycle::RtnUnack,
        other => return Err(format!("'{}' is not an annunciation state", other.name())),
    };
    Ok(Alarm {
        key,
        cycle,
        active,
        priority,
        raised_ms,
        last_ms,
        value,
        limit,
        shelved_until_ms: None,
        suppressed: false,
        out_of_service: false,
    })
}
