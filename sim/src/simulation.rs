//! Time stepping: the network through a scenario, one solve per step.
//!
//! The simulated network is the given one plus what the scenario adds: a
//! leak on a pipe splits the pipe at its position with a new node, and each
//! leak is a withdrawal at its node. Elements keep their indices (additions
//! go at the end), so sensors read the simulated network directly.
//!
//! Each step moves the clock, applies what the scenario says happened by
//! then (outages, set points, valves, shut-off valves), sets every demand
//! from its profile and noise and every leak's rate, and solves, warm
//! started from the last step. With `storage` (the default) the solve
//! counts each node's share of the linepack change over the step
//! ([`SteadySolver::step`]): supplies then deliver demand + leaks + packing
//! and the mass balance closes with the linepack change. Without, each step
//! is a steady state. (A transient model with gas inertia for
//! high-pressure lines would replace the solve here; the rest stays.)

use linepack_network::Network;
use linepack_network::file::{self, export};
use linepack_network::ids::{ConsumerIdx, ElementRef, NodeIdx};
use linepack_network::linepack::linepack;
use linepack_network::network::ConsumerKind;
use linepack_network::solver::{SolveError, SolveOptions, SteadySolver, SteadyState};

use crate::rng::Rng;
use crate::scenario::{LeakSite, LeakSize, Scenario, Station};

/// The simulation could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the scenario cannot be applied to the network: {0}")]
    Build(String),
    #[error("at {time}: the network cannot be solved: {source}")]
    Solve {
        time: String,
        #[source]
        source: Box<SolveError>,
    },
}

/// What one step did, in totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTotals {
    pub t_ms: i64,
    /// Delivered by the supplies (including what they pack into their pipes), kg/s.
    pub supplied_kg_s: f64,
    pub injected_kg_s: f64,
    /// Consumed by the users, kg/s.
    pub demand_kg_s: f64,
    /// Lost through leaks, kg/s.
    pub leak_kg_s: f64,
    /// Gas in the pipes at the end of the step, kg.
    pub linepack_kg: f64,
    pub iterations: usize,
}

/// A leak as it happens.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveLeak {
    /// Index into `scenario.leaks`.
    pub leak: usize,
    /// The node it withdraws at in the simulated network.
    pub node: NodeIdx,
    pub consumer: ConsumerIdx,
    /// Rate at its start, kg/s (known once it started).
    pub start_rate_kg_s: Option<f64>,
    /// Total lost so far, kg.
    pub lost_kg: f64,
}

/// A network running through a scenario.
pub struct Simulation {
    pub scenario: Scenario,
    /// The network as given: what sensors and zones refer to.
    pub base: Network,
    /// The network as simulated (with leak nodes and leak withdrawals).
    pub net: Network,
    pub state: SteadyState,
    solver: SteadySolver,
    /// Steps taken; 0 is the initial steady state.
    pub step_index: usize,
    pub t_ms: i64,
    pub totals: StepTotals,
    pub leaks: Vec<ActiveLeak>,
    /// Per user (base consumers): its shut-off valve is closed.
    pub shutoff_closed: Vec<bool>,
    base_demand: Vec<f64>,
    noise: Vec<(f64, Rng)>,
    /// Zone of each base node, for leak sizes in percent of zone inflow.
    zone_of: Vec<Option<usize>>,
}

impl Simulation {
    /// Builds the simulated network and solves the initial state at the
    /// scenario's start.
    ///
    /// # Errors
    /// [`SimError`] when the leak elements cannot be added or the initial
    /// state cannot be solved.
    pub fn new(base: &Network, scenario: Scenario) -> Result<Simulation, SimError> {
        let (net, leaks) = build(base, &scenario)?;
        let base_demand = base.consumers.iter().map(|c| c.demand_kg_s).collect();
        let noise = (0..base.consumers.len())
            .map(|i| (0.0, Rng::new(stream(scenario.seed, 1, i))))
            .collect();
        let mut zone_of = vec![None; base.nodes.len()];
        for (z, zone) in base.zones.iter().enumerate() {
            for n in &zone.nodes {
                zone_of[n.index()] = Some(z);
            }
        }
        let options = SolveOptions {
            friction: scenario.friction,
            ..SolveOptions::default()
        };
        let solver = SteadySolver::new(&net, options);
        let mut sim = Simulation {
            t_ms: scenario.start_ms,
            scenario,
            shutoff_closed: vec![false; base.consumers.len()],
            base: base.clone(),
            state: SteadyState::empty(&net, options.friction),
            net,
            solver,
            step_index: 0,
            totals: StepTotals::default(),
            leaks,
            base_demand,
            noise,
            zone_of,
        };
        sim.apply_events(sim.t_ms, sim.t_ms);
        sim.set_demands(0.0);
        sim.set_leaks(0.0);
        sim.state = sim.solver.solve(&sim.net).map_err(|e| sim.solve_error(e))?;
        sim.totals = sim.measure();
        Ok(sim)
    }

