//! The steady-state solver of `specs/hydraulics.md`.
//!
//! Unknowns are the absolute pressure of every node not held by a supply and
//! the mass flow of every active branch; equations are the node balances and
//! the branch laws. Newton's method with the analytic Jacobian solves them,
//! each step a sparse LU solve (faer, fill-reducing ordering, symbolic
//! factorization reused). Regulators switch between active, open and closed
//! in an outer loop until their states settle.
//!
//! A [`SteadySolver`] is a reusable workspace: as long as the configuration
//! (what is in service, valve positions, regulator modes) stays the same,
//! repeated solves reuse the layout, the symbolic factorization and every
//! buffer, and only demands and set points are read afresh.
//!
//! Modules: [`friction`] (the friction laws), `layout` (the configuration,
//! sparsity pattern and Jacobian positions), `newton` (the iteration), `ldu`
//! (the sparse factorization of the Newton system).

pub mod friction;
mod layout;
pub mod ldu;
mod newton;
#[cfg(test)]
mod tests;

pub use friction::FrictionLaw;
use layout::{Adjacency, Layout, NONE, NodeRole, configuration_key};
use newton::{Criteria, Failure, Newton};

use crate::ids::*;
use crate::network::{Network, RegulatorKind};
use crate::units::ambient_pressure_bar;

/// Pressure step (bar) below which Newton pauses to check regulator states.
const REGULATOR_CHECK_STEP_BAR: f64 = 1e-4;

/// Settings of a solve. `Default` is what `specs/hydraulics.md` asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolveOptions {
    /// Friction law; default Nikuradse.
    pub friction: FrictionLaw,
    /// Newton iterations per regulator configuration; default 100.
    pub max_iterations: usize,
    /// Converged when the last pressure step is at most this, bar; default 1e-9.
    pub pressure_tolerance_bar: f64,
    /// ... and the last flow step at most this times the throughput (at least
    /// 1 kg/s), kg/s; default 1e-12.
    pub flow_tolerance: f64,
    /// ... and every node balance holds to this times the throughput; default 1e-9.
    pub balance_tolerance: f64,
    /// How the Newton system is factored; default [`LinearSolver::Auto`].
    pub linear_solver: LinearSolver,
}

/// How the Newton system is factored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinearSolver {
    /// Sparse LDU without pivoting ([`ldu`]), switching a configuration to
    /// partial pivoting if it ever meets a tiny pivot.
    #[default]
    Auto,
    /// Always faer's partial-pivoting sparse LU: slower; for comparison and
    /// diagnosis.
    PartialPivoting,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            friction: FrictionLaw::Nikuradse,
            max_iterations: 100,
            pressure_tolerance_bar: 1e-9,
            flow_tolerance: 1e-12,
            balance_tolerance: 1e-9,
            linear_solver: LinearSolver::Auto,
        }
    }
}

/// What a regulator does in a solved state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RegulatorState {
    /// Holding its outlet at the set point.
    Active = 0,
    /// Inlet below the set point: fully open, outlet = inlet.
    Open = 1,
    /// No flow (the outlet side is at or above the set point, or flow would
    /// run backwards).
    Closed = 2,
}

impl RegulatorState {
    pub fn name(self) -> &'static str {
        match self {
            RegulatorState::Active => "active",
            RegulatorState::Open => "open",
            RegulatorState::Closed => "closed",
        }
    }
}

/// A solved (or, inside [`SolveError::NotConverged`], a last) state.
#[derive(Clone, Debug, PartialEq)]
pub struct SteadyState {
    pub friction: FrictionLaw,
    /// Newton iterations, summed over regulator configurations.
    pub iterations: usize,
    /// Absolute pressure per node, bar; NaN for disconnected nodes.
    pub pressure_bar_abs: Vec<f64>,
    /// Mass flow per pipe, kg/s, positive from → to; 0 when not carrying.
    pub pipe_flow_kg_s: Vec<f64>,
    pub valve_flow_kg_s: Vec<f64>,
    pub regulator_flow_kg_s: Vec<f64>,
    pub regulator_state: Vec<RegulatorState>,
    /// Flow each supply delivers into the network, kg/s.
    pub supply_flow_kg_s: Vec<f64>,
}

