//! Simulator telemetry published to the embedded broker, for
//! BENCHMARKS.md: a generated 2,500-junction city, 1-minute steps,
//! unpaced, QoS 1; timed from the first publish to the broker's last
//! PubAck, with linepack's own MQTT source subscribed (so the broker
//! forwards every reading as it would in production) and counting arrivals.
//!
//! Usage: sim_publish [--duration 2h]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use linepack_benches::city_network;
use linepack_ingest::mqtt::{MqttConfig, MqttIngest};
use linepack_ingest::telemetry::UnitsConfig;
use linepack_sim::publish::{MqttSink, Pacing, Target};
use linepack_sim::run::run;
use linepack_sim::scenario::{Scenario, ScenarioFile};
use linepack_sim::simulation::Simulation;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let duration = args
        .iter()
        .position(|a| a == "--duration")
        .and_then(|i| args.get(i + 1))
        .map_or("2h", String::as_str);
    let net = city_network(2500, 1);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = MqttConfig {
        embedded_listen: "127.0.0.1:0".into(),
        client_id: "bench-engine".into(),
        clean_session: true,
        ..MqttConfig::default()
    };
    let (ingest, rx) = MqttIngest::start(rt.handle(), &config, &UnitsConfig::default(), &net).unwrap();
    let addr = ingest.broker.as_ref().expect("embedded broker").addr;
    while !ingest.metrics.connected.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let drain = std::thread::spawn(move || {
        while let Some(batch) = rx.recv() {
            counter.fetch_add(batch.readings.len() as u64, Ordering::Relaxed);
        }
    });

    let text =
        format!("[simulation]\nstart = \"2026-11-23T00:00:00Z\"\nduration = \"{duration}\"\nstep_s = 60\nseed = 1\n");
    let file: ScenarioFile = toml::from_str(&text).unwrap();
    let mut sim = Simulation::new(&net, Scenario::resolve(&file, &net, 0).unwrap()).unwrap();
    let target = Target::parse(&format!("mqtt://{addr}"), "gas", "bench-sim").unwrap();
    let mut sink = MqttSink::connect(&target, Pacing::Unpaced).unwrap();
    let start = Instant::now();
    let truth = run(&mut sim, &mut sink, |_| {}).unwrap();
    let published = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < truth.totals.messages && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let arrived = start.elapsed();
    let n = truth.totals.messages;
    println!(
        "{} nodes, {} sensors, {duration} at 1-min steps: {n} readings acknowledged in {:.2} s = {:.0} readings/s; {} arrived at the engine's source in {:.2} s = {:.0} readings/s",
        net.nodes.len(),
        net.sensors.len(),
        published.as_secs_f64(),
        n as f64 / published.as_secs_f64(),
        received.load(Ordering::Relaxed),
        arrived.as_secs_f64(),
        received.load(Ordering::Relaxed) as f64 / arrived.as_secs_f64()
    );
    rt.block_on(ingest.stop());
    drop(drain);
}
