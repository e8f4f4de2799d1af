//! Data validity: stale (no usable reading for too long; for user devices,
//! `device_offline`), flat-line (a value that does not move), and out of
//! physical range. "No data" is its own alarm, never "OK".

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use linepack_ingest::telemetry::Reading;
use linepack_network::network::SensorKind;

use super::{Condition, NEVER};
use crate::alarm::{AlarmKey, AlarmKind, Source};
use crate::sensors::SensorTable;

#[derive(Clone, Copy, Debug)]
struct SensorValidity {
    last_ms: i64,
    stale: bool,
    out_of_range: bool,
    anchor_value: f64,
    anchor_ms: i64,
    flat: bool,
}

/// Validity state of a set of sensors.
pub struct Validity {
    sensors: Vec<u32>,
    state: Vec<SensorValidity>,
    started: bool,
    /// When each sensor that is not stale would be, at the earliest: one
    /// entry per such sensor, checked against its last reading when due,
    /// so a reading costs nothing here and a tick only what is due.
    deadlines: BinaryHeap<Reverse<(i64, u32)>>,
}

fn key(kind: AlarmKind, sensor: u32) -> AlarmKey {
    AlarmKey {
        kind,
        source: Source::Sensor(sensor),
    }
}

fn stale_kind(kind: SensorKind) -> AlarmKind {
    match kind {
        SensorKind::GasDetector | SensorKind::ShutoffValve => AlarmKind::DeviceOffline,
        _ => AlarmKind::Stale,
    }
}

impl Validity {
    /// Validity for the sensors listed (global indices).
    pub fn new(n_sensors: usize, sensors: Vec<u32>) -> Self {
        Validity {
            sensors,
            state: vec![
                SensorValidity {
                    last_ms: NEVER,
                    stale: false,
                    out_of_range: false,
                    anchor_value: f64::NAN,
                    anchor_ms: NEVER,
                    flat: false,
                };
                n_sensors
            ],
            started: false,
            deadlines: BinaryHeap::new(),
        }
    }

    /// An alarm of `kind` restored active (journal): take it as standing.
    pub fn assume(&mut self, kind: AlarmKind, sensor: usize) {
        let s = &mut self.state[sensor];
        match kind {
            AlarmKind::Stale | AlarmKind::DeviceOffline => s.stale = true,
            AlarmKind::OutOfRange => s.out_of_range = true,
            AlarmKind::Flatline => s.flat = true,
            _ => {}
        }
    }

    /// Checks the physical range; false when the reading must not be used.
    #[inline]
    pub fn in_range(&mut self, r: &Reading, table: &SensorTable, out: &mut Vec<Condition>) -> bool {
        let i = r.sensor.index();
        let l = &table.limits[i];
        let outside = !l.in_physical_range(r.value);
        let s = &mut self.state[i];
        if outside != s.out_of_range {
            s.out_of_range = outside;
            let limit = if r.value < l.physical_min {
                l.physical_min
            } else {
                l.physical_max
            };
            out.push(Condition {
                key: key(AlarmKind::OutOfRange, i as u32),
                active: outside,
                ts_ms: r.ts_ms,
                value: r.value,
                limit,
                priority: None,
            });
        }
        !outside
    }

    /// A usable reading: refreshes staleness and follows the flat-line.
    #[inline]
    pub fn observe(&mut self, r: &Reading, table: &SensorTable, out: &mut Vec<Condition>) {
        let i = r.sensor.index();
        let l = &table.limits[i];
        let s = &mut self.state[i];
        s.last_ms = s.last_ms.max(r.ts_ms);
        if s.stale {
            s.stale = false;
            if self.started {
                self.deadlines
                    .push(Reverse((s.last_ms.saturating_add(l.stale_after_ms), i as u32)));
            }
            out.push(Condition {
                key: key(stale_kind(table.info[i].kind), i as u32),
                active: false,
                ts_ms: r.ts_ms,
                value: r.value,
                limit: l.stale_after_ms as f64 / 1000.0,
                priority: None,
            });
        }
        if l.flatline_after_ms > 0 {
            if s.anchor_ms == NEVER || (r.value - s.anchor_value).abs() > l.flatline_tolerance {
                s.anchor_value = r.value;
                s.anchor_ms = r.ts_ms;
            }
            let flat = r.ts_ms - s.anchor_ms >= l.flatline_after_ms;
            if flat != s.flat {
                s.flat = flat;
                out.push(Condition {
                    key: key(AlarmKind::Flatline, i as u32),
                    active: flat,
                    ts_ms: r.ts_ms,
                    value: r.value,
                    limit: l.flatline_after_ms as f64 / 1000.0,
                    priority: None,
                });
            }
        }
    }

    /// Time passes: sensors silent for longer than their limit go stale, as
    /// of the moment they passed it. Sensors that never reported count
    /// from the first tick.
    pub fn tick(&mut self, now_ms: i64, table: &SensorTable, out: &mut Vec<Condition>) {
        if !self.started {
            self.started = true;
            for &i in &self.sensors {
                let s = &mut self.state[i as usize];
                if s.last_ms == NEVER {
                    s.last_ms = now_ms;
                }
                let after = table.limits[i as usize].stale_after_ms;
                if after > 0 && !s.stale {
                    self.deadlines.push(Reverse((s.last_ms.saturating_add(after), i)));
                }
            }
        }
        while let Some(&Reverse((due, i))) = self.deadlines.peek() {
            if due >= now_ms {
                break;
            }
            self.deadlines.pop();
            let l = &table.limits[i as usize];
            let s = &mut self.state[i as usize];
            let due = s.last_ms.saturating_add(l.stale_after_ms);
            if due >= now_ms {
                // A reading came since: not due yet.
                self.deadlines.push(Reverse((due, i)));
                continue;
            }
            s.stale = true;
            out.push(Condition {
                key: key(stale_kind(table.info[i as usize].kind), i),
                active: true,
                ts_ms: due + 1,
                value: ((due - s.last_ms) / 1000) as f64,
                limit: l.stale_after_ms as f64 / 1000.0,
                priority: None,
            });
        }
    }
}
