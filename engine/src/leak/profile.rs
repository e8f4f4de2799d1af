//! Expected use of unmetered users: their file demand (a weekly mean)
//! times the standard load profile of their kind at that local time, times
//! a correction each zone learns by hour of day from its own balance.

use linepack_network::network::ConsumerKind;

use crate::config::{LoadProfile, LoadProfiles};

const MS_PER_HOUR: f64 = 3_600_000.0;
const MS_PER_DAY: i64 = 86_400_000;
/// Days of history a learned correction needs to count as much as the
/// standard profile: with one day the correction moves a third of the way.
const PRIOR_DAYS: f64 = 2.0;
/// A day's correction for an hour is taken when this share of its periods
/// were judged in normal operation.
const MIN_HOUR_SHARE: f64 = 0.75;

/// Hour of day (fractional, local) and weekday (0 = Monday) of `t_ms`.
pub fn local_hour_and_weekday(t_ms: i64, utc_offset_ms: i64) -> (f64, usize) {
    let local = t_ms + utc_offset_ms;
    let hour = local.rem_euclid(MS_PER_DAY) as f64 / MS_PER_HOUR;
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    (hour, (local.div_euclid(MS_PER_DAY) + 3).rem_euclid(7) as usize)
}

/// The factor of `profile` at a fractional hour, linear between hours.
fn factor(p: &LoadProfile, hour: f64, weekday: usize) -> f64 {
    let h0 = hour.floor() as usize % 24;
    let h1 = (h0 + 1) % 24;
    let f = hour - hour.floor();
    (p.daily[h0] * (1.0 - f) + p.daily[h1] * f) * p.weekly[weekday]
}

/// Checks the shape of every profile; names the bad one.
pub fn validate(p: &LoadProfiles) -> Result<(), String> {
    for (name, profile) in [
        ("residential", &p.residential),
        ("commercial", &p.commercial),
        ("industrial", &p.industrial),
        ("other", &p.other),
    ] {
        for (key, v, n) in [("daily", &profile.daily, 24), ("weekly", &profile.weekly, 7)] {
            if v.len() != n || v.iter().any(|f| !(f.is_finite() && *f >= 0.0)) {
                return Err(format!(
                    "leak.profiles.{name}.{key}: needs {n} non-negative factors (has {})",
                    v.len()
                ));
            }
        }
    }
    Ok(())
}

/// The profiles with each factor list scaled to a mean of 1, so that a
/// consumer's file demand is its mean use over a week (as the network
/// format and the simulator take it).
pub fn normalized(p: &LoadProfiles) -> LoadProfiles {
    let scale = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        v.iter().map(|f| if mean > 0.0 { f / mean } else { 1.0 }).collect()
    };
    let one = |p: &LoadProfile| LoadProfile {
        daily: scale(&p.daily),
        weekly: scale(&p.weekly),
    };
    LoadProfiles {
        residential: one(&p.residential),
        commercial: one(&p.commercial),
        industrial: one(&p.industrial),
        other: one(&p.other),
    }
}

/// The profile factor of a consumer kind at `t_ms`.
pub fn kind_factor(p: &LoadProfiles, kind: ConsumerKind, t_ms: i64, utc_offset_ms: i64) -> f64 {
    let (hour, weekday) = local_hour_and_weekday(t_ms, utc_offset_ms);
    let profile = match kind {
        ConsumerKind::Residential => &p.residential,
        ConsumerKind::Commercial => &p.commercial,
        ConsumerKind::Industrial => &p.industrial,
        _ => &p.other,
    };
    factor(profile, hour, weekday)
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
        let (hour, _) = local_hour_and_weekday(t_ms, utc_offset_ms);
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
        assert_eq!(local_hour_and_weekday(t, 0), (0.0, 0));
        assert_eq!(local_hour_and_weekday(t - 1, 0).1, 6);
        let p = LoadProfiles::default();
        let half_past_seven = kind_factor(&p, ConsumerKind::Residential, t + 27_000_000, 0);
        assert!((half_past_seven - (1.6 + 1.5) / 2.0).abs() < 1e-12);
        let n = normalized(&p);
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
