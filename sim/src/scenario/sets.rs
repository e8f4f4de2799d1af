//! Scenario sets for evaluating leak detection: leak scenarios at random
//! positions and sizes, each after a day (or more) of normal operation for
//! the detectors to learn, in three variants (clean sensors; realistic
//! noise; noise and sensor faults), and normal-operation runs without a
//! leak for counting false alarms.

use linepack_network::Network;
use linepack_network::network::SensorKind;
use serde::Serialize;

use super::file::{FaultSpec, LeakSpec, NoiseSpec, ScenarioFile, SimulationSpec, TelemetrySpec};
use crate::rng::Rng;
use crate::simulation::stream;

/// What set to make.
#[derive(Clone, Debug, PartialEq)]
pub struct SetConfig {
    /// Leak scenarios.
    pub leaks: usize,
    /// Normal-operation runs.
    pub normal: usize,
    pub seed: u64,
    /// Start of every scenario (RFC 3339).
    pub start: String,
    /// Normal operation before a leak can start, days (at least 1).
    pub learning_days: f64,
    /// How long a leak scenario runs after its leak starts, hours.
    pub leak_hours: f64,
    /// Length of a normal-operation run, days.
    pub normal_days: f64,
    /// Leak sizes are drawn log-uniformly between these percentages of
    /// the zone's inflow.
    pub min_percent: f64,
    pub max_percent: f64,
    pub step_s: f64,
    /// The sensors' noise in the noisy variants (the clean ones have
    /// none): the scenario files' default unless a study asks for other
    /// instruments (how good must the meters be?).
    pub noise: NoiseSpec,
}

impl Default for SetConfig {
    fn default() -> Self {
        SetConfig {
            leaks: 30,
            normal: 1,
            seed: 1,
            start: "2026-11-23T00:00:00Z".into(),
            learning_days: 1.0,
            leak_hours: 6.0,
            normal_days: 7.0,
            min_percent: 0.5,
            max_percent: 5.0,
            step_s: 60.0,
            noise: NoiseSpec::default(),
        }
    }
}

/// One scenario of a set, with what the manifest says of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetEntry {
    /// File name (without directory), e.g. `leak-007.toml`.
    pub file: String,
    /// `leak` or `normal`.
    pub kind: &'static str,
    /// `clean`, `noise` or `noise_and_faults`.
    pub variant: &'static str,
    #[serde(skip)]
    pub scenario: ScenarioFile,
    pub leak: Option<LeakSpec>,
}

const VARIANTS: [&str; 3] = ["clean", "noise", "noise_and_faults"];

