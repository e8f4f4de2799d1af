//! Leak detection on clean simulations of a small city where every user has
//! a meter: the zone balance with the linepack change closes without a
//! leak, a known leak shows with the right sign and size, and the
//! localization ranks the leak's node first; a user's faulty meter is not
//! taken for a leak, and stays corrected across a restart, nor does one
//! reading high hide a leak; nor is a meter between two zones, which moves
//! both balances at once, taken for a leak.

use std::path::Path;

use linepack_engine::config::EngineConfig;
use linepack_engine::eval::EngineSink;
use linepack_engine::leak::BalanceSample;
use linepack_network::ElementRef;
use linepack_network::Network;
use linepack_network::file::{self, Format};
use linepack_network::network::{Consumer, ConsumerKind, Sensor, SensorKind};
use linepack_sim::generate::{CityConfig, city};
use linepack_sim::run::{Sink, run};
use linepack_sim::scenario::{Scenario, ScenarioFile};
use linepack_sim::simulation::Simulation;
use linepack_sim::telemetry::Record;

const ZONE: &str = "Z0";

fn network() -> Network {
    let f = city(&CityConfig {
        nodes: 300,
        seed: 3,
        smart_meters: true,
        ..CityConfig::default()
    });
    file::parse(&file::to_string(&f, Format::Json), Format::Json, Path::new("city.json")).unwrap()
}

fn config() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.leak.learning_hours = 3.0;
    c
}

/// Clean telemetry (no sensor noise, no faults); demand still varies.
fn scenario(net: &Network, hours: f64, leak: Option<(&str, f64)>) -> Scenario {
    let mut text = format!(
        "[simulation]\nstart = \"2026-11-23T00:00:00Z\"\nduration = \"{hours}h\"\nseed = 5\n\
         [telemetry]\nnoise = {{ pressure_bar = 0.0, flow_relative = 0.0, flow_kg_s = 0.0, temperature_k = 0.0, gas_detector_pct_lel = 0.0 }}\n"
    );
    if let Some((node, rate)) = leak {
        text.push_str(&format!(
            "[[leak]]\nnode = \"{node}\"\nstart = \"4h\"\nrate_kg_s = {rate}\n"
        ));
    }
    let file: ScenarioFile = toml::from_str(&text).unwrap();
    Scenario::resolve(&file, net, 0).unwrap()
}

/// The first user's meter (index, sensor) whose user `pick` takes.
fn users_meter(net: &Network, pick: impl Fn(&Consumer) -> bool) -> (usize, &Sensor) {
    net.sensors
        .iter()
        .enumerate()
        .find(|(_, s)| match s.at {
            ElementRef::Consumer(c) => s.kind == SensorKind::Flow && pick(&net.consumers[c.index()]),
            _ => false,
        })
        .expect("a meter at such a user")
}

/// Clean telemetry with `meter` reading 0.01 kg/s low from `during.0` to
/// `during.1`.
fn biased(net: &Network, hours: f64, meter: &str, during: (&str, &str)) -> Scenario {
    off_by(net, hours, meter, during, -0.01)
}

/// ... reading `bias` kg/s off.
fn off_by(net: &Network, hours: f64, meter: &str, during: (&str, &str), bias: f64) -> Scenario {
    let text = format!(
        "[simulation]\nstart = \"2026-11-23T00:00:00Z\"\nduration = \"{hours}h\"\nseed = 5\n\
         [telemetry]\nnoise = {{ pressure_bar = 0.0, flow_relative = 0.0, flow_kg_s = 0.0, temperature_k = 0.0, gas_detector_pct_lel = 0.0 }}\n\
         [[fault]]\nsensor = \"{meter}\"\nkind = \"bias\"\nstart = \"{}\"\nend = \"{}\"\nvalue = {bias}\n",
        during.0, during.1
    );
    let file: ScenarioFile = toml::from_str(&text).unwrap();
    Scenario::resolve(&file, net, 0).unwrap()
}

