//! Reports of steady-state solves: the JSON contract of
//! `linepack sim steady --json` and the readable text table.
//!
//! The JSON shape is an interface other tools read (see `docs/cli.md`):
//! `converged`, `iterations`, `solve_time_ms`, `nodes` (`id`,
//! `pressure_bar_g`, `pressure_bar_abs`, null when disconnected), `pipes`
//! (`id`, `flow_kg_s`, `velocity_m_s`), `valves`, `supplies` (`id`,
//! `flow_kg_s`), `linepack_kg`; extended with `friction`, `regulators`
//! (`id`, `flow_kg_s`, `state`), `disconnected_nodes` and, when not
//! converged, `error`.

use std::fmt::Write;

use linepack_network::Network;
use linepack_network::ids::{NodeIdx, PipeIdx};
use linepack_network::linepack::Linepack;
use linepack_network::solver::SteadyState;
use linepack_network::units::{ambient_pressure_bar, kg_s_to_nm3_h};
use serde::Serialize;

/// "416 nodes, 540 pipes, ...": every element kind with its count.
pub fn element_counts(network: &Network) -> String {
    format!(
        "{} nodes, {} pipes, {} valves, {} regulators, {} supplies, {} consumers, {} injections, {} sensors, {} zones",
        network.nodes.len(),
        network.pipes.len(),
        network.valves.len(),
        network.regulators.len(),
        network.supplies.len(),
        network.consumers.len(),
        network.injections.len(),
        network.sensors.len(),
        network.zones.len()
    )
}

#[derive(Debug, Serialize)]
pub struct SteadyReport {
    pub converged: bool,
    pub iterations: usize,
    pub solve_time_ms: f64,
    pub friction: &'static str,
    pub nodes: Vec<NodeReport>,
    pub pipes: Vec<PipeReport>,
    pub valves: Vec<FlowReport>,
    pub regulators: Vec<RegulatorReport>,
    pub supplies: Vec<FlowReport>,
    pub linepack_kg: f64,
    pub disconnected_nodes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NodeReport {
    pub id: String,
    pub pressure_bar_g: Option<f64>,
    pub pressure_bar_abs: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct PipeReport {
    pub id: String,
    pub flow_kg_s: f64,
    pub velocity_m_s: f64,
}

#[derive(Debug, Serialize)]
pub struct FlowReport {
    pub id: String,
    pub flow_kg_s: f64,
}

#[derive(Debug, Serialize)]
pub struct RegulatorReport {
    pub id: String,
    pub flow_kg_s: f64,
    pub state: &'static str,
}

impl SteadyReport {
    /// The report of `state` (converged, or the last iterate with `error`).
    pub fn new(
        network: &Network,
        state: &SteadyState,
        linepack: &Linepack,
        solve_time_ms: f64,
        error: Option<String>,
    ) -> Self {
        let nodes = network
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let abs = state.pressure_bar_abs(NodeIdx::new(i));
                NodeReport {
                    id: n.id.clone(),
                    pressure_bar_g: abs.map(|p| p - ambient_pressure_bar(n.elevation_m)),
                    pressure_bar_abs: abs,
                }
            })
            .collect();
        let pipes = network
            .pipes
            .iter()
            .enumerate()
            .map(|(i, p)| PipeReport {
                id: p.id.clone(),
                flow_kg_s: state.pipe_flow_kg_s[i],
                velocity_m_s: state.pipe_velocity_m_s(network, PipeIdx::new(i)),
            })
            .collect();
        let flows = |ids: &mut dyn Iterator<Item = &String>, flows: &[f64]| {
            ids.zip(flows)
                .map(|(id, &flow_kg_s)| FlowReport {
                    id: id.clone(),
                    flow_kg_s,
                })
                .collect()
        };
        SteadyReport {
            converged: error.is_none(),
            iterations: state.iterations,
            solve_time_ms,
            friction: state.friction.name(),
            nodes,
            pipes,
            valves: flows(&mut network.valves.iter().map(|v| &v.id), &state.valve_flow_kg_s),
            regulators: network
                .regulators
                .iter()
                .enumerate()
                .map(|(i, r)| RegulatorReport {
                    id: r.id.clone(),
                    flow_kg_s: state.regulator_flow_kg_s[i],
                    state: state.regulator_state[i].name(),
                })
                .collect(),
            supplies: flows(&mut network.supplies.iter().map(|s| &s.id), &state.supply_flow_kg_s),
            linepack_kg: linepack.total_kg,
            disconnected_nodes: state.disconnected_nodes().map(|n| network.node(n).id.clone()).collect(),
            error,
        }
    }

