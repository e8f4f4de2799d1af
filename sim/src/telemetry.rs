//! Synthetic telemetry: what each sensor of the network reports about the
//! simulated state, with measurement noise, the scenario's sensor faults
//! and device events, in the units the engine expects by default (pressure
//! bar g, flow kg/s, temperature °C, gas detector %LEL, shut-off valve 1
//! open / 0 closed) and at a device's resolution.
//!
//! Every sensor draws its noise from its own random stream, so a fault or a
//! leak added to a scenario does not change any other sensor's noise.

use linepack_ingest::telemetry::DeviceEvent;
use linepack_network::ids::{ElementRef, SensorIdx};
use linepack_network::network::SensorKind;

use crate::rng::Rng;
use crate::scenario::{DeviceKind, FaultKind};
use crate::simulation::{Simulation, stream};

/// One message a sensor publishes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record {
    pub sensor: SensorIdx,
    /// The reading's own time, ms.
    pub ts_ms: i64,
    /// NaN for an event-only message.
    pub value: f64,
    pub event: Option<DeviceEvent>,
    /// When it is published (later than `ts_ms` for a late sensor), ms.
    pub publish_ms: i64,
}

const ZERO_CELSIUS_K: f64 = 273.15;

/// The telemetry of one simulation.
pub struct Telemetry {
    rngs: Vec<Rng>,
    /// Per sensor: indices into `scenario.faults`.
    faults: Vec<Vec<usize>>,
    /// Per fault: the value a stuck sensor repeats.
    stuck: Vec<Option<f64>>,
    /// Late messages not yet published, with their order of creation.
    held: Vec<(u64, Record)>,
    seq: u64,
    last_t_ms: Option<i64>,
}

impl Telemetry {
    pub fn new(sim: &Simulation) -> Self {
        let n = sim.base.sensors.len();
        let mut faults = vec![Vec::new(); n];
        for (k, f) in sim.scenario.faults.iter().enumerate() {
            faults[f.sensor.index()].push(k);
        }
        Telemetry {
            rngs: (0..n).map(|i| Rng::new(stream(sim.scenario.seed, 2, i))).collect(),
            faults,
            stuck: vec![None; sim.scenario.faults.len()],
            held: Vec::new(),
            seq: 0,
            last_t_ms: None,
        }
    }

