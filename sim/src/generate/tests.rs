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
    assert!(net.regulators.len() >= 3 && !net.valves.is_empty());
    assert!(net.zones.iter().map(|z| z.nodes.len()).sum::<usize>() > 2500);

    let state = SteadySolver::new(&net, SolveOptions::default()).solve(&net).unwrap();
    let gauge: Vec<f64> = (0..net.nodes.len())
        .filter_map(|i| state.pressure_bar_g(&net, linepack_network::ids::NodeIdx::new(i)))
        .collect();
    let min = gauge.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(
        min > 2.0 && min < 4.0,
        "grid pressure sags but stays in service: min {min} bar g"
    );
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
