//! Newton's method on one layout: residuals, the analytic Jacobian, a sparse
//! LU solve (faer) and a backtracking line search on the scaled residual.
//!
//! Pipe flows are eliminated before the solve: each pipe law, linearized,
//! gives Δm = −(F + a_f ΔP_f + a_t ΔP_t)/d with d = ∂F/∂m ≠ 0, which turns the
//! node balances into a nodal system in the pressures (the Schur complement),
//! bordered by the flows of valves and regulators. The system is 2–3 times
//! smaller than the full one and has the pattern of the network graph; the
//! pipe flow steps are recovered afterwards. It is factored by [`super::ldu`]
//! (no pivoting), or by faer's partial-pivoting LU when that meets a tiny
//! pivot.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::sparse::linalg::lu::NumericLu;
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};

use super::RegulatorState;
use super::friction::FrictionLaw;
use super::layout::{Law, Layout, NONE, NodeRole};
use super::ldu::NumericLdu;
use crate::ids::{BranchRef, NodeIdx};
use crate::network::Network;

/// Tolerances and limits of one Newton run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Criteria {
    pub max_iterations: usize,
    pub pressure_step_bar: f64,
    pub flow_step_kg_s: f64,
    pub balance_kg_s: f64,
    pub branch_bar: f64,
    /// Flows are scaled by this in the line search's merit function.
    pub flow_scale_kg_s: f64,
    /// Stop early, before full convergence, once a pressure step is this
    /// small: the caller wants to check regulator states first.
    pub early_stop_step_bar: Option<f64>,
}

/// How a Newton run ended well.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub iterations: usize,
    /// False when it stopped early (see [`Criteria::early_stop_step_bar`]).
    pub converged: bool,
}

/// Why a Newton run stopped without a solution.
#[derive(Debug)]
pub(crate) enum Failure {
    NotConverged {
        iterations: usize,
    },
    /// The linear system is singular (e.g. a loop of loss-free valves).
    Singular {
        iterations: usize,
    },
    /// No step keeps the state physical (positive pressures, positive Z).
    LineSearch {
        iterations: usize,
    },
}

/// A pipe's linearization: ∂F/∂P_from, ∂F/∂P_to, ∂F/∂m.
#[derive(Clone, Copy, Default)]
struct PipeLinear {
    a_from: f64,
    a_to: f64,
    d: f64,
}

/// The reusable buffers of the Newton iteration.
#[derive(Default)]
pub(crate) struct Newton {
    values: Vec<f64>,
    pipe_linear: Vec<PipeLinear>,
    ldu: NumericLdu,
    /// `ldu` holds the factors of `values` as they stand: the withdrawal
    /// steps from one linearization share one factorization.
    factored: bool,
    rhs: Vec<f64>,
    work: Vec<f64>,
    /// faer's LU, only for layouts that need pivoting.
    pivoting: NumericLu<u32, f64>,
    mem: Option<MemBuffer>,
    /// Current iterate: pressures (bar abs) of free nodes, kept flows, pipe flows.
    pub x: Vec<f64>,
    x_trial: Vec<f64>,
    /// Residual at `x`: node balances (kg/s), branch laws (bar).
    pub r: Vec<f64>,
    r_trial: Vec<f64>,
    dx: Vec<f64>,
    /// Per node: in-service demand − injection, kg/s.
    pub withdrawal_kg_s: Vec<f64>,
    /// Per node: the pressure a supply holds it at (bar abs), else NaN.
    pub fixed_bar: Vec<f64>,
    /// The law each regulator follows in this run.
    pub regulator_modes: Vec<RegulatorState>,
    /// Last step taken, for reports.
    pub last_step: Vec<f64>,
    /// Time step of a storage step, s; 0 for a steady solve.
    pub storage_dt_s: f64,
    /// Per pipe: its linepack at the start of the step, kg.
    pub pipe_linepack_prev_kg: Vec<f64>,
}

/// Gas in a pipe, ρ(P_m) · V, and its derivatives by the end pressures.
pub(crate) fn pipe_linepack(
    gas: &crate::gas::Gas,
    p_from: f64,
    p_to: f64,
    temperature_k: f64,
    volume_m3: f64,
) -> (f64, f64, f64) {
    let s = p_from + p_to;
    let q = p_from * p_from + p_from * p_to + p_to * p_to;
    let p_m = 2.0 / 3.0 * q / s;
    let dpm_dfrom = 2.0 / 3.0 * ((2.0 * p_from + p_to) * s - q) / (s * s);
    let dpm_dto = 2.0 / 3.0 * ((2.0 * p_to + p_from) * s - q) / (s * s);
    let (rho, drho) = gas.density_and_derivative(p_m, temperature_k);
    (
        rho * volume_m3,
        drho * dpm_dfrom * volume_m3,
        drho * dpm_dto * volume_m3,
    )
}

