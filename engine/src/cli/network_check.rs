//! `linepack network check FILE`.

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

use linepack_engine::report::element_counts;
use linepack_network::topology::Topology;
use linepack_network::units::kg_s_to_nm3_h;
use linepack_network::{Network, file};

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let network = file::load(path)?;
    print!("{}", describe(&network, path));
    Ok(ExitCode::SUCCESS)
}

/// The description printed for a valid network.
fn describe(network: &Network, path: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "network '{}' ({}): valid", network.name, path.display());
    let _ = writeln!(out, "  elements     {}", element_counts(network));

    let topology = Topology::new(network);
    let components = topology.components(network);
    let with_supply = components.list.iter().filter(|c| !c.supplies.is_empty()).count();
    let _ = writeln!(
        out,
        "  components   {} ({} with a supply, {} without)",
        components.list.len(),
        with_supply,
        components.list.len() - with_supply
    );
    for (i, c) in components.list.iter().enumerate().take(10) {
        let supplies: Vec<&str> = c
            .supplies
            .iter()
            .map(|s| network.supplies[s.index()].id.as_str())
            .collect();
        let fed = if supplies.is_empty() {
            "no supply".to_string()
        } else {
            format!("fed by {}", supplies.join(", "))
        };
        let _ = writeln!(out, "    #{i}: {} nodes, {fed}", c.nodes.len());
    }
    if components.list.len() > 10 {
        let _ = writeln!(out, "    ... and {} more", components.list.len() - 10);
    }

    let supplied = topology.supplied(network);
    let disconnected: Vec<&str> = supplied
        .iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(i, _)| network.nodes[i].id.as_str())
        .collect();
    if disconnected.is_empty() {
        let _ = writeln!(out, "  disconnected none: every node can be reached from a supply");
    } else {
        let more = disconnected.len().saturating_sub(20);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  disconnected {} nodes without a path from a supply: {}{tail}",
            disconnected.len(),
            disconnected[..disconnected.len().min(20)].join(", ")
        );
    }

    let rho_n = network.gas.density_normal_kg_m3;
    let in_service = network.consumers.iter().filter(|c| c.in_service).count();
    let demand = network.total_demand_kg_s();
    let _ = writeln!(
        out,
        "  demand       {demand:.6} kg/s ({:.1} Nm³/h) from {in_service} consumers in service",
        kg_s_to_nm3_h(demand, rho_n)
    );
    let unsupplied: f64 = network
        .consumers
        .iter()
        .filter(|c| c.in_service && !supplied[c.node.index()])
        .map(|c| c.demand_kg_s)
        .sum();
    if unsupplied > 0.0 {
        let _ = writeln!(
            out,
            "  unsupplied   {unsupplied:.6} kg/s of that demand is at disconnected nodes"
        );
    }
    let injection = network.total_injection_kg_s();
    if injection > 0.0 {
        let _ = writeln!(
            out,
            "  injection    {injection:.6} kg/s ({:.1} Nm³/h)",
            kg_s_to_nm3_h(injection, rho_n)
        );
    }
    out
}
