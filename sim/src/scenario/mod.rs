//! Scenarios: what happens in a simulated period. [`file`] is the TOML as
//! written; [`Scenario::resolve`] checks it against a network (every id,
//! kind, time and range) and turns it into indices and milliseconds,
//! reporting every problem at once.

pub mod file;
pub mod sets;

use std::path::{Path, PathBuf};

use linepack_ingest::telemetry::DeviceEvent;
use linepack_ingest::telemetry::time::parse_rfc3339_ms;
use linepack_network::Network;
use linepack_network::ids::{ElementRef, NodeIdx, PipeIdx, RegulatorIdx, SensorIdx, SupplyIdx, ValveIdx};
use linepack_network::network::{ConsumerKind, SensorKind};
use linepack_network::solver::FrictionLaw;

pub use file::{NoiseSpec, ProfileSpec, ScenarioFile};

/// A scenario that cannot run, with every problem found.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {}: {reason}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        reason: std::io::Error,
    },
    #[error("scenario {} is not valid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("scenario {} is invalid ({} problem(s)):\n  - {}", path.display(), problems.len(), problems.join("\n  - "))]
    Invalid { path: PathBuf, problems: Vec<String> },
}

/// A validated scenario, in the network's indices and ms since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    pub seed: u64,
    pub friction: FrictionLaw,
    pub storage: bool,
    pub demand: Demand,
    /// Sensors report every this many steps.
    pub period_steps: u32,
    pub noise: NoiseSpec,
    pub leaks: Vec<Leak>,
    pub outages: Vec<Outage>,
    pub setpoints: Vec<Setpoint>,
    pub valve_ops: Vec<ValveOp>,
    pub devices: Vec<DeviceAction>,
    pub faults: Vec<Fault>,
}

/// Consumption model.
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    pub noise: f64,
    pub noise_correlation_s: f64,
    /// By [`ConsumerKind`]: residential, commercial, industrial, other.
    pub profiles: [ProfileSpec; 4],
}