impl SteadyState {
    /// A state with no solution yet: pressures unknown, no flow.
    pub fn empty(network: &Network, friction: FrictionLaw) -> Self {
        SteadyState {
            friction,
            iterations: 0,
            pressure_bar_abs: vec![f64::NAN; network.nodes.len()],
            pipe_flow_kg_s: vec![0.0; network.pipes.len()],
            valve_flow_kg_s: vec![0.0; network.valves.len()],
            regulator_flow_kg_s: vec![0.0; network.regulators.len()],
            regulator_state: vec![RegulatorState::Active; network.regulators.len()],
            supply_flow_kg_s: vec![0.0; network.supplies.len()],
        }
    }

    fn fits(&self, network: &Network) -> bool {
        self.pressure_bar_abs.len() == network.nodes.len()
            && self.pipe_flow_kg_s.len() == network.pipes.len()
            && self.valve_flow_kg_s.len() == network.valves.len()
            && self.regulator_flow_kg_s.len() == network.regulators.len()
            && self.supply_flow_kg_s.len() == network.supplies.len()
    }

    /// Absolute pressure at a node, bar; `None` when disconnected.
    pub fn pressure_bar_abs(&self, node: NodeIdx) -> Option<f64> {
        let p = self.pressure_bar_abs[node.index()];
        (!p.is_nan()).then_some(p)
    }

    /// Gauge pressure at a node, bar; `None` when disconnected.
    pub fn pressure_bar_g(&self, network: &Network, node: NodeIdx) -> Option<f64> {
        self.pressure_bar_abs(node)
            .map(|p| p - ambient_pressure_bar(network.node(node).elevation_m))
    }

    /// Nodes without a pressure (no path from an in-service supply).
    pub fn disconnected_nodes(&self) -> impl Iterator<Item = NodeIdx> + '_ {
        self.pressure_bar_abs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_nan())
            .map(|(i, _)| NodeIdx::new(i))
    }

    /// Mean gas velocity in a pipe, m/s, at the pipe's mean pressure
    /// P_m = ⅔ (P_i³ − P_j³)/(P_i² − P_j²); 0 when it carries no gas.
    pub fn pipe_velocity_m_s(&self, network: &Network, pipe: PipeIdx) -> f64 {
        let p = &network.pipes[pipe.index()];
        let m = self.pipe_flow_kg_s[pipe.index()];
        let (Some(pi), Some(pj)) = (self.pressure_bar_abs(p.from), self.pressure_bar_abs(p.to)) else {
            return 0.0;
        };
        let t = 0.5 * (network.node_temperature_k(p.from) + network.node_temperature_k(p.to));
        let d = p.diameter_mm * 1e-3;
        let area = std::f64::consts::PI * d * d / 4.0;
        m / (network.gas.density_kg_m3(mean_pressure_bar(pi, pj), t) * area)
    }
}

/// The mean pressure of a pipe, P_m = ⅔ (P_i³ − P_j³)/(P_i² − P_j²), in a form
/// exact at P_i = P_j.
pub fn mean_pressure_bar(p_i: f64, p_j: f64) -> f64 {
    2.0 / 3.0 * (p_i * p_i + p_i * p_j + p_j * p_j) / (p_i + p_j)
}

/// Why a solve failed. Each names what to look at and carries the last
/// iterate (`last`) for diagnosis.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error(
        "steady state did not converge after {iterations} iterations; worst node '{worst_node}' \
         (balance error {balance_error_kg_s:.3e} kg/s, last pressure step {pressure_step_bar:.3e} bar); \
         check demands against supply pressures and pipe sizes"
    )]
    NotConverged {
        iterations: usize,
        worst_node: String,
        balance_error_kg_s: f64,
        pressure_step_bar: f64,
        last: Box<SteadyState>,
    },
    #[error(
        "the flow equations are singular near node '{node}' after {iterations} iterations; \
         look for loops of loss-free valves or regulators in parallel with open valves"
    )]
    Singular {
        iterations: usize,
        node: String,
        last: Box<SteadyState>,
    },
    #[error(
        "no physical state found near node '{node}' after {iterations} iterations \
         (pressure would fall to zero); demand is too high for the supply pressures"
    )]
    Infeasible {
        iterations: usize,
        node: String,
        last: Box<SteadyState>,
    },
    #[error("regulator states do not settle after {rounds} rounds (last to change: '{regulator}')")]
    RegulatorsUnsettled {
        rounds: usize,
        regulator: String,
        last: Box<SteadyState>,
    },
}