    /// Whether the scenario's end is reached.
    pub fn finished(&self) -> bool {
        self.t_ms + self.scenario.step_ms > self.scenario.end_ms
    }

    /// Advances one step.
    ///
    /// # Errors
    /// [`SimError::Solve`] naming the time when the network cannot be solved
    /// (e.g. an outage leaves users without enough gas).
    pub fn step(&mut self) -> Result<&StepTotals, SimError> {
        let dt_ms = self.scenario.step_ms;
        let before = self.t_ms;
        self.t_ms += dt_ms;
        self.step_index += 1;
        let dt_s = dt_ms as f64 / 1000.0;
        self.apply_events(before + 1, self.t_ms);
        self.set_demands(dt_s);
        self.set_leaks(dt_s);
        let result = if self.scenario.storage {
            self.solver.step(&self.net, &mut self.state, dt_s)
        } else {
            self.solver.resolve(&self.net, &mut self.state)
        };
        result.map_err(|e| self.solve_error(e))?;
        self.totals = self.measure();
        Ok(&self.totals)
    }

    fn solve_error(&self, e: SolveError) -> SimError {
        SimError::Solve {
            time: linepack_ingest::telemetry::time::format_rfc3339_ms(self.t_ms),
            source: Box::new(e),
        }
    }

    /// Outages, set points, valve operations and shut-off valves with a
    /// time in `(from, to]` (or `[from, to]` at the start).
    fn apply_events(&mut self, from: i64, to: i64) {
        let within = |t: i64| t >= from && t <= to;
        let sc = &self.scenario;
        for o in &sc.outages {
            if within(o.start_ms) {
                set_in_service(&mut self.net, o.element, false);
            }
            if o.end_ms.is_some_and(within) {
                set_in_service(&mut self.net, o.element, true);
            }
        }
        for s in &sc.setpoints {
            if within(s.at_ms) {
                match s.element {
                    Station::Supply(i) => self.net.supplies[i.index()].pressure_bar_g = s.pressure_bar_g,
                    Station::Regulator(i) => self.net.regulators[i.index()].outlet_pressure_bar_g = s.pressure_bar_g,
                }
            }
        }
        for v in &sc.valve_ops {
            if within(v.at_ms) {
                self.net.valves[v.valve.index()].open = v.open;
            }
        }
        for d in &sc.devices {
            if !within(d.at_ms) {
                continue;
            }
            let closed = match d.kind {
                crate::scenario::DeviceKind::ShutoffClose => true,
                crate::scenario::DeviceKind::ShutoffOpen => false,
                _ => continue,
            };
            if let ElementRef::Consumer(c) = self.base.sensors[d.sensor.index()].at {
                self.shutoff_closed[c.index()] = closed;
            }
        }
    }

    /// Every user's demand at `t_ms`: its file demand × the daily and
    /// weekly factors of its kind × (1 + its own correlated noise); zero
    /// behind a closed shut-off valve.
    fn set_demands(&mut self, dt_s: f64) {
        let d = &self.scenario.demand;
        let phi = if dt_s > 0.0 {
            (-dt_s / d.noise_correlation_s).exp()
        } else {
            0.0
        };
        let (hour, weekday) = local_hour_and_weekday(self.t_ms);
        for (i, c) in self.base.consumers.iter().enumerate() {
            let (e, rng) = &mut self.noise[i];
            // AR(1) with stationary standard deviation `noise`; the first
            // value is drawn from the stationary distribution.
            *e = phi * *e + (1.0 - phi * phi).sqrt() * d.noise * rng.normal();
            let factor = d.profile(c.kind).factor(hour, weekday) * (1.0 + *e).max(0.0);
            let demand = if self.shutoff_closed[i] {
                0.0
            } else {
                self.base_demand[i] * factor
            };
            self.net.consumers[i].demand_kg_s = demand;
        }
    }

    /// Each leak's rate at `t_ms` (a percentage is of the zone's demand at
    /// the moment the leak starts); accumulates what was lost.
    fn set_leaks(&mut self, dt_s: f64) {
        for k in 0..self.leaks.len() {
            let leak = &self.scenario.leaks[k];
            let running = self.t_ms >= leak.start_ms && leak.end_ms.is_none_or(|e| self.t_ms < e);
            let rate = if running {
                let start = match self.leaks[k].start_rate_kg_s {
                    Some(r) => r,
                    None => {
                        let r = match leak.size {
                            LeakSize::RateKgS(r) => r,
                            LeakSize::PercentOfInflow(p) => p / 100.0 * self.zone_inflow(k),
                        };
                        self.leaks[k].start_rate_kg_s = Some(r);
                        r
                    }
                };
                let hours = (self.t_ms - leak.start_ms) as f64 / 3_600_000.0;
                start * (1.0 + leak.growth_per_hour * hours)
            } else {
                0.0
            };
            let c = self.leaks[k].consumer.index();
            self.net.consumers[c].demand_kg_s = rate;
            self.leaks[k].lost_kg += rate * dt_s;
        }
    }

