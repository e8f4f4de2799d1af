use std::path::Path;

use linepack_network::file::{self, Format};
use linepack_network::solver::{SolveOptions, SteadySolver};
use linepack_network::topology::Topology;

use super::*;

fn build(nodes: usize, seed: u64) -> linepack_network::Network {
    let f = city(&CityConfig {
        nodes,
        seed,
        ..CityConfig::default()
    });
    let text = file::to_string(&f, Format::Json);
    file::parse(&text, Format::Json, Path::new("generated.json")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn same_seed_same_file_other_seed_other_file() {
    let a = file::to_string(
        &city(&CityConfig {
            nodes: 400,
            seed: 3,
            ..Default::default()
        }),
        Format::Json,
    );
    let b = file::to_string(
        &city(&CityConfig {
            nodes: 400,
            seed: 3,
            ..Default::default()
        }),
        Format::Json,
    );
    let c = file::to_string(
        &city(&CityConfig {
            nodes: 400,
            seed: 4,
            ..Default::default()
        }),
        Format::Json,
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn generated_city_is_valid_connected_meshed_and_solvable() {
    let net = build(2500, 1);
    assert!(net.nodes.len() >= 2500);
    let topo = Topology::new(&net);
    let supplied = topo.supplied(&net);
    assert!(supplied.iter().all(|&s| s), "every node has gas");
    // Meshed: clearly more pipes than a tree would have.
    assert!(net.pipes.len() + net.valves.len() > net.nodes.len() + net.nodes.len() / 10);
    assert!(net.supplies.len() == 3 && net.regulators.len() > 40 && !net.valves.is_empty());
    assert!(net.zones.iter().map(|z| z.nodes.len()).sum::<usize>() >= net.nodes.len());

    let state = SteadySolver::new(&net, SolveOptions::default()).solve(&net).unwrap();
    let trunk: std::collections::HashSet<_> = net
        .zones
        .iter()
        .find(|z| z.id == "Z-MP")
        .unwrap()
        .nodes
        .iter()
        .copied()
        .collect();
    for i in 0..net.nodes.len() {
        let n = linepack_network::ids::NodeIdx::new(i);
        let p = state.pressure_bar_g(&net, n).unwrap();
        if net.supplies.iter().any(|s| s.node == n) {
            continue;
        }
        if trunk.contains(&n) {
            // Elevation moves gauge pressures by a few mbar either way.
            assert!(p > 3.5 && p < 4.05, "trunk node {} at {p} bar g", net.node(n).id);
        } else {
            assert!(p > 1.2 && p < 1.55, "district node {} at {p} bar g", net.node(n).id);
        }
    }
}

#[test]
fn districts_are_bounded_by_their_regulators_meters() {
    let net = build(900, 2);
    // The zones the flow meters bound are the file's zones.
    let metered: std::collections::HashSet<linepack_network::ids::BranchRef> = net
        .sensors
        .iter()
        .filter_map(|s| match s.at {
            linepack_network::ElementRef::Regulator(r) if s.kind == SensorKind::Flow => {
                Some(linepack_network::ids::BranchRef::Regulator(r))
            }
            _ => None,
        })
        .collect();
    let mut derived: Vec<Vec<_>> = Topology::new(&net).metered_zones(&net, &|b| metered.contains(&b));
    let mut declared: Vec<Vec<_>> = net
        .zones
        .iter()
        .map(|z| {
            let mut n = z.nodes.clone();
            n.sort_unstable();
            n
        })
        .collect();
    derived.sort();
    declared.sort();
    assert_eq!(derived, declared);
    // Every district has a metered feed with its outlet pressure.
    for z in net.zones.iter().filter(|z| z.id != "Z-MP") {
        let feeds = net.regulators.iter().filter(|r| z.nodes.contains(&r.to)).count();
        assert!((1..=2).contains(&feeds), "{} has {feeds} feeds", z.id);
    }
}

#[test]
fn toml_and_json_encodings_load_to_the_same_network() {
    let f = city(&CityConfig {
        nodes: 100,
        seed: 9,
        ..Default::default()
    });
    let json = file::parse(&file::to_string(&f, Format::Json), Format::Json, Path::new("a.json")).unwrap();
    let toml = file::parse(&file::to_string(&f, Format::Toml), Format::Toml, Path::new("a.toml")).unwrap();
    assert_eq!(json.nodes, toml.nodes);
    assert_eq!(json.pipes, toml.pipes);
    assert_eq!(json.consumers, toml.consumers);
    assert_eq!(json.sensors, toml.sensors);
}
