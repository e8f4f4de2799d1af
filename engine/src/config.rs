//! The engine configuration file (TOML), what serde reads. Every table and
//! key has a default; `linepack config print-default` prints them all
//! (`config/default.toml`). Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use linepack_ingest::mqtt::MqttConfig;
use linepack_ingest::telemetry::UnitsConfig;
use linepack_network::network::ConsumerKind;
use linepack_sim::scenario::ProfileSpec;
use serde::{Deserialize, Serialize};

/// The whole engine configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    pub network: NetworkConfig,
    pub journal: JournalConfig,
    pub alarms: AlarmsConfig,
    pub sensors: SensorsConfig,
    pub devices: DevicesConfig,
    pub usage: UsageConfig,
    pub leak: LeakConfig,
    pub mqtt: MqttConfig,
    pub units: UnitsConfig,
    pub api: ApiConfig,
    pub notify: crate::notify::NotifyConfig,
    pub archive: crate::archive::ArchiveConfig,
}

/// The network `linepack serve` watches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Network file (.json or .toml); relative to the configuration file.
    pub file: Option<PathBuf>,
}

/// The HTTP API and control-room page (`linepack serve`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port to listen on. Default `"127.0.0.1:8080"`.
    pub listen: String,
    /// Serve HTTPS with this certificate chain and key (PEM); both or
    /// neither.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Bearer tokens allowed in; none means nobody can call the API.
    pub tokens: Vec<TokenConfig>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8080".into(),
            tls_cert_file: None,
            tls_key_file: None,
            tokens: Vec::new(),
        }
    }
}

/// One API token: who it is, what it may do, and the SHA-256 of the token
/// (hex), never the token itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Shown in the journal for every change made with this token.
    pub name: String,
    /// `viewer` (read), `operator` (also acknowledge, shelve, out of
    /// service) or `admin` (everything).
    pub role: String,
    pub sha256: String,
}

/// Where alarm transitions are journaled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// SQLite file; every transition is written (and synced) before it is
    /// announced, and active alarms are restored from it on start. Omit for
    /// an in-memory journal (replays, tests).
    pub path: Option<PathBuf>,
}

/// Alarm handling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmsConfig {
    /// A flood is more than this many new alarms within `flood_window_s`.
    /// Default 10.
    pub flood_limit: usize,
    /// Default 600 (10 minutes, as ISA-18.2 suggests).
    pub flood_window_s: u64,
    /// Priority per alarm kind, overriding the defaults (e.g. `stale = "low"`).
    pub priorities: BTreeMap<String, String>,
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        AlarmsConfig {
            flood_limit: 10,
            flood_window_s: 600,
            priorities: BTreeMap::new(),
        }
    }
}

/// Data validity and limit settings of one sensor kind, or (all keys
/// optional) of one sensor. Values are in internal units: bar g, kg/s, K,
/// %LEL, valve 1/0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// No usable reading for this long is a `stale` alarm (user devices:
    /// `device_offline`), s; 0 turns it off.
    pub stale_after_s: Option<f64>,
    /// A value that does not move by more than `flatline_tolerance` for this
    /// long is a `flatline` alarm, s; 0 turns it off.
    pub flatline_after_s: Option<f64>,
    pub flatline_tolerance: Option<f64>,
    /// Readings outside [physical_min, physical_max] are `out_of_range` and
    /// are not used by the other detectors.
    pub physical_min: Option<f64>,
    pub physical_max: Option<f64>,
    pub low_low: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub high_high: Option<f64>,
    /// A limit alarm clears only this far back inside its limit.
    pub deadband: Option<f64>,
    /// A limit must be crossed this long before it alarms, s.
    pub on_delay_s: Option<f64>,
    /// ... and be back inside this long before it clears, s.
    pub off_delay_s: Option<f64>,
    /// Faster change than this (per minute, either way) is a `rate_of_change` alarm.
    pub rate_of_change_per_min: Option<f64>,
}

