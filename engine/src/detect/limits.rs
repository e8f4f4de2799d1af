//! Limits per point: low-low, low, high, high-high with a deadband (an
//! alarm clears only that far back inside its limit) and on/off delays, and
//! the rate of change, measured over at least a minute so that noise on
//! fast-reporting points does not read as a steep change.

use linepack_ingest::telemetry::Reading;

use super::{Condition, Debounce, NEVER, Pending};
use crate::alarm::{AlarmKey, AlarmKind, Source};
use crate::sensors::{Limits, SensorTable};

/// The rate of change is measured against a reading at least this old.
const RATE_SPAN_MS: i64 = 60_000;

const LEVELS: [AlarmKind; 4] = [AlarmKind::LowLow, AlarmKind::Low, AlarmKind::High, AlarmKind::HighHigh];

#[derive(Clone, Copy, Debug, Default)]
struct SensorLimits {
    levels: [Debounce; 4],
    rate: Debounce,
    last_value: f64,
    last_ms: i64,
    /// The reading the rate of change is measured from.
    rate_from_value: f64,
    rate_from_ms: i64,
}

impl SensorLimits {
    /// When the first of its running delays completes.
    fn due(&self, l: &Limits) -> Option<i64> {
        self.levels
            .iter()
            .chain([&self.rate])
            .filter_map(|d| d.due(l.on_delay_ms, l.off_delay_ms))
            .min()
    }
}

/// Limit state of a set of sensors.
pub struct LimitDetector {
    state: Vec<SensorLimits>,
    pending: Pending,
}

fn limit_of(l: &Limits, level: usize) -> f64 {
    match level {
        0 => l.low_low,
        1 => l.low,
        2 => l.high,
        _ => l.high_high,
    }
}

impl LimitDetector {
    pub fn new(n_sensors: usize) -> Self {
        LimitDetector {
            pending: Pending::new(n_sensors),
            state: vec![
                SensorLimits {
                    last_ms: NEVER,
                    rate_from_ms: NEVER,
                    ..Default::default()
                };
                n_sensors
            ],
        }
    }

    /// An alarm of `kind` restored active (journal): take it as standing.
    pub fn assume(&mut self, kind: AlarmKind, sensor: usize) {
        let s = &mut self.state[sensor];
        if let Some(level) = LEVELS.iter().position(|&k| k == kind) {
            s.levels[level].assume_active();
        } else if kind == AlarmKind::RateOfChange {
            s.rate.assume_active();
        }
    }

    #[inline]
    pub fn observe(&mut self, r: &Reading, table: &SensorTable, out: &mut Vec<Condition>) {
        let i = r.sensor.index();
        let l = &table.limits[i];
        let s = &mut self.state[i];
        for (level, d) in s.levels.iter_mut().enumerate() {
            let limit = limit_of(l, level);
            if limit.is_nan() {
                continue;
            }
            let below = level < 2;
            // Inside the deadband an active alarm stays active.
            let raw = if below {
                r.value < limit || (d.active && r.value < limit + l.deadband)
            } else {
                r.value > limit || (d.active && r.value > limit - l.deadband)
            };
            if let Some(active) = d.feed(raw, r.ts_ms, l.on_delay_ms, l.off_delay_ms) {
                out.push(Condition {
                    key: AlarmKey {
                        kind: LEVELS[level],
                        source: Source::Sensor(i as u32),
                    },
                    active,
                    ts_ms: r.ts_ms,
                    value: r.value,
                    limit,
                    priority: None,
                });
            }
        }
        if s.rate_from_ms == NEVER || r.ts_ms < s.rate_from_ms {
            (s.rate_from_value, s.rate_from_ms) = (r.value, r.ts_ms);
        } else if !l.rate_per_min.is_nan() && r.ts_ms - s.rate_from_ms >= RATE_SPAN_MS {
            let per_min = (r.value - s.rate_from_value).abs() / ((r.ts_ms - s.rate_from_ms) as f64 / 60_000.0);
            (s.rate_from_value, s.rate_from_ms) = (r.value, r.ts_ms);
            // Clears below 80 % of the limit, so noise at the limit does not flap.
            let raw = per_min > l.rate_per_min || (s.rate.active && per_min > 0.8 * l.rate_per_min);
            if let Some(active) = s.rate.feed(raw, r.ts_ms, l.on_delay_ms, l.off_delay_ms) {
                out.push(Condition {
                    key: AlarmKey {
                        kind: AlarmKind::RateOfChange,
                        source: Source::Sensor(i as u32),
                    },
                    active,
                    ts_ms: r.ts_ms,
                    value: per_min,
                    limit: l.rate_per_min,
                    priority: None,
                });
            }
        }
        s.last_value = r.value;
        s.last_ms = r.ts_ms;
        if let Some(due) = s.due(l) {
            self.pending.add(i, due);
        }
    }

    /// Time passes: pending on- and off-delays complete on the last value.
    pub fn tick(&mut self, now_ms: i64, table: &SensorTable, out: &mut Vec<Condition>) {
        let state = &mut self.state;
        self.pending.visit(now_ms, |i| {
            let l = &table.limits[i as usize];
            let s = &mut state[i as usize];
            for (level, d) in s.levels.iter_mut().enumerate() {
                if let Some((active, at)) = d.tick(now_ms, l.on_delay_ms, l.off_delay_ms) {
                    out.push(Condition {
                        key: AlarmKey {
                            kind: LEVELS[level],
                            source: Source::Sensor(i),
                        },
                        active,
                        ts_ms: at,
                        value: s.last_value,
                        limit: limit_of(l, level),
                        priority: None,
                    });
                }
            }
            if let Some((active, at)) = s.rate.tick(now_ms, l.on_delay_ms, l.off_delay_ms) {
                out.push(Condition {
                    key: AlarmKey {
                        kind: AlarmKind::RateOfChange,
                        source: Source::Sensor(i),
                    },
                    active,
                    ts_ms: at,
                    value: f64::NAN,
                    limit: l.rate_per_min,
                    priority: None,
                });
            }
            s.due(l)
        });
    }
}
