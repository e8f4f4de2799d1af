//! An alarm transition as the world sees it: one JSON schema for
//! `linepack replay`, the HTTP API, the MQTT alarm topic and webhooks.
//!
//! `alarm_id`, `kind`, `priority`, `state`, `source`, `zone`, `ts`, `value`,
//! `message` are the contract; `previous_state`, `active`, `limit`, `by`,
//! `comment` and `shelved_until` are added (and leak alarms add `leak`: rate,
//! test, explanation and candidates).

use linepack_ingest::telemetry::time::format_rfc3339_ms;
use linepack_network::Network;
use linepack_network::network::SensorKind;
use serde::{Deserialize, Serialize};

use super::book::{AlarmKey, Source, Transition};
use super::kind::AlarmKind;
use crate::engine::Engine;
use crate::leak::LeakReport;

/// A transition, named and explained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmEvent {
    pub alarm_id: String,
    pub kind: String,
    pub priority: String,
    pub state: String,
    pub previous_state: String,
    pub active: bool,
    pub source: String,
    pub zone: Option<String>,
    pub ts: String,
    pub ts_ms: i64,
    pub value: Option<f64>,
    pub limit: Option<f64>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shelved_until: Option<String>,
    /// Leak alarms: estimated rate, the test that fired, candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<LeakReport>,
}

/// Names sources and zones for events.
pub struct Namer<'a> {
    pub network: &'a Network,
    pub engine: &'a Engine,
}

