//! `linepack sim run --network FILE --scenario FILE [--out FILE] [--truth FILE]
//! [--mqtt URL] [--speed N | --unpaced]`.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use linepack_ingest::mqtt::client::now_ms;
use linepack_ingest::telemetry::time::format_rfc3339_ms;
use linepack_network::Network;
use linepack_network::file;
use linepack_sim::publish::{MqttSink, Pacing, Target};
use linepack_sim::run::{NullSink, RecordingSink, Sink, run as run_sim};
use linepack_sim::scenario::Scenario;
use linepack_sim::simulation::Simulation;
use linepack_sim::telemetry::Record;

use super::BadInput;

/// Where `sim run` sends its telemetry.
pub struct Outputs {
    pub out: Option<PathBuf>,
    pub truth: Option<PathBuf>,
    pub mqtt: Option<String>,
    pub topic_prefix: String,
    pub speed: f64,
    pub unpaced: bool,
}

/// Several sinks at once (a recording and a broker).
struct Both(Vec<Box<dyn Sink>>);

impl Sink for Both {
    fn send(&mut self, t_ms: i64, records: &[Record], network: &Network) -> std::io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.send(t_ms, records, network))
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.finish())
    }
}

/// The ground truth's default path beside a recording: `x.ndjson` → `x.truth.json`.
pub fn truth_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "recording".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.truth.json"))
}

pub fn run(network_path: &Path, scenario_path: &Path, o: &Outputs) -> anyhow::Result<ExitCode> {
    let network = file::load(network_path)?;
    let scenario = Scenario::load(scenario_path, &network, now_ms()).context(BadInput("--scenario".into()))?;
    if !(o.speed.is_finite() && o.speed > 0.0) {
        return Err(
            anyhow::anyhow!("--speed {}: must be a positive number", o.speed).context(BadInput("arguments".into()))
        );
    }
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(out) = &o.out {
        let f = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
        sinks.push(Box::new(RecordingSink::new(BufWriter::with_capacity(1 << 20, f))));
    }
    if let Some(url) = &o.mqtt {
        let target = Target::parse(url, &o.topic_prefix, &format!("linepack-sim-{}", std::process::id()))
            .map_err(|e| anyhow::anyhow!(e).context(BadInput("arguments".into())))?;
        let pacing = if o.unpaced {
            Pacing::Unpaced
        } else {
            Pacing::Speed(o.speed)
        };
        sinks.push(Box::new(MqttSink::connect(&target, pacing)?));
    }
    let mut sink: Box<dyn Sink> = match sinks.len() {
        0 => Box::new(NullSink),
        _ => Box::new(Both(sinks)),
    };

    let steps = scenario.steps();
    let started = Instant::now();
    let mut sim = Simulation::new(&network, scenario)?;
    let mut last_report = Instant::now();
    let truth = run_sim(&mut sim, sink.as_mut(), |sim| {
        if last_report.elapsed().as_secs_f64() >= 2.0 {
            last_report = Instant::now();
            eprintln!(
                "  {} step {}/{steps}: supply {:.4} kg/s, demand {:.4} kg/s, leaks {:.4} kg/s, linepack {:.1} kg",
                format_rfc3339_ms(sim.t_ms),
                sim.step_index,
                sim.totals.supplied_kg_s,
                sim.totals.demand_kg_s,
                sim.totals.leak_kg_s,
                sim.totals.linepack_kg
            );
        }
    })?;
    let elapsed = started.elapsed().as_secs_f64();

    let truth_path = o.truth.clone().or_else(|| o.out.as_deref().map(truth_path));
    if let Some(path) = &truth_path {
        let text = serde_json::to_string_pretty(&truth).expect("the truth serializes");
        std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    let t = &truth.totals;
    eprintln!(
        "simulated {} steps ({} to {}) in {elapsed:.2} s ({:.0} steps/s); {} messages{}{}",
        t.steps,
        truth.start,
        truth.end,
        t.steps as f64 / elapsed.max(1e-9),
        t.messages,
        o.out
            .as_ref()
            .map_or(String::new(), |p| format!(", recording {}", p.display())),
        truth_path
            .as_ref()
            .map_or(String::new(), |p| format!(", truth {}", p.display())),
    );
    eprintln!(
        "mass: supplied {:.1} kg + injected {:.1} kg = consumed {:.1} kg + leaked {:.1} kg + linepack change {:.1} kg (balance error {:.2e} kg)",
        t.supplied_kg,
        t.injected_kg,
        t.consumed_kg,
        t.leaked_kg,
        t.linepack_end_kg - t.linepack_start_kg,
        t.balance_error_kg
    );
    Ok(ExitCode::SUCCESS)
}