/// The first-order change of a solved state per kg/s withdrawn at `node`
/// (see [`SteadySolver::withdrawal_responses`]).
#[derive(Clone, Debug, PartialEq)]
pub struct WithdrawalResponse {
    pub node: NodeIdx,
    /// Per node, bar per kg/s (0 where a supply holds the pressure).
    pub pressure_bar: Vec<f64>,
    pub pipe_flow_kg_s: Vec<f64>,
    pub regulator_flow_kg_s: Vec<f64>,
    pub supply_flow_kg_s: Vec<f64>,
}

impl SolveError {
    /// The last iterate when the solve gave up.
    pub fn last_state(&self) -> &SteadyState {
        match self {
            SolveError::NotConverged { last, .. }
            | SolveError::Singular { last, .. }
            | SolveError::Infeasible { last, .. }
            | SolveError::RegulatorsUnsettled { last, .. } => last,
        }
    }
}

/// A reusable steady-state solver for one network (see the module docs).
pub struct SteadySolver {
    options: SolveOptions,
    adjacency: Option<Adjacency>,
    layout: Option<Layout>,
    newton: Newton,
    supplied: Vec<bool>,
    key: Vec<u8>,
    /// The copy withdrawal responses are solved about (kept to reuse).
    about: Option<SteadyState>,
}

impl SteadySolver {
    /// A solver for `network`. Cheap: the layout is built on the first solve.
    pub fn new(_network: &Network, options: SolveOptions) -> Self {
        SteadySolver {
            options,
            adjacency: None,
            layout: None,
            newton: Newton::default(),
            about: None,
            supplied: Vec::new(),
            key: Vec::new(),
        }
    }

    pub fn options(&self) -> &SolveOptions {
        &self.options
    }

    /// Solves from a cold start (pressures propagated from the supplies,
    /// small flows).
    ///
    /// # Errors
    /// [`SolveError`] on non-convergence, a singular system, an infeasible
    /// demand or regulators that do not settle.
    pub fn solve(&mut self, network: &Network) -> Result<SteadyState, SolveError> {
        let mut state = SteadyState::empty(network, self.options.friction);
        self.solve_from(network, &mut state, false, &[])?;
        Ok(state)
    }

    /// Solves again, starting from `state` (a previous solution of this
    /// network, e.g. the last time step) and overwriting it. Allocates nothing
    /// when the configuration is unchanged.
    ///
    /// # Errors
    /// As [`SteadySolver::solve`]; `state` then holds the last iterate.
    pub fn resolve(&mut self, network: &Network, state: &mut SteadyState) -> Result<(), SolveError> {
        self.resolve_with(network, state, &[])
    }

    /// [`resolve`](Self::resolve) with `withdrawn` (node, kg/s) taken out
    /// besides the network's demands.
    fn resolve_with(
        &mut self,
        network: &Network,
        state: &mut SteadyState,
        withdrawn: &[(NodeIdx, f64)],
    ) -> Result<(), SolveError> {
        let warm = state.fits(network);
        if !warm {
            *state = SteadyState::empty(network, self.options.friction);
        }
        self.solve_from(network, state, warm, withdrawn)
    }

    /// One time step of `dt_s` seconds from `state` (the state at the start
    /// of the step), overwriting it: the same equations as a steady solve,
    /// except that each node balance also counts what its half of every
    /// adjacent pipe packs or unpacks over the step, (linepack now −
    /// linepack before) / dt (implicit Euler on the linepack; gas inertia
    /// neglected). Supplies then deliver demand + leaks + packing, and the
    /// mass balance closes with the linepack change to solver tolerance.
    /// A `state` that does not fit the network is solved steady instead.
    ///
    /// # Errors
    /// As [`SteadySolver::solve`].
    pub fn step(&mut self, network: &Network, state: &mut SteadyState, dt_s: f64) -> Result<(), SolveError> {
        if !state.fits(network) || dt_s.is_nan() || dt_s <= 0.0 {
            return self.resolve(network, state);
        }
        let lp = &mut self.newton.pipe_linepack_prev_kg;
        lp.clear();
        lp.extend((0..network.pipes.len()).map(|i| crate::linepack::pipe_linepack_kg(network, state, PipeIdx::new(i))));
        self.newton.storage_dt_s = dt_s;
        let result = self.solve_from(network, state, true, &[]);
        self.newton.storage_dt_s = 0.0;
        result
    }

