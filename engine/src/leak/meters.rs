//! A zone's metered users' readings, period by period, to tell a faulty
//! meter from a leak.
//!
//! A user's meter reading b low (a bias, a wrong scale) and a leak of b at
//! the user's node look alike to the zone balance and to the model
//! residuals: both leave b unaccounted for, drawn at that node. The meter
//! itself tells them apart: its reading stepped down by b at the onset of
//! the imbalance, when the user's use does not change that fast. So each
//! user's step from one period's reading to the next is learned in normal
//! operation, and when a zone's test fires, a meter whose reading fell,
//! far beyond its usual steps, by what the balance rose at that moment,
//! and stayed down, is taken as the cause. A meter whose reading rose, the
//! balance falling by as much, is a fault the same way: it would hide a
//! leak of its size.
//!
//! One reading against the one before: a user's use wanders (the
//! simulator's by 5 %, correlated over half an hour) and a fault steps at
//! once. With means of three periods each side, a plant's usual step was
//! 0.0018 kg/s (2 % of its use) and a 0.01 kg/s fault only 4.7 of them.

use std::collections::VecDeque;

/// A step stands out at this many of the user's learned spreads of a
/// step. Readings are not Gaussian: in a noisy set a shop's meter read
/// one minute 4 % low (5.2 spreads), at a leak's onset.
const STEP_SIGMA: f64 = 8.0;
/// A fault stays: the reading of the step and the next ones (this many in
/// all) all lie at least half the step beyond the reading before it.
const PERSISTS: usize = 3;
/// A meter's step explains the imbalance when they agree within this
/// fraction of the imbalance plus three spreads.
pub(super) const MATCH_FRACTION: f64 = 0.25;
/// A meter's rise is judged this many periods after it, against the
/// balance's fall since then: a quarter of an hour, for the balance's
/// mean to be known.
pub const RISE_LAG: usize = 15;
/// ... and the balance's fall must stand out by this many of its spreads
/// (no test has raised it: a leak's rise has, a fall has none).
const RISE_BALANCE_SIGMA: f64 = 3.0;
/// Steps learned before a user's meter is judged (a few hours).
const MIN_LEARNED: f64 = 180.0;
/// Weight of the newest step once this many are learned.
const MEMORY: f64 = 2000.0;
/// A step's spread is never taken below this, kg/s: a meter's resolution.
const FLOOR_KG_S: f64 = 1e-5;

/// The readings of one zone's metered users.
#[derive(Clone, Debug, Default)]
pub struct UserReadings {
    users: usize,
    keep: usize,
    /// Period end times, oldest first.
    times: VecDeque<i64>,
    /// `users` values per period, same order as `times`; NaN when missing.
    values: VecDeque<f64>,
    /// Per user: mean square of the step in normal operation, and how many
    /// steps it holds.
    step_square: Vec<f64>,
    learned: Vec<f64>,
}

/// What made a zone's imbalance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cause {
    /// A meter's reading stepped by it.
    Meter(Step),
    /// A meter's reading stepped by it, too recently to tell whether it
    /// stays.
    TooSoon,
    /// No meter's reading stepped by it: the gas went somewhere.
    NotAMeter,
}

/// A meter whose reading stepped by about the imbalance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The user's position in the zone's metered users.
    pub user: usize,
    /// The period of the first reading after the step.
    pub at_ms: i64,
    /// That reading less the one before, kg/s.
    pub step_kg_s: f64,
    /// The user's usual spread of such a step, kg/s.
    pub sigma_kg_s: f64,
}

impl UserReadings {
    /// For `users` meters, keeping `keep_periods` periods (at least two).
    pub fn new(users: usize, keep_periods: usize) -> Self {
        UserReadings {
            users,
            keep: keep_periods.max(2),
            times: VecDeque::new(),
            values: VecDeque::new(),
            step_square: vec![0.0; users],
            learned: vec![0.0; users],
        }
    }

    /// The period ending at `t_ms`: each user's reading (`None` missing);
    /// `learn` in normal operation.
    pub fn push(&mut self, t_ms: i64, readings: impl Iterator<Item = Option<f64>>, learn: bool) {
        if self.users == 0 {
            return;
        }
        if self.times.len() == self.keep {
            self.times.pop_front();
            self.values.drain(..self.users);
        }
        self.times.push_back(t_ms);
        self.values.extend(readings.map(|v| v.unwrap_or(f64::NAN)));
        if learn {
            let p = self.times.len() - 1;
            for u in 0..self.users {
                // A step far beyond the usual (a fault's) is not learned.
                let usual = |step: f64| self.sigma(u).is_none_or(|sigma| step.abs() <= STEP_SIGMA * sigma);
                if let Some(step) = self.step(u, p).filter(|&step| usual(step)) {
                    self.learned[u] += 1.0;
                    let a = 1.0 / self.learned[u].min(MEMORY);
                    self.step_square[u] += a * (step * step - self.step_square[u]);
                }
            }
        }
    }

