//! Newton's method on one layout: residuals, the analytic Jacobian written
//! straight into the CSC values, a sparse LU solve (faer), and a backtracking
//! line search on the scaled residual.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::sparse::linalg::lu::NumericLu;
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};

use super::friction::FrictionLaw;
use super::layout::{Law, Layout, NONE, NodeRole};
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

/// The reusable buffers of the Newton iteration.
#[derive(Default)]
pub(crate) struct Newton {
    values: Vec<f64>,
    numeric: NumericLu<u32, f64>,
    mem: Option<MemBuffer>,
    /// Current iterate: pressures (bar abs) of free nodes, then branch flows.
    pub x: Vec<f64>,
    x_trial: Vec<f64>,
    pub r: Vec<f64>,
    r_trial: Vec<f64>,
    dx: Vec<f64>,
    /// Per node: in-service demand − injection, kg/s.
    pub withdrawal_kg_s: Vec<f64>,
    /// Per node: the pressure a supply holds it at (bar abs), else NaN.
    pub fixed_bar: Vec<f64>,
    /// Last step, for reports.
    pub last_step: Vec<f64>,
}

impl Newton {
    /// Prepares the buffers for `layout` (allocates only when it grew).
    pub fn prepare(&mut self, layout: &Layout) {
        let dim = layout.dim();
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
        self.values.clear();
        self.values.extend_from_slice(&layout.values_template);
        if let Some(sym) = &layout.symbolic {
            let req = StackReq::any_of(&[
                sym.factorize_numeric_lu_scratch::<f64>(Par::Seq, Default::default()),
                sym.solve_in_place_scratch::<f64>(1, Par::Seq),
            ]);
            let big_enough = self.mem.as_ref().is_some_and(|m| m.len() >= req.size_bytes());
            if !big_enough {
                self.mem = Some(MemBuffer::new(req));
            }
        }
    }

    /// Runs Newton from `self.x` until the criteria hold.
    pub fn run(
        &mut self,
        layout: &Layout,
        network: &Network,
        law: FrictionLaw,
        c: &Criteria,
    ) -> Result<usize, Failure> {
        let dim = layout.dim();
        let nf = layout.free_nodes.len();
        if dim == 0 {
            return Ok(0);
        }
        let sym = layout
            .symbolic
            .as_ref()
            .expect("a non-empty layout has a symbolic factorization");
        let pattern = SymbolicSparseColMatRef::new_checked(dim, dim, &layout.col_ptr, None, &layout.row_idx);

        if !evaluate(layout, network, law, self, Which::Current) {
            return Err(Failure::LineSearch { iterations: 0 });
        }
        let mut current_merit = merit(&self.r, nf, c.flow_scale_kg_s);
        for iteration in 1..=c.max_iterations {
            let mem = self.mem.as_mut().expect("prepared");
            let a = SparseColMatRef::new(pattern, &self.values);
            let lu = match sym.factorize_numeric_lu(
                &mut self.numeric,
                a,
                Par::Seq,
                MemStack::new(mem),
                Default::default(),
            ) {
                Ok(lu) => lu,
                Err(_) => return Err(Failure::Singular { iterations: iteration }),
            };
            for (d, r) in self.dx.iter_mut().zip(&self.r) {
                *d = -r;
            }
            lu.solve_in_place_with_conj(
                Conj::No,
                MatMut::from_column_major_slice_mut(&mut self.dx, dim, 1),
                Par::Seq,
                MemStack::new(mem),
            );
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
                if evaluate(layout, network, law, self, Which::Trial) {
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
                return Ok(iteration);
            }
        }
        Err(Failure::NotConverged {
            iterations: c.max_iterations,
        })
    }