impl LimitsConfig {
    /// These settings, with `fallback`'s where these have none.
    pub fn or(&self, fallback: &LimitsConfig) -> LimitsConfig {
        LimitsConfig {
            stale_after_s: self.stale_after_s.or(fallback.stale_after_s),
            flatline_after_s: self.flatline_after_s.or(fallback.flatline_after_s),
            flatline_tolerance: self.flatline_tolerance.or(fallback.flatline_tolerance),
            physical_min: self.physical_min.or(fallback.physical_min),
            physical_max: self.physical_max.or(fallback.physical_max),
            low_low: self.low_low.or(fallback.low_low),
            low: self.low.or(fallback.low),
            high: self.high.or(fallback.high),
            high_high: self.high_high.or(fallback.high_high),
            deadband: self.deadband.or(fallback.deadband),
            on_delay_s: self.on_delay_s.or(fallback.on_delay_s),
            off_delay_s: self.off_delay_s.or(fallback.off_delay_s),
            rate_of_change_per_min: self.rate_of_change_per_min.or(fallback.rate_of_change_per_min),
        }
    }
}

/// Limits per sensor kind, and per sensor by id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorsConfig {
    pub pressure: LimitsConfig,
    pub flow: LimitsConfig,
    pub temperature: LimitsConfig,
    pub gas_detector: LimitsConfig,
    pub shutoff_valve: LimitsConfig,
    /// Per sensor id: any key of a kind's table, overriding it.
    pub overrides: BTreeMap<String, LimitsConfig>,
}

impl Default for SensorsConfig {
    fn default() -> Self {
        SensorsConfig {
            pressure: LimitsConfig {
                stale_after_s: Some(300.0),
                flatline_after_s: Some(6.0 * 3600.0),
                flatline_tolerance: Some(1e-4),
                physical_min: Some(-1.0),
                physical_max: Some(200.0),
                deadband: Some(0.02),
                on_delay_s: Some(0.0),
                off_delay_s: Some(30.0),
                ..Default::default()
            },
            flow: LimitsConfig {
                stale_after_s: Some(300.0),
                flatline_after_s: Some(0.0),
                physical_min: Some(-1000.0),
                physical_max: Some(1000.0),
                deadband: Some(0.0),
                on_delay_s: Some(0.0),
                off_delay_s: Some(30.0),
                ..Default::default()
            },
            temperature: LimitsConfig {
                stale_after_s: Some(600.0),
                flatline_after_s: Some(12.0 * 3600.0),
                flatline_tolerance: Some(0.01),
                physical_min: Some(223.15),
                physical_max: Some(373.15),
                deadband: Some(0.5),
                on_delay_s: Some(0.0),
                off_delay_s: Some(60.0),
                ..Default::default()
            },
            gas_detector: LimitsConfig {
                stale_after_s: Some(900.0),
                flatline_after_s: Some(0.0),
                physical_min: Some(0.0),
                physical_max: Some(100.0),
                ..Default::default()
            },
            shutoff_valve: LimitsConfig {
                stale_after_s: Some(900.0),
                flatline_after_s: Some(0.0),
                physical_min: Some(0.0),
                physical_max: Some(1.0),
                ..Default::default()
            },
            overrides: BTreeMap::new(),
        }
    }
}

/// User-side safety devices (the three-piece set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevicesConfig {
    /// First gas detector level, %LEL (`gas_detected`). Default 20.
    pub lel_warning_pct: f64,
    /// Second level, %LEL (`gas_detected_high`). Default 50.
    pub lel_alarm_pct: f64,
    /// A level must be exceeded this long to alarm, s. Default 10.
    pub confirm_s: f64,
    /// A level clears this far below it, %LEL. Default 5.
    pub hysteresis_pct: f64,
    /// A pressure at the user's node this far below its recent maximum
    /// while a gas alarm stands escalates the alarm to critical, bar. Default 0.3.
    pub pressure_drop_bar: f64,
    /// The recent maximum is over this window, s. Default 600.
    pub pressure_drop_window_s: f64,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        DevicesConfig {
            lel_warning_pct: 20.0,
            lel_alarm_pct: 50.0,
            confirm_s: 10.0,
            hysteresis_pct: 5.0,
            pressure_drop_bar: 0.3,
            pressure_drop_window_s: 600.0,
        }
    }
}

