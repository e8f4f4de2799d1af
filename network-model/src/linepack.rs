//! Linepack: the mass of gas stored in the pipes of a solved state.
//!
//! Each pipe holds ρ(P_m) · A · L, with P_m the pipe's mean pressure
//! ⅔ (P_i³ − P_j³)/(P_i² − P_j²) (the exact mean of the isothermal pressure
//! profile), Z at P_m and the pipe's temperature. Valves and regulators have
//! no volume. Pipes out of service, or with a disconnected end, exchange no
//! gas with the network and the model cannot know what they hold: they count
//! as zero.

use crate::ids::PipeIdx;
use crate::network::Network;
use crate::solver::{SteadyState, mean_pressure_bar};

/// Gas in each pipe and in total.
#[derive(Clone, Debug, PartialEq)]
pub struct Linepack {
    /// Mass per pipe, kg.
    pub pipe_kg: Vec<f64>,
    /// Sum over all pipes, kg.
    pub total_kg: f64,
}

/// Mass stored in one pipe, kg; 0 when out of service or an end has no pressure.
pub fn pipe_linepack_kg(network: &Network, state: &SteadyState, pipe: PipeIdx) -> f64 {
    let p = &network.pipes[pipe.index()];
    if !p.in_service {
        return 0.0;
    }
    let (Some(pi), Some(pj)) = (state.pressure_bar_abs(p.from), state.pressure_bar_abs(p.to)) else {
        return 0.0;
    };
    let t = 0.5 * (network.node_temperature_k(p.from) + network.node_temperature_k(p.to));
    let d = p.diameter_mm * 1e-3;
    let volume_m3 = std::f64::consts::PI * d * d / 4.0 * p.length_m;
    network.gas.density_kg_m3(mean_pressure_bar(pi, pj), t) * volume_m3
}

/// Linepack of every pipe and the total.
pub fn linepack(network: &Network, state: &SteadyState) -> Linepack {
    let pipe_kg: Vec<f64> = (0..network.pipes.len())
        .map(|i| pipe_linepack_kg(network, state, PipeIdx::new(i)))
        .collect();
    let total_kg = pipe_kg.iter().sum();
    Linepack { pipe_kg, total_kg }
}