impl Demand {
    pub fn profile(&self, kind: ConsumerKind) -> &ProfileSpec {
        &self.profiles[match kind {
            ConsumerKind::Residential => 0,
            ConsumerKind::Commercial => 1,
            ConsumerKind::Industrial => 2,
            ConsumerKind::Other => 3,
        }]
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LeakSite {
    Node(NodeIdx),
    /// Along a pipe, 0 at its `from` end, 1 at its `to` end.
    Pipe {
        pipe: PipeIdx,
        position: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LeakSize {
    RateKgS(f64),
    PercentOfInflow(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Leak {
    pub id: String,
    pub site: LeakSite,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub size: LeakSize,
    pub growth_per_hour: f64,
}

/// An element that can be taken out of service or given a set point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Station {
    Supply(SupplyIdx),
    Regulator(RegulatorIdx),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    pub element: Station,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Setpoint {
    pub element: Station,
    pub at_ms: i64,
    pub pressure_bar_g: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValveOp {
    pub valve: ValveIdx,
    pub at_ms: i64,
    pub open: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DeviceKind {
    GasRise {
        peak_pct_lel: f64,
        ramp_ms: i64,
        hold_ms: i64,
    },
    ShutoffClose,
    ShutoffOpen,
    Event(DeviceEvent),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DeviceAction {
    pub sensor: SensorIdx,
    pub at_ms: i64,
    pub kind: DeviceKind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultKind {
    Bias(f64),
    DriftPerHour(f64),
    Stuck,
    Dropout,
    Noise(f64),
    LateMs(i64),
    Duplicate,
}

impl FaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Bias(_) => "bias",
            FaultKind::DriftPerHour(_) => "drift",
            FaultKind::Stuck => "stuck",
            FaultKind::Dropout => "dropout",
            FaultKind::Noise(_) => "noise",
            FaultKind::LateMs(_) => "late",
            FaultKind::Duplicate => "duplicate",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub sensor: SensorIdx,
    pub kind: FaultKind,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

impl Fault {
    pub fn active(&self, t_ms: i64) -> bool {
        t_ms >= self.start_ms && self.end_ms.is_none_or(|e| t_ms < e)
    }
}

/// A duration: `"90s"`, `"15m"`, `"6h"`, `"7d"`, combinations (`"1d12h"`)
/// or a plain number of seconds. Milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as i64);
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit_s = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86_400.0,
            'w' => 604_800.0,
            _ => return None,
        };
        let v: f64 = number.parse().ok()?;
        total += v * unit_s;
        number.clear();
        any = true;
    }
    (any && number.is_empty()).then(|| (total * 1000.0).round() as i64)
}

/// A moment: RFC 3339, or a duration after `start_ms`.
pub fn parse_moment_ms(s: &str, start_ms: i64) -> Option<i64> {
    parse_rfc3339_ms(s.trim()).or_else(|| parse_duration_ms(s).map(|d| start_ms + d))
}

impl Scenario {
    /// Reads and resolves the scenario file at `path` for `network`.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file and every problem.
    pub fn load(path: &Path, network: &Network, now_ms: i64) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|reason| ScenarioError::Io {
            path: path.into(),
            reason,
        })?;
        let file: ScenarioFile = toml::from_str(&text).map_err(|e| ScenarioError::Syntax {
            path: path.into(),
            message: e.to_string(),
        })?;
        Scenario::resolve(&file, network, now_ms).map_err(|problems| ScenarioError::Invalid {
            path: path.into(),
            problems,
        })
    }

    /// Checks `file` against `network`; `now_ms` is what `start = "now"`
    /// means.
    ///
    /// # Errors
    /// Every problem found, each naming its table and key.
    pub fn resolve(file: &ScenarioFile, network: &Network, now_ms: i64) -> Result<Scenario, Vec<String>> {
        let mut problems = Vec::new();
        let sim = &file.simulation;
        let step_ms = if sim.step_s.is_finite() && sim.step_s >= 1.0 && sim.step_s <= 86_400.0 {
            (sim.step_s * 1000.0).round() as i64
        } else {
            problems.push(format!(
                "simulation.step_s = {}: must be between 1 and 86400 s",
                sim.step_s
            ));
            60_000
        };
        let start_ms = if sim.start.trim() == "now" {
            now_ms - now_ms.rem_euclid(step_ms)
        } else {
            parse_rfc3339_ms(&sim.start).unwrap_or_else(|| {
                problems.push(format!(
                    "simulation.start = '{}': not an RFC 3339 time (e.g. 2026-11-23T00:00:00Z) or \"now\"",
                    sim.start
                ));
                0
            })
        };
        let duration_ms = match parse_duration_ms(&sim.duration) {
            Some(d) if d >= step_ms => d,
            Some(_) => {
                problems.push(format!(
                    "simulation.duration = '{}': shorter than one step",
                    sim.duration
                ));
                step_ms
            }
            None => {
                problems.push(format!(
                    "simulation.duration = '{}': not a duration (e.g. \"90s\", \"6h\", \"7d\", \"1d12h\")",
                    sim.duration
                ));
                step_ms
            }
        };
        let end_ms = start_ms + duration_ms;
        let friction = sim.friction.parse().unwrap_or_else(|e: String| {
            problems.push(format!("simulation.friction: {e}"));
            FrictionLaw::Nikuradse
        });

        let d = &file.demand;
        if !(d.noise >= 0.0 && d.noise < 1.0) {
            problems.push(format!("demand.noise = {}: must be in [0, 1)", d.noise));
        }
        if d.noise_correlation_s.is_nan() || d.noise_correlation_s <= 0.0 {
            problems.push(format!(
                "demand.noise_correlation_s = {}: must be positive",
                d.noise_correlation_s
            ));
        }
        let mut profiles = [
            d.residential.clone(),
            d.commercial.clone(),
            d.industrial.clone(),
            d.other.clone(),
        ];
        for (name, p) in ["residential", "commercial", "industrial", "other"]
            .iter()
            .zip(&mut profiles)
        {
            match p.normalized() {
                Ok(n) => *p = n,
                Err(list) => problems.extend(list.into_iter().map(|m| format!("demand.{name}.{m}"))),
            }
        }

        let t = &file.telemetry;
        let period_steps = match t.period_s {
            None => 1,
            Some(p) => {
                let k = (p * 1000.0 / step_ms as f64).round();
                if !(k >= 1.0 && ((k * step_ms as f64) - p * 1000.0).abs() < 1.0) {
                    problems.push(format!(
                        "telemetry.period_s = {p}: must be a whole multiple of simulation.step_s"
                    ));
                    1
                } else {
                    k as u32
                }
            }
        };
        let n = &t.noise;
        for (key, v) in [
            ("pressure_bar", n.pressure_bar),
            ("flow_relative", n.flow_relative),
            ("flow_kg_s", n.flow_kg_s),
            ("temperature_k", n.temperature_k),
            ("gas_detector_pct_lel", n.gas_detector_pct_lel),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                problems.push(format!("telemetry.noise.{key} = {v}: must be 0 or more"));
            }
        }

        let mut ctx = Ctx {
            network,
            start_ms,
            end_ms,
            problems,
        };
        let leaks = file
            .leaks
            .iter()
            .enumerate()
            .filter_map(|(i, l)| ctx.leak(i, l))
            .collect();
        let outages = file
            .outages
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                let what = format!("outage[{i}]");
                let element = ctx.station(&what, &o.element)?;
                let start_ms = ctx.moment(&what, "start", &o.start)?;
                let end_ms = ctx.end(&what, o.end.as_deref(), start_ms)?;
                Some(Outage {
                    element,
                    start_ms,
                    end_ms,
                })
            })
            .collect();
        let setpoints = file
            .setpoints
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let what = format!("setpoint[{i}]");
                let element = ctx.station(&what, &s.element)?;
                let at_ms = ctx.moment(&what, "at", &s.at)?;
                if !(s.pressure_bar_g > 0.0 && s.pressure_bar_g <= 250.0) {
                    ctx.problems.push(format!(
                        "{what}.pressure_bar_g = {}: must be in (0, 250]",
                        s.pressure_bar_g
                    ));
                    return None;
                }
                Some(Setpoint {
                    element,
                    at_ms,
                    pressure_bar_g: s.pressure_bar_g,
                })
            })
            .collect();
        let valve_ops = file
            .valves
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let what = format!("valve[{i}]");
                let valve = match network.find(&v.valve) {
                    Some(ElementRef::Valve(x)) => x,
                    _ => {
                        ctx.problems
                            .push(format!("{what}.valve: no valve '{}' in the network", v.valve));
                        return None;
                    }
                };
                let at_ms = ctx.moment(&what, "at", &v.at)?;
                Some(ValveOp {
                    valve,
                    at_ms,
                    open: v.open,
                })
            })
            .collect();
        let devices = file
            .devices
            .iter()
            .enumerate()
            .filter_map(|(i, d)| ctx.device(i, d))
            .collect();
        let faults = file
            .faults
            .iter()
            .enumerate()
            .filter_map(|(i, f)| ctx.fault(i, f))
            .collect();

        let Ctx { problems, .. } = ctx;
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Scenario {
            name: sim.name.clone().unwrap_or_else(|| "scenario".into()),
            start_ms,
            end_ms,
            step_ms,
            seed: sim.seed,
            friction,
            storage: sim.storage,
            demand: Demand {
                noise: d.noise,
                noise_correlation_s: d.noise_correlation_s,
                profiles,
            },
            period_steps,
            noise: t.noise.clone(),
            leaks,
            outages,
            setpoints,
            valve_ops,
            devices,
            faults,
        })
    }

    /// Number of steps after the initial state.
    pub fn steps(&self) -> usize {
        ((self.end_ms - self.start_ms) / self.step_ms) as usize
    }
}

