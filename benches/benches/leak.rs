//! Leak detection's model on a 2,500-node city (2,601 nodes, 115 pressure
//! and 59 flow sensors compared with the model): one update (measured
//! inputs in, a time step of the network with storage, every residual and
//! its learning) — the per-period cost on the hot path; and one
//! localization of a district (81 candidate nodes, one solve with the
//! factored Jacobian each) and of the trunk (576 nodes), paid when a leak
//! alarm is raised or refined.

use criterion::{Criterion, criterion_group, criterion_main};
use linepack_benches::city_network;
use linepack_engine::leak::model::{Model, Signatures};
use linepack_engine::leak::places::Places;
use linepack_network::ElementRef;
use linepack_network::network::SensorKind;
use linepack_network::solver::{SolveOptions, SteadySolver};
use linepack_network::topology::Topology;

fn model(c: &mut Criterion) {
    let network = city_network(2500, 1);
    let state = SteadySolver::new(&network, SolveOptions::default())
        .solve(&network)
        .expect("the city solves");
    // What the sensors would read in that state.
    let truth: Vec<Option<f64>> = network
        .sensors
        .iter()
        .map(|s| match (s.kind, s.at) {
            (SensorKind::Pressure, ElementRef::Node(n)) => state.pressure_bar_g(&network, n),
            (SensorKind::Flow, ElementRef::Regulator(r)) => Some(state.regulator_flow_kg_s[r.index()]),
            (SensorKind::Flow, ElementRef::Supply(k)) => Some(state.supply_flow_kg_s[k.index()]),
            (SensorKind::Flow, ElementRef::Consumer(k)) => Some(network.consumers[k.index()].demand_kg_s),
            _ => None,
        })
        .collect();
    let mut m = Model::new(&network, 60.0, 900.0, 6.0);
    let base: Vec<f64> = network.consumers.iter().map(|c| c.demand_kg_s).collect();
    assert!(
        m.update(|k| base[k], |s| truth[s as usize], |_| true),
        "the model solves"
    );
    let mut group = c.benchmark_group("leak_model");
    group.sample_size(50);
    let mut k = 0u64;
    group.bench_function("update_2601_nodes", |b| {
        b.iter(|| {
            // Demand moves a little each period, as it does.
            k += 1;
            let f = 1.0 + 0.02 * ((k as f64) * 0.1).sin();
            assert!(m.update(|c| base[c] * f, |s| truth[s as usize], |_| true));
        })
    });
    let zone = network.zones.iter().find(|z| z.id == "Z12").expect("district Z12");
    let sensors = m.residuals_in(|n| zone.nodes.contains(&n));
    let topology = Topology::new(&network);
    let places = Places::new(&network, &topology, zone.nodes.clone(), 300.0);
    group.bench_function("localize_district_81_nodes", |b| {
        b.iter(|| {
            let mut taken = Signatures::default();
            m.localize(&places, &sensors, &mut taken, 15, 0.006, 0.001, 5)
        })
    });
    // The trunk: the largest zone, every node a candidate.
    let trunk = network.zones.iter().find(|z| z.id == "Z-MP").expect("trunk Z-MP");
    let sensors = m.residuals_in(|n| trunk.nodes.contains(&n));
    let places = Places::new(&network, &topology, trunk.nodes.clone(), 300.0);
    group.sample_size(10);
    group.bench_function(format!("localize_trunk_{}_nodes", trunk.nodes.len()), |b| {
        b.iter(|| {
            let mut taken = Signatures::default();
            m.localize(&places, &sensors, &mut taken, 15, 0.006, 0.001, 5)
        })
    });
    group.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