impl Namer<'_> {
    /// "sensor id", "consumer id", `site:<name>`, "system".
    pub fn source(&self, source: Source) -> String {
        match source {
            Source::Sensor(s) => self.network.sensors[s as usize].id.clone(),
            Source::Consumer(c) => self.network.consumers[c as usize].id.clone(),
            Source::Zone(z) => self.engine.table.zone_names[z as usize].clone(),
            Source::Site(s) => format!("site:{}", self.engine.site_name(s)),
            Source::System => "system".into(),
        }
    }

    pub fn alarm_id(&self, key: &AlarmKey) -> String {
        format!("{}:{}", key.kind.name(), self.source(key.source))
    }

    fn zone(&self, source: Source) -> Option<String> {
        match source {
            Source::Sensor(s) => self.engine.table.info[s as usize]
                .zone
                .map(|z| self.engine.table.zone_names[z as usize].clone()),
            Source::Zone(z) => Some(self.engine.table.zone_names[z as usize].clone()),
            _ => None,
        }
    }

    pub fn event(&self, t: &Transition) -> AlarmEvent {
        let finite = |v: f64| v.is_finite().then_some(v);
        AlarmEvent {
            alarm_id: self.alarm_id(&t.key),
            kind: t.key.kind.name().into(),
            priority: t.priority.name().into(),
            state: t.to.name().into(),
            previous_state: t.from.name().into(),
            active: t.active,
            source: self.source(t.key.source),
            zone: self.zone(t.key.source),
            ts: format_rfc3339_ms(t.ts_ms),
            ts_ms: t.ts_ms,
            value: finite(t.value),
            limit: finite(t.limit),
            message: self.message(t),
            by: t.actor.as_ref().map(|a| a.user.clone()),
            comment: t
                .actor
                .as_ref()
                .filter(|a| !a.comment.is_empty())
                .map(|a| a.comment.clone()),
            shelved_until: t.shelved_until_ms.map(format_rfc3339_ms),
            leak: self.leak_report(t),
        }
    }

    /// A leak alarm's report, while it is active.
    fn leak_report(&self, t: &Transition) -> Option<LeakReport> {
        match (t.key.kind, t.key.source) {
            (AlarmKind::Leak, Source::Zone(z)) if t.active => self.engine.leak_report(z).cloned(),
            _ => None,
        }
    }

    /// A short sentence an operator can act on.
    pub fn message(&self, t: &Transition) -> String {
        let source = self.source(t.key.source);
        let (quantity, unit) = match t.key.source {
            Source::Sensor(s) => match self.network.sensors[s as usize].kind {
                SensorKind::Pressure => ("pressure", "bar g"),
                SensorKind::Flow => ("flow", "kg/s"),
                SensorKind::Temperature => ("temperature", "K"),
                SensorKind::GasDetector => ("gas", "%LEL"),
                SensorKind::ShutoffValve => ("valve", ""),
            },
            _ => ("value", ""),
        };
        let at = match t.key.source {
            Source::Sensor(s) => match self.engine.table.info[s as usize].consumer {
                Some(c) => format!(" at user {}", self.network.consumers[c.index()].id),
                None => String::new(),
            },
            _ => String::new(),
        };
        let v = t.value;
        let l = t.limit;
        let what = match (t.key.kind, t.active) {
            (AlarmKind::Stale, true) => format!("{source}: no reading for {v:.0} s (limit {l:.0} s)"),
            (AlarmKind::DeviceOffline, true) => format!("{source}{at}: device silent for {v:.0} s (limit {l:.0} s)"),
            (AlarmKind::Stale | AlarmKind::DeviceOffline, false) => format!("{source}: reporting again"),
            (AlarmKind::Flatline, true) => format!("{source}: {quantity} stuck at {v:.4} {unit} for {l:.0} s"),
            (AlarmKind::Flatline, false) => format!("{source}: {quantity} moving again"),
            (AlarmKind::OutOfRange, true) => {
                format!("{source}: reading {v} outside the physical range (limit {l}) and not used")
            }
            (AlarmKind::OutOfRange, false) => format!("{source}: readings back in range"),
            (AlarmKind::SequenceGap, true) => format!(
                "{source}: {v:.0} message(s) lost before sequence {}",
                l as i64 + v as i64
            ),
            (AlarmKind::SequenceGap, false) => format!("{source}: no further gaps"),
            (AlarmKind::High | AlarmKind::HighHigh, true) => {
                format!(
                    "{source}: {quantity} {v:.3} {unit} above the {} limit {l}",
                    t.key.kind.name().replace('_', "-")
                )
            }
            (AlarmKind::Low | AlarmKind::LowLow, true) => {
                format!(
                    "{source}: {quantity} {v:.3} {unit} below the {} limit {l}",
                    t.key.kind.name().replace('_', "-")
                )
            }
            (AlarmKind::High | AlarmKind::HighHigh | AlarmKind::Low | AlarmKind::LowLow, false) => {
                format!(
                    "{source}: {quantity} back inside the {} limit {l} ({v:.3} {unit})",
                    t.key.kind.name().replace('_', "-")
                )
            }
            (AlarmKind::RateOfChange, true) => format!("{source}: {quantity} changing {v:.3} {unit}/min (limit {l})"),
            (AlarmKind::RateOfChange, false) => format!("{source}: {quantity} steady again"),
            // Same state, higher priority: an escalation.
            (AlarmKind::GasDetected | AlarmKind::GasDetectedHigh, true) if t.from == t.to => {
                format!("{source}{at}: gas alarm with a pressure drop of {v:.2} bar at the user: escalated")
            }
            (AlarmKind::GasDetected | AlarmKind::GasDetectedHigh, true) => {
                format!("{source}{at}: gas {v:.0} %LEL, above {l:.0} %LEL")
            }
            (AlarmKind::GasDetected | AlarmKind::GasDetectedHigh, false) => {
                format!("{source}{at}: gas below {l:.0} %LEL again")
            }
            (AlarmKind::ShutoffClosed, true) => format!("{source}{at}: shut-off valve closed without a command"),
            (AlarmKind::ShutoffClosed, false) => format!("{source}{at}: shut-off valve open again"),
            (AlarmKind::Tamper, _) => format!("{source}{at}: device reports tampering"),
            (AlarmKind::DeviceFault, true) => format!("{source}{at}: device reports a fault"),
            (AlarmKind::BatteryLow, true) => format!("{source}{at}: device battery low"),
            (AlarmKind::DeviceFault | AlarmKind::BatteryLow, false) => {
                format!("{source}{at}: device reporting normally")
            }
            (AlarmKind::UsageWhenClosed, true) => {
                format!("{source}{at}: drawing {v:.4} kg/s when its profile says closed")
            }
            (AlarmKind::UsageAboveProfile, true) => {
                format!("{source}{at}: drawing {v:.4} kg/s, above the usual (limit {l:.4})")
            }
            (AlarmKind::UsageWhenClosed | AlarmKind::UsageAboveProfile, false) => {
                format!("{source}{at}: usage normal again")
            }
            (AlarmKind::AlarmFlood, true) => {
                format!("alarm flood: {v:.0} new alarms in the flood window (limit {l:.0})")
            }
            (AlarmKind::AlarmFlood, false) => "alarm flood over".to_string(),
            (AlarmKind::Leak, true) => match self.leak_report(t) {
                Some(r) => format!("suspected leak: {}", r.explanation),
                None => format!("{source}: suspected leak, {v:.4} kg/s unaccounted for"),
            },
            (AlarmKind::Leak, false) => format!("{source}: zone balance normal again ({v:.4} kg/s)"),
            (AlarmKind::MeterStep, true) => format!(
                "{source}{at}: reading {} at once by {:.4} kg/s, and a zone's balance the other way by {l:.4} kg/s: \
                 a faulty meter, not a leak; corrected by that much in the balance until it reads true again",
                if v < 0.0 { "fell" } else { "rose" },
                v.abs()
            ),
            (AlarmKind::MeterStep, false) => format!("{source}{at}: reading true again, correction removed"),
        };
        match &t.actor {
            Some(a) => {
                let action = match t.to {
                    super::AlarmState::Acknowledged | super::AlarmState::Normal
                        if matches!(
                            t.from,
                            super::AlarmState::Unacknowledged | super::AlarmState::ReturnedUnacknowledged
                        ) =>
                    {
                        "acknowledged"
                    }
                    super::AlarmState::Shelved => "shelved",
                    super::AlarmState::OutOfService => "taken out of service",
                    _ => "returned to service",
                };
                let why = if a.comment.is_empty() {
                    String::new()
                } else {
                    format!(": {}", a.comment)
                };
                format!("{what} — {action} by {}{why}", a.user)
            }
            None => what,
        }
    }
}