    /// The readable form: tables of nodes, pipes, valves, regulators and
    /// supplies, then a summary.
    pub fn to_text(&self, network: &Network) -> String {
        let mut out = String::new();
        let w = self.nodes.iter().map(|n| n.id.len()).chain([4]).max().unwrap_or(4);
        let _ = writeln!(out, "{:<w$}  {:>14}  {:>14}", "NODE", "p [bar g]", "p [bar abs]");
        for n in &self.nodes {
            match (n.pressure_bar_g, n.pressure_bar_abs) {
                (Some(g), Some(a)) => {
                    let _ = writeln!(out, "{:<w$}  {g:>14.6}  {a:>14.6}", n.id);
                }
                _ => {
                    let _ = writeln!(out, "{:<w$}  {:>14}  {:>14}", n.id, "disconnected", "-");
                }
            }
        }
        if !self.pipes.is_empty() {
            let w = self.pipes.iter().map(|p| p.id.len()).chain([4]).max().unwrap_or(4);
            let _ = writeln!(out, "\n{:<w$}  {:>14}  {:>10}", "PIPE", "flow [kg/s]", "v [m/s]");
            for p in &self.pipes {
                let _ = writeln!(out, "{:<w$}  {:>14.6e}  {:>10.4}", p.id, p.flow_kg_s, p.velocity_m_s);
            }
        }
        let flow_table = |out: &mut String, title: &str, rows: &[FlowReport]| {
            if rows.is_empty() {
                return;
            }
            let w = rows.iter().map(|p| p.id.len()).chain([title.len()]).max().unwrap_or(4);
            let _ = writeln!(out, "\n{title:<w$}  {:>14}", "flow [kg/s]");
            for r in rows {
                let _ = writeln!(out, "{:<w$}  {:>14.6e}", r.id, r.flow_kg_s);
            }
        };
        flow_table(&mut out, "VALVE", &self.valves);
        if !self.regulators.is_empty() {
            let w = self.regulators.iter().map(|p| p.id.len()).chain([9]).max().unwrap_or(9);
            let _ = writeln!(out, "\n{:<w$}  {:>14}  {:>6}", "REGULATOR", "flow [kg/s]", "state");
            for r in &self.regulators {
                let _ = writeln!(out, "{:<w$}  {:>14.6e}  {:>6}", r.id, r.flow_kg_s, r.state);
            }
        }
        flow_table(&mut out, "SUPPLY", &self.supplies);
        out.push('\n');
        out.push_str(&self.summary(network));
        out
    }

    /// Min and max pressure and where, supply, linepack, disconnected nodes.
    pub fn summary(&self, network: &Network) -> String {
        let mut out = String::new();
        let status = match &self.error {
            None => format!("converged in {} iterations", self.iterations),
            Some(e) => format!("NOT converged: {e}"),
        };
        let _ = writeln!(
            out,
            "{} ({} friction): {status}, {:.3} ms",
            network.name, self.friction, self.solve_time_ms
        );
        let connected = self.nodes.iter().filter_map(|n| n.pressure_bar_g.map(|p| (p, &n.id)));
        let min = connected.clone().min_by(|a, b| a.0.total_cmp(&b.0));
        let max = connected.max_by(|a, b| a.0.total_cmp(&b.0));
        if let (Some((lo, lo_id)), Some((hi, hi_id))) = (min, max) {
            let _ = writeln!(
                out,
                "  pressure   min {lo:.4} bar g at {lo_id}, max {hi:.4} bar g at {hi_id}"
            );
        }
        let supply: f64 = self.supplies.iter().map(|s| s.flow_kg_s).sum();
        let rho_n = network.gas.density_normal_kg_m3;
        let _ = writeln!(
            out,
            "  supply     {supply:.6} kg/s ({:.1} Nm³/h) from {} supplies",
            kg_s_to_nm3_h(supply, rho_n),
            self.supplies.len()
        );
        let _ = writeln!(out, "  linepack   {:.3} kg", self.linepack_kg);
        match self.disconnected_nodes.len() {
            0 => {
                let _ = writeln!(out, "  disconnected nodes: none");
            }
            n => {
                let shown: Vec<&str> = self.disconnected_nodes.iter().take(20).map(String::as_str).collect();
                let more = if n > 20 {
                    format!(" and {} more", n - 20)
                } else {
                    String::new()
                };
                let _ = writeln!(out, "  disconnected nodes ({n}): {}{more}", shown.join(", "));
            }
        }
        out
    }
}
