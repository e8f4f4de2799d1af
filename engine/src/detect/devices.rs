//! User-side safety devices: the gas detector's two %LEL levels with a
//! confirmation delay, the automatic shut-off valve closing without a
//! command, device events (tamper, fault, low battery), and escalation: a
//! gas alarm at a user whose pressure has dropped becomes critical.
//! (A device that stops reporting is `device_offline`, from validity.)

use linepack_ingest::telemetry::{DeviceEvent, Reading};
use linepack_network::network::SensorKind;

use super::{Condition, Debounce, Pending};
use crate::alarm::{AlarmKey, AlarmKind, Priority, Source};
use crate::config::DevicesConfig;
use crate::sensors::SensorTable;

/// Recent pressures of one sensor, for "has it dropped".
#[derive(Clone, Copy, Debug)]
struct Recent {
    ts: [i64; 16],
    value: [f64; 16],
    next: usize,
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            ts: [super::NEVER; 16],
            value: [f64::NAN; 16],
            next: 0,
        }
    }
}

impl Recent {
    fn push(&mut self, ts: i64, v: f64) {
        self.ts[self.next] = ts;
        self.value[self.next] = v;
        self.next = (self.next + 1) % 16;
    }

    /// Drop from the highest value within `window_ms` of `now` to `current`.
    fn drop(&self, now: i64, window_ms: i64, current: f64) -> f64 {
        let max = self
            .ts
            .iter()
            .zip(&self.value)
            .filter(|(t, _)| **t >= now - window_ms)
            .map(|(_, v)| *v)
            .fold(f64::NEG_INFINITY, f64::max);
        max - current
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct DeviceState {
    gas: [Debounce; 2],
    /// The last gas reading, %LEL: the value a confirmation reports.
    last_pct: f64,
    escalated: [bool; 2],
    fault: bool,
    battery_low: bool,
    closed: bool,
}

/// Device state of a set of sensors.
pub struct DeviceDetector {
    config: DevicesConfig,
    state: Vec<DeviceState>,
    recent: Vec<Recent>,
    /// Per sensor: gas detectors at the same node (for pressure sensors) or
    /// pressure sensors at the same node (for gas detectors).
    neighbours: Vec<Vec<u32>>,
    /// Shut-off valves an operator commanded closed (by sensor).
    commanded_closed: Vec<bool>,
    /// Gas detectors with a confirmation running.
    pending: Pending,
}

const GAS_KINDS: [AlarmKind; 2] = [AlarmKind::GasDetected, AlarmKind::GasDetectedHigh];

fn cond(kind: AlarmKind, sensor: usize, active: bool, ts_ms: i64, value: f64, limit: f64) -> Condition {
    Condition {
        key: AlarmKey {
            kind,
            source: Source::Sensor(sensor as u32),
        },
        active,
        ts_ms,
        value,
        limit,
        priority: None,
    }
}

impl DeviceDetector {
    pub fn new(table: &SensorTable, config: DevicesConfig) -> Self {
        let n = table.info.len();
        let mut neighbours = vec![Vec::new(); n];
        let mut by_node: std::collections::HashMap<u32, (Vec<u32>, Vec<u32>)> = std::collections::HashMap::new();
        for (i, s) in table.info.iter().enumerate() {
            if let Some(node) = s.node {
                let e = by_node.entry(node.index() as u32).or_default();
                match s.kind {
                    SensorKind::Pressure => e.0.push(i as u32),
                    SensorKind::GasDetector => e.1.push(i as u32),
                    _ => {}
                }
            }
        }
        for (pressure, gas) in by_node.values() {
            for &p in pressure {
                neighbours[p as usize].extend(gas);
            }
            for &g in gas {
                neighbours[g as usize].extend(pressure);
            }
        }
        DeviceDetector {
            config,
            state: vec![DeviceState::default(); n],
            recent: vec![Recent::default(); n],
            neighbours,
            commanded_closed: vec![false; n],
            pending: Pending::new(n),
        }
    }

    /// An operator commands a shut-off valve closed (or lifts the command):
    /// its closing is then expected, not an alarm.
    pub fn command_closed(&mut self, sensor: usize, closed: bool) {
        self.commanded_closed[sensor] = closed;
    }

    /// An alarm restored active (journal): take it as standing; a restored
    /// critical gas alarm stays escalated.
    pub fn assume(&mut self, kind: AlarmKind, sensor: usize, priority: Priority) {
        let s = &mut self.state[sensor];
        match kind {
            AlarmKind::GasDetected | AlarmKind::GasDetectedHigh => {
                let level = usize::from(kind == AlarmKind::GasDetectedHigh);
                s.gas[level].assume_active();
                s.escalated[level] = priority == Priority::Critical;
            }
            AlarmKind::DeviceFault => s.fault = true,
            AlarmKind::BatteryLow => s.battery_low = true,
            AlarmKind::ShutoffClosed => s.closed = true,
            _ => {}
        }
    }

    /// A reading carrying a device event.
    pub fn event(&mut self, r: &Reading, out: &mut Vec<Condition>) {
        let i = r.sensor.index();
        let s = &mut self.state[i];
        match r.event {
            // Tamper is momentary: raised and returned at once; it waits
            // for acknowledgement.
            Some(DeviceEvent::Tamper) => {
                out.push(cond(AlarmKind::Tamper, i, true, r.ts_ms, r.value, f64::NAN));
                out.push(cond(AlarmKind::Tamper, i, false, r.ts_ms, r.value, f64::NAN));
            }
            Some(DeviceEvent::Fault) if !s.fault => {
                s.fault = true;
                out.push(cond(AlarmKind::DeviceFault, i, true, r.ts_ms, r.value, f64::NAN));
            }
            Some(DeviceEvent::BatteryLow) if !s.battery_low => {
                s.battery_low = true;
                out.push(cond(AlarmKind::BatteryLow, i, true, r.ts_ms, r.value, f64::NAN));
            }
            _ => {}
        }
    }

    /// A usable reading (not an event-only message).
    #[inline]
    pub fn observe(&mut self, r: &Reading, table: &SensorTable, out: &mut Vec<Condition>) {
        let i = r.sensor.index();
        let kind = table.info[i].kind;
        {
            // A plain reading means the device works again.
            let s = &mut self.state[i];
            if r.event.is_none() && matches!(kind, SensorKind::GasDetector | SensorKind::ShutoffValve) {
                if s.fault {
                    s.fault = false;
                    out.push(cond(AlarmKind::DeviceFault, i, false, r.ts_ms, r.value, f64::NAN));
                }
                if s.battery_low {
                    s.battery_low = false;
                    out.push(cond(AlarmKind::BatteryLow, i, false, r.ts_ms, r.value, f64::NAN));
                }
            }
        }
        match kind {
            SensorKind::GasDetector => self.gas(i, r, out),
            SensorKind::ShutoffValve => {
                let closed = r.value < 0.5 && !self.commanded_closed[i];
                let s = &mut self.state[i];
                if closed != s.closed {
                    s.closed = closed;
                    out.push(cond(AlarmKind::ShutoffClosed, i, closed, r.ts_ms, r.value, 0.5));
                }
            }
            SensorKind::Pressure if !self.neighbours[i].is_empty() => {
                self.recent[i].push(r.ts_ms, r.value);
                // A drop now escalates gas alarms already standing here.
                for g in self.neighbours[i].clone() {
                    self.escalate(g as usize, r.ts_ms, out);
                }
            }
            _ => {}
        }
    }

    fn gas(&mut self, i: usize, r: &Reading, out: &mut Vec<Condition>) {
        let c = &self.config;
        let confirm = (c.confirm_s * 1000.0) as i64;
        self.state[i].last_pct = r.value;
        for (level, limit) in [c.lel_warning_pct, c.lel_alarm_pct].into_iter().enumerate() {
            let d = &mut self.state[i].gas[level];
            let raw = r.value >= limit || (d.active && r.value > limit - c.hysteresis_pct);
            if let Some(active) = d.feed(raw, r.ts_ms, confirm, 0) {
                self.state[i].escalated[level] = false;
                out.push(cond(GAS_KINDS[level], i, active, r.ts_ms, r.value, limit));
            }
        }
        if let Some(due) = self.state[i].gas.iter().filter_map(|d| d.due(confirm, 0)).min() {
            self.pending.add(i, due);
        }
        self.escalate(i, r.ts_ms, out);
    }

    /// Escalates standing gas alarms of detector `g` to critical when a
    /// pressure at its node has dropped.
    fn escalate(&mut self, g: usize, now: i64, out: &mut Vec<Condition>) {
        let window = (self.config.pressure_drop_window_s * 1000.0) as i64;
        for (level, kind) in GAS_KINDS.into_iter().enumerate() {
            let s = self.state[g];
            if !s.gas[level].active || s.escalated[level] {
                continue;
            }
            let dropped = self.neighbours[g].iter().find_map(|&p| {
                let recent = &self.recent[p as usize];
                let last = (recent.next + 15) % 16;
                let current = recent.value[last];
                let drop = recent.drop(now, window, current);
                (drop >= self.config.pressure_drop_bar).then_some(drop)
            });
            if let Some(drop) = dropped {
                self.state[g].escalated[level] = true;
                out.push(Condition {
                    priority: Some(Priority::Critical),
                    ..cond(kind, g, true, now, drop, self.config.pressure_drop_bar)
                });
            }
        }
    }

    /// Confirmation delays complete on the last value.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Condition>) {
        let confirm = (self.config.confirm_s * 1000.0) as i64;
        let limits = [self.config.lel_warning_pct, self.config.lel_alarm_pct];
        let state = &mut self.state;
        let mut confirmed = Vec::new();
        self.pending.visit(now_ms, |i| {
            let s = &mut state[i as usize];
            for (level, d) in s.gas.iter_mut().enumerate() {
                if let Some((active, at)) = d.tick(now_ms, confirm, 0) {
                    s.escalated[level] = false;
                    out.push(cond(
                        GAS_KINDS[level],
                        i as usize,
                        active,
                        at,
                        s.last_pct,
                        limits[level],
                    ));
                    confirmed.push((i as usize, at));
                }
            }
            s.gas.iter().filter_map(|d| d.due(confirm, 0)).min()
        });
        for (g, at) in confirmed {
            self.escalate(g, at, out);
        }
    }
}
