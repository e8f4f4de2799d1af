//! Expected use of unmetered users: their file demand (a weekly mean)
//! times the standard load profile of their kind at that local time, times
//! a correction each zone learns by hour of day from its own balance.

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

/// A zone's learned correction of the standard profiles by hour of day:
/// measured unmetered use / expected, averaged over days.
#[derive(Clone, Debug)]
pub struct Correction {
    ratio: [f64; 24],
    days: [f64; 24],
    /// The hour being accumulated: (day·24 + hour), Σ measured, Σ expected,
    /// periods judged normal.
    hour: i64,
    measured: f64,
    expected: f64,
    normal: u32,
    periods_per_hour: u32,
}

impl Correction {
    pub fn new(period_s: f64) -> Self {
        Correction {
            ratio: [1.0; 24],
            days: [0.0; 24],
            hour: i64::MIN,
            measured: 0.0,
            expected: 0.0,
            normal: 0,
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
    /// balance measured, and what the profiles expected.
    pub fn learn(&mut self, t_ms: i64, utc_offset_ms: i64, measured: f64, expected: f64) {
        let hour = (t_ms + utc_offset_ms).div_euclid(3_600_000);
        if hour != self.hour {
            self.close_hour();
            self.hour = hour;
        }
        self.measured += measured;
        self.expected += expected;
        self.normal += 1;
    }

    fn close_hour(&mut self) {
        if self.hour != i64::MIN
            && self.expected > 0.0
            && self.normal as f64 >= MIN_HOUR_SHARE * self.periods_per_hour as f64
        {
            let h = self.hour.rem_euclid(24) as usize;
            let ratio = (self.measured / self.expected).clamp(0.2, 5.0);
            self.days[h] += 1.0;
            // A running mean over the last week or so.
            self.ratio[h] += (ratio - self.ratio[h]) / self.days[h].min(7.0);
        }
        self.measured = 0.0;
        self.expected = 0.0;
        self.normal = 0;
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
}
