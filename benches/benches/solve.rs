//! Steady-state solve of generated city networks: a cold solve from the
//! validated network (what `solve_time_ms` measures: layout, symbolic
//! factorization and Newton), a warm re-solve after a demand change (the
//! simulator's time step), and the partial-pivoting LU for comparison.
//! Throughput is in nodes solved per second.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use linepack_benches::city_network;
use linepack_network::solver::{LinearSolver, SolveOptions, SteadySolver};

fn cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("solve_cold");
    for nodes in [2_500usize, 10_000] {
        let net = city_network(nodes, 1);
        group.throughput(Throughput::Elements(net.nodes.len() as u64));
        group.bench_function(format!("city_{nodes}"), |b| {
            b.iter(|| {
                SteadySolver::new(&net, SolveOptions::default())
                    .solve(&net)
                    .expect("solves")
            })
        });
        let pivoting = SolveOptions {
            linear_solver: LinearSolver::PartialPivoting,
            ..SolveOptions::default()
        };
        group.bench_function(format!("city_{nodes}_partial_pivoting"), |b| {
            b.iter(|| SteadySolver::new(&net, pivoting).solve(&net).expect("solves"))
        });
    }
    group.finish();

    let mut big = c.benchmark_group("solve_cold_large");
    big.sample_size(10);
    let net = city_network(100_000, 1);
    big.throughput(Throughput::Elements(net.nodes.len() as u64));
    big.bench_function("city_100000", |b| {
        b.iter(|| {
            SteadySolver::new(&net, SolveOptions::default())
                .solve(&net)
                .expect("solves")
        })
    });
    big.finish();
}

fn warm(c: &mut Criterion) {
    let mut group = c.benchmark_group("solve_warm");
    let net = std::cell::RefCell::new(city_network(2_500, 1));
    group.throughput(Throughput::Elements(net.borrow().nodes.len() as u64));
    let mut solver = SteadySolver::new(&net.borrow(), SolveOptions::default());
    let base = solver.solve(&net.borrow()).expect("solves");
    let demands: Vec<f64> = net.borrow().consumers.iter().map(|c| c.demand_kg_s).collect();
    let mut step = 0u64;
    group.bench_function("city_2500_demand_step", |b| {
        b.iter_batched(
            || {
                // Each step scales demand by a few per cent, as a minute of a day's profile would.
                step += 1;
                let f = 1.0 + 0.03 * ((step % 7) as f64 - 3.0) / 3.0;
                for (c, d) in net.borrow_mut().consumers.iter_mut().zip(&demands) {
                    c.demand_kg_s = d * f;
                }
                base.clone()
            },
            |mut state| {
                solver.resolve(&net.borrow(), &mut state).expect("solves");
                state
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, cold, warm);
criterion_main!(benches);