    fn value(&self, period: usize, user: usize) -> f64 {
        self.values[period * self.users + user]
    }

    /// User `u`'s reading in period `p` less its reading in the period
    /// before, when both are there.
    fn step(&self, u: usize, p: usize) -> Option<f64> {
        let step = self.value(p, u) - self.value(p.checked_sub(1)?, u);
        step.is_finite().then_some(step)
    }

    /// User `u`'s usual spread of a step, once learned.
    fn sigma(&self, u: usize) -> Option<f64> {
        (self.learned[u] >= MIN_LEARNED).then(|| self.step_square[u].sqrt().max(FLOOR_KG_S))
    }

    /// Whether a step of `step` kg/s is one of `expected` (± `tolerance`
    /// beyond the user's own): far beyond the user's usual steps, and about
    /// as large.
    fn matches(&self, u: usize, step: f64, expected: f64, tolerance: f64) -> bool {
        self.sigma(u).is_some_and(|sigma| {
            step * expected.signum() > STEP_SIGMA * sigma
                && (step - expected).abs() <= MATCH_FRACTION * expected.abs() + 3.0 * sigma + tolerance
        })
    }

    /// Whether user `u`'s step of `step` in period `p` stayed for `periods`
    /// readings (that one and the next): `None` while there are too few
    /// periods since to tell.
    fn stays(&self, u: usize, p: usize, step: f64, periods: usize) -> Option<bool> {
        if self.times.len() < p + periods {
            return None;
        }
        let before = self.value(p - 1, u);
        Some((p..p + periods).all(|q| (self.value(q, u) - before) * step.signum() >= 0.5 * step.abs()))
    }

    /// User `u`'s step of `step` in period `p`, missing the balance by
    /// `miss`, taken as `best` if it misses by less.
    fn keep_closer(&self, best: &mut Option<(f64, Step)>, u: usize, p: usize, step: f64, miss: f64) {
        if best.is_none_or(|(m, _)| miss < m) {
            *best = Some((
                miss,
                Step {
                    user: u,
                    at_ms: self.times[p],
                    step_kg_s: step,
                    sigma_kg_s: self.sigma(u).unwrap_or(FLOOR_KG_S),
                },
            ));
        }
    }

    /// Whether a meter's reading stepped, at some period kept, against
    /// the balance's step then (`balance_step_at`: its mean since less its
    /// mean before, known to `balance_sigma`), far beyond the meter's usual
    /// steps, and stayed there: the best match, or `TooSoon` while one
    /// matches on too few periods to tell whether it stays. The meter's
    /// step places the time; the balance's onset, on a noisy zone, can be
    /// half an hour off (a trunk's, for a plant's meter 0.01 kg/s low).
    pub fn cause(&self, balance_step_at: impl Fn(i64) -> Option<f64>, balance_sigma: f64) -> Cause {
        let mut best: Option<(f64, Step)> = None;
        let mut too_soon = false;
        for p in 1..self.times.len() {
            let mut balance_step = None;
            for u in 0..self.users {
                let Some(step) = self.step(u, p) else { continue };
                // Cheap first: does it stand out at all?
                if self.sigma(u).is_none_or(|sigma| step.abs() <= STEP_SIGMA * sigma) {
                    continue;
                }
                let Some(expected) = *balance_step.get_or_insert_with(|| balance_step_at(self.times[p]).map(|e| -e))
                else {
                    break;
                };
                if !self.matches(u, step, expected, 2.0 * balance_sigma) {
                    continue;
                }
                match self.stays(u, p, step, PERSISTS) {
                    None => {
                        too_soon = true;
                        continue;
                    }
                    Some(false) => continue,
                    Some(true) => {}
                }
                self.keep_closer(&mut best, u, p, step, (step - expected).abs());
            }
        }
        match best {
            Some((_, s)) => Cause::Meter(s),
            None if too_soon => Cause::TooSoon,
            None => Cause::NotAMeter,
        }
    }

    /// A meter whose reading rose `RISE_LAG` periods ago, far beyond its
    /// usual steps, stayed up since, and the zone's balance fell by as much
    /// then (`balance_step_at`: the step and its spread, kg/s) and clearly:
    /// a meter reading high makes its zone look over by what it reads too
    /// much, and would hide a leak of that size. A user whose use truly
    /// rose draws it through the zone's meters: the balance does not move.
    pub fn rose(&self, balance_step_at: impl Fn(i64) -> Option<(f64, f64)>) -> Option<Step> {
        let p = self.times.len().checked_sub(RISE_LAG)?;
        let mut balance = None;
        let mut best: Option<(f64, Step)> = None;
        for u in 0..self.users {
            let Some(step) = self.step(u, p) else { continue };
            if self.sigma(u).is_none_or(|sigma| step <= STEP_SIGMA * sigma)
                || self.stays(u, p, step, RISE_LAG) != Some(true)
            {
                continue;
            }
            let (fall, spread) = (*balance.get_or_insert_with(|| balance_step_at(self.times[p])))?;
            let expected = -fall;
            if expected <= RISE_BALANCE_SIGMA * spread || !self.matches(u, step, expected, 2.0 * spread) {
                continue;
            }
            self.keep_closer(&mut best, u, p, step, (step - expected).abs());
        }
        best.map(|(_, s)| s)
    }