    /// How `state` answers one more kg/s withdrawn at each of `nodes`, to
    /// first order (the solver's Jacobian at the solution, one linear solve
    /// per node): a leak's signature on every pressure and flow. A copy of
    /// `state` is first solved again, steady, so that the Jacobian is the
    /// one at its solution; `state` itself is left as it is (it may be a
    /// time step's, packing or unpacking, that its owner steps on from).
    ///
    /// `withdrawn` (node, kg/s) is taken out of the copy besides the
    /// network's demands. A leak of rate q changes the state by the
    /// response about half of it times q, to second order (the midpoint
    /// rule), where the response about the state without it (the tangent)
    /// is off by a share of order q over the flows it joins: so a caller
    /// that has located a leak passes half of it here.
    /// `each` sees one response at a time.
    ///
    /// # Errors
    /// As [`SteadySolver::resolve`]; a singular Jacobian as
    /// [`SolveError::Singular`].
    pub fn withdrawal_responses(
        &mut self,
        network: &Network,
        state: &SteadyState,
        withdrawn: &[(NodeIdx, f64)],
        nodes: &[NodeIdx],
        mut each: impl FnMut(&WithdrawalResponse),
    ) -> Result<(), SolveError> {
        let mut about = match self.about.take() {
            Some(mut about) => {
                about.clone_from(state);
                about
            }
            None => state.clone(),
        };
        let result = self.responses_about(network, &mut about, withdrawn, nodes, &mut each);
        self.about = Some(about);
        result
    }

    fn responses_about(
        &mut self,
        network: &Network,
        state: &mut SteadyState,
        withdrawn: &[(NodeIdx, f64)],
        nodes: &[NodeIdx],
        each: &mut impl FnMut(&WithdrawalResponse),
    ) -> Result<(), SolveError> {
        self.resolve_with(network, state, withdrawn)?;
        let layout = self.layout.as_ref().expect("solved above");
        let nw = &mut self.newton;
        let singular = |state: &SteadyState, node: NodeIdx| SolveError::Singular {
            iterations: 0,
            node: network.nodes[node.index()].id.clone(),
            last: Box::new(state.clone()),
        };
        if !nw.linearize(layout, network, self.options.friction) {
            return Err(singular(state, nodes.first().copied().unwrap_or(NodeIdx::new(0))));
        }
        let nf = layout.free_nodes.len();
        let mut response = WithdrawalResponse {
            node: NodeIdx::new(0),
            pressure_bar: vec![0.0; network.nodes.len()],
            pipe_flow_kg_s: vec![0.0; network.pipes.len()],
            regulator_flow_kg_s: vec![0.0; network.regulators.len()],
            supply_flow_kg_s: vec![0.0; network.supplies.len()],
        };
        for &node in nodes {
            response.node = node;
            response.pressure_bar.fill(0.0);
            response.pipe_flow_kg_s.fill(0.0);
            response.regulator_flow_kg_s.fill(0.0);
            response.supply_flow_kg_s.fill(0.0);
            match layout.roles[node.index()] {
                NodeRole::Free(col) => {
                    if !nw.withdrawal_step(layout, col as usize) {
                        return Err(singular(state, node));
                    }
                    let dx = nw.step();
                    for (i, role) in layout.roles.iter().enumerate() {
                        if let NodeRole::Free(c) = role {
                            response.pressure_bar[i] = dx[*c as usize];
                        }
                    }
                    let flow = |eq: u32| if eq == NONE { 0.0 } else { dx[nf + eq as usize] };
                    for (m, &eq) in response.pipe_flow_kg_s.iter_mut().zip(&layout.pipe_eq) {
                        *m = flow(eq);
                    }
                    for (m, &eq) in response.regulator_flow_kg_s.iter_mut().zip(&layout.regulator_eq) {
                        *m = flow(eq);
                    }
                    for (k, b) in layout.branches.iter().enumerate() {
                        for (end, sign) in [(b.from, 1.0), (b.to, -1.0)] {
                            if let NodeRole::Fixed(s) = layout.roles[end.index()] {
                                response.supply_flow_kg_s[s.index()] += sign * dx[nf + k];
                            }
                        }
                    }
                }
                // Held by a supply: only that supply delivers more.
                NodeRole::Fixed(s) => response.supply_flow_kg_s[s.index()] = 1.0,
                NodeRole::Disconnected => {}
            }
            each(&response);
        }
        Ok(())
    }

