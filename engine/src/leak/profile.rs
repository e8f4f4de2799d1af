//! Expected use of unmetered users: their file demand (a weekly mean)
//! times the standard load profile of their kind at that local time, times
//! a correction each zone learns by hour of day from its own balance.

use std::collections::VecDeque;

use linepack_network::network::ConsumerKind;
use linepack_sim::simulation::local_hour_and_weekday;

use crate::config::LoadProfiles;

/// Days of history a learned correction needs to count as much as the
/// standard profile: with one day the correction moves a third of the way.
const PRIOR_DAYS: f64 = 2.0;
/// A day's correction for an hour is taken when this share of its periods
/// were judged in normal operation.
const MIN_HOUR_SHARE: f64 = 0.75;

/// The profiles checked and each factor list scaled to a mean of 1, so that
/// a consumer's file demand is its mean use over a week (as the network
/// format and the simulator take it). The error names every bad list.
pub fn normalized(p: &LoadProfiles) -> Result<LoadProfiles, String> {
    let mut problems = Vec::new();
    let mut one = |name: &str, profile: &linepack_sim::scenario::ProfileSpec| {
        profile.normalized().unwrap_or_else(|list| {
            problems.extend(list.into_iter().map(|m| format!("leak.profiles.{name}.{m}")));
            profile.clone()
        })
    };
    let n = LoadProfiles {
        residential: one("residential", &p.residential),
        commercial: one("commercial", &p.commercial),
        industrial: one("industrial", &p.industrial),
        other: one("other", &p.other),
    };
    if problems.is_empty() {
        Ok(n)
    } else {
        Err(problems.join("; "))
    }
}

/// The profile factor of a consumer kind at `t_ms`, local time.
pub fn kind_factor(p: &LoadProfiles, kind: ConsumerKind, t_ms: i64, utc_offset_ms: i64) -> f64 {
    let (hour, weekday) = local_hour_and_weekday(t_ms + utc_offset_ms);
    p.of(kind).factor(hour, weekday)
}

/// Hours a closed hour's learning can still be taken back: a meter found
/// faulty within that time (a trunk's CUSUM took three hours to raise on
/// a district feed meter reading low, whose district looked over all that
/// time) has its error taken off the hours it spoiled.
const AMEND_HOURS: i64 = 12;

/// A zone's learned correction of the standard profiles by hour of day:
/// measured unmetered use / expected, averaged over days.
#[derive(Clone, Debug)]
pub struct Correction {
    ratio: [f64; 24],
    days: [f64; 24],
    /// Periods judged normal in the open hour and the last `AMEND_HOURS`
    /// closed ones: (local hour index day·24 + hour, time, measured,
    /// expected), oldest first.
    periods: VecDeque<(i64, i64, f64, f64)>,
    /// The closed hours among them, each with its hour's ratio and days
    /// before it was taken: (hour index, ratio, days).
    closed: VecDeque<(i64, f64, f64)>,
    periods_per_hour: u32,
}

impl Correction {
    pub fn new(period_s: f64) -> Self {
        Correction {
            ratio: [1.0; 24],
            days: [0.0; 24],
            periods: VecDeque::new(),
            closed: VecDeque::new(),
            periods_per_hour: (3600.0 / period_s).round().max(1.0) as u32,
        }
    }

    /// The correction at `t_ms`: linear between hour centres, shrunk
    /// towards 1 while few days are learned.
    pub fn at(&self, t_ms: i64, utc_offset_ms: i64) -> f64 {
        let (hour, _) = local_hour_and_weekday(t_ms + utc_offset_ms);
        let x = hour - 0.5;
        let h0 = x.floor().rem_euclid(24.0) as usize;
        let h1 = (h0 + 1) % 24;
        let f = x - x.floor();
        let c = |h: usize| 1.0 + (self.ratio[h] - 1.0) * self.days[h] / (self.days[h] + PRIOR_DAYS);
        c(h0) * (1.0 - f) + c(h1) * f
    }

