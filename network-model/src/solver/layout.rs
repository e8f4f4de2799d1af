//! The solver's view of one network configuration: which nodes have a
//! pressure unknown, which are held by a supply, which are disconnected;
//! which branches carry flow and by which law; and the sparsity pattern of the
//! Newton system with the position of every Jacobian entry.
//!
//! A layout depends only on what is in service, which valves are open and
//! which nodes have gas, not on demands, set points or regulator modes (a
//! regulator's law is chosen at evaluation), so repeated solves and
//! regulator switches reuse it, together with its symbolic factorization.

use std::collections::VecDeque;

use std::cell::{Cell, OnceCell};

use faer::sparse::SymbolicSparseColMatRef;
use faer::sparse::linalg::lu::{SymbolicLu, factorize_symbolic_lu};

use super::ldu::SymbolicLdu;

use super::RegulatorState;
use super::friction::PipeFriction;
use crate::ids::*;
use crate::network::Network;
use crate::units::{GRAVITY_M_S2, NORMAL_PRESSURE_BAR, NORMAL_TEMPERATURE_K, PA_PER_BAR, ambient_pressure_bar};

/// No unknown or no Jacobian entry.
pub(crate) const NONE: u32 = u32::MAX;

/// What the solver does with a node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum NodeRole {
    /// Pressure is unknown number `col`; its balance is row `col`.
    Free(u32),
    /// Pressure is held by this supply.
    Fixed(SupplyIdx),
    /// No path from any supply: no pressure.
    Disconnected,
}

/// The equation of one active branch.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Law {
    /// A pipe, or an open valve (length 0): the pipe equation of
    /// `specs/hydraulics.md`.
    Friction {
        friction: PipeFriction,
        /// λ multiplies L/D; zero for valves.
        length_over_diameter: f64,
        area_m2: f64,
        zeta: f64,
        /// C·T = p_n T / (T_n · 1e5 · ρ_n · A²).
        c_t: f64,
        /// g (h_from − h_to) / 1e5: the head term per unit density.
        head_bar_m3_kg: f64,
        temperature_k: f64,
        /// A · L: what the branch stores (0 for valves).
        volume_m3: f64,
    },
    /// A regulator; its law depends on its mode: active, P_to − P_set = 0;
    /// open, P_from − P_to = 0; closed, m = 0.
    Regulator(RegulatorIdx),
}

/// One active branch: its ends, its law and where its Jacobian entries live.
///
/// Pipe flows are eliminated from the linear system (their ∂F/∂m is never
/// zero), so a pipe adds to the four node-by-node entries of its ends
/// (`pos_ff`, `pos_ft`, `pos_tf`, `pos_tt`). Valves and regulators keep their
/// flow as an unknown (a loss-free valve or a regulator has ∂F/∂m = 0) with
/// their own row (`pos_from`, `pos_to`, `pos_m`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BranchEq {
    pub branch: BranchRef,
    pub from: NodeIdx,
    pub to: NodeIdx,
    /// Pressure unknown of each end, or [`NONE`] when held by a supply.
    pub col_from: u32,
    pub col_to: u32,
    /// Kept branches: positions of ∂F/∂P_from, ∂F/∂P_to, ∂F/∂m in their row.
    pub pos_from: u32,
    pub pos_to: u32,
    pub pos_m: u32,
    /// Eliminated pipes: positions of (row from, col from), (from, to),
    /// (to, from), (to, to).
    pub pos_ff: u32,
    pub pos_ft: u32,
    pub pos_tf: u32,
    pub pos_tt: u32,
    pub law: Law,
}