    /// Solves `state` in place (`warm`: from its values), with `withdrawn`
    /// (node, kg/s) besides the network's demands.
    fn solve_from(
        &mut self,
        network: &Network,
        state: &mut SteadyState,
        warm: bool,
        withdrawn: &[(NodeIdx, f64)],
    ) -> Result<(), SolveError> {
        state.friction = self.options.friction;
        state.iterations = 0;
        let mut modes = state.regulator_state.clone();
        if !warm {
            modes.fill(RegulatorState::Active);
        }
        resolve_parallel_regulators(network, &mut modes);
        if !self.adjacency.as_ref().is_some_and(|a| a.fits(network)) {
            self.adjacency = Some(Adjacency::new(network));
        }

        let max_rounds = 2 * network.regulators.len() + 4;
        let mut warm = warm;
        let mut fresh = true;
        for _round in 0..max_rounds {
            // A new layout only when the set of nodes with gas changed (or on
            // the first round); a regulator switch alone keeps the iterate.
            let adjacency = self.adjacency.as_ref().expect("built above");
            layout::supplied_nodes(network, adjacency, &modes, &mut self.supplied);
            configuration_key(network, &self.supplied, &mut self.key);
            let rebuilt = self.layout.as_ref().is_none_or(|l| l.key != self.key);
            if rebuilt {
                let layout = layout::build(network, &self.supplied);
                layout
                    .needs_pivoting
                    .set(self.options.linear_solver == LinearSolver::PartialPivoting);
                self.layout = Some(layout);
            }
            let layout = self.layout.as_ref().expect("prepared");
            let mut criteria = criteria(&self.options, network, layout);
            let restart = fresh || rebuilt;
            if restart {
                self.newton.prepare(layout);
                fill_known(&mut self.newton, network, layout, withdrawn);
                initial_guess(&mut self.newton, network, layout, &modes, warm.then_some(&*state));
            }
            self.newton.regulator_modes.clone_from(&modes);

            // With regulators, stop short of full convergence to check their
            // states first; if they hold, go on from where Newton is.
            let any_regulator = network.regulators.iter().any(|r| r.in_service);
            criteria.early_stop_step_bar = any_regulator.then_some(REGULATOR_CHECK_STEP_BAR);
            let mut cold = restart && !warm;
            let mut failed = false;
            let converged = loop {
                let outcome = self.newton.run(layout, network, self.options.friction, &criteria, cold);
                cold = false;
                state.iterations += match &outcome {
                    Ok(o) => o.iterations,
                    Err(
                        Failure::NotConverged { iterations }
                        | Failure::Singular { iterations }
                        | Failure::LineSearch { iterations },
                    ) => *iterations,
                };
                write_state(&self.newton, network, layout, &modes, state);
                match outcome {
                    // Newton found no state with these modes; if the last
                    // iterate says some regulator or compressor should be
                    // in another, try that from a fresh start.
                    Err(Failure::NotConverged { .. } | Failure::LineSearch { .. })
                        if any_regulator && next_modes(network, state, &modes) != modes =>
                    {
                        failed = true;
                        break false;
                    }
                    Err(failure) => return Err(self.failure(failure, network, layout, state)),
                    Ok(o) if o.converged => break true,
                    Ok(_) if next_modes(network, state, &modes) != modes => break false,
                    Ok(_) => criteria.early_stop_step_bar = None,
                }
            };

            let next = next_modes(network, state, &modes);
            if converged && next == modes {
                return Ok(());
            }
            modes = next;
            // After a failure, start afresh from the supplies; otherwise go
            // on from the last iterate.
            fresh = failed;
            warm = !failed;
        }
        let changed = network
            .regulators
            .iter()
            .zip(&modes)
            .zip(&state.regulator_state)
            .find(|((r, a), b)| r.in_service && a != b)
            .map_or_else(String::new, |((r, _), _)| r.id.clone());
        Err(SolveError::RegulatorsUnsettled {
            rounds: max_rounds,
            regulator: changed,
            last: Box::new(state.clone()),
        })
    }