/// The engine fed by the simulation, keeping every period of one zone's balance.
struct Probe<'a> {
    sink: EngineSink<'a>,
    zone: &'static str,
    samples: Vec<BalanceSample>,
}

impl Sink for Probe<'_> {
    fn send(&mut self, t_ms: i64, records: &[Record], network: &Network) -> std::io::Result<()> {
        self.sink.send(t_ms, records, network)?;
        let leak = self.sink.engine.leak_detector().expect("leak detection on by default");
        if let Some(b) = leak.last_balance(self.zone)
            && self.samples.last().is_none_or(|s| s.t_ms != b.t_ms)
        {
            self.samples.push(b);
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The run took one meter as faulty, `sensor`, within `minutes` of the
/// fault's `start`.
fn one_meter_step(probe: &Probe, sensor: &str, start: i64, minutes: i64) {
    let steps = &probe.sink.meter_steps;
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0].sensor, sensor);
    assert!(
        (start..start + minutes * 60_000).contains(&steps[0].ts_ms),
        "found {} min after the fault started",
        (steps[0].ts_ms - start) / 60_000
    );
}

fn simulate<'a>(net: &'a Network, scenario: Scenario, zone: &'static str) -> Probe<'a> {
    let mut probe = Probe {
        sink: EngineSink::new(net, &config()).unwrap(),
        zone,
        samples: Vec::new(),
    };
    let mut sim = Simulation::new(net, scenario).unwrap();
    run(&mut sim, &mut probe, |_| {}).unwrap();
    probe
}

#[test]
fn the_balance_with_linepack_closes_without_a_leak() {
    let net = network();
    for zone in [ZONE, "Z-MP"] {
        let probe = simulate(&net, scenario(&net, 5.0, None), zone);
        let s = &probe.samples;
        assert!(s.len() > 250, "{zone}: {} periods balanced", s.len());
        let worst = s.iter().map(|b| b.imbalance_kg_s.abs()).fold(0.0, f64::max);
        let packing = s.iter().map(|b| b.packing_kg_s.abs()).fold(0.0, f64::max);
        let flow = s.iter().map(|b| b.inflow_kg_s.abs()).fold(0.0, f64::max);
        // Closes to the meters' resolution and the solver's tolerance ...
        assert!(
            worst < 2e-4 * flow,
            "{zone}: imbalance up to {worst} kg/s of {flow} kg/s"
        );
        // ... where leaving out the linepack change would not.
        assert!(
            packing > 10.0 * worst,
            "{zone}: packing up to {packing} kg/s, imbalance {worst}"
        );
        assert!(probe.sink.raised.is_empty(), "{zone}: {:?}", probe.sink.raised);
    }
}

