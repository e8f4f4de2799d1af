//! The scenario file as written (TOML): what serde reads, before any check
//! against the network. `docs/scenarios.md` documents every key.

use serde::{Deserialize, Serialize};

/// A whole scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub simulation: SimulationSpec,
    #[serde(default, skip_serializing_if = "is_default")]
    pub demand: DemandSpec,
    #[serde(default, skip_serializing_if = "is_default")]
    pub telemetry: TelemetrySpec,
    #[serde(default, rename = "leak", skip_serializing_if = "Vec::is_empty")]
    pub leaks: Vec<LeakSpec>,
    #[serde(default, rename = "outage", skip_serializing_if = "Vec::is_empty")]
    pub outages: Vec<OutageSpec>,
    #[serde(default, rename = "setpoint", skip_serializing_if = "Vec::is_empty")]
    pub setpoints: Vec<SetpointSpec>,
    #[serde(default, rename = "valve", skip_serializing_if = "Vec::is_empty")]
    pub valves: Vec<ValveSpec>,
    #[serde(default, rename = "device", skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceSpec>,
    #[serde(default, rename = "fault", skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
}

/// `[simulation]`: the clock and the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// RFC 3339, or `"now"` (the wall clock at start, to the step).
    pub start: String,
    /// `"90s"`, `"15m"`, `"6h"`, `"7d"` or a combination (`"1d12h"`).
    pub duration: String,
    #[serde(default = "default_step_s")]
    pub step_s: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `"nikuradse"` or `"colebrook"`.
    #[serde(default = "default_friction")]
    pub friction: String,
    /// Count the linepack change in each step's balances (see
    /// `SteadySolver::step`); false: a sequence of steady states.
    #[serde(default = "default_true")]
    pub storage: bool,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn default_step_s() -> f64 {
    60.0
}
fn default_seed() -> u64 {
    1
}
fn default_friction() -> String {
    "nikuradse".into()
}
fn default_true() -> bool {
    true
}

/// `[demand]`: how consumption moves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemandSpec {
    /// Relative standard deviation of each consumer's own random variation.
    pub noise: f64,
    /// Its correlation time, s.
    pub noise_correlation_s: f64,
    pub residential: ProfileSpec,
    pub commercial: ProfileSpec,
    pub industrial: ProfileSpec,
    pub other: ProfileSpec,
}

impl Default for DemandSpec {
    fn default() -> Self {
        DemandSpec {
            noise: 0.05,
            noise_correlation_s: 1800.0,
            residential: ProfileSpec::residential(),
            commercial: ProfileSpec::commercial(),
            industrial: ProfileSpec::industrial(),
            other: ProfileSpec::flat(),
        }
    }
}

/// A consumer kind's shape: factors by hour of day (24, local time) and by
/// day of week (7, Monday first). Both are normalized to a mean of 1, so a
/// consumer's file demand is its mean over a week.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    pub daily: Vec<f64>,
    pub weekly: Vec<f64>,
}

impl ProfileSpec {
    /// Checks the factors and scales each list to a mean of 1. The error
    /// names the list (`daily`, `weekly`) and what is wrong with it.
    pub fn normalized(&self) -> Result<ProfileSpec, Vec<String>> {
        let mut p = self.clone();
        let mut problems = Vec::new();
        for (key, v, n) in [("daily", &mut p.daily, 24), ("weekly", &mut p.weekly, 7)] {
            if v.len() != n || v.iter().any(|f| !(f.is_finite() && *f >= 0.0)) || v.iter().sum::<f64>() <= 0.0 {
                problems.push(format!(
                    "{key}: needs {n} non-negative factors, not all zero (has {})",
                    v.len()
                ));
            } else {
                let mean = v.iter().sum::<f64>() / n as f64;
                v.iter_mut().for_each(|f| *f /= mean);
            }
        }
        if problems.is_empty() { Ok(p) } else { Err(problems) }
    }

    /// The factor at a fractional local hour of the day and a weekday
    /// (0 = Monday), linear between the hourly values.
    pub fn factor(&self, hour: f64, weekday: usize) -> f64 {
        let h0 = hour.floor() as usize % 24;
        let h1 = (h0 + 1) % 24;
        let f = hour - hour.floor();
        (self.daily[h0] * (1.0 - f) + self.daily[h1] * f) * self.weekly[weekday]
    }

