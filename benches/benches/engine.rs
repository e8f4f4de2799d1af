//! The engine's hot path on a 10,000-sensor city: readings through live
//! state, validity, limits, devices and usage into the alarm book, one
//! shard (one core); and the alarm journal's write throughput (SQLite, WAL,
//! synchronous=FULL: every step durable before it is announced).

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use linepack_benches::city_with_sensors;
use linepack_benches::engine::{START_MS, engine_config, rounds, shift};
use linepack_engine::alarm::{Namer, Transition};
use linepack_engine::engine::Engine;
use linepack_engine::journal::Journal;
use linepack_network::network::SensorKind;

const SENSORS: usize = 10_000;
const ROUNDS: usize = 10;
const PERIOD_MS: i64 = 10_000;
const BATCH: usize = 500;

fn hot_path(c: &mut Criterion) {
    let network = city_with_sensors(SENSORS, 1);
    let config = engine_config();
    let n = network.sensors.len();
    let readings = (ROUNDS * n) as u64;
    let mut group = c.benchmark_group("engine_hot_path");
    group.throughput(Throughput::Elements(readings));
    group.sample_size(20);

    // Steady operation: nothing crosses a limit.
    let steady = rounds(&network, ROUNDS, PERIOD_MS, START_MS, BATCH);
    // 1 % of the pressure sensors fall below their low limit every other
    // round and recover in between: alarms raised and returned all along.
    let mut alarming = steady.clone();
    let mut k = 0usize;
    for b in &mut alarming {
        for r in &mut b.readings {
            let i = r.sensor.index();
            if network.sensors[i].kind == SensorKind::Pressure && i % 100 == 0 {
                let round = ((r.ts_ms - START_MS) / PERIOD_MS) as usize;
                if round.is_multiple_of(2) {
                    r.value = 2.5;
                }
                k += 1;
            }
        }
    }
    assert!(k > 0, "the bench network has pressure sensors");

    for (name, template) in [("steady", steady), ("one_percent_alarming", alarming)] {
        let id = format!("{name}_{n}_sensors");
        group.bench_function(&id, |b| {
            let mut engine = Engine::new(&network, &config, 1).unwrap();
            let mut batches = template.clone();
            let mut out: Vec<Transition> = Vec::new();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    shift(&mut batches, ROUNDS as i64 * PERIOD_MS);
                    let start = Instant::now();
                    for batch in &batches {
                        engine.process(batch, &mut out);
                    }
                    total += start.elapsed();
                    out.clear();
                }
                total
            });
        });
    }
    group.finish();
}

fn journal(c: &mut Criterion) {
    let network = city_with_sensors(SENSORS, 1);
    let config = engine_config();
    let mut engine = Engine::new(&network, &config, 1).unwrap();
    // Real transitions: every pressure sensor low, then back.
    let mut transitions = Vec::new();
    for value in [2.5, 4.0] {
        let mut batch = rounds(&network, 1, PERIOD_MS, START_MS, usize::MAX).remove(0);
        batch
            .readings
            .retain(|r| network.sensors[r.sensor.index()].kind == SensorKind::Pressure);
        for r in &mut batch.readings {
            r.value = value;
            r.ts_ms += if value < 3.0 { 0 } else { 60_000 };
        }
        engine.process(&batch, &mut transitions);
    }
    let namer = Namer {
        network: &network,
        engine: &engine,
    };
    let entries: Vec<_> = transitions
        .iter()
        .map(|t| (t.clone(), namer.event(t), engine.alarm(&t.key).unwrap().clone()))
        .collect();
    assert!(entries.len() >= 100, "{} transitions", entries.len());

    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(Some(&dir.path().join("journal.sqlite"))).unwrap();
    let mut group = c.benchmark_group("journal");
    group.sample_size(20);
    for per_step in [1usize, 100] {
        group.throughput(Throughput::Elements(per_step as u64));
        group.bench_function(format!("durable_step_of_{per_step}_transitions"), |b| {
            let mut next = 0usize;
            b.iter_batched(
                || {
                    let step: Vec<_> = (0..per_step)
                        .map(|k| entries[(next + k) % entries.len()].clone())
                        .collect();
                    next += per_step;
                    step
                },
                |step| journal.record(&step).unwrap(),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, hot_path, journal);
criterion_main!(benches);