#[test]
fn a_known_leak_shows_with_its_sign_and_size_and_is_placed_at_its_node() {
    let net = network();
    // The leak at a node of the zone with a pressure sensor.
    let zone = net.zones.iter().find(|z| z.id == ZONE).unwrap();
    let node = net
        .sensors
        .iter()
        .filter(|s| s.kind == SensorKind::Pressure)
        .filter_map(|s| match s.at {
            ElementRef::Node(n) if zone.nodes.contains(&n) => Some(n),
            _ => None,
        })
        .find(|n| !net.regulators.iter().any(|r| r.to == *n))
        .expect("a pressure sensor inside the zone");
    let node_id = net.nodes[node.index()].id.clone();
    let rate = 0.004;
    // The leak runs 6.5 h: longer than the balance test keeps the time
    // before it (4 h) and the residuals reach back (6 h).
    let probe = simulate(&net, scenario(&net, 10.5, Some((&node_id, rate))), ZONE);

    let start = 1_795_392_000_000 + 4 * 3_600_000;
    let after: Vec<f64> = probe
        .samples
        .iter()
        .filter(|b| b.t_ms >= start)
        .map(|b| b.imbalance_kg_s)
        .collect();
    assert!(after.len() >= 20, "{} periods after the leak", after.len());
    let mean = after.iter().sum::<f64>() / after.len() as f64;
    assert!(
        (mean - rate).abs() < 0.03 * rate,
        "imbalance {mean} kg/s for a leak of {rate} kg/s"
    );

    let raised = &probe.sink.raised;
    assert_eq!(raised.len(), 1, "{raised:?}");
    let alarm = &raised[0];
    assert_eq!(alarm.zone, ZONE);
    // The pressures moved: no meter alone explains it.
    assert_eq!(alarm.meter_alternative, None);
    assert!(
        alarm.ts_ms >= start && alarm.ts_ms <= start + 5 * 60_000,
        "raised at {}",
        alarm.ts_ms
    );
    assert!(alarm.rate_kg_s > 0.5 * rate, "{alarm:?}");
    assert_eq!(
        alarm.top.as_ref().map(|c| c.node.as_str()),
        Some(node_id.as_str()),
        "{alarm:?}"
    );
    let report = probe
        .sink
        .engine
        .leak_report(0)
        .expect("a report while the alarm stands");
    // Still placed, and still dated, 6.5 h on.
    assert_eq!(report.candidates[0].node, node_id);
    assert!((report.candidates[0].rate_kg_s - rate).abs() < 0.1 * rate, "{report:?}");
    assert!(
        (report.since_ms - start).abs() <= 5 * 60_000,
        "since {} for a leak from {start}",
        report.since_ms
    );
    assert!(report.explanation.contains(ZONE), "{}", report.explanation);
    // A search plan: the first covers what lies within its radius, each
    // next one adds what lies within its own and not before.
    let c = &report.candidates;
    assert!(c.len() > 1, "{c:?}");
    assert!((c[0].covered - c[0].within_radius).abs() < 1e-9, "{c:?}");
    assert!(c.windows(2).all(|w| w[1].covered >= w[0].covered - 1e-12), "{c:?}");
    assert!(c.iter().all(|c| c.covered <= 1.0 + 1e-9), "{c:?}");
    assert!(
        report
            .explanation
            .contains(&format!("with the next {} candidates", c.len() - 1)),
        "{}",
        report.explanation
    );
}

#[test]
fn a_home_meter_reading_gas_back_is_a_fault_not_a_leak() {
    let net = network();
    let zone = net.zones.iter().find(|z| z.id == ZONE).unwrap();
    // A home's meter in the zone, biased by -0.01 kg/s (a hundred times a
    // home's use) for an hour after learning.
    let (_, meter) = users_meter(&net, |c| {
        c.kind == ConsumerKind::Residential && zone.nodes.contains(&c.node)
    });
    let probe = simulate(&net, biased(&net, 5.0, &meter.id, ("3h30m", "4h30m")), ZONE);
    let worst = probe.samples.iter().map(|b| b.imbalance_kg_s.abs()).fold(0.0, f64::max);
    assert!(worst < 1e-3, "imbalance up to {worst} kg/s with the faulty meter");
    assert!(probe.sink.raised.is_empty(), "{:?}", probe.sink.raised);
}

#[test]
fn a_large_users_meter_reading_low_is_a_faulty_meter_not_a_leak() {
    let net = network();
    // The plant on the trunk: its meter reads 0.01 kg/s low (about an
    // eighth of its use, so its readings stay positive) for two hours
    // after learning. The trunk's balance loses 0.01 kg/s, as a leak at
    // the plant's node would make it.
    let (meter, sensor) = users_meter(&net, |c| c.kind == ConsumerKind::Industrial);
    let probe = simulate(&net, biased(&net, 8.0, &sensor.id, ("4h", "6h")), "Z-MP");
    assert!(probe.sink.raised.is_empty(), "leak alarms: {:?}", probe.sink.raised);
    let start = 1_795_392_000_000 + 4 * 3_600_000;
    one_meter_step(&probe, &sensor.id, start, 15);
    // Corrected in the balance while it stands: the trunk closes again
    // within a quarter of an hour of the fault's start and end.
    let late = probe
        .samples
        .iter()
        .filter(|b| {
            let since_start = b.t_ms - start;
            let since_end = b.t_ms - (start + 2 * 3_600_000);
            since_start > 15 * 60_000 && !(0..15 * 60_000).contains(&since_end)
        })
        .map(|b| b.imbalance_kg_s.abs())
        .fold(0.0, f64::max);
    assert!(late < 1e-3, "imbalance up to {late} kg/s with the meter corrected");
    // Back to reading true, the meter's alarm has cleared.
    let key = linepack_engine::alarm::AlarmKey {
        kind: linepack_engine::alarm::AlarmKind::MeterStep,
        source: linepack_engine::alarm::Source::Sensor(meter as u32),
    };
    let alarm = probe.sink.engine.alarm(&key).expect("the meter's alarm");
    assert!(!alarm.active, "{alarm:?}");
}