/// Each metered user's consumption against its profile by hour of week.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageConfig {
    /// An hour of the week is judged once it has been seen in this many
    /// weeks. Default 2.
    pub min_weeks: u32,
    /// Below this mean flow an hour is "closed", kg/s. Default 0.0005.
    pub closed_below_kg_s: f64,
    /// Flow above this is consumption, kg/s. Default 0.002.
    pub open_above_kg_s: f64,
    /// "Far above the usual": above this multiple of the hour's mean ...
    /// Default 3.
    pub above_factor: f64,
    /// ... and this many standard deviations above it. Default 4.
    pub above_sigma: f64,
    /// A usage anomaly must last this long, s. Default 900.
    pub on_delay_s: f64,
    /// Local time for the hour of week: hours east of UTC. Default 0.
    pub utc_offset_hours: f64,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            min_weeks: 2,
            closed_below_kg_s: 0.0005,
            open_above_kg_s: 0.002,
            above_factor: 3.0,
            above_sigma: 4.0,
            on_delay_s: 900.0,
            utc_offset_hours: 0.0,
        }
    }
}

/// Leak detection: zone mass balances and model residuals
/// (`engine/src/leak`, `docs/leak-detection.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeakConfig {
    /// Default true.
    pub enabled: bool,
    /// Balances and the model are updated once per this many seconds of
    /// data (the telemetry period). Default 60.
    pub period_s: f64,
    /// A period is judged this long after its end, so that readings
    /// stamped in it have arrived, s. Default 60.
    pub lag_s: f64,
    /// A reading older than this at the end of a period is not used; a
    /// zone missing one of its meters is not judged for that period, s.
    /// Default 150.
    pub max_age_s: f64,
    /// Hours of data a zone learns its noise and unmetered use from before
    /// it is judged. Default 24.
    pub learning_hours: f64,
    /// Moving windows of the balance test, minutes. Default [15, 60, 240].
    pub windows_min: Vec<f64>,
    /// A window's mean imbalance above this many of its standard
    /// deviations (learned in normal operation) is a leak. Default 5.5.
    pub threshold_sigma: f64,
    /// The CUSUM on hourly means: reference (allowance) and decision
    /// threshold, in standard deviations. Defaults 1.0 and 6.
    pub cusum_allowance_sigma: f64,
    pub cusum_threshold_sigma: f64,
    /// A leak alarm clears when every window is back below this many
    /// standard deviations and the CUSUM is at 0. Default 2.
    pub clear_sigma: f64,
    /// Time constant of the short residual average the localization fits, s.
    /// Default 900.
    pub residual_time_constant_s: f64,
    /// Time constant with which each sensor's bias against the model is
    /// learned in normal operation, hours. Default 6.
    pub bias_time_constant_h: f64,
    /// Candidate locations listed on a leak alarm. Default 5.
    pub candidates: usize,
    /// Radius a field crew searches around a candidate, m (network
    /// distance): candidates are ranked by the chance that the leak lies
    /// within it. Default 300.
    pub search_radius_m: f64,
    /// Standard load profiles of unmetered users by kind: the shape of
    /// their use over the day and week; each zone learns a correction by
    /// hour of day on top. Defaults: typical homes, shops, three-shift plants.
    pub profiles: LoadProfiles,
}