/// One configuration of the network, ready for Newton.
///
/// The iterate is `[P of free nodes | m of kept branches | m of pipes]` and
/// the residual has the same order (node balances, kept branch laws, pipe
/// laws). The linear system covers the first `n_system()` unknowns; its rows
/// are the equations permuted by `row_of_eq`: each kept branch's law takes
/// the row of one of its end nodes' pressure and that node's balance takes
/// the row of the branch's flow, so that both diagonal entries are of order
/// one (∂F/∂P ≈ ±1 and ±1) even when ∂F/∂m = 0, as it is for regulators and
/// loss-free valves.
pub(crate) struct Layout {
    /// The configuration this layout was built for (see [`configuration_key`]).
    pub key: Vec<u8>,
    pub roles: Vec<NodeRole>,
    /// Node of each pressure unknown.
    pub free_nodes: Vec<NodeIdx>,
    /// Active branches, kept ones first; branch `k` is unknown and residual
    /// `free_nodes.len() + k`.
    pub branches: Vec<BranchEq>,
    /// How many of `branches` are kept in the linear system.
    pub n_kept: usize,
    /// Index into `branches` for each element, or [`NONE`].
    pub pipe_eq: Vec<u32>,
    pub valve_eq: Vec<u32>,
    pub regulator_eq: Vec<u32>,
    pub col_ptr: Vec<u32>,
    pub row_idx: Vec<u32>,
    /// The constant entries (node balance rows: ±1); the rest are zero.
    pub values_template: Vec<f64>,
    /// System row of each equation (an involution: pairs swap).
    pub row_of_eq: Vec<u32>,
    /// The no-pivoting factorization's structure; `None` for an empty system.
    pub ldu: Option<SymbolicLdu>,
    /// Set once the no-pivoting factorization met a tiny pivot: this layout
    /// then uses faer's partial-pivoting LU.
    pub needs_pivoting: Cell<bool>,
    pub pivoting_lu: OnceCell<SymbolicLu<u32>>,
    /// Ambient pressure at each node, bar: gauge = absolute − ambient.
    pub ambient_bar: Vec<f64>,
}

impl Layout {
    /// The symbolic partial-pivoting LU, built on first use.
    pub fn pivoting_lu(&self) -> &SymbolicLu<u32> {
        self.pivoting_lu.get_or_init(|| {
            let n = self.n_system();
            let sym = SymbolicSparseColMatRef::new_checked(n, n, &self.col_ptr, None, &self.row_idx);
            factorize_symbolic_lu(sym, Default::default()).expect("symbolic LU of a valid pattern")
        })
    }

    /// Length of the iterate and the residual.
    pub fn dim(&self) -> usize {
        self.free_nodes.len() + self.branches.len()
    }

    /// Size of the linear system: pressures and kept flows.
    pub fn n_system(&self) -> usize {
        self.free_nodes.len() + self.n_kept
    }
}

/// Every branch at every node, built once per network (endpoints never
/// change; what is in service is checked when walking it).
pub(crate) struct Adjacency {
    start: Vec<u32>,
    items: Vec<(NodeIdx, BranchRef)>,
}