#[test]
fn a_large_users_meter_reading_high_is_a_faulty_meter_and_hides_no_leak() {
    let net = network();
    // The plant's meter reads 0.01 kg/s high from 4 h to 6 h: the trunk looks
    // 0.01 kg/s over, and a leak of that size from 5 h would leave its
    // balance level. The meter is taken as faulty and corrected, and the
    // leak is found.
    let (_, sensor) = users_meter(&net, |c| c.kind == ConsumerKind::Industrial);
    let zone = net.zones.iter().find(|z| z.id == "Z-MP").unwrap();
    let node = &net.nodes[zone.nodes[zone.nodes.len() / 2].index()].id;
    let text = format!(
        "[simulation]\nstart = \"2026-11-23T00:00:00Z\"\nduration = \"6h30m\"\nseed = 5\n\
         [telemetry]\nnoise = {{ pressure_bar = 0.0, flow_relative = 0.0, flow_kg_s = 0.0, temperature_k = 0.0, gas_detector_pct_lel = 0.0 }}\n\
         [[fault]]\nsensor = \"{}\"\nkind = \"bias\"\nstart = \"4h\"\nend = \"6h\"\nvalue = 0.01\n\
         [[leak]]\nnode = \"{node}\"\nstart = \"5h\"\nrate_kg_s = 0.01\n",
        sensor.id
    );
    let file: ScenarioFile = toml::from_str(&text).unwrap();
    let probe = simulate(&net, Scenario::resolve(&file, &net, 0).unwrap(), "Z-MP");
    let start = 1_795_392_000_000 + 4 * 3_600_000;
    one_meter_step(&probe, &sensor.id, start, 30);
    let raised = &probe.sink.raised;
    assert_eq!(raised.len(), 1, "{raised:?}");
    let leak_start = start + 3_600_000;
    assert!(
        (leak_start..leak_start + 15 * 60_000).contains(&raised[0].ts_ms),
        "leak found {} min after it started",
        (raised[0].ts_ms - leak_start) / 60_000
    );
    assert!((raised[0].rate_kg_s - 0.01).abs() < 0.002, "{:?}", raised[0]);
}

#[test]
fn a_faulty_meter_restored_from_the_journal_stays_corrected_until_it_reads_true() {
    let net = network();
    let (meter, sensor) = users_meter(&net, |c| c.kind == ConsumerKind::Industrial);
    let key = linepack_engine::alarm::AlarmKey {
        kind: linepack_engine::alarm::AlarmKind::MeterStep,
        source: linepack_engine::alarm::Source::Sensor(meter as u32),
    };
    // A first run ends with the meter still reading low: its alarm stands.
    let first = simulate(&net, biased(&net, 5.0, &sensor.id, ("4h", "5h")), "Z-MP");
    let standing = first.sink.engine.alarm(&key).expect("the meter's alarm").clone();
    assert!(standing.active, "{standing:?}");
    // The restarted engine takes it back; the meter reads low from the
    // start until 5 h, then true.
    let mut probe = Probe {
        sink: EngineSink::new(&net, &config()).unwrap(),
        zone: "Z-MP",
        samples: Vec::new(),
    };
    probe.sink.engine.restore(standing);
    let mut sim = Simulation::new(&net, biased(&net, 8.0, &sensor.id, ("0h", "5h"))).unwrap();
    run(&mut sim, &mut probe, |_| {}).unwrap();
    assert!(probe.sink.raised.is_empty(), "leak alarms: {:?}", probe.sink.raised);
    assert!(
        probe.sink.meter_steps.is_empty(),
        "raised again: {:?}",
        probe.sink.meter_steps
    );
    let alarm = probe.sink.engine.alarm(&key).expect("the meter's alarm");
    assert!(!alarm.active, "{alarm:?}");
}

