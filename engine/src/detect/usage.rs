//! Each metered user's consumption against a profile learned online by
//! hour of week: gas drawn when the profile says the premises are closed
//! (`usage_when_closed`), or far above the usual for that hour
//! (`usage_above_profile`). Readings that raise an alarm are not learned, so
//! an anomaly does not become the new normal.

use linepack_ingest::telemetry::Reading;
use linepack_network::network::SensorKind;

use super::{Condition, Debounce};
use crate::alarm::{AlarmKey, AlarmKind, Source};
use crate::config::UsageConfig;
use crate::sensors::SensorTable;

const HOURS_PER_WEEK: usize = 168;
const MS_PER_HOUR: i64 = 3_600_000;
/// The Unix epoch (Thursday 00:00) is hour 72 of a week that starts on
/// Monday 00:00.
const EPOCH_HOUR_OF_WEEK: i64 = 3 * 24;
/// Beyond this many samples an hour's statistics follow an exponential
/// average, so a profile keeps adapting.
const MEMORY: f64 = 500.0;

#[derive(Clone, Copy, Debug, Default)]
struct Hour {
    n: f64,
    mean: f64,
    m2: f64,
    weeks: u16,
    last_week: i64,
}

impl Hour {
    fn learn(&mut self, x: f64, week: i64) {
        if week != self.last_week {
            self.weeks = self.weeks.saturating_add(1);
            self.last_week = week;
        }
        self.n = (self.n + 1.0).min(MEMORY);
        let delta = x - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (x - self.mean);
        if self.n >= MEMORY {
            self.m2 *= (MEMORY - 1.0) / MEMORY;
        }
    }

    fn sigma(&self) -> f64 {
        if self.n > 1.0 {
            (self.m2 / (self.n - 1.0)).max(0.0).sqrt()
        } else {
            0.0
        }
    }
}

struct Profile {
    sensor: u32,
    hours: Box<[Hour; HOURS_PER_WEEK]>,
    when_closed: Debounce,
    above: Debounce,
}

/// Profiles of the metered users among a set of sensors.
pub struct UsageDetector {
    config: UsageConfig,
    /// Profile index by sensor, or `u32::MAX`.
    profile_of: Vec<u32>,
    profiles: Vec<Profile>,
}

impl UsageDetector {
    pub fn new(table: &SensorTable, sensors: &[u32], config: UsageConfig) -> Self {
        let mut profile_of = vec![u32::MAX; table.info.len()];
        let mut profiles = Vec::new();
        for &i in sensors {
            let s = &table.info[i as usize];
            if s.kind == SensorKind::Flow && s.consumer.is_some() {
                profile_of[i as usize] = profiles.len() as u32;
                profiles.push(Profile {
                    sensor: i,
                    hours: Box::new(
                        [Hour {
                            last_week: i64::MIN,
                            ..Default::default()
                        }; HOURS_PER_WEEK],
                    ),
                    when_closed: Debounce::default(),
                    above: Debounce::default(),
                });
            }
        }
        UsageDetector {
            config,
            profile_of,
            profiles,
        }
    }

    /// An alarm of `kind` restored active (journal): take it as standing.
    pub fn assume(&mut self, kind: AlarmKind, sensor: usize) {
        let Some(profile) = self.profiles.get_mut(self.profile_of[sensor] as usize) else {
            return;
        };
        match kind {
            AlarmKind::UsageWhenClosed => profile.when_closed.assume_active(),
            AlarmKind::UsageAboveProfile => profile.above.assume_active(),
            _ => {}
        }
    }

    /// Hour of week (Monday 00:00 local = 0) and week number of `ts_ms`.
    fn hour_of_week(&self, ts_ms: i64) -> (usize, i64) {
        let local_hours = (ts_ms + (self.config.utc_offset_hours * MS_PER_HOUR as f64) as i64).div_euclid(MS_PER_HOUR);
        let h = local_hours + EPOCH_HOUR_OF_WEEK;
        (
            h.rem_euclid(HOURS_PER_WEEK as i64) as usize,
            h.div_euclid(HOURS_PER_WEEK as i64),
        )
    }

    #[inline]
    pub fn observe(&mut self, r: &Reading, out: &mut Vec<Condition>) {
        let p = self.profile_of[r.sensor.index()];
        if p == u32::MAX {
            return;
        }
        let (hour, week) = self.hour_of_week(r.ts_ms);
        let c = &self.config;
        let delay = (c.on_delay_s * 1000.0) as i64;
        let profile = &mut self.profiles[p as usize];
        let h = profile.hours[hour];
        let judged = h.weeks >= c.min_weeks as u16 + u16::from(h.last_week == week);
        let (closed_raw, above_raw, limit) = if judged {
            let closed = h.mean <= c.closed_below_kg_s && r.value > c.open_above_kg_s;
            let limit = (c.above_factor * h.mean)
                .max(h.mean + c.above_sigma * h.sigma())
                .max(c.open_above_kg_s);
            (closed, !closed && r.value > limit, limit)
        } else {
            (false, false, f64::NAN)
        };
        let mut anomalous = false;
        for (d, raw, kind, lim) in [
            (
                &mut profile.when_closed,
                closed_raw,
                AlarmKind::UsageWhenClosed,
                c.closed_below_kg_s,
            ),
            (&mut profile.above, above_raw, AlarmKind::UsageAboveProfile, limit),
        ] {
            anomalous |= raw;
            if let Some(active) = d.feed(raw, r.ts_ms, delay, 0) {
                out.push(Condition {
                    key: AlarmKey {
                        kind,
                        source: Source::Sensor(profile.sensor),
                    },
                    active,
                    ts_ms: r.ts_ms,
                    value: r.value,
                    limit: lim,
                    priority: None,
                });
            }
        }
        if !anomalous {
            profile.hours[hour].learn(r.value, week);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monday_midnight_is_hour_zero() {
        let d = UsageDetector {
            config: UsageConfig::default(),
            profile_of: vec![],
            profiles: vec![],
        };
        // 2026-11-23 is a Monday.
        assert_eq!(d.hour_of_week(1_795_392_000_000).0, 0);
        assert_eq!(d.hour_of_week(1_795_392_000_000 + 25 * MS_PER_HOUR).0, 25);
        assert_eq!(d.hour_of_week(1_795_392_000_000 - MS_PER_HOUR).0, 167);
    }
}