    fn failure(&self, failure: Failure, network: &Network, layout: &Layout, state: &SteadyState) -> SolveError {
        let nf = layout.free_nodes.len();
        let nw = &self.newton;
        // Worst node: the largest balance error, else the largest pressure step.
        let by = |v: &[f64]| {
            v.iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map(|(i, v)| (i, v.abs()))
        };
        let worst = by(&nw.r[..nf])
            .filter(|(_, v)| *v > 0.0)
            .or_else(|| by(&nw.last_step[..nf]));
        let node_name = |col: usize| network.node(layout.free_nodes[col]).id.clone();
        let worst_node = worst.map_or_else(|| String::from("(none)"), |(i, _)| node_name(i));
        match failure {
            Failure::NotConverged { iterations } => SolveError::NotConverged {
                iterations,
                balance_error_kg_s: worst.map_or(0.0, |(i, _)| nw.r[i].abs()),
                pressure_step_bar: worst.map_or(0.0, |(i, _)| nw.last_step[i].abs()),
                worst_node,
                last: Box::new(state.clone()),
            },
            Failure::Singular { iterations } => SolveError::Singular {
                iterations,
                node: worst_node,
                last: Box::new(state.clone()),
            },
            Failure::LineSearch { iterations } => SolveError::Infeasible {
                iterations,
                node: worst_node,
                last: Box::new(state.clone()),
            },
        }
    }
}

fn criteria(options: &SolveOptions, network: &Network, layout: &Layout) -> Criteria {
    // Throughput of the supplied part of the network.
    let supplied = |n: NodeIdx| layout.roles[n.index()] != NodeRole::Disconnected;
    let demand: f64 = network
        .consumers
        .iter()
        .filter(|c| c.in_service && supplied(c.node))
        .map(|c| c.demand_kg_s)
        .sum();
    let injection: f64 = network
        .injections
        .iter()
        .filter(|c| c.in_service && supplied(c.node))
        .map(|c| c.rate_kg_s)
        .sum();
    let throughput = demand.max(injection);
    Criteria {
        max_iterations: options.max_iterations,
        pressure_step_bar: options.pressure_tolerance_bar,
        flow_step_kg_s: options.flow_tolerance * throughput.max(1.0),
        balance_kg_s: options.balance_tolerance * throughput.max(1e-6),
        branch_bar: options.pressure_tolerance_bar,
        flow_scale_kg_s: throughput.max(1e-6),
        early_stop_step_bar: None,
    }
}

/// Demands, injections, any further `withdrawn` (node, kg/s) and supply
/// pressures as they are now.
fn fill_known(nw: &mut Newton, network: &Network, layout: &Layout, withdrawn: &[(NodeIdx, f64)]) {
    let n = network.nodes.len();
    nw.withdrawal_kg_s.clear();
    nw.withdrawal_kg_s.resize(n, 0.0);
    for c in network.consumers.iter().filter(|c| c.in_service) {
        nw.withdrawal_kg_s[c.node.index()] += c.demand_kg_s;
    }
    for i in network.injections.iter().filter(|i| i.in_service) {
        nw.withdrawal_kg_s[i.node.index()] -= i.rate_kg_s;
    }
    for &(node, w) in withdrawn {
        nw.withdrawal_kg_s[node.index()] += w;
    }
    nw.fixed_bar.clear();
    nw.fixed_bar.resize(n, f64::NAN);
    for s in network.supplies.iter().filter(|s| s.in_service) {
        nw.fixed_bar[s.node.index()] = s.pressure_bar_g + layout.ambient_bar[s.node.index()];
    }
}