/// The flow meter on the regulator that feeds district `ZONE`.
fn district_feed_meter(net: &Network) -> (usize, &Sensor) {
    let zone = net.zones.iter().find(|z| z.id == ZONE).unwrap();
    net.sensors
        .iter()
        .enumerate()
        .find(|(_, s)| match s.at {
            ElementRef::Regulator(r) => {
                s.kind == SensorKind::Flow && zone.nodes.contains(&net.regulators[r.index()].to)
            }
            _ => false,
        })
        .expect("a metered feed of the zone")
}

/// A boundary meter `bias` kg/s off from 4 h to 5 h: a `meter_step` alarm
/// names it within a quarter of an hour, no leak alarm, the alarm clears
/// once it reads true again, and the zone's balance closes in between.
fn boundary_meter_off_by(bias: f64, zone: &'static str) {
    let net = network();
    let (meter, sensor) = district_feed_meter(&net);
    let probe = simulate(&net, off_by(&net, 6.5, &sensor.id, ("4h", "5h"), bias), zone);
    assert!(probe.sink.raised.is_empty(), "leak alarms: {:?}", probe.sink.raised);
    let start = 1_795_392_000_000 + 4 * 3_600_000;
    one_meter_step(&probe, &sensor.id, start, 15);
    let key = linepack_engine::alarm::AlarmKey {
        kind: linepack_engine::alarm::AlarmKind::MeterStep,
        source: linepack_engine::alarm::Source::Sensor(meter as u32),
    };
    let alarm = probe.sink.engine.alarm(&key).expect("the meter's alarm");
    assert!(!alarm.active, "{alarm:?}");
    let corrected = probe
        .samples
        .iter()
        .filter(|b| b.t_ms > start + 15 * 60_000 && b.t_ms < start + 3_600_000)
        .map(|b| b.imbalance_kg_s.abs())
        .fold(0.0, f64::max);
    assert!(
        corrected < 2e-3,
        "{zone}: imbalance up to {corrected} kg/s with the meter corrected"
    );
}

#[test]
fn a_district_feeds_meter_reading_high_is_a_faulty_meter_not_a_district_leak() {
    // The district's balance gains 0.01 kg/s, as a leak at its feed would
    // make it; the trunk's loses as much at the same moment, which no
    // leak does.
    boundary_meter_off_by(0.01, ZONE);
}

#[test]
fn a_district_feeds_meter_reading_low_is_a_faulty_meter_not_a_trunk_leak() {
    // The mirror image: the trunk looks 0.01 kg/s short, the district
    // 0.01 kg/s over.
    boundary_meter_off_by(-0.01, "Z-MP");
}

#[test]
fn a_stations_meter_reading_high_is_named_beside_the_leak() {
    let net = network();
    // A station's meter reads 0.01 kg/s high: the trunk's balance gains
    // what a leak at the station's outlet would take, and no other zone
    // moves (the station feeds the trunk only). A leak alarm, which says
    // the meter explains it as well.
    let meter = net
        .sensors
        .iter()
        .find(|s| s.kind == SensorKind::Flow && matches!(s.at, ElementRef::Supply(_)))
        .expect("a metered station");
    let probe = simulate(&net, off_by(&net, 5.0, &meter.id, ("4h", "5h"), 0.01), "Z-MP");
    assert_eq!(probe.sink.raised.len(), 1, "{:?}", probe.sink.raised);
    assert_eq!(
        probe.sink.raised[0].meter_alternative.as_deref(),
        Some(meter.id.as_str())
    );
}