impl Adjacency {
    pub fn new(network: &Network) -> Self {
        let n = network.nodes.len();
        let mut start = vec![0u32; n + 1];
        for b in network.branches() {
            let (f, t) = network.branch_ends(b);
            start[f.index() + 1] += 1;
            start[t.index() + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        let mut items = vec![(NodeIdx::new(0), BranchRef::Pipe(PipeIdx::new(0))); start[n] as usize];
        for b in network.branches() {
            let (f, t) = network.branch_ends(b);
            items[next[f.index()] as usize] = (t, b);
            next[f.index()] += 1;
            items[next[t.index()] as usize] = (f, b);
            next[t.index()] += 1;
        }
        Adjacency { start, items }
    }

    pub fn fits(&self, network: &Network) -> bool {
        self.start.len() == network.nodes.len() + 1
    }

    /// The other end and the branch of every branch at `n`.
    fn at(&self, n: NodeIdx) -> &[(NodeIdx, BranchRef)] {
        &self.items[self.start[n.index()] as usize..self.start[n.index() + 1] as usize]
    }
}

/// Which nodes have gas: reachable from an in-service supply through pipes in
/// service and open valves (both ways) and regulators in service and not
/// closed (forward only).
pub(crate) fn supplied_nodes(network: &Network, adjacency: &Adjacency, modes: &[RegulatorState], out: &mut Vec<bool>) {
    out.clear();
    out.resize(network.nodes.len(), false);
    let mut queue = VecDeque::new();
    for s in network.supplies.iter().filter(|s| s.in_service) {
        if !out[s.node.index()] {
            out[s.node.index()] = true;
            queue.push_back(s.node);
        }
    }
    while let Some(n) = queue.pop_front() {
        for &(m, b) in adjacency.at(n) {
            let passes = match b {
                BranchRef::Regulator(i) => {
                    let r = &network.regulators[i.index()];
                    r.in_service && modes[i.index()] != RegulatorState::Closed && r.from == n
                }
                other => network.branch_active(other),
            };
            if passes && !out[m.index()] {
                out[m.index()] = true;
                queue.push_back(m);
            }
        }
    }
}

/// A compact description of everything a layout depends on.
pub(crate) fn configuration_key(network: &Network, supplied: &[bool], key: &mut Vec<u8>) {
    key.clear();
    for n in [
        network.nodes.len(),
        network.pipes.len(),
        network.valves.len(),
        network.regulators.len(),
        network.supplies.len(),
    ] {
        key.extend_from_slice(&(n as u64).to_le_bytes());
    }
    key.extend(network.pipes.iter().map(|p| p.in_service as u8));
    key.extend(network.valves.iter().map(|v| v.open as u8));
    key.extend(network.supplies.iter().map(|s| s.in_service as u8));
    key.extend(network.regulators.iter().map(|r| r.in_service as u8));
    key.extend(
        supplied
            .chunks(8)
            .map(|c| c.iter().enumerate().fold(0u8, |a, (i, &s)| a | (s as u8) << i)),
    );
}

/// Builds the layout of `network` given which nodes have gas.
pub(crate) fn build(network: &Network, supplied: &[bool]) -> Layout {
    let mut key = Vec::new();
    configuration_key(network, supplied, &mut key);
    let n_nodes = network.nodes.len();

    let mut roles = vec![NodeRole::Disconnected; n_nodes];
    for (i, s) in network.supplies.iter().enumerate() {
        if s.in_service {
            roles[s.node.index()] = NodeRole::Fixed(SupplyIdx::new(i));
        }
    }
    // Pressure unknowns in node order: the pattern does not depend on the
    // supply order.
    let free_nodes: Vec<NodeIdx> = (0..n_nodes)
        .filter(|&i| supplied[i] && roles[i] == NodeRole::Disconnected)
        .map(NodeIdx::new)
        .collect();
    for (col, n) in free_nodes.iter().enumerate() {
        roles[n.index()] = NodeRole::Free(col as u32);
    }
    // A branch carries flow when it can, and both its ends have gas. A closed
    // regulator between nodes with gas stays, with the law m = 0.
    let carries = |b: BranchRef| match b {
        BranchRef::Regulator(i) => network.regulators[i.index()].in_service,
        other => network.branch_active(other),
    };

    let col_of = |n: NodeIdx| match roles[n.index()] {
        NodeRole::Free(c) => c,
        _ => NONE,
    };
    let supplied = |n: NodeIdx| roles[n.index()] != NodeRole::Disconnected;

    let gas = &network.gas;
    let mut branches: Vec<BranchEq> = Vec::new();
    let mut pipe_eq = vec![NONE; network.pipes.len()];
    let mut valve_eq = vec![NONE; network.valves.len()];
    let mut regulator_eq = vec![NONE; network.regulators.len()];
    for b in network.branches().filter(|&b| carries(b)) {
        let (from, to) = network.branch_ends(b);
        if !(supplied(from) && supplied(to)) {
            continue;
        }
        let temperature_k = 0.5 * (network.node_temperature_k(from) + network.node_temperature_k(to));
        let friction_law = |d_mm: f64, k_mm: f64, length_m: f64, zeta: f64| {
            let d_m = d_mm * 1e-3;
            let area = std::f64::consts::PI * d_m * d_m / 4.0;
            let c = NORMAL_PRESSURE_BAR / (NORMAL_TEMPERATURE_K * PA_PER_BAR * gas.density_normal_kg_m3 * area * area);
            Law::Friction {
                // Roughness does not matter for a valve (L = 0); any valid value will do.
                friction: PipeFriction::new(d_m, k_mm.max(1e-9) * 1e-3, area, gas.viscosity_pa_s),
                length_over_diameter: length_m / d_m,
                area_m2: area,
                zeta,
                c_t: c * temperature_k,
                head_bar_m3_kg: GRAVITY_M_S2 * (network.node(from).elevation_m - network.node(to).elevation_m)
                    / PA_PER_BAR,
                temperature_k,
                volume_m3: area * length_m,
            }
        };
        let law = match b {
            BranchRef::Pipe(i) => {
                let p = &network.pipes[i.index()];
                friction_law(p.diameter_mm, p.roughness_mm, p.length_m, p.loss_coefficient)
            }
            BranchRef::Valve(i) => {
                let v = &network.valves[i.index()];
                friction_law(v.diameter_mm, 0.0, 0.0, v.loss_coefficient)
            }
            BranchRef::Regulator(i) => Law::Regulator(i),
        };
        branches.push(BranchEq {
            branch: b,
            from,
            to,
            col_from: col_of(from),
            col_to: col_of(to),
            pos_from: NONE,
            pos_to: NONE,
            pos_m: NONE,
            pos_ff: NONE,
            pos_ft: NONE,
            pos_tf: NONE,
            pos_tt: NONE,
            law,
        });
    }
    // Kept branches first (stable, so each group stays in network order).
    branches.sort_by_key(|b| matches!(b.branch, BranchRef::Pipe(_)));
    let n_kept = branches
        .iter()
        .take_while(|b| !matches!(b.branch, BranchRef::Pipe(_)))
        .count();
    for (k, b) in branches.iter().enumerate() {
        let slot = match b.branch {
            BranchRef::Pipe(i) => &mut pipe_eq[i.index()],
            BranchRef::Valve(i) => &mut valve_eq[i.index()],
            BranchRef::Regulator(i) => &mut regulator_eq[i.index()],
        };
        *slot = k as u32;
    }

    let row_of_eq = pair_kept_rows(free_nodes.len(), &branches[..n_kept]);
    let (col_ptr, row_idx, values_template) = pattern(free_nodes.len(), n_kept, &row_of_eq, &mut branches);
    let dim = free_nodes.len() + n_kept;
    // A kept branch's flow is eliminated before the node it is paired with:
    // its pivot (the node's balance, ±1) is then untouched, and the node's
    // pivot becomes ∂F/∂P − ∂F/∂m·K_nn, which is not zero for any law,
    // including a closed regulator's m = 0.
    let flow_first: Vec<(u32, u32)> = (free_nodes.len()..dim)
        .filter(|&slot| row_of_eq[slot] as usize != slot)
        .map(|slot| (slot as u32, row_of_eq[slot]))
        .collect();
    let ldu = (dim > 0).then(|| SymbolicLdu::new(dim, &col_ptr, &row_idx, &flow_first));

    Layout {
        key,
        roles,
        free_nodes,
        branches,
        n_kept,
        pipe_eq,
        valve_eq,
        regulator_eq,
        col_ptr,
        row_idx,
        values_template,
        row_of_eq,
        ldu,
        needs_pivoting: Cell::new(false),
        pivoting_lu: OnceCell::new(),
        ambient_bar: network
            .nodes
            .iter()
            .map(|n| ambient_pressure_bar(n.elevation_m))
            .collect(),
    }
}

/// Sorts `(column, row, _)` triplets: a counting sort by column (the
/// pattern of a 100,000-node network has 600,000 of them), then each short
/// column by row.
fn sort_by_column_then_row<T: Copy>(triplets: Vec<(u32, u32, T)>, n_cols: usize) -> Vec<(u32, u32, T)> {
    let mut start = vec![0usize; n_cols + 1];
    for &(c, _, _) in &triplets {
        start[c as usize + 1] += 1;
    }
    for c in 0..n_cols {
        start[c + 1] += start[c];
    }
    let mut next = start.clone();
    let mut sorted = triplets.clone();
    for t in triplets {
        sorted[next[t.0 as usize]] = t;
        next[t.0 as usize] += 1;
    }
    for c in 0..n_cols {
        sorted[start[c]..start[c + 1]].sort_unstable_by_key(|&(_, r, _)| r);
    }
    sorted
}

/// Pairs each kept branch with one of its free end nodes, no node twice,
/// and swaps their rows (see [`Layout`]). A maximum matching (Kuhn's
/// augmenting paths; each branch has at most two candidates), preferring the
/// outlet. A branch left unpaired keeps its own row; if its pivot then
/// vanishes the factorization falls back to pivoting.
fn pair_kept_rows(n_free: usize, kept: &[BranchEq]) -> Vec<u32> {
    fn augment(k: usize, kept: &[BranchEq], owner: &mut [u32], seen: &mut [u32], stamp: u32) -> bool {
        for c in [kept[k].col_to, kept[k].col_from] {
            if c == NONE || seen[c as usize] == stamp {
                continue;
            }
            seen[c as usize] = stamp;
            let free = owner[c as usize] == NONE || augment(owner[c as usize] as usize, kept, owner, seen, stamp);
            if free {
                owner[c as usize] = k as u32;
                return true;
            }
        }
        false
    }
    let mut owner = vec![NONE; n_free];
    let mut seen = vec![NONE; n_free];
    for k in 0..kept.len() {
        augment(k, kept, &mut owner, &mut seen, k as u32);
    }
    let mut row_of_eq: Vec<u32> = (0..(n_free + kept.len()) as u32).collect();
    for (c, &k) in owner.iter().enumerate() {
        if k != NONE {
            row_of_eq.swap(c, n_free + k as usize);
        }
    }
    row_of_eq
}

/// Which Jacobian entry a pattern slot holds.
#[derive(Clone, Copy)]
enum Slot {
    /// A structural zero on the diagonal (the factorization needs every one).
    Zero,
    /// ∂(node balance)/∂m of a kept branch: a constant ±1.
    Balance(f64),
    /// A kept branch's row: ∂F_k/∂P_from, ∂F_k/∂P_to, ∂F_k/∂m_k.
    From(u32),
    To(u32),
    Flow(u32),
    /// An eliminated pipe's share of the node-by-node block.
    FromFrom(u32),
    FromTo(u32),
    ToFrom(u32),
    ToTo(u32),
}

/// The CSC pattern of the reduced Newton system: columns are the pressure
/// unknowns then the kept flows; rows are the node balances then the kept
/// branch laws. Entries several pipes share (a node's diagonal, parallel
/// pipes) get one position. Records each branch's entry positions.
fn pattern(
    n_free: usize,
    n_kept: usize,
    row_of_eq: &[u32],
    branches: &mut [BranchEq],
) -> (Vec<u32>, Vec<u32>, Vec<f64>) {
    let nf = n_free as u32;
    let row = |eq: u32| row_of_eq[eq as usize];
    // (column, row, slot); equations are mapped to their system rows.
    let dim = n_free + n_kept;
    let mut triplets: Vec<(u32, u32, Slot)> = Vec::with_capacity(branches.len() * 5 + dim);
    triplets.extend((0..dim as u32).map(|d| (d, d, Slot::Zero)));
    for (k, b) in branches.iter().enumerate() {
        let k32 = k as u32;
        let (cf, ct) = (b.col_from, b.col_to);
        if k < n_kept {
            let (eq, col_m) = (nf + k32, nf + k32);
            if cf != NONE {
                triplets.push((cf, row(eq), Slot::From(k32)));
                triplets.push((col_m, row(cf), Slot::Balance(-1.0)));
            }
            if ct != NONE {
                triplets.push((ct, row(eq), Slot::To(k32)));
                triplets.push((col_m, row(ct), Slot::Balance(1.0)));
            }
            triplets.push((col_m, row(eq), Slot::Flow(k32)));
        } else {
            if cf != NONE {
                triplets.push((cf, row(cf), Slot::FromFrom(k32)));
            }
            if ct != NONE {
                triplets.push((ct, row(ct), Slot::ToTo(k32)));
            }
            if cf != NONE && ct != NONE {
                triplets.push((ct, row(cf), Slot::FromTo(k32)));
                triplets.push((cf, row(ct), Slot::ToFrom(k32)));
            }
        }
    }
    let triplets = sort_by_column_then_row(triplets, dim);

    let mut col_ptr = vec![0u32; dim + 1];
    let mut row_idx: Vec<u32> = Vec::with_capacity(triplets.len());
    let mut values: Vec<f64> = Vec::with_capacity(triplets.len());
    let mut last = None;
    for &(c, r, slot) in &triplets {
        if last != Some((c, r)) {
            col_ptr[c as usize + 1] += 1;
            row_idx.push(r);
            values.push(0.0);
            last = Some((c, r));
        }
        let pos = (row_idx.len() - 1) as u32;
        match slot {
            Slot::Zero => {}
            Slot::Balance(v) => values[pos as usize] = v,
            Slot::From(k) => branches[k as usize].pos_from = pos,
            Slot::To(k) => branches[k as usize].pos_to = pos,
            Slot::Flow(k) => branches[k as usize].pos_m = pos,
            Slot::FromFrom(k) => branches[k as usize].pos_ff = pos,
            Slot::FromTo(k) => branches[k as usize].pos_ft = pos,
            Slot::ToFrom(k) => branches[k as usize].pos_tf = pos,
            Slot::ToTo(k) => branches[k as usize].pos_tt = pos,
        }
    }
    for c in 0..dim {
        col_ptr[c + 1] += col_ptr[c];
    }
    (col_ptr, row_idx, values)
}