    /// The pressure (bar abs) of a node in the current iterate, or NaN.
    pub fn pressure(&self, layout: &Layout, node: crate::ids::NodeIdx) -> f64 {
        match layout.roles[node.index()] {
            NodeRole::Free(c) => self.x[c as usize],
            NodeRole::Fixed(_) => self.fixed_bar[node.index()],
            NodeRole::Disconnected => f64::NAN,
        }
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

#[derive(Clone, Copy, PartialEq)]
enum Which {
    Current,
    Trial,
}

/// Residuals and Jacobian at the current or the trial iterate. Returns false
/// when the state is not physical (a pressure or Z not positive, or a
/// non-finite value), which the line search treats as a rejected step.
fn evaluate(layout: &Layout, network: &Network, law: FrictionLaw, nw: &mut Newton, which: Which) -> bool {
    let nf = layout.free_nodes.len();
    let (x, r) = match which {
        Which::Current => (&nw.x, &mut nw.r),
        Which::Trial => (&nw.x_trial, &mut nw.r_trial),
    };
    let values = &mut nw.values;
    let gas = &network.gas;
    let z_of = |p: f64| gas.compressibility.z(p);
    let dz = gas.compressibility.dz_dp();

    for (row, node) in layout.free_nodes.iter().enumerate() {
        r[row] = -nw.withdrawal_kg_s[node.index()];
    }
    for (k, b) in layout.branches.iter().enumerate() {
        let m = x[nf + k];
        let p_from = if b.col_from != NONE {
            x[b.col_from as usize]
        } else {
            nw.fixed_bar[b.from.index()]
        };
        let p_to = if b.col_to != NONE {
            x[b.col_to as usize]
        } else {
            nw.fixed_bar[b.to.index()]
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

        let (f, d_from, d_to, d_m) = match b.law {
            Law::Friction {
                friction,
                length_over_diameter,
                zeta,
                c_t,
                head_bar_m3_kg,
                temperature_k,
            } => {
                let s = p_from + p_to;
                let q = p_from * p_from + p_from * p_to + p_to * p_to;
                // Mean pressure P_m = ⅔ (P_i³ − P_j³)/(P_i² − P_j²) = ⅔ Q / S,
                // a form that stays exact when P_i = P_j.
                let p_m = 2.0 / 3.0 * q / s;
                let dpm_dfrom = 2.0 / 3.0 * ((2.0 * p_from + p_to) * s - q) / (s * s);
                let dpm_dto = 2.0 / 3.0 * ((2.0 * p_to + p_from) * s - q) / (s * s);
                let z = z_of(p_m);
                if z.is_nan() || z <= 0.0 {
                    return false;
                }
                let (fr, dfr) = if length_over_diameter > 0.0 {
                    friction.term(law, m)
                } else {
                    (0.0, 0.0)
                };
                let resistance = length_over_diameter * fr + zeta * m * m.abs();
                let d_resistance = length_over_diameter * dfr + 2.0 * zeta * m.abs();
                let (rho_from, drho_from) = gas.density_and_derivative(p_from, temperature_k);
                let (rho_to, drho_to) = gas.density_and_derivative(p_to, temperature_k);
                let head = head_bar_m3_kg * 0.5 * (rho_from + rho_to);
                let friction_bar = c_t * z * resistance / s;
                let f = (p_from - p_to) + head - friction_bar;
                let dfric = |dpm: f64| c_t * resistance * (dz * dpm * s - z) / (s * s);
                (
                    f,
                    1.0 + head_bar_m3_kg * 0.5 * drho_from - dfric(dpm_dfrom),
                    -1.0 + head_bar_m3_kg * 0.5 * drho_to - dfric(dpm_dto),
                    -c_t * z * d_resistance / s,
                )
            }
            Law::RegulatorActive(i) => {
                let reg = &network.regulators[i.index()];
                let set = reg.outlet_pressure_bar_g + layout.ambient_bar[b.to.index()];
                (p_to - set, 0.0, 1.0, 0.0)
            }
            Law::RegulatorOpen => (p_from - p_to, 1.0, -1.0, 0.0),
        };
        if !f.is_finite() {
            return false;
        }
        r[nf + k] = f;
        if b.pos_from != NONE {
            values[b.pos_from as usize] = d_from;
        }
        if b.pos_to != NONE {
            values[b.pos_to as usize] = d_to;
        }
        values[b.pos_m as usize] = d_m;
    }
    true
}
