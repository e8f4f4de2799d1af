//! Set-up shared by the engine bench (`benches/engine.rs`) and the latency
//! tool (`src/bin/engine_latency.rs`): a configuration with limits on every
//! kind, and rounds of readings in which every sensor reports once.

use linepack_engine::config::{EngineConfig, LimitsConfig};
use linepack_ingest::telemetry::{Batch, Quality, Reading};
use linepack_network::Network;
use linepack_network::ids::SensorIdx;
use linepack_network::network::SensorKind;

/// Monday 2026-11-23 08:00 UTC, ms.
pub const START_MS: i64 = 1_795_420_800_000;

/// The defaults plus limits and a rate of change on pressure and flow, so
/// the limit detector has work on every reading.
pub fn engine_config() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.sensors.pressure = LimitsConfig {
        low_low: Some(2.0),
        low: Some(3.0),
        high: Some(5.0),
        high_high: Some(6.0),
        rate_of_change_per_min: Some(0.5),
        ..c.sensors.pressure.clone()
    };
    c.sensors.flow = LimitsConfig {
        high: Some(50.0),
        high_high: Some(80.0),
        ..c.sensors.flow.clone()
    };
    c
}

/// A value in [-1, 1) from a counter, cheap and repeatable.
fn noise(k: u64) -> f64 {
    let x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    (x as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// A normal reading of `sensor` at `ts_ms`: nothing to alarm about.
pub fn normal_reading(network: &Network, sensor: usize, ts_ms: i64, k: u64) -> Reading {
    let value = match network.sensors[sensor].kind {
        SensorKind::Pressure => 4.0 + 0.01 * noise(k),
        SensorKind::Flow => 0.5 + 0.05 * noise(k),
        SensorKind::Temperature => 283.0 + 0.2 * noise(k),
        SensorKind::GasDetector => 1.0 + noise(k).abs(),
        SensorKind::ShutoffValve => 1.0,
    };
    Reading {
        sensor: SensorIdx::new(sensor),
        ts_ms,
        value,
        quality: Quality::Good,
        event: None,
    }
}

/// `rounds` rounds, `period_ms` apart from `start_ms`, in which every
/// sensor reports once (spread over the round), cut into batches of
/// `batch_size` readings as the ingest hand-off delivers them.
pub fn rounds(network: &Network, rounds: usize, period_ms: i64, start_ms: i64, batch_size: usize) -> Vec<Batch> {
    let n = network.sensors.len();
    let mut batches = Vec::new();
    let mut batch = Batch::default();
    for round in 0..rounds {
        for i in 0..n {
            let ts = start_ms + round as i64 * period_ms + (i as i64 * period_ms) / n as i64;
            batch
                .readings
                .push(normal_reading(network, i, ts, (round * n + i) as u64));
            if batch.readings.len() == batch_size {
                batches.push(std::mem::take(&mut batch));
            }
        }
    }
    if !batch.readings.is_empty() {
        batches.push(batch);
    }
    batches
}

/// Moves every reading of `batches` `by_ms` later (the next pass of a
/// bench: time goes on).
pub fn shift(batches: &mut [Batch], by_ms: i64) {
    for b in batches {
        for r in &mut b.readings {
            r.ts_ms += by_ms;
        }
    }
}