/// Initial iterate: the previous state where it has values, else pressures
/// propagated from the supplies (capped by regulator set points) and no flow.
fn initial_guess(
    nw: &mut Newton,
    network: &Network,
    layout: &Layout,
    modes: &[RegulatorState],
    warm: Option<&SteadyState>,
) {
    let nf = layout.free_nodes.len();
    let mut guess = vec![f64::NAN; network.nodes.len()];
    let mut queue = std::collections::VecDeque::new();
    for (i, p) in nw.fixed_bar.iter().enumerate() {
        if p.is_finite() {
            guess[i] = *p;
            queue.push_back(NodeIdx::new(i));
        }
    }
    // Neighbours over active branches, regulators forward only, with what
    // an active one makes of the pressure it passes on.
    #[derive(Clone, Copy)]
    enum Pass {
        Same,
        AtMost(f64),
        Exactly(f64),
    }
    let mut adjacency: Vec<Vec<(NodeIdx, Pass)>> = vec![Vec::new(); network.nodes.len()];
    for b in &layout.branches {
        let pass = match b.law {
            layout::Law::Regulator(i) if modes[i.index()] == RegulatorState::Active => {
                let r = &network.regulators[i.index()];
                let set = r.outlet_pressure_bar_g + layout.ambient_bar[b.to.index()];
                match r.kind {
                    RegulatorKind::Reducing => Pass::AtMost(set),
                    RegulatorKind::Compressor => Pass::Exactly(set),
                }
            }
            layout::Law::Regulator(i) if modes[i.index()] == RegulatorState::Closed => continue,
            _ => Pass::Same,
        };
        adjacency[b.from.index()].push((b.to, pass));
        if !matches!(b.branch, BranchRef::Regulator(_)) {
            adjacency[b.to.index()].push((b.from, Pass::Same));
        }
    }
    while let Some(n) = queue.pop_front() {
        let p = guess[n.index()];
        for &(m, pass) in &adjacency[n.index()] {
            if guess[m.index()].is_nan() {
                guess[m.index()] = match pass {
                    Pass::Same => p,
                    Pass::AtMost(set) => set.min(p),
                    Pass::Exactly(set) => set,
                };
                queue.push_back(m);
            }
        }
    }
    for (col, node) in layout.free_nodes.iter().enumerate() {
        let previous = warm.and_then(|s| s.pressure_bar_abs(*node));
        nw.x[col] = previous.unwrap_or(guess[node.index()]);
    }
    for (k, b) in layout.branches.iter().enumerate() {
        let previous = warm.map(|s| match b.branch {
            BranchRef::Pipe(i) => s.pipe_flow_kg_s[i.index()],
            BranchRef::Valve(i) => s.valve_flow_kg_s[i.index()],
            BranchRef::Regulator(i) => s.regulator_flow_kg_s[i.index()],
        });
        // Cold: no flow; the first Newton step is then a linear network solve.
        nw.x[nf + k] = previous.filter(|m| m.is_finite()).unwrap_or(0.0);
    }
}

/// Copies the Newton iterate into the element-indexed state.
fn write_state(nw: &Newton, network: &Network, layout: &Layout, modes: &[RegulatorState], state: &mut SteadyState) {
    let nf = layout.free_nodes.len();
    for (i, p) in state.pressure_bar_abs.iter_mut().enumerate() {
        *p = nw.pressure(layout, NodeIdx::new(i));
    }
    let flow = |eq: u32| if eq == NONE { 0.0 } else { nw.x[nf + eq as usize] };
    for (m, &eq) in state.pipe_flow_kg_s.iter_mut().zip(&layout.pipe_eq) {
        *m = flow(eq);
    }
    for (m, &eq) in state.valve_flow_kg_s.iter_mut().zip(&layout.valve_eq) {
        *m = flow(eq);
    }
    for (m, &eq) in state.regulator_flow_kg_s.iter_mut().zip(&layout.regulator_eq) {
        *m = flow(eq);
    }
    state.regulator_state.clear();
    state.regulator_state.extend_from_slice(modes);
    for (i, r) in network.regulators.iter().enumerate() {
        if !r.in_service {
            state.regulator_state[i] = RegulatorState::Closed;
        }
    }

    // Supply flow = what leaves its node + what is withdrawn there.
    for (s, supply) in state.supply_flow_kg_s.iter_mut().zip(&network.supplies) {
        *s = if supply.in_service {
            nw.withdrawal_kg_s[supply.node.index()]
        } else {
            0.0
        };
    }
    for (k, b) in layout.branches.iter().enumerate() {
        let m = nw.x[nf + k];
        for (node, sign) in [(b.from, 1.0), (b.to, -1.0)] {
            if let NodeRole::Fixed(s) = layout.roles[node.index()] {
                state.supply_flow_kg_s[s.index()] += sign * m;
            }
        }
        // In a storage step a supply also fills its half of each pipe it holds.
        if nw.storage_dt_s > 0.0
            && let (
                BranchRef::Pipe(pipe),
                layout::Law::Friction {
                    temperature_k,
                    volume_m3,
                    ..
                },
            ) = (b.branch, b.law)
        {
            let fixed = |n: NodeIdx| match layout.roles[n.index()] {
                NodeRole::Fixed(s) => Some(s),
                _ => None,
            };
            if fixed(b.from).is_some() || fixed(b.to).is_some() {
                let (lp, _, _) = newton::pipe_linepack(
                    &network.gas,
                    nw.pressure(layout, b.from),
                    nw.pressure(layout, b.to),
                    temperature_k,
                    volume_m3,
                );
                let half_rate = 0.5 * (lp - nw.pipe_linepack_prev_kg[pipe.index()]) / nw.storage_dt_s;
                for s in [fixed(b.from), fixed(b.to)].into_iter().flatten() {
                    state.supply_flow_kg_s[s.index()] += half_rate;
                }
            }
        }
    }
}