impl Default for LeakConfig {
    fn default() -> Self {
        LeakConfig {
            enabled: true,
            period_s: 60.0,
            lag_s: 60.0,
            max_age_s: 150.0,
            learning_hours: 24.0,
            windows_min: vec![15.0, 60.0, 240.0],
            threshold_sigma: 5.5,
            cusum_allowance_sigma: 1.0,
            cusum_threshold_sigma: 6.0,
            clear_sigma: 2.0,
            residual_time_constant_s: 900.0,
            bias_time_constant_h: 6.0,
            candidates: 5,
            search_radius_m: 300.0,
            profiles: LoadProfiles::default(),
        }
    }
}

/// Load profiles per consumer kind: factors by hour of day (24, local
/// time, linear in between) and by day of week (7, Monday first), the
/// simulator's [`ProfileSpec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadProfiles {
    pub residential: ProfileSpec,
    pub commercial: ProfileSpec,
    pub industrial: ProfileSpec,
    pub other: ProfileSpec,
}

impl LoadProfiles {
    /// The profile of a consumer kind.
    pub fn of(&self, kind: ConsumerKind) -> &ProfileSpec {
        match kind {
            ConsumerKind::Residential => &self.residential,
            ConsumerKind::Commercial => &self.commercial,
            ConsumerKind::Industrial => &self.industrial,
            ConsumerKind::Other => &self.other,
        }
    }
}

impl Default for LoadProfiles {
    /// The typical shapes the simulator also uses by default.
    fn default() -> Self {
        LoadProfiles {
            residential: ProfileSpec::residential(),
            commercial: ProfileSpec::commercial(),
            industrial: ProfileSpec::industrial(),
            other: ProfileSpec::flat(),
        }
    }
}

impl EngineConfig {
    /// Reads a TOML configuration. A sensor kind's table that sets some
    /// keys keeps the defaults of the others (setting `low` does not turn
    /// staleness off).
    ///
    /// # Errors
    /// The TOML error, which names the key and line.
    pub fn from_toml(text: &str) -> Result<EngineConfig, toml::de::Error> {
        let mut c: EngineConfig = toml::from_str(text)?;
        let d = SensorsConfig::default();
        let s = &mut c.sensors;
        s.pressure = s.pressure.or(&d.pressure);
        s.flow = s.flow.or(&d.flow);
        s.temperature = s.temperature.or(&d.temperature);
        s.gas_detector = s.gas_detector.or(&d.gas_detector);
        s.shutoff_valve = s.shutoff_valve.or(&d.shutoff_valve);
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_file_is_the_default() {
        let shipped = EngineConfig::from_toml(crate::DEFAULT_CONFIG).expect("config/default.toml parses");
        assert_eq!(shipped, EngineConfig::default());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = EngineConfig::from_toml("[sensors.pressure]\nlow_lo = 1.0\n").unwrap_err();
        assert!(e.to_string().contains("low_lo"), "{e}");
        let e = EngineConfig::from_toml("[journl]\n").unwrap_err();
        assert!(e.to_string().contains("journl"), "{e}");
    }

    #[test]
    fn per_sensor_overrides_parse() {
        let c = EngineConfig::from_toml("[sensors.overrides.\"PT-101\"]\nlow = 3.2\non_delay_s = 5\n").unwrap();
        assert_eq!(c.sensors.overrides["PT-101"].low, Some(3.2));
    }

    #[test]
    fn a_kind_table_keeps_the_defaults_of_the_keys_it_does_not_set() {
        let c = EngineConfig::from_toml(
            "[sensors.pressure]
low = 3.0
stale_after_s = 60
",
        )
        .unwrap();
        let p = &c.sensors.pressure;
        assert_eq!((p.low, p.stale_after_s), (Some(3.0), Some(60.0)));
        let d = SensorsConfig::default().pressure;
        assert_eq!(
            (p.physical_max, p.flatline_after_s),
            (d.physical_max, d.flatline_after_s)
        );
    }
}