    /// Homes: low at night, a morning and a larger evening peak.
    pub fn residential() -> Self {
        ProfileSpec {
            daily: vec![
                0.35, 0.3, 0.3, 0.3, 0.35, 0.55, 1.1, 1.6, 1.5, 1.1, 0.9, 0.85, 0.9, 0.85, 0.8, 0.85, 1.0, 1.3, 1.7,
                1.8, 1.6, 1.3, 0.9, 0.55,
            ],
            weekly: vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.05],
        }
    }

    /// Shops and offices: open 08:00–19:00 on weekdays, less on Saturday,
    /// closed on Sunday.
    pub fn commercial() -> Self {
        ProfileSpec {
            daily: vec![
                0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.1, 0.6, 1.8, 2.0, 2.0, 2.0, 1.9, 1.9, 2.0, 2.0, 1.9, 1.8, 1.4,
                0.6, 0.1, 0.02, 0.02, 0.02,
            ],
            weekly: vec![1.15, 1.15, 1.15, 1.15, 1.15, 0.9, 0.35],
        }
    }

    /// Plants: three shifts on weekdays, reduced at the weekend.
    pub fn industrial() -> Self {
        ProfileSpec {
            daily: vec![
                0.85, 0.85, 0.85, 0.85, 0.85, 0.9, 1.05, 1.1, 1.1, 1.1, 1.1, 1.05, 1.05, 1.1, 1.1, 1.1, 1.05, 1.0,
                0.95, 0.95, 0.95, 0.9, 0.9, 0.85,
            ],
            weekly: vec![1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.75],
        }
    }

    pub fn flat() -> Self {
        ProfileSpec {
            daily: vec![1.0; 24],
            weekly: vec![1.0; 7],
        }
    }
}

/// `[telemetry]`: what the sensors report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySpec {
    /// Every sensor reports once per period, s; a multiple of the step.
    /// Default: the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_s: Option<f64>,
    pub noise: NoiseSpec,
}

/// Measurement noise per sensor kind (standard deviations, internal units).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseSpec {
    pub pressure_bar: f64,
    /// Flow: relative part, of the reading ...
    pub flow_relative: f64,
    /// ... plus an absolute part, kg/s.
    pub flow_kg_s: f64,
    pub temperature_k: f64,
    pub gas_detector_pct_lel: f64,
}

impl Default for NoiseSpec {
    fn default() -> Self {
        NoiseSpec {
            pressure_bar: 0.001,
            flow_relative: 0.005,
            flow_kg_s: 1e-5,
            temperature_k: 0.1,
            gas_detector_pct_lel: 0.3,
        }
    }
}

/// `[[leak]]`: gas escaping at a node, or along a pipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Either a node ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// ... or a pipe and a position along it (0 at `from`, 1 at `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<f64>,
    pub start: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Size: either kg/s ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_kg_s: Option<f64>,
    /// ... or percent of the inflow of the leak's zone (the network's, if
    /// zones are not defined) at the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_of_inflow: Option<f64>,
    /// Growth of the rate, relative per hour (0.5: +50 % of the start rate
    /// each hour).
    #[serde(default)]
    pub growth_per_hour: f64,
}

/// `[[outage]]`: a station (supply) or regulator out of service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageSpec {
    pub element: String,
    pub start: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// `[[setpoint]]`: a supply's pressure or a regulator's outlet set point
/// changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetpointSpec {
    pub element: String,
    pub at: String,
    pub pressure_bar_g: f64,
}

/// `[[valve]]`: a valve is operated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValveSpec {
    pub valve: String,
    pub at: String,
    pub open: bool,
}

/// `[[device]]`: something happens at a user's safety device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    pub sensor: String,
    pub at: String,
    /// `gas_rise` (gas detector), `shutoff_close`, `shutoff_open` (shut-off
    /// valve; closing stops the user's consumption), or a device event:
    /// `tamper`, `fault`, `battery_low`, `test`.
    pub event: String,
    /// `gas_rise`: the peak reading, %LEL (default 60) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_pct_lel: Option<f64>,
    /// ... reached linearly over this long, s (default 120) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_s: Option<f64>,
    /// ... held this long, s, then back to clean air (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_s: Option<f64>,
}

/// `[[fault]]`: a sensor misbehaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub sensor: String,
    /// `bias` (adds `value`), `drift` (adds `value` per hour since the
    /// start), `stuck` (repeats the reading at the start), `dropout` (no
    /// readings), `noise` (extra noise of standard deviation `value`),
    /// `late` (published `delay_s` after its time), `duplicate` (published
    /// twice).
    pub kind: String,
    pub start: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_s: Option<f64>,
}
