//! A validated network back to its file form: to write it out, or to edit
//! it (the simulator inserts leak nodes) and validate the result again.

use super::schema::*;
use crate::gas::Compressibility;
use crate::network::{Network, RegulatorKind};

/// The file that loads as `network` (demands in kg/s, ids as they are).
pub fn to_file(network: &Network) -> NetworkFile {
    let node = |i: crate::ids::NodeIdx| network.node(i).id.clone();
    let gas = &network.gas;
    NetworkFile {
        format: None,
        version: FORMAT_VERSION,
        name: network.name.clone(),
        gas: GasSpec {
            name: gas.name.clone(),
            density_normal_kg_m3: gas.density_normal_kg_m3,
            viscosity_pa_s: gas.viscosity_pa_s,
            temperature_k: gas.temperature_k,
            compressibility: match gas.compressibility {
                Compressibility::Constant { z } => CompressibilitySpec::Constant { z },
                Compressibility::Linear { z0, per_bar } => CompressibilitySpec::Linear { z0, per_bar },
            },
        },
        nodes: network
            .nodes
            .iter()
            .map(|n| NodeSpec {
                id: n.id.clone(),
                elevation_m: n.elevation_m,
                temperature_k: n.temperature_k,
                x: n.x,
                y: n.y,
            })
            .collect(),
        pipes: network
            .pipes
            .iter()
            .map(|p| PipeSpec {
                id: p.id.clone(),
                from: node(p.from),
                to: node(p.to),
                length_m: p.length_m,
                diameter_mm: p.diameter_mm,
                roughness_mm: p.roughness_mm,
                loss_coefficient: p.loss_coefficient,
                in_service: p.in_service,
            })
            .collect(),
        valves: network
            .valves
            .iter()
            .map(|v| ValveSpec {
                id: v.id.clone(),
                from: node(v.from),
                to: node(v.to),
                open: v.open,
                diameter_mm: v.diameter_mm,
                loss_coefficient: v.loss_coefficient,
            })
            .collect(),
        regulators: regulators(network, RegulatorKind::Reducing),
        compressors: regulators(network, RegulatorKind::Compressor),
        supplies: network
            .supplies
            .iter()
            .map(|s| SupplySpec {
                id: s.id.clone(),
                node: node(s.node),
                pressure_bar_g: s.pressure_bar_g,
                kind: s.kind,
                in_service: s.in_service,
            })
            .collect(),
        consumers: network
            .consumers
            .iter()
            .map(|c| ConsumerSpec {
                id: c.id.clone(),
                node: node(c.node),
                kind: c.kind,
                demand_kg_s: Some(c.demand_kg_s),
                demand_nm3_h: None,
                min_pressure_bar_g: c.min_pressure_bar_g,
                in_service: c.in_service,
            })
            .collect(),
        injections: network
            .injections
            .iter()
            .map(|i| InjectionSpec {
                id: i.id.clone(),
                node: node(i.node),
                rate_kg_s: i.rate_kg_s,
                in_service: i.in_service,
            })
            .collect(),
        sensors: network
            .sensors
            .iter()
            .map(|s| SensorSpec {
                id: s.id.clone(),
                kind: s.kind,
                at: network.id_of(s.at).to_string(),
            })
            .collect(),
        zones: network
            .zones
            .iter()
            .map(|z| ZoneSpec {
                id: z.id.clone(),
                nodes: z.nodes.iter().map(|&n| node(n)).collect(),
            })
            .collect(),
    }
}

fn regulators(network: &Network, kind: RegulatorKind) -> Vec<RegulatorSpec> {
    network
        .regulators
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| RegulatorSpec {
            id: r.id.clone(),
            from: network.node(r.from).id.clone(),
            to: network.node(r.to).id.clone(),
            outlet_pressure_bar_g: r.outlet_pressure_bar_g,
            in_service: r.in_service,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{Format, parse, to_string};
    use crate::ids::ElementRef;

    #[test]
    fn a_network_round_trips_through_its_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pandapipes");
        for entry in std::fs::read_dir(path).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with(".network.json") {
                continue;
            }
            let net = crate::file::load(&path).unwrap();
            let text = to_string(&to_file(&net), Format::Json);
            let again = parse(&text, Format::Json, &path).unwrap();
            assert_eq!(again.nodes, net.nodes, "{}", path.display());
            assert_eq!(again.pipes, net.pipes);
            assert_eq!(again.consumers, net.consumers);
            assert_eq!(again.supplies, net.supplies);
            assert_eq!(again.sensors, net.sensors);
            assert!(matches!(again.find(&net.nodes[0].id), Some(ElementRef::Node(_))));
        }
    }
}