    /// Whether user `u`'s reading stepped by about `expected` kg/s
    /// `PERSISTS` periods ago and stayed (a faulty meter back to reading
    /// true), and when.
    pub fn returned(&self, u: usize, expected: f64) -> Option<i64> {
        let p = self.times.len().checked_sub(PERSISTS)?;
        self.step(u, p)
            .is_some_and(|step| self.matches(u, step, expected, 0.0) && self.stays(u, p, step, PERSISTS) == Some(true))
            .then(|| self.times[p])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three users drawing 0.2, 0.05 and 0.001 kg/s with a little wobble.
    fn readings(periods: usize, fault: Option<(usize, usize, f64)>) -> UserReadings {
        let mut r = UserReadings::new(3, 240);
        for p in 0..periods {
            let wobble = |u: usize| 1.0 + 0.002 * ((p as f64 * 0.37 + u as f64).sin());
            let v = [0.2 * wobble(0), 0.05 * wobble(1), 0.001 * wobble(2)];
            let v = v.into_iter().enumerate().map(|(u, x)| match fault {
                Some((fu, from, b)) if fu == u && p >= from => Some(x + b),
                _ => Some(x),
            });
            r.push(p as i64 * 60_000, v, fault.is_none_or(|(_, from, _)| p < from));
        }
        r
    }

    #[test]
    fn a_meter_that_fell_by_the_imbalance_is_found_and_a_steady_one_is_not() {
        let r = readings(400, Some((0, 390, -0.01)));
        let Cause::Meter(step) = r.cause(|t| (t == 390 * 60_000).then_some(0.0098), 0.0) else {
            panic!("user 0 stepped");
        };
        assert_eq!(step.user, 0);
        assert_eq!(step.at_ms, 390 * 60_000);
        assert!((step.step_kg_s + 0.01).abs() < 1e-3, "{step:?}");
        // Its usual steps are a fraction of the fault.
        assert!(step.sigma_kg_s < 0.002, "{step:?}");
        // An imbalance twice the meter's step is not its doing.
        assert_eq!(r.cause(|t| (t == 390 * 60_000).then_some(0.02), 0.0), Cause::NotAMeter);
        // Nobody's meter moved: a leak.
        let clean = readings(400, None);
        assert_eq!(clean.cause(|_| Some(0.01), 0.0), Cause::NotAMeter);
    }

    #[test]
    fn a_meter_that_rose_as_the_balance_fell_is_found() {
        let at = 400 - RISE_LAG;
        let r = readings(400, Some((0, at, 0.01)));
        let t = at as i64 * 60_000;
        let step = r.rose(|s| (s == t).then_some((-0.0098, 0.001))).expect("user 0 rose");
        assert_eq!((step.user, step.at_ms), (0, t));
        assert!((step.step_kg_s - 0.01).abs() < 1e-3, "{step:?}");
        // A user whose use rose draws it through the zone's meters: the
        // balance stays level.
        assert_eq!(r.rose(|_| Some((0.0, 0.001))), None);
        // A fall within the balance's noise is not enough.
        assert_eq!(r.rose(|_| Some((-0.0098, 0.004))), None);
        // Nobody's meter moved.
        assert_eq!(readings(400, None).rose(|_| Some((-0.01, 0.001))), None);
    }

    #[test]
    fn a_reading_that_does_not_stay_low_is_no_fault() {
        let mut r = readings(390, None);
        let w = |p: usize, u: usize| 1.0 + 0.002 * ((p as f64 * 0.37 + u as f64).sin());
        for p in 390..394 {
            let dip = if p == 390 { -0.01 } else { 0.0 };
            r.push(
                p as i64 * 60_000,
                [Some(0.2 * w(p, 0) + dip), Some(0.05 * w(p, 1)), Some(0.001 * w(p, 2))].into_iter(),
                false,
            );
            let want = if p < 392 { Cause::TooSoon } else { Cause::NotAMeter };
            assert_eq!(r.cause(|_| Some(0.01), 0.0), want, "period {p}");
        }
    }

    #[test]
    fn a_meter_back_to_reading_true_is_seen() {
        let mut r = readings(400, Some((1, 300, -0.01)));
        assert_eq!(r.returned(1, 0.01), None);
        for p in 400..403 {
            let w = |u: usize| 1.0 + 0.002 * ((p as f64 * 0.37 + u as f64).sin());
            r.push(
                p * 60_000,
                [Some(0.2 * w(0)), Some(0.05 * w(1)), Some(0.001 * w(2))].into_iter(),
                false,
            );
        }
        assert_eq!(r.returned(1, 0.01), Some(400 * 60_000));
    }
}