/// The scenarios of a set (see the module docs). Deterministic in `cfg`.
pub fn scenario_set(network: &Network, cfg: &SetConfig) -> Vec<SetEntry> {
    let pipes: Vec<usize> = (0..network.pipes.len())
        .filter(|&i| network.pipes[i].in_service)
        .collect();
    let nodes_with_users: Vec<usize> = {
        let mut v: Vec<usize> = network.consumers.iter().map(|c| c.node.index()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let measured: Vec<usize> = (0..network.sensors.len())
        .filter(|&i| matches!(network.sensors[i].kind, SensorKind::Pressure | SensorKind::Flow))
        .collect();
    let learning_s = cfg.learning_days.max(1.0) * 86_400.0;
    let mut entries = Vec::new();
    for k in 0..cfg.leaks {
        let mut rng = Rng::new(stream(cfg.seed, 10, k));
        let variant = VARIANTS[k % 3];
        // A leak along a pipe (four in five), or at a node with users.
        let (node, pipe, position) = if rng.chance(0.8) || nodes_with_users.is_empty() {
            let p = pipes[rng.below(pipes.len())];
            (
                None,
                Some(network.pipes[p].id.clone()),
                Some(round3(rng.range(0.05, 0.95))),
            )
        } else {
            let n = nodes_with_users[rng.below(nodes_with_users.len())];
            (Some(network.nodes[n].id.clone()), None, None)
        };
        let percent = (cfg.min_percent.ln() + rng.unit() * (cfg.max_percent.ln() - cfg.min_percent.ln())).exp();
        let start_s = (learning_s + rng.range(0.0, 12.0 * 3600.0)) / cfg.step_s;
        let start_s = start_s.round() * cfg.step_s;
        let leak = LeakSpec {
            id: Some("leak".into()),
            node,
            pipe,
            position,
            start: duration(start_s),
            end: None,
            rate_kg_s: None,
            percent_of_inflow: Some(round3(percent)),
            growth_per_hour: 0.0,
        };
        let duration_s = start_s + cfg.leak_hours * 3600.0;
        let seed = stream(cfg.seed, 11, k) % 1_000_000;
        let faults = if variant == "noise_and_faults" {
            random_faults(network, &measured, &mut rng, duration_s)
        } else {
            Vec::new()
        };
        entries.push(SetEntry {
            file: format!("leak-{:03}.toml", k + 1),
            kind: "leak",
            variant,
            scenario: ScenarioFile {
                simulation: SimulationSpec {
                    name: Some(format!("leak {} ({variant})", k + 1)),
                    start: cfg.start.clone(),
                    duration: duration(duration_s),
                    step_s: cfg.step_s,
                    seed,
                    friction: "nikuradse".into(),
                    storage: true,
                },
                demand: Default::default(),
                telemetry: telemetry(variant, &cfg.noise),
                leaks: vec![leak.clone()],
                outages: Vec::new(),
                setpoints: Vec::new(),
                valves: Vec::new(),
                devices: Vec::new(),
                faults,
            },
            leak: Some(leak),
        });
    }
    for k in 0..cfg.normal {
        let mut rng = Rng::new(stream(cfg.seed, 12, k));
        let duration_s = cfg.normal_days * 86_400.0;
        let faults = random_faults(network, &measured, &mut rng, duration_s);
        entries.push(SetEntry {
            file: format!("normal-{:02}.toml", k + 1),
            kind: "normal",
            variant: "noise_and_faults",
            scenario: ScenarioFile {
                simulation: SimulationSpec {
                    name: Some(format!("normal operation {}", k + 1)),
                    start: cfg.start.clone(),
                    duration: duration(duration_s),
                    step_s: cfg.step_s,
                    seed: stream(cfg.seed, 13, k) % 1_000_000,
                    friction: "nikuradse".into(),
                    storage: true,
                },
                demand: Default::default(),
                telemetry: telemetry("noise_and_faults", &cfg.noise),
                leaks: Vec::new(),
                outages: Vec::new(),
                setpoints: Vec::new(),
                valves: Vec::new(),
                devices: Vec::new(),
                faults,
            },
            leak: None,
        });
    }
    entries
}

/// The manifest of a set: which files, what each holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest<'a> {
    pub network: String,
    pub seed: u64,
    pub created_from: String,
    pub scenarios: &'a [SetEntry],
}

fn telemetry(variant: &str, noise: &NoiseSpec) -> TelemetrySpec {
    TelemetrySpec {
        period_s: None,
        noise: if variant == "clean" {
            NoiseSpec {
                pressure_bar: 0.0,
                flow_relative: 0.0,
                flow_kg_s: 0.0,
                temperature_k: 0.0,
                gas_detector_pct_lel: 0.0,
            }
        } else {
            noise.clone()
        },
    }
}

/// Two faults on random pressure or flow sensors, somewhere in the run.
fn random_faults(network: &Network, measured: &[usize], rng: &mut Rng, duration_s: f64) -> Vec<FaultSpec> {
    if measured.is_empty() {
        return Vec::new();
    }
    (0..2)
        .map(|_| {
            let i = measured[rng.below(measured.len())];
            let s = &network.sensors[i];
            let start = rng.range(0.0, duration_s * 0.8);
            let (kind, length, value, delay) = match rng.below(5) {
                0 => {
                    let bias = if s.kind == SensorKind::Pressure { 0.02 } else { 0.01 };
                    (
                        "bias",
                        6.0 * 3600.0,
                        Some(if rng.chance(0.5) { bias } else { -bias }),
                        None,
                    )
                }
                1 => ("dropout", rng.range(1800.0, 7200.0), None, None),
                2 => ("stuck", rng.range(3600.0, 3.0 * 3600.0), None, None),
                3 => ("late", 3600.0, None, Some(rng.range(60.0, 300.0).round())),
                _ => ("duplicate", 1800.0, None, None),
            };
            FaultSpec {
                sensor: s.id.clone(),
                kind: kind.into(),
                start: duration((start / 60.0).round() * 60.0),
                end: Some(duration(((start + length).min(duration_s) / 60.0).round() * 60.0)),
                value,
                delay_s: delay,
            }
        })
        .filter(|f| f.start != f.end.clone().unwrap_or_default())
        .collect()
}

/// Seconds as a scenario duration (`"93600s"`).
fn duration(s: f64) -> String {
    format!("{}s", s.round() as i64)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// How the set was made, for the manifest.
pub fn describe(cfg: &SetConfig) -> String {
    format!(
        "{} leak scenarios ({}–{} % of zone inflow, after {} day(s) of learning, {} h each), {} normal run(s) of {} days, seed {}; start {}",
        cfg.leaks,
        cfg.min_percent,
        cfg.max_percent,
        cfg.learning_days.max(1.0),
        cfg.leak_hours,
        cfg.normal,
        cfg.normal_days,
        cfg.seed,
        cfg.start,
    ) + &if cfg.noise == NoiseSpec::default() {
        String::new()
    } else {
        format!(
            "; noise: pressure {} bar, flow {} of the reading + {} kg/s",
            cfg.noise.pressure_bar, cfg.noise.flow_relative, cfg.noise.flow_kg_s
        )
    }
}