impl Newton {
    /// Sizes the buffers for `layout`; allocates only when they must grow.
    pub fn prepare(&mut self, layout: &Layout) {
        let dim = layout.dim();
        // A numeric LU is tied to the structure it was first factored with
        // (faer 0.24 does not resize it for another one).
        self.pivoting = NumericLu::default();
        for v in [
            &mut self.x,
            &mut self.x_trial,
            &mut self.r,
            &mut self.r_trial,
            &mut self.dx,
            &mut self.last_step,
        ] {
            v.clear();
            v.resize(dim, 0.0);
        }
        self.pipe_linear.clear();
        self.pipe_linear
            .resize(layout.branches.len() - layout.n_kept, PipeLinear::default());
        self.values.clear();
        self.values.extend_from_slice(&layout.values_template);
        self.factored = false;
        self.rhs.clear();
        self.rhs.resize(layout.n_system(), 0.0);
    }

    /// Runs Newton from `self.x` until the criteria hold. A `cold` start
    /// (flows all zero) takes its first step with each branch's slope at a
    /// typical velocity instead of at zero flow: that first step is then the
    /// linear network solve, which puts flows in the right directions and
    /// near the right size and saves several iterations.
    pub fn run(
        &mut self,
        layout: &Layout,
        network: &Network,
        law: FrictionLaw,
        c: &Criteria,
        cold: bool,
    ) -> Result<Outcome, Failure> {
        let nf = layout.free_nodes.len();
        let n_system = layout.n_system();
        if layout.dim() == 0 {
            return Ok(Outcome {
                iterations: 0,
                converged: true,
            });
        }
        let slopes = if cold {
            Slopes::AtVelocity(REFERENCE_VELOCITY_M_S)
        } else {
            Slopes::Exact
        };
        if !self.evaluate(layout, network, law, Which::Current, slopes) {
            return Err(Failure::LineSearch { iterations: 0 });
        }
        let mut current_merit = merit(&self.r, nf, c.flow_scale_kg_s);
        for iteration in 1..=c.max_iterations {
            if n_system > 0 && !self.solve_reduced(layout) {
                return Err(Failure::Singular { iterations: iteration });
            }
            self.recover_pipe_steps(layout);
            if !self.dx.iter().all(|d| d.is_finite()) {
                return Err(Failure::Singular { iterations: iteration });
            }

            // Backtracking: halve the step until the scaled residual falls
            // (Armijo) and the state stays physical.
            let mut alpha = 1.0;
            let trial_merit = loop {
                for ((t, x), d) in self.x_trial.iter_mut().zip(&self.x).zip(&self.dx) {
                    *t = x + alpha * d;
                }
                if self.evaluate(layout, network, law, Which::Trial, Slopes::Exact) {
                    let m = merit(&self.r_trial, nf, c.flow_scale_kg_s);
                    let small = within(&self.r_trial, nf, c);
                    if small || m <= (1.0 - 1e-4 * alpha) * current_merit || alpha < 1.0 / 1024.0 {
                        break m;
                    }
                }
                alpha *= 0.5;
                if alpha < 1e-9 {
                    return Err(Failure::LineSearch { iterations: iteration });
                }
            };
            std::mem::swap(&mut self.x, &mut self.x_trial);
            std::mem::swap(&mut self.r, &mut self.r_trial);
            current_merit = trial_merit;
            for (s, d) in self.last_step.iter_mut().zip(&self.dx) {
                *s = alpha * d;
            }

            let step_p = self.last_step[..nf].iter().fold(0.0_f64, |a, s| a.max(s.abs()));
            let step_m = self.last_step[nf..].iter().fold(0.0_f64, |a, s| a.max(s.abs()));
            if step_p <= c.pressure_step_bar && step_m <= c.flow_step_kg_s && within(&self.r, nf, c) {
                return Ok(Outcome {
                    iterations: iteration,
                    converged: true,
                });
            }
            if c.early_stop_step_bar
                .is_some_and(|early| alpha == 1.0 && step_p <= early)
            {
                return Ok(Outcome {
                    iterations: iteration,
                    converged: false,
                });
            }
        }
        Err(Failure::NotConverged {
            iterations: c.max_iterations,
        })
    }

