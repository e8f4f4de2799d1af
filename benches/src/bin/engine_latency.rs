//! Latency through the hot loop, for BENCHMARKS.md: from a batch entering
//! the ingest hand-off to the alarm transition of one of its readings being
//! announced by `linepack_engine::hotloop::run` (the loop `linepack replay`
//! and the live engine run), on a 10,000-sensor city under a steady load.
//!
//! A producer sends every sensor's readings round after round in batches of
//! 100 at a fixed rate; every tenth batch carries a "probe": one pressure
//! reading below its low limit, whose `low` alarm is then raised (and
//! cleared by that sensor's next normal reading). Two journals are run:
//! in memory (the engine and the journal's SQL work, no disk), and on disk
//! with synchronous=FULL (what the engine does: durable before announced).
//!
//! Probes of the first second (warm-up) are not counted.
//!
//! Usage: engine_latency [--seconds S] [--rate READINGS_PER_S]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linepack_benches::city_with_sensors;
use linepack_benches::engine::{engine_config, normal_reading};
use linepack_engine::alarm::AlarmEvent;
use linepack_engine::engine::Engine;
use linepack_engine::hotloop::{self, Clock};
use linepack_engine::journal::Journal;
use linepack_ingest::handoff::{Backpressure, handoff};
use linepack_ingest::metrics::IngestMetrics;
use linepack_ingest::mqtt::client::now_ms;
use linepack_ingest::telemetry::Batch;
use linepack_network::Network;
use linepack_network::network::SensorKind;

const BATCH: usize = 100;
const PROBE_EVERY: usize = 10;
const WARM_UP: Duration = Duration::from_secs(1);

/// A probe's alarm: its id and the reading's time, ms.
type Probe = (String, i64);

struct Run {
    latencies_us: Vec<f64>,
    probes: usize,
    readings: u64,
    elapsed: Duration,
}

fn run(network: &Network, on_disk: bool, seconds: f64, rate: f64) -> Run {
    let mut config = engine_config();
    config.sensors.pressure.off_delay_s = Some(0.0);
    let mut engine = Engine::new(network, &config, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let mut journal = Journal::open(on_disk.then_some(path.as_path())).unwrap();
    let metrics = Arc::new(IngestMetrics::default());
    let (tx, rx) = handoff(1024, Backpressure::Block, metrics);

    let pressure: Vec<usize> = (0..network.sensors.len())
        .filter(|&i| network.sensors[i].kind == SensorKind::Pressure)
        .collect();
    // Each probe's alarm -> when it was sent, and when it was announced.
    let sent: Arc<Mutex<HashMap<Probe, Instant>>> = Arc::default();
    let announced: Arc<Mutex<Vec<(Probe, Instant)>>> = Arc::default();

    let producer = {
        let network = network.clone();
        let sent = sent.clone();
        std::thread::spawn(move || {
            let n = network.sensors.len();
            let batch_interval = Duration::from_secs_f64(BATCH as f64 / rate);
            let start = Instant::now();
            let mut k = 0u64;
            let mut batches = 0usize;
            let mut probes = 0usize;
            while start.elapsed().as_secs_f64() < seconds {
                let due = start + batch_interval * batches as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let ts = now_ms();
                let mut batch = Batch::default();
                for _ in 0..BATCH {
                    batch
                        .readings
                        .push(normal_reading(&network, (k % n as u64) as usize, ts, k));
                    k += 1;
                }
                if batches.is_multiple_of(PROBE_EVERY) {
                    let sensor = pressure[probes % pressure.len()];
                    let mut r = normal_reading(&network, sensor, ts, k);
                    r.value = 2.5;
                    batch.readings.push(r);
                    // The first second warms up (first ticks, SQL statements prepared).
                    if start.elapsed() >= WARM_UP {
                        let key = (format!("low:{}", network.sensors[sensor].id), ts);
                        sent.lock().unwrap().insert(key, Instant::now());
                    }
                    probes += 1;
                }
                batches += 1;
                if tx.send_blocking(batch).is_err() {
                    break;
                }
            }
            (sent.lock().unwrap().len(), start.elapsed())
        })
    };

    let announced_in = announced.clone();
    let stats = hotloop::run(
        &rx,
        network,
        &mut engine,
        &mut journal,
        Clock::Recording,
        None,
        &mut |events: &[AlarmEvent]| {
            let now = Instant::now();
            let mut a = announced_in.lock().unwrap();
            for e in events {
                if e.kind == "low" && e.state == "unacknowledged" {
                    a.push(((e.alarm_id.clone(), e.ts_ms), now));
                }
            }
        },
    )
    .unwrap();
    let (probes, elapsed) = producer.join().unwrap();
    let sent = sent.lock().unwrap();
    let mut latencies_us: Vec<f64> = announced
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(key, at)| sent.get(key).map(|s| at.duration_since(*s).as_secs_f64() * 1e6))
        .collect();
    latencies_us.sort_by(f64::total_cmp);
    Run {
        latencies_us,
        probes,
        readings: stats.readings,
        elapsed,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let mut seconds = 10.0;
    let mut rate = 100_000.0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().and_then(|v| v.parse::<f64>().ok());
        match (a.as_str(), value) {
            ("--seconds", Some(v)) => seconds = v,
            ("--rate", Some(v)) => rate = v,
            _ => {
                eprintln!("usage: engine_latency [--seconds S] [--rate READINGS_PER_S]");
                std::process::exit(2);
            }
        }
    }
    let network = city_with_sensors(10_000, 1);
    println!(
        "{} sensors, {} readings/s in batches of {BATCH}, a probe every {PROBE_EVERY} batches, {seconds} s",
        network.sensors.len(),
        rate
    );
    for on_disk in [false, true] {
        let r = run(&network, on_disk, seconds, rate);
        let l = &r.latencies_us;
        assert_eq!(l.len(), r.probes, "every probe raised its alarm");
        println!(
            "journal {:8}: {} probes, {:.0} readings/s; batch sent -> transition announced: p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
            if on_disk { "on disk" } else { "memory" },
            l.len(),
            r.readings as f64 / r.elapsed.as_secs_f64(),
            percentile(l, 0.5),
            percentile(l, 0.99),
            percentile(l, 0.999),
            l[l.len() - 1]
        );
    }
}
