//! Detectors: synchronous, no I/O. Each looks at readings (and the passing
//! of time) and writes [`Condition`]s, the raw "this holds / no longer
//! holds", into a buffer the caller owns; only changes are written, so a
//! steady stream writes nothing. The alarm book turns conditions into
//! alarms.
//!
//! - [`validity`]: stale (no data), flat-line, out of physical range;
//! - [`limits`]: high/low, high-high/low-low with deadband and on/off
//!   delays, rate of change;
//! - [`devices`]: the users' gas detectors, shut-off valves and device
//!   events, escalation with a pressure drop;
//! - [`usage`]: each metered user against its profile by hour of week.

pub mod devices;
pub mod limits;
pub mod usage;
pub mod validity;

use crate::alarm::{AlarmKey, Priority};

/// A condition starting (`active`) or ending, as a detector saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Condition {
    pub key: AlarmKey,
    pub active: bool,
    pub ts_ms: i64,
    /// The value that decided it, and the limit it was held against.
    pub value: f64,
    pub limit: f64,
    /// `None`: the kind's configured priority; `Some`: an escalation.
    pub priority: Option<Priority>,
}

/// "No time yet."
pub const NEVER: i64 = i64::MIN;

/// A boolean with on- and off-delays: it follows the raw condition only
/// after the raw value has held for the delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Debounce {
    pub active: bool,
    raw: bool,
    since: i64,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce {
            active: false,
            raw: false,
            since: NEVER,
        }
    }
}

impl Debounce {
    /// Feeds the raw condition at `ts`; `Some(new)` when the output changes.
    #[inline]
    pub fn feed(&mut self, raw: bool, ts: i64, on_delay_ms: i64, off_delay_ms: i64) -> Option<bool> {
        if raw != self.raw {
            self.raw = raw;
            self.since = ts;
        }
        if raw == self.active {
            return None;
        }
        let delay = if raw { on_delay_ms } else { off_delay_ms };
        if ts.saturating_sub(self.since) >= delay {
            self.active = raw;
            Some(raw)
        } else {
            None
        }
    }

    /// Starts out active, as an alarm restored from the journal was: the
    /// next reading that does not hold clears it (after the off-delay).
    pub fn assume_active(&mut self) {
        *self = Debounce {
            active: true,
            raw: true,
            since: NEVER,
        };
    }

    /// Time passing with no new reading: the last raw value keeps holding.
    /// `Some((new, at))` when a delay completed by `now`, `at` being the
    /// moment it completed (not when the tick noticed).
    #[inline]
    pub fn tick(&mut self, now: i64, on_delay_ms: i64, off_delay_ms: i64) -> Option<(bool, i64)> {
        if !self.pending() {
            return None;
        }
        let due = self
            .since
            .saturating_add(if self.raw { on_delay_ms } else { off_delay_ms });
        (now >= due).then(|| {
            self.active = self.raw;
            (self.active, due)
        })
    }

    /// The raw value differs from the output: a delay is running.
    #[inline]
    pub fn pending(&self) -> bool {
        self.raw != self.active && self.since != NEVER
    }

    /// When the running delay completes, if one runs.
    #[inline]
    pub fn due(&self, on_delay_ms: i64, off_delay_ms: i64) -> Option<i64> {
        self.pending().then(|| {
            self.since
                .saturating_add(if self.raw { on_delay_ms } else { off_delay_ms })
        })
    }
}

/// The sensors with a delay running and the earliest moment one of them
/// falls due, so that a tick costs nothing until then and then visits only
/// them.
#[derive(Clone, Debug)]
pub struct Pending {
    list: Vec<u32>,
    member: Vec<bool>,
    next_due: i64,
}

impl Pending {
    pub fn new(n_sensors: usize) -> Self {
        Pending {
            list: Vec::new(),
            member: vec![false; n_sensors],
            next_due: i64::MAX,
        }
    }

    /// `sensor` has a delay running that completes at `due`.
    #[inline]
    pub fn add(&mut self, sensor: usize, due: i64) {
        if !self.member[sensor] {
            self.member[sensor] = true;
            self.list.push(sensor as u32);
        }
        self.next_due = self.next_due.min(due);
    }

    /// At `now`, if anything is due, visits every member; `visit` returns
    /// when the member's next delay completes, or `None` to let it go.
    #[inline]
    pub fn visit(&mut self, now: i64, mut visit: impl FnMut(u32) -> Option<i64>) {
        if now < self.next_due {
            return;
        }
        let member = &mut self.member;
        let mut next = i64::MAX;
        self.list.retain(|&i| match visit(i) {
            Some(due) => {
                next = next.min(due);
                true
            }
            None => {
                member[i as usize] = false;
                false
            }
        });
        self.next_due = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_waits_for_the_delays() {
        let mut d = Debounce::default();
        assert_eq!(d.feed(true, 0, 10, 5), None);
        assert_eq!(d.feed(true, 9, 10, 5), None);
        assert_eq!(d.feed(true, 10, 10, 5), Some(true));
        assert_eq!(d.feed(false, 11, 10, 5), None);
        assert_eq!(d.feed(true, 12, 10, 5), None, "a blip back does not restart anything");
        assert_eq!(d.feed(false, 13, 10, 5), None);
        assert_eq!(d.tick(17, 10, 5), None);
        assert_eq!(d.tick(25, 10, 5), Some((false, 18)), "stamped when the delay completed");
        assert!(!d.pending());
    }

    #[test]
    fn zero_delays_follow_at_once() {
        let mut d = Debounce::default();
        assert_eq!(d.feed(true, 5, 0, 0), Some(true));
        assert_eq!(d.feed(false, 6, 0, 0), Some(false));
    }
}