    /// The messages published at the simulation's current time, in
    /// publishing order: readings (every `period_steps` steps), device
    /// events since the last call, and late messages now due.
    pub fn collect(&mut self, sim: &Simulation, out: &mut Vec<Record>) {
        let t = sim.t_ms;
        let mut due: Vec<(u64, Record)> = Vec::new();
        if sim.step_index.is_multiple_of(sim.scenario.period_steps as usize) {
            for i in 0..sim.base.sensors.len() {
                self.reading(sim, SensorIdx::new(i), &mut due);
            }
        }
        for d in &sim.scenario.devices {
            let new = match self.last_t_ms {
                None => d.at_ms <= t,
                Some(last) => d.at_ms > last && d.at_ms <= t,
            };
            if let (true, DeviceKind::Event(e)) = (new, d.kind) {
                self.seq += 1;
                due.push((
                    self.seq,
                    Record {
                        sensor: d.sensor,
                        ts_ms: t,
                        value: f64::NAN,
                        event: Some(e),
                        publish_ms: t,
                    },
                ));
            }
        }
        self.last_t_ms = Some(t);
        // Late messages wait for their time.
        let mut k = 0;
        while k < due.len() {
            if due[k].1.publish_ms > t {
                self.held.push(due.swap_remove(k));
            } else {
                k += 1;
            }
        }
        let mut i = 0;
        while i < self.held.len() {
            if self.held[i].1.publish_ms <= t {
                due.push(self.held.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|(seq, r)| (r.publish_ms, *seq));
        out.extend(due.into_iter().map(|(_, r)| r));
    }

    /// Late messages still held when the simulation ends, in order.
    pub fn flush(&mut self, out: &mut Vec<Record>) {
        let mut held = std::mem::take(&mut self.held);
        held.sort_by_key(|(seq, r)| (r.publish_ms, *seq));
        out.extend(held.into_iter().map(|(_, r)| r));
    }

    fn reading(&mut self, sim: &Simulation, sensor: SensorIdx, due: &mut Vec<(u64, Record)>) {
        let i = sensor.index();
        let t = sim.t_ms;
        let spec = &sim.base.sensors[i];
        let noise = &sim.scenario.noise;
        let rng = &mut self.rngs[i];
        let (mut value, sigma) = match spec.kind {
            SensorKind::Pressure => {
                let node = match spec.at {
                    ElementRef::Node(n) => n,
                    ElementRef::Supply(s) => sim.base.supplies[s.index()].node,
                    _ => unreachable!("validated: pressure at a node or supply"),
                };
                // A node cut off from every supply has lost its gas.
                let p = sim.state.pressure_bar_g(&sim.net, node).unwrap_or(0.0);
                (p, noise.pressure_bar)
            }
            SensorKind::Flow => {
                let m = match spec.at {
                    ElementRef::Pipe(p) => sim.state.pipe_flow_kg_s[p.index()],
                    ElementRef::Regulator(r) => sim.state.regulator_flow_kg_s[r.index()],
                    ElementRef::Supply(s) => sim.state.supply_flow_kg_s[s.index()],
                    ElementRef::Consumer(c) => {
                        let c = &sim.net.consumers[c.index()];
                        if c.in_service { c.demand_kg_s } else { 0.0 }
                    }
                    _ => unreachable!("validated: flow at a pipe, regulator, supply or consumer"),
                };
                (m, noise.flow_relative * m.abs() + noise.flow_kg_s)
            }
            SensorKind::Temperature => {
                let ElementRef::Node(n) = spec.at else {
                    unreachable!("validated: temperature at a node")
                };
                (sim.net.node_temperature_k(n) - ZERO_CELSIUS_K, noise.temperature_k)
            }
            SensorKind::GasDetector => (gas_pct_lel(sim, sensor), noise.gas_detector_pct_lel),
            SensorKind::ShutoffValve => {
                let ElementRef::Consumer(c) = spec.at else {
                    unreachable!("validated: shut-off valve at a consumer")
                };
                (if sim.shutoff_closed[c.index()] { 0.0 } else { 1.0 }, 0.0)
            }
        };
        if sigma > 0.0 {
            value += sigma * rng.normal();
        }
        let mut publish_ms = t;
        let mut copies = 1;
        for &k in &self.faults[i] {
            let fault = &sim.scenario.faults[k];
            if !fault.active(t) {
                continue;
            }
            match fault.kind {
                FaultKind::Dropout => return,
                FaultKind::Bias(b) => value += b,
                FaultKind::DriftPerHour(r) => value += r * (t - fault.start_ms) as f64 / 3_600_000.0,
                FaultKind::Noise(s) => value += s * rng.normal(),
                FaultKind::Stuck => value = *self.stuck[k].get_or_insert(value),
                FaultKind::LateMs(d) => publish_ms = t + d,
                FaultKind::Duplicate => copies = 2,
            }
        }
        let value = match spec.kind {
            SensorKind::Pressure => resolution(value, 5),
            SensorKind::Flow => resolution(value, 7),
            SensorKind::Temperature => resolution(value, 2),
            SensorKind::GasDetector => resolution(value.clamp(0.0, 100.0), 1),
            SensorKind::ShutoffValve => value,
        };
        for _ in 0..copies {
            self.seq += 1;
            due.push((
                self.seq,
                Record {
                    sensor,
                    ts_ms: t,
                    value,
                    event: None,
                    publish_ms,
                },
            ));
        }
    }
}

/// What a gas detector reads: the scenario's gas rises (ramp up, hold,
/// ramp down), else clean air.
fn gas_pct_lel(sim: &Simulation, sensor: SensorIdx) -> f64 {
    let t = sim.t_ms;
    let mut lel: f64 = 0.0;
    for d in sim.scenario.devices.iter().filter(|d| d.sensor == sensor) {
        if let DeviceKind::GasRise {
            peak_pct_lel,
            ramp_ms,
            hold_ms,
        } = d.kind
        {
            let since = t - d.at_ms;
            let ramp = ramp_ms.max(1) as f64;
            let v = if since < 0 {
                0.0
            } else if since < ramp_ms {
                peak_pct_lel * since as f64 / ramp
            } else if since < ramp_ms + hold_ms {
                peak_pct_lel
            } else {
                let down = (since - ramp_ms - hold_ms) as f64 / ramp;
                (peak_pct_lel * (1.0 - down)).max(0.0)
            };
            lel = lel.max(v);
        }
    }
    lel
}

/// `value` to `decimals` decimal places, as the shortest decimal: what a
/// device with that resolution sends.
fn resolution(value: f64, decimals: usize) -> f64 {
    format!("{value:.decimals$}").parse().unwrap_or(value)
}