    /// Linearizes at the current iterate (a converged solution): fills the
    /// Jacobian and the pipe slopes for [`Newton::withdrawal_step`].
    pub fn linearize(&mut self, layout: &Layout, network: &Network, law: FrictionLaw) -> bool {
        self.evaluate(layout, network, law, Which::Current, Slopes::Exact)
    }

    /// The first-order change of the iterate, into `dx`, when one more kg/s
    /// is withdrawn at free node `col`: J·dx = e_col with the pipe laws
    /// holding (the Newton step from a solution with that withdrawal added).
    /// Overwrites the residual; after [`Newton::linearize`].
    pub fn withdrawal_step(&mut self, layout: &Layout, col: usize) -> bool {
        // The node balance is −withdrawal + inflow − outflow, so the extra
        // withdrawal shows as r = −1 at its row and the step solves J·dx = −r.
        self.r.fill(0.0);
        self.r[col] = -1.0;
        if layout.n_system() > 0 && !self.solve_reduced(layout) {
            return false;
        }
        self.recover_pipe_steps(layout);
        self.dx.iter().all(|d| d.is_finite())
    }

    /// The last step computed (see [`Newton::withdrawal_step`]).
    pub fn step(&self) -> &[f64] {
        &self.dx
    }

    /// Solves the reduced system for the pressure and kept-flow steps, into
    /// `dx[..n_system]`. False when the matrix is singular.
    fn solve_reduced(&mut self, layout: &Layout) -> bool {
        let nf = layout.free_nodes.len();
        let n_system = layout.n_system();
        // Right-hand side: −r, with each eliminated pipe's −F/d moved onto
        // the balances of its ends, in system row order.
        let row = |eq: usize| layout.row_of_eq[eq] as usize;
        for eq in 0..n_system {
            self.rhs[row(eq)] = -self.r[eq];
        }
        for (j, b) in layout.branches[layout.n_kept..].iter().enumerate() {
            let f_over_d = self.r[nf + layout.n_kept + j] / self.pipe_linear[j].d;
            if b.col_from != NONE {
                self.rhs[row(b.col_from as usize)] -= f_over_d;
            }
            if b.col_to != NONE {
                self.rhs[row(b.col_to as usize)] += f_over_d;
            }
        }

        let ldu = layout.ldu.as_ref().expect("a non-empty system has a structure");
        if !layout.needs_pivoting.get() {
            let factored = if self.factored {
                Ok(())
            } else {
                ldu.factor(&self.values, &mut self.ldu)
            };
            match factored {
                Ok(()) => {
                    self.factored = true;
                    ldu.solve(&self.ldu, &mut self.rhs, &mut self.work);
                    self.dx[..n_system].copy_from_slice(&self.rhs);
                    return true;
                }
                Err(small) => {
                    tracing::debug!(
                        step = small.step,
                        n_system,
                        "Tiny pivot without pivoting; this configuration now uses partial pivoting"
                    );
                    layout.needs_pivoting.set(true);
                }
            }
        }

        let sym = layout.pivoting_lu();
        let req = StackReq::any_of(&[
            sym.factorize_numeric_lu_scratch::<f64>(Par::Seq, Default::default()),
            sym.solve_in_place_scratch::<f64>(1, Par::Seq),
        ]);
        if self.mem.as_ref().is_none_or(|m| m.len() < req.size_bytes()) {
            self.mem = Some(MemBuffer::new(req));
        }
        let mem = self.mem.as_mut().expect("just allocated");
        let pattern = SymbolicSparseColMatRef::new_checked(n_system, n_system, &layout.col_ptr, None, &layout.row_idx);
        let a = SparseColMatRef::new(pattern, &self.values);
        // faer 0.24's simplicial LU is reported to panic on an exactly zero
        // pivot instead of failing the factorization (faer-rs issue 232):
        // such a matrix is singular and reported as such here.
        let (pivoting, rhs) = (&mut self.pivoting, &mut self.rhs);
        let solved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let Ok(lu) = sym.factorize_numeric_lu(pivoting, a, Par::Seq, MemStack::new(mem), Default::default()) else {
                return false;
            };
            lu.solve_in_place_with_conj(
                Conj::No,
                MatMut::from_column_major_slice_mut(rhs, n_system, 1),
                Par::Seq,
                MemStack::new(mem),
            );
            true
        }));
        if !matches!(solved, Ok(true)) {
            self.pivoting = Default::default();
            return false;
        }
        self.dx[..n_system].copy_from_slice(&self.rhs);
        true
    }

    /// Δm = −(F + a_f ΔP_f + a_t ΔP_t) / d for every eliminated pipe.
    fn recover_pipe_steps(&mut self, layout: &Layout) {
        let first_pipe = layout.free_nodes.len() + layout.n_kept;
        for (j, b) in layout.branches[layout.n_kept..].iter().enumerate() {
            let lin = self.pipe_linear[j];
            let dp = |col: u32, dx: &[f64]| if col == NONE { 0.0 } else { dx[col as usize] };
            let dp_from = dp(b.col_from, &self.dx);
            let dp_to = dp(b.col_to, &self.dx);
            self.dx[first_pipe + j] = -(self.r[first_pipe + j] + lin.a_from * dp_from + lin.a_to * dp_to) / lin.d;
        }
    }

    /// The pressure (bar abs) of a node in the current iterate, or NaN.
    pub fn pressure(&self, layout: &Layout, node: NodeIdx) -> f64 {
        match layout.roles[node.index()] {
            NodeRole::Free(c) => self.x[c as usize],
            NodeRole::Fixed(_) => self.fixed_bar[node.index()],
            NodeRole::Disconnected => f64::NAN,
        }
    }

    /// Residuals and Jacobian at the current or the trial iterate. Returns
    /// false when the state is not physical (a pressure or Z not positive,
    /// or a non-finite value); the line search then rejects the step.
    fn evaluate(&mut self, layout: &Layout, network: &Network, law: FrictionLaw, which: Which, slopes: Slopes) -> bool {
        let nf = layout.free_nodes.len();
        let (x, r) = match which {
            Which::Current => (&self.x, &mut self.r),
            Which::Trial => (&self.x_trial, &mut self.r_trial),
        };
        self.factored = false;
        let values = &mut self.values;
        values.copy_from_slice(&layout.values_template);
        let gas = &network.gas;
        let dz = gas.compressibility.dz_dp();

        for (row, node) in layout.free_nodes.iter().enumerate() {
            r[row] = -self.withdrawal_kg_s[node.index()];
        }
        for (k, b) in layout.branches.iter().enumerate() {
            let m = x[nf + k];
            let p_from = if b.col_from != NONE {
                x[b.col_from as usize]
            } else {
                self.fixed_bar[b.from.index()]
            };
            let p_to = if b.col_to != NONE {
                x[b.col_to as usize]
            } else {
                self.fixed_bar[b.to.index()]
            };
            if !(p_from > 0.0 && p_to > 0.0 && m.is_finite()) {
                return false;
            }
            if b.col_from != NONE {
                r[b.col_from as usize] -= m;
            }
            if b.col_to != NONE {
                r[b.col_to as usize] += m;
            }

            // Storage (a storage step): half of what the pipe packs counts
            // as withdrawn at each end.
            let mut storage = None;
            let (f, d_from, d_to, d_m) = match b.law {
                Law::Friction {
                    friction,
                    length_over_diameter,
                    area_m2,
                    zeta,
                    c_t,
                    head_bar_m3_kg,
                    temperature_k,
                    volume_m3,
                } => {
                    if self.storage_dt_s > 0.0
                        && let BranchRef::Pipe(pipe) = b.branch
                    {
                        let (lp, d_from, d_to) = pipe_linepack(gas, p_from, p_to, temperature_k, volume_m3);
                        let k = 0.5 / self.storage_dt_s;
                        storage = Some((
                            k * (lp - self.pipe_linepack_prev_kg[pipe.index()]),
                            k * d_from,
                            k * d_to,
                        ));
                    }
                    let s = p_from + p_to;
                    let q = p_from * p_from + p_from * p_to + p_to * p_to;
                    // Mean pressure P_m = ⅔ (P_i³ − P_j³)/(P_i² − P_j²) = ⅔ Q / S,
                    // a form that stays exact when P_i = P_j.
                    let p_m = 2.0 / 3.0 * q / s;
                    let dpm_dfrom = 2.0 / 3.0 * ((2.0 * p_from + p_to) * s - q) / (s * s);
                    let dpm_dto = 2.0 / 3.0 * ((2.0 * p_to + p_from) * s - q) / (s * s);
                    let z = gas.compressibility.z(p_m);
                    if z.is_nan() || z <= 0.0 {
                        return false;
                    }
                    let (fr, dfr) = if length_over_diameter > 0.0 {
                        friction.term(law, m)
                    } else {
                        (0.0, 0.0)
                    };
                    let resistance = length_over_diameter * fr + zeta * m * m.abs();
                    let (rho_from, drho_from) = gas.density_and_derivative(p_from, temperature_k);
                    let (rho_to, drho_to) = gas.density_and_derivative(p_to, temperature_k);
                    let d_resistance = match slopes {
                        Slopes::Exact => length_over_diameter * dfr + 2.0 * zeta * m.abs(),
                        Slopes::AtVelocity(v) => {
                            let m_ref = v * area_m2 * 0.5 * (rho_from + rho_to);
                            let dfr = if length_over_diameter > 0.0 {
                                friction.term(law, m_ref).1
                            } else {
                                0.0
                            };
                            length_over_diameter * dfr + 2.0 * zeta * m_ref
                        }
                    };
                    let head = head_bar_m3_kg * 0.5 * (rho_from + rho_to);
                    let friction_bar = c_t * z * resistance / s;
                    let dfric = |dpm: f64| c_t * resistance * (dz * dpm * s - z) / (s * s);
                    (
                        (p_from - p_to) + head - friction_bar,
                        1.0 + head_bar_m3_kg * 0.5 * drho_from - dfric(dpm_dfrom),
                        -1.0 + head_bar_m3_kg * 0.5 * drho_to - dfric(dpm_dto),
                        -c_t * z * d_resistance / s,
                    )
                }
                Law::Regulator(i) => match self.regulator_modes[i.index()] {
                    RegulatorState::Active => {
                        let reg = &network.regulators[i.index()];
                        let set = reg.outlet_pressure_bar_g + layout.ambient_bar[b.to.index()];
                        (p_to - set, 0.0, 1.0, 0.0)
                    }
                    RegulatorState::Open => (p_from - p_to, 1.0, -1.0, 0.0),
                    RegulatorState::Closed => (m, 0.0, 0.0, 1.0),
                },
            };
            if !f.is_finite() {
                return false;
            }
            r[nf + k] = f;
            if k < layout.n_kept {
                if b.pos_from != NONE {
                    values[b.pos_from as usize] = d_from;
                }
                if b.pos_to != NONE {
                    values[b.pos_to as usize] = d_to;
                }
                values[b.pos_m as usize] = d_m;
            } else {
                // The pipe's Schur contribution to its ends' balances: the
                // from-balance loses m, the to-balance gains it.
                self.pipe_linear[k - layout.n_kept] = PipeLinear {
                    a_from: d_from,
                    a_to: d_to,
                    d: d_m,
                };
                let (g_from, g_to) = (d_from / d_m, d_to / d_m);
                let mut add = |pos: u32, v: f64| {
                    if pos != NONE {
                        values[pos as usize] += v;
                    }
                };
                add(b.pos_ff, g_from);
                add(b.pos_ft, g_to);
                add(b.pos_tf, -g_from);
                add(b.pos_tt, -g_to);
                if let Some((half_rate, h_from, h_to)) = storage {
                    for (col, pos_f, pos_t) in [(b.col_from, b.pos_ff, b.pos_ft), (b.col_to, b.pos_tf, b.pos_tt)] {
                        if col != NONE {
                            r[col as usize] -= half_rate;
                            add(pos_f, -h_from);
                            add(pos_t, -h_to);
                        }
                    }
                }
            }
        }
        true
    }
}

/// Whether the residuals meet the balance and branch tolerances.
fn within(r: &[f64], nf: usize, c: &Criteria) -> bool {
    r[..nf].iter().all(|v| v.abs() <= c.balance_kg_s) && r[nf..].iter().all(|v| v.abs() <= c.branch_bar)
}

/// ½‖r‖² with node balances scaled to be comparable with bar.
fn merit(r: &[f64], nf: usize, flow_scale: f64) -> f64 {
    let nodes: f64 = r[..nf].iter().map(|v| (v / flow_scale).powi(2)).sum();
    let branches: f64 = r[nf..].iter().map(|v| v * v).sum();
    0.5 * (nodes + branches)
}

/// The gas velocity at which a cold start's first slopes are taken, m/s.
const REFERENCE_VELOCITY_M_S: f64 = 3.0;

/// Which derivative ∂F/∂m the Jacobian gets.
#[derive(Clone, Copy, PartialEq)]
enum Slopes {
    Exact,
    /// The slope at the given velocity, whatever the flow (cold start).
    AtVelocity(f64),
}

#[derive(Clone, Copy, PartialEq)]
enum Which {
    Current,
    Trial,
}