/// Of regulators in service feeding the same outlet, only the one with the
/// highest set point can hold it; the others close (standby runs).
fn resolve_parallel_regulators(network: &Network, modes: &mut [RegulatorState]) {
    let mut holder: std::collections::HashMap<NodeIdx, usize> = std::collections::HashMap::new();
    for (i, r) in network.regulators.iter().enumerate() {
        if !r.in_service || modes[i] == RegulatorState::Closed {
            continue;
        }
        match holder.get(&r.to) {
            Some(&j) if network.regulators[j].outlet_pressure_bar_g >= r.outlet_pressure_bar_g => {
                modes[i] = RegulatorState::Closed;
            }
            Some(&j) => {
                modes[j] = RegulatorState::Closed;
                holder.insert(r.to, i);
            }
            None => {
                holder.insert(r.to, i);
            }
        }
    }
}

/// Regulator modes consistent with a solved state (`specs/hydraulics.md`):
/// no back flow, open when the inlet is below the set point, active when the
/// outlet side needs gas at the set point.
fn next_modes(network: &Network, state: &SteadyState, modes: &[RegulatorState]) -> Vec<RegulatorState> {
    const PRESSURE_TOL_BAR: f64 = 1e-7;
    let flow_tol = 1e-9
        * network
            .total_demand_kg_s()
            .max(network.total_injection_kg_s())
            .max(1e-3);
    let mut next: Vec<RegulatorState> = network
        .regulators
        .iter()
        .zip(modes)
        .enumerate()
        .map(|(i, (r, &mode))| {
            if !r.in_service {
                return mode;
            }
            let set = r.outlet_pressure_bar_g + ambient_pressure_bar(network.node(r.to).elevation_m);
            let p_in = state.pressure_bar_abs(r.from);
            let p_out = state.pressure_bar_abs(r.to);
            let m = state.regulator_flow_kg_s[i];
            // A regulator acts while its inlet is above the set point, a
            // compressor while it is below; otherwise each passes gas
            // through (fully open, or the compressor's bypass).
            let acts = |p_in: f64| match r.kind {
                RegulatorKind::Reducing => p_in > set,
                RegulatorKind::Compressor => p_in < set,
            };
            let mode_for = |p_in: f64| {
                if acts(p_in) {
                    RegulatorState::Active
                } else {
                    RegulatorState::Open
                }
            };
            let clearly = |p_in: f64, sign: f64| match r.kind {
                RegulatorKind::Reducing => sign * (p_in - set) > PRESSURE_TOL_BAR,
                RegulatorKind::Compressor => sign * (set - p_in) > PRESSURE_TOL_BAR,
            };
            match mode {
                RegulatorState::Active | RegulatorState::Open if m < -flow_tol => RegulatorState::Closed,
                // The inlet crossed the set point: act, or pass through.
                RegulatorState::Active if p_in.is_some_and(|p| clearly(p, -1.0)) => RegulatorState::Open,
                RegulatorState::Open if p_in.is_some_and(|p| clearly(p, 1.0)) => RegulatorState::Active,
                RegulatorState::Closed => match (p_in, p_out) {
                    // The outlet side has no other source: it needs this one.
                    (Some(p_in), None) => mode_for(p_in),
                    // The outlet side is below the set point, and this one
                    // can deliver there (a compressor always can).
                    (Some(p_in), Some(p_out))
                        if p_out < set - PRESSURE_TOL_BAR
                            && (r.kind == RegulatorKind::Compressor || p_in > p_out + PRESSURE_TOL_BAR) =>
                    {
                        mode_for(p_in)
                    }
                    _ => RegulatorState::Closed,
                },
                other => other,
            }
        })
        .collect();
    resolve_parallel_regulators(network, &mut next);
    next
}
