//! Which unit each sensor reports in (engine configuration, `[units]`).

use std::collections::BTreeMap;

use linepack_network::Network;
use linepack_network::ids::{ElementRef, SensorIdx};
use linepack_network::network::SensorKind;
use linepack_network::units::ambient_pressure_bar;
use serde::{Deserialize, Serialize};

use super::decode::{SensorEntry, SensorTable};
use super::units::Unit;

/// Units by sensor kind, with per-sensor exceptions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnitsConfig {
    /// Pressure sensors. Default "bar_g".
    pub pressure: String,
    /// Flow meters. Default "kg_s".
    pub flow: String,
    /// Temperature sensors. Default "degC".
    pub temperature: String,
    /// Users' gas detectors. Default "pct_lel".
    pub gas_detector: String,
    /// Users' shut-off valves. Default "open_closed".
    pub shutoff_valve: String,
    /// Per sensor id, overriding its kind's unit.
    pub sensors: BTreeMap<String, String>,
}

impl Default for UnitsConfig {
    fn default() -> Self {
        UnitsConfig {
            pressure: "bar_g".into(),
            flow: "kg_s".into(),
            temperature: "degC".into(),
            gas_detector: "pct_lel".into(),
            shutoff_valve: "open_closed".into(),
            sensors: BTreeMap::new(),
        }
    }
}

/// A unit configuration that does not fit the network.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UnitsError {
    #[error("units.{key}: {message}")]
    Invalid { key: String, message: String },
}

impl UnitsConfig {
    fn unit_for(&self, kind: SensorKind) -> (&'static str, &str) {
        match kind {
            SensorKind::Pressure => ("pressure", &self.pressure),
            SensorKind::Flow => ("flow", &self.flow),
            SensorKind::Temperature => ("temperature", &self.temperature),
            SensorKind::GasDetector => ("gas_detector", &self.gas_detector),
            SensorKind::ShutoffValve => ("shutoff_valve", &self.shutoff_valve),
        }
    }

    /// The sensor table of `network`: every sensor with its unit conversion.
    ///
    /// # Errors
    /// An unknown unit, a unit that does not measure what the sensor
    /// measures, or an override for a sensor the network does not have.
    pub fn sensor_table(&self, network: &Network) -> Result<SensorTable, UnitsError> {
        let invalid = |key: String, message: String| UnitsError::Invalid { key, message };
        for id in self.sensors.keys() {
            if !matches!(network.find(id), Some(ElementRef::Sensor(_))) {
                return Err(invalid(
                    format!("sensors.{id}"),
                    format!("the network has no sensor '{id}'"),
                ));
            }
        }
        let mut entries = Vec::with_capacity(network.sensors.len());
        for (i, s) in network.sensors.iter().enumerate() {
            let (key, name) = match self.sensors.get(&s.id) {
                Some(u) => (format!("sensors.{}", s.id), u.as_str()),
                None => {
                    let (k, u) = self.unit_for(s.kind);
                    (k.to_string(), u)
                }
            };
            let unit: Unit = name.parse().map_err(|e| invalid(key.clone(), e))?;
            if !unit.fits(s.kind) {
                return Err(invalid(
                    key,
                    format!("{unit} does not measure a {:?} sensor ('{}')", s.kind, s.id),
                ));
            }
            let elevation = match s.at {
                ElementRef::Node(n) => network.node(n).elevation_m,
                ElementRef::Supply(sp) => network.node(network.supplies[sp.index()].node).elevation_m,
                _ => 0.0,
            };
            let (scale, offset) = unit.conversion(ambient_pressure_bar(elevation), network.gas.density_normal_kg_m3);
            entries.push((
                s.id.clone(),
                SensorEntry {
                    idx: SensorIdx::new(i),
                    scale,
                    offset,
                },
            ));
        }
        Ok(SensorTable::new(entries))
    }
}
