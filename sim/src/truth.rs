//! The ground truth of a run: what happened when (leaks with their position
//! and size, outages, set points, valve operations, device events, sensor
//! faults) and the mass totals, written beside a recording for
//! `linepack eval` to score the engine against. `docs/scenarios.md` has
//! the schema.

use linepack_ingest::telemetry::time::format_rfc3339_ms;
use linepack_network::ids::ElementRef;
use serde::{Deserialize, Serialize};

use crate::scenario::{DeviceKind, LeakSite, Station};
use crate::simulation::{Simulation, StepTotals};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub network: String,
    pub scenario: String,
    pub seed: u64,
    pub start: String,
    pub end: String,
    pub step_s: f64,
    pub leaks: Vec<TruthLeak>,
    pub outages: Vec<TruthOutage>,
    pub setpoints: Vec<TruthSetpoint>,
    pub valves: Vec<TruthValve>,
    pub devices: Vec<TruthDevice>,
    pub faults: Vec<TruthFault>,
    pub totals: Totals,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthLeak {
    pub id: String,
    /// The node it is at, or for a pipe leak the pipe's nearer end.
    pub node: String,
    pub pipe: Option<String>,
    /// 0 at the pipe's `from` end, 1 at its `to` end.
    pub position: Option<f64>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub zone: Option<String>,
    pub start: String,
    pub start_ms: i64,
    pub end: Option<String>,
    pub end_ms: Option<i64>,
    /// The rate when it started (null if it never started), kg/s.
    pub rate_kg_s: Option<f64>,
    pub growth_per_hour: f64,
    /// Gas lost through it over the run, kg.
    pub lost_kg: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthOutage {
    pub element: String,
    pub start: String,
    pub start_ms: i64,
    pub end: Option<String>,
    pub end_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthSetpoint {
    pub element: String,
    pub at: String,
    pub at_ms: i64,
    pub pressure_bar_g: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthValve {
    pub valve: String,
    pub at: String,
    pub at_ms: i64,
    pub open: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthDevice {
    pub sensor: String,
    pub consumer: Option<String>,
    pub event: String,
    pub at: String,
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthFault {
    pub sensor: String,
    pub kind: String,
    pub start: String,
    pub start_ms: i64,
    pub end: Option<String>,
    pub end_ms: Option<i64>,
}

/// Mass over the run, kg: what came in, went out and stayed in the pipes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub steps: usize,
    pub messages: u64,
    pub supplied_kg: f64,
    pub injected_kg: f64,
    pub consumed_kg: f64,
    pub leaked_kg: f64,
    pub linepack_start_kg: f64,
    pub linepack_end_kg: f64,
    /// supplied + injected − consumed − leaked − (linepack end − start):
    /// zero up to the solver's tolerance when storage is on.
    pub balance_error_kg: f64,
}

impl Totals {
    pub fn start(first: &StepTotals) -> Totals {
        Totals {
            linepack_start_kg: first.linepack_kg,
            linepack_end_kg: first.linepack_kg,
            ..Totals::default()
        }
    }

    /// Adds a step of `dt_s` seconds, at its end-of-step rates (the rates
    /// the step's implicit solve balanced).
    pub fn add(&mut self, step: &StepTotals, dt_s: f64) {
        self.steps += 1;
        self.supplied_kg += step.supplied_kg_s * dt_s;
        self.injected_kg += step.injected_kg_s * dt_s;
        self.consumed_kg += step.demand_kg_s * dt_s;
        self.leaked_kg += step.leak_kg_s * dt_s;
        self.linepack_end_kg = step.linepack_kg;
        self.balance_error_kg = self.supplied_kg + self.injected_kg
            - self.consumed_kg
            - self.leaked_kg
            - (self.linepack_end_kg - self.linepack_start_kg);
    }
}

fn opt_time(ms: Option<i64>) -> Option<String> {
    ms.map(format_rfc3339_ms)
}

impl Truth {
    /// What `sim` was told to do and did, with `totals`.
    pub fn of(sim: &Simulation, totals: Totals) -> Truth {
        let sc = &sim.scenario;
        let base = &sim.base;
        let station = |s: Station| match s {
            Station::Supply(i) => base.supplies[i.index()].id.clone(),
            Station::Regulator(i) => base.regulators[i.index()].id.clone(),
        };
        let zone_of = |node: linepack_network::ids::NodeIdx| {
            base.zones
                .iter()
                .find(|z| z.nodes.contains(&node))
                .map(|z| z.id.clone())
        };
        let leaks = sc
            .leaks
            .iter()
            .zip(&sim.leaks)
            .map(|(l, active)| {
                let (node, pipe, position) = match l.site {
                    LeakSite::Node(n) => (n, None, None),
                    LeakSite::Pipe { pipe, position } => {
                        let p = &base.pipes[pipe.index()];
                        let nearer = if position <= 0.5 { p.from } else { p.to };
                        (nearer, Some(p.id.clone()), Some(position))
                    }
                };
                let at = sim.net.node(active.node);
                TruthLeak {
                    id: l.id.clone(),
                    node: base.node(node).id.clone(),
                    pipe,
                    position,
                    x: at.x,
                    y: at.y,
                    zone: zone_of(node),
                    start: format_rfc3339_ms(l.start_ms),
                    start_ms: l.start_ms,
                    end: opt_time(l.end_ms),
                    end_ms: l.end_ms,
                    rate_kg_s: active.start_rate_kg_s,
                    growth_per_hour: l.growth_per_hour,
                    lost_kg: active.lost_kg,
                }
            })
            .collect();
        let devices = sc
            .devices
            .iter()
            .map(|d| {
                let s = &base.sensors[d.sensor.index()];
                TruthDevice {
                    sensor: s.id.clone(),
                    consumer: match s.at {
                        ElementRef::Consumer(c) => Some(base.consumers[c.index()].id.clone()),
                        _ => None,
                    },
                    event: match d.kind {
                        DeviceKind::GasRise { .. } => "gas_rise".into(),
                        DeviceKind::ShutoffClose => "shutoff_close".into(),
                        DeviceKind::ShutoffOpen => "shutoff_open".into(),
                        DeviceKind::Event(e) => e.name().into(),
                    },
                    at: format_rfc3339_ms(d.at_ms),
                    at_ms: d.at_ms,
                }
            })
            .collect();
        Truth {
            network: base.name.clone(),
            scenario: sc.name.clone(),
            seed: sc.seed,
            start: format_rfc3339_ms(sc.start_ms),
            end: format_rfc3339_ms(sc.end_ms),
            step_s: sc.step_ms as f64 / 1000.0,
            leaks,
            outages: sc
                .outages
                .iter()
                .map(|o| TruthOutage {
                    element: station(o.element),
                    start: format_rfc3339_ms(o.start_ms),
                    start_ms: o.start_ms,
                    end: opt_time(o.end_ms),
                    end_ms: o.end_ms,
                })
                .collect(),
            setpoints: sc
                .setpoints
                .iter()
                .map(|s| TruthSetpoint {
                    element: station(s.element),
                    at: format_rfc3339_ms(s.at_ms),
                    at_ms: s.at_ms,
                    pressure_bar_g: s.pressure_bar_g,
                })
                .collect(),
            valves: sc
                .valve_ops
                .iter()
                .map(|v| TruthValve {
                    valve: base.valves[v.valve.index()].id.clone(),
                    at: format_rfc3339_ms(v.at_ms),
                    at_ms: v.at_ms,
                    open: v.open,
                })
                .collect(),
            devices,
            faults: sc
                .faults
                .iter()
                .map(|f| TruthFault {
                    sensor: base.sensors[f.sensor.index()].id.clone(),
                    kind: f.kind.name().into(),
                    start: format_rfc3339_ms(f.start_ms),
                    start_ms: f.start_ms,
                    end: opt_time(f.end_ms),
                    end_ms: f.end_ms,
                })
                .collect(),
            totals,
        }
    }
}