    /// What the zone of leak `k` draws now (the network's total without
    /// zones).
    fn zone_inflow(&self, k: usize) -> f64 {
        let zone = match self.scenario.leaks[k].site {
            LeakSite::Node(n) => self.zone_of[n.index()],
            LeakSite::Pipe { pipe, .. } => self.zone_of[self.base.pipes[pipe.index()].from.index()],
        };
        self.base
            .consumers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.in_service && (zone.is_none() || self.zone_of[c.node.index()] == zone))
            .map(|(i, _)| self.net.consumers[i].demand_kg_s)
            .sum()
    }

    fn measure(&self) -> StepTotals {
        let n_base = self.base.consumers.len();
        let in_service = |i: &usize| self.net.consumers[*i].in_service;
        StepTotals {
            t_ms: self.t_ms,
            supplied_kg_s: self.state.supply_flow_kg_s.iter().sum(),
            injected_kg_s: self.net.total_injection_kg_s(),
            demand_kg_s: (0..n_base)
                .filter(in_service)
                .map(|i| self.net.consumers[i].demand_kg_s)
                .sum(),
            leak_kg_s: (n_base..self.net.consumers.len())
                .filter(in_service)
                .map(|i| self.net.consumers[i].demand_kg_s)
                .sum(),
            linepack_kg: linepack(&self.net, &self.state).total_kg,
            iterations: self.state.iterations,
        }
    }
}

fn set_in_service(net: &mut Network, element: Station, on: bool) {
    match element {
        Station::Supply(i) => net.supplies[i.index()].in_service = on,
        Station::Regulator(i) => net.regulators[i.index()].in_service = on,
    }
}

/// An independent random stream per purpose and element, so that adding a
/// leak or a fault does not change the noise of everything else.
pub(crate) fn stream(seed: u64, purpose: u64, index: usize) -> u64 {
    let mut r = Rng::new(
        seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    r.next_u64()
}

/// Hour of day (fractional) and weekday (0 = Monday) of `t_ms`, UTC.
pub fn local_hour_and_weekday(t_ms: i64) -> (f64, usize) {
    let days = t_ms.div_euclid(86_400_000);
    let hour = t_ms.rem_euclid(86_400_000) as f64 / 3_600_000.0;
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    (hour, (days + 3).rem_euclid(7) as usize)
}

/// The simulated network: `base` with a node for every pipe leak (the pipe
/// split there) and a withdrawal for every leak, all added at the end.
fn build(base: &Network, scenario: &Scenario) -> Result<(Network, Vec<ActiveLeak>), SimError> {
    use linepack_network::file::schema::{ConsumerSpec, NodeSpec, PipeSpec};
    let mut f = export::to_file(base);
    let mut leak_nodes = Vec::new();
    for leak in &scenario.leaks {
        let node_id = match leak.site {
            LeakSite::Node(n) => base.node(n).id.clone(),
            LeakSite::Pipe { pipe, position } => {
                let p = &base.pipes[pipe.index()];
                let (a, b) = (base.node(p.from), base.node(p.to));
                let lerp = |u: Option<f64>, v: Option<f64>| Some(u? + position * (v? - u?));
                let id = format!("~{}-node", leak.id);
                f.nodes.push(NodeSpec {
                    id: id.clone(),
                    elevation_m: a.elevation_m + position * (b.elevation_m - a.elevation_m),
                    temperature_k: match (a.temperature_k, b.temperature_k) {
                        (None, None) => None,
                        _ => Some(0.5 * (base.node_temperature_k(p.from) + base.node_temperature_k(p.to))),
                    },
                    x: lerp(a.x, b.x),
                    y: lerp(a.y, b.y),
                });
                // The first part keeps the pipe's id and index.
                let spec = &mut f.pipes[pipe.index()];
                let rest = PipeSpec {
                    id: format!("~{}-rest", leak.id),
                    from: id.clone(),
                    to: spec.to.clone(),
                    length_m: spec.length_m * (1.0 - position),
                    ..spec.clone()
                };
                spec.to = id.clone();
                spec.length_m *= position;
                // Minor losses stay with the first part.
                f.pipes.push(PipeSpec {
                    loss_coefficient: 0.0,
                    ..rest
                });
                id
            }
        };
        f.consumers.push(ConsumerSpec {
            id: format!("~{}", leak.id),
            node: node_id.clone(),
            kind: ConsumerKind::Other,
            demand_kg_s: Some(0.0),
            demand_nm3_h: None,
            min_pressure_bar_g: None,
            in_service: true,
        });
        leak_nodes.push(node_id);
    }
    let net = file::validate::build(f)
        .map_err(|problems| SimError::Build(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    let leaks = leak_nodes
        .iter()
        .enumerate()
        .map(|(k, node_id)| ActiveLeak {
            leak: k,
            node: net.find_node(node_id).expect("added above"),
            consumer: ConsumerIdx::new(base.consumers.len() + k),
            start_rate_kg_s: None,
            lost_kg: 0.0,
        })
        .collect();
    Ok((net, leaks))
}
