//! Telemetry decoding, the first stage of the hot path: single-reading JSON
//! messages (`{"ts": <ms>, "v": <number>}`) and RFC 3339 timestamps, for a
//! 10,000-sensor network. Throughput is in readings per second on one core.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use linepack_ingest::telemetry::{Batch, DecodeLimits, Decoder, SensorEntry, SensorTable, time::format_rfc3339_ms};
use linepack_network::ids::SensorIdx;

const SENSORS: usize = 10_000;
const NOW: i64 = 1_795_420_800_000;

fn table() -> SensorTable {
    SensorTable::new((0..SENSORS).map(|i| {
        (
            format!("PT-{i:05}"),
            SensorEntry {
                idx: SensorIdx::new(i),
                scale: 0.01,
                offset: 0.0,
            },
        )
    }))
}

fn messages(rfc3339: bool) -> Vec<(String, Vec<u8>)> {
    (0..SENSORS)
        .map(|i| {
            let ts = NOW - 60_000 + i as i64;
            let payload = if rfc3339 {
                format!(
                    r#"{{"ts": "{}", "v": {:.2}, "q": "good"}}"#,
                    format_rfc3339_ms(ts),
                    398.0 + i as f64 * 0.01
                )
            } else {
                format!(r#"{{"ts": {ts}, "v": {:.2}}}"#, 398.0 + i as f64 * 0.01)
            };
            (format!("gas/telemetry/PT-{i:05}"), payload.into_bytes())
        })
        .collect()
}

fn decode(c: &mut Criterion) {
    let table = table();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(SENSORS as u64));
    for (name, rfc) in [("single_reading_ms_ts", false), ("single_reading_rfc3339_ts", true)] {
        let msgs = messages(rfc);
        group.bench_function(name, |b| {
            b.iter_batched(
                // A fresh decoder per pass: the same messages are not duplicates.
                || {
                    (
                        Decoder::new("gas", table.clone(), SENSORS, DecodeLimits::default()),
                        Batch::default(),
                    )
                },
                |(mut d, mut out)| {
                    let mut rejects = Vec::new();
                    out.readings.reserve(SENSORS);
                    for (topic, payload) in &msgs {
                        d.decode(topic, payload, NOW, &mut out, &mut rejects);
                    }
                    assert_eq!(out.readings.len(), SENSORS);
                    out
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