struct Ctx<'a> {
    network: &'a Network,
    start_ms: i64,
    end_ms: i64,
    problems: Vec<String>,
}

impl Ctx<'_> {
    fn moment(&mut self, what: &str, key: &str, s: &str) -> Option<i64> {
        match parse_moment_ms(s, self.start_ms) {
            Some(t) if t >= self.start_ms && t <= self.end_ms => Some(t),
            Some(_) => {
                self.problems
                    .push(format!("{what}.{key} = '{s}': outside the simulated period"));
                None
            }
            None => {
                self.problems.push(format!(
                    "{what}.{key} = '{s}': not a time (RFC 3339) or a duration after the start (e.g. \"26h\")"
                ));
                None
            }
        }
    }

    fn end(&mut self, what: &str, s: Option<&str>, start_ms: i64) -> Option<Option<i64>> {
        let Some(s) = s else { return Some(None) };
        let end = self.moment(what, "end", s)?;
        if end <= start_ms {
            self.problems.push(format!("{what}.end = '{s}': not after the start"));
            return None;
        }
        Some(Some(end))
    }

    fn station(&mut self, what: &str, id: &str) -> Option<Station> {
        match self.network.find(id) {
            Some(ElementRef::Supply(s)) => Some(Station::Supply(s)),
            Some(ElementRef::Regulator(r)) => Some(Station::Regulator(r)),
            _ => {
                self.problems
                    .push(format!("{what}.element: no supply or regulator '{id}' in the network"));
                None
            }
        }
    }

    fn sensor(&mut self, what: &str, id: &str) -> Option<SensorIdx> {
        match self.network.find(id) {
            Some(ElementRef::Sensor(s)) => Some(s),
            _ => {
                self.problems
                    .push(format!("{what}.sensor: no sensor '{id}' in the network"));
                None
            }
        }
    }

    fn leak(&mut self, i: usize, l: &file::LeakSpec) -> Option<Leak> {
        let what = format!("leak[{i}]");
        let site = match (&l.node, &l.pipe, l.position) {
            (Some(node), None, None) => match self.network.find_node(node) {
                Some(n) => LeakSite::Node(n),
                None => {
                    self.problems
                        .push(format!("{what}.node: no node '{node}' in the network"));
                    return None;
                }
            },
            (None, Some(pipe), position) => {
                let Some(ElementRef::Pipe(p)) = self.network.find(pipe) else {
                    self.problems
                        .push(format!("{what}.pipe: no pipe '{pipe}' in the network"));
                    return None;
                };
                let position = position.unwrap_or(0.5);
                if !(position > 0.0 && position < 1.0) {
                    self.problems.push(format!(
                        "{what}.position = {position}: must be strictly between 0 and 1 (use `node` for an end)"
                    ));
                    return None;
                }
                LeakSite::Pipe { pipe: p, position }
            }
            _ => {
                self.problems
                    .push(format!("{what}: give either `node`, or `pipe` (and `position`)"));
                return None;
            }
        };
        let size = match (l.rate_kg_s, l.percent_of_inflow) {
            (Some(r), None) if r > 0.0 && r <= 1000.0 => LeakSize::RateKgS(r),
            (None, Some(p)) if p > 0.0 && p <= 100.0 => LeakSize::PercentOfInflow(p),
            _ => {
                self.problems.push(format!(
                    "{what}: give either rate_kg_s in (0, 1000] or percent_of_inflow in (0, 100]"
                ));
                return None;
            }
        };
        if !(l.growth_per_hour.is_finite() && l.growth_per_hour >= 0.0) {
            self.problems.push(format!(
                "{what}.growth_per_hour = {}: must be 0 or more",
                l.growth_per_hour
            ));
            return None;
        }
        let start_ms = self.moment(&what, "start", &l.start)?;
        let end_ms = self.end(&what, l.end.as_deref(), start_ms)?;
        Some(Leak {
            id: l.id.clone().unwrap_or_else(|| format!("leak-{}", i + 1)),
            site,
            start_ms,
            end_ms,
            size,
            growth_per_hour: l.growth_per_hour,
        })
    }

    fn device(&mut self, i: usize, d: &file::DeviceSpec) -> Option<DeviceAction> {
        let what = format!("device[{i}]");
        let sensor = self.sensor(&what, &d.sensor)?;
        let kind = self.network.sensors[sensor.index()].kind;
        let at_ms = self.moment(&what, "at", &d.at)?;
        let action = match d.event.as_str() {
            "gas_rise" if kind == SensorKind::GasDetector => {
                let peak = d.peak_pct_lel.unwrap_or(60.0);
                let ramp = d.ramp_s.unwrap_or(120.0);
                let hold = d.hold_s.unwrap_or(600.0);
                if !(peak > 0.0 && peak <= 100.0 && ramp >= 0.0 && hold >= 0.0) {
                    self.problems.push(format!(
                        "{what}: peak_pct_lel must be in (0, 100], ramp_s and hold_s 0 or more"
                    ));
                    return None;
                }
                DeviceKind::GasRise {
                    peak_pct_lel: peak,
                    ramp_ms: (ramp * 1000.0) as i64,
                    hold_ms: (hold * 1000.0) as i64,
                }
            }
            "shutoff_close" if kind == SensorKind::ShutoffValve => DeviceKind::ShutoffClose,
            "shutoff_open" if kind == SensorKind::ShutoffValve => DeviceKind::ShutoffOpen,
            "gas_rise" | "shutoff_close" | "shutoff_open" => {
                self.problems.push(format!(
                    "{what}.event = '{}': not for a {:?} sensor ('{}')",
                    d.event, kind, d.sensor
                ));
                return None;
            }
            other => match DeviceEvent::parse(other) {
                Some(e) if matches!(kind, SensorKind::GasDetector | SensorKind::ShutoffValve) => DeviceKind::Event(e),
                Some(_) => {
                    self.problems.push(format!(
                        "{what}.event = '{other}': device events are for gas detectors and shut-off valves"
                    ));
                    return None;
                }
                None => {
                    self.problems.push(format!(
                        "{what}.event = '{other}': use gas_rise, shutoff_close, shutoff_open, tamper, fault, battery_low or test"
                    ));
                    return None;
                }
            },
        };
        Some(DeviceAction {
            sensor,
            at_ms,
            kind: action,
        })
    }

    fn fault(&mut self, i: usize, f: &file::FaultSpec) -> Option<Fault> {
        let what = format!("fault[{i}]");
        let sensor = self.sensor(&what, &f.sensor)?;
        let mut value = |name: &str| match f.value {
            Some(v) if v.is_finite() => Some(v),
            _ => {
                self.problems
                    .push(format!("{what}: kind '{name}' needs a finite `value`"));
                None
            }
        };
        let kind = match f.kind.as_str() {
            "bias" => FaultKind::Bias(value("bias")?),
            "drift" => FaultKind::DriftPerHour(value("drift")?),
            "noise" => FaultKind::Noise(value("noise")?.abs()),
            "stuck" => FaultKind::Stuck,
            "dropout" => FaultKind::Dropout,
            "duplicate" => FaultKind::Duplicate,
            "late" => match f.delay_s {
                Some(d) if d > 0.0 && d <= 86_400.0 => FaultKind::LateMs((d * 1000.0) as i64),
                _ => {
                    self.problems
                        .push(format!("{what}: kind 'late' needs delay_s in (0, 86400]"));
                    return None;
                }
            },
            other => {
                self.problems.push(format!(
                    "{what}.kind = '{other}': use bias, drift, stuck, dropout, noise, late or duplicate"
                ));
                return None;
            }
        };
        let start_ms = self.moment(&what, "start", &f.start)?;
        let end_ms = self.end(&what, f.end.as_deref(), start_ms)?;
        Some(Fault {
            sensor,
            kind,
            start_ms,
            end_ms,
        })
    }
}

#[cfg(test)]
mod tests;
