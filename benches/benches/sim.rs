//! Simulator time steps (issue: simulator): one quasi-steady step with
//! storage, warm-started, and the telemetry it produces, on generated
//! cities of 2,500 and 100,000 junctions at 1-minute steps; against a cold
//! steady solve of the same network (the baseline in BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};
use linepack_benches::city_network;
use linepack_network::Network;
use linepack_sim::run::{NullSink, Sink};
use linepack_sim::scenario::{Scenario, ScenarioFile};
use linepack_sim::simulation::Simulation;
use linepack_sim::telemetry::Telemetry;

/// A long run of 1-minute steps with demand noise, so no step is the last.
fn simulation(net: &Network) -> Simulation {
    let text = "[simulation]\nstart = \"2026-11-23T00:00:00Z\"\nduration = \"30d\"\nstep_s = 60\nseed = 1\n";
    let file: ScenarioFile = toml::from_str(text).unwrap();
    let scenario = Scenario::resolve(&file, net, 0).unwrap();
    Simulation::new(net, scenario).unwrap()
}

fn steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_step");
    for (name, nodes, samples) in [("city_2500", 2_500, 50), ("city_100k", 100_000, 10)] {
        let net = city_network(nodes, 1);
        let mut sim = simulation(&net);
        let mut telemetry = Telemetry::new(&sim);
        let mut out = Vec::new();
        let mut sink = NullSink;
        group.sample_size(samples);
        group.bench_function(name, |b| {
            b.iter(|| {
                sim.step().unwrap();
                out.clear();
                telemetry.collect(&sim, &mut out);
                sink.send(sim.t_ms, &out, &sim.base).unwrap();
            })
        });
        // The baseline: the same network solved cold, as without warm starts.
        let mut solver = linepack_network::solver::SteadySolver::new(&sim.net, Default::default());
        group.bench_function(format!("{name}_cold_steady_solve"), |b| {
            b.iter(|| solver.solve(&sim.net).unwrap())
        });
        eprintln!(
            "{name}: {} nodes, {} pipes, {} sensors, {} readings per step",
            sim.base.nodes.len(),
            sim.base.pipes.len(),
            sim.base.sensors.len(),
            out.len()
        );
    }
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