    /// One judged period in normal operation: the unmetered use the
    /// balance measured, and what the profiles expected. The first of a
    /// new hour closes the hour before, which the next half hour's
    /// correction then uses.
    pub fn learn(&mut self, t_ms: i64, utc_offset_ms: i64, measured: f64, expected: f64) {
        let hour = (t_ms + utc_offset_ms).div_euclid(3_600_000);
        if let Some(&(open, ..)) = self.periods.back()
            && open != hour
            && self.closed.back().is_none_or(|c| c.0 != open)
        {
            let h = open.rem_euclid(24) as usize;
            self.closed.push_back((open, self.ratio[h], self.days[h]));
            self.take(open);
        }
        self.periods.push_back((hour, t_ms, measured, expected));
        while self.periods.front().is_some_and(|p| p.0 <= hour - AMEND_HOURS) {
            self.periods.pop_front();
        }
        while self.closed.front().is_some_and(|c| c.0 <= hour - AMEND_HOURS) {
            self.closed.pop_front();
        }
    }

    /// The measured use of the periods kept from `since_ms` on was off by
    /// `delta` kg/s (a faulty meter's doing, found since): taken off them,
    /// and the closed hours among them taken again.
    pub fn rebase(&mut self, since_ms: i64, delta: f64) {
        for p in self.periods.iter_mut().filter(|p| p.1 >= since_ms) {
            p.2 -= delta;
        }
        for k in 0..self.closed.len() {
            let (hour, ratio, days) = self.closed[k];
            if self.periods.iter().any(|p| p.0 == hour && p.1 >= since_ms) {
                let h = hour.rem_euclid(24) as usize;
                self.ratio[h] = ratio;
                self.days[h] = days;
                self.take(hour);
            }
        }
    }

    /// Takes hour `hour`'s periods into its correction.
    fn take(&mut self, hour: i64) {
        let (mut measured, mut expected, mut normal) = (0.0, 0.0, 0u32);
        for &(_, _, m, e) in self.periods.iter().filter(|p| p.0 == hour) {
            measured += m;
            expected += e;
            normal += 1;
        }
        if expected > 0.0 && normal as f64 >= MIN_HOUR_SHARE * self.periods_per_hour as f64 {
            let h = hour.rem_euclid(24) as usize;
            let ratio = (measured / expected).clamp(0.2, 5.0);
            self.days[h] += 1.0;
            // A running mean over the last week or so.
            self.ratio[h] += (ratio - self.ratio[h]) / self.days[h].min(7.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monday_midnight_and_the_profile_between_hours() {
        // 2026-11-23 is a Monday.
        let t = 1_795_392_000_000;
        assert_eq!(local_hour_and_weekday(t), (0.0, 0));
        assert_eq!(local_hour_and_weekday(t - 1).1, 6);
        let p = LoadProfiles::default();
        let half_past_seven = kind_factor(&p, ConsumerKind::Residential, t + 27_000_000, 0);
        assert!((half_past_seven - (1.6 + 1.5) / 2.0).abs() < 1e-12);
        let n = normalized(&p).unwrap();
        assert!((n.residential.daily.iter().sum::<f64>() - 24.0).abs() < 1e-9);
        assert!((n.commercial.weekly.iter().sum::<f64>() - 7.0).abs() < 1e-9);
    }

    #[test]
    fn a_learned_correction_moves_towards_the_measured_ratio() {
        let mut c = Correction::new(60.0);
        let t0 = 1_795_392_000_000;
        for m in 0..120 {
            c.learn(t0 + m * 60_000, 0, 1.1, 1.0);
        }
        c.learn(t0 + 3 * 3_600_000, 0, 1.0, 1.0); // closes hour 1
        let at = c.at(t0 + 1_800_000, 0); // the centre of hour 0
        assert!((at - (1.0 + 0.1 / 3.0)).abs() < 1e-9, "{at}");
    }

    #[test]
    fn a_faulty_meters_error_found_in_time_is_taken_back() {
        // A meter made the measured use 0.1 too high from 00:30; found
        // while the hours can still be amended, it is taken off both.
        let mut c = Correction::new(60.0);
        let t0 = 1_795_392_000_000;
        for m in 0..120 {
            let fault = if m >= 30 { 0.1 } else { 0.0 };
            c.learn(t0 + m * 60_000, 0, 1.0 + fault, 1.0);
        }
        c.learn(t0 + 2 * 3_600_000, 0, 1.0, 1.0); // closes hour 1
        assert!(c.at(t0 + 5_400_000, 0) > 1.0 + 0.1 / 3.0 - 1e-9);
        c.rebase(t0 + 30 * 60_000, 0.1);
        assert!((c.at(t0 + 1_800_000, 0) - 1.0).abs() < 1e-12);
        assert!((c.at(t0 + 5_400_000, 0) - 1.0).abs() < 1e-12);
    }
}
