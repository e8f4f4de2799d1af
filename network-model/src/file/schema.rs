//! The network file, format v1, exactly as serde reads and writes it
//! (`shared/specs/network-format.md`, extensions in `docs/network-format.md`).
//!
//! These are plain data: ids are strings and nothing is checked beyond types
//! and unknown keys. [`super::validate`] turns a [`NetworkFile`] into a
//! [`crate::Network`].

use serde::{Deserialize, Serialize};

use crate::network::{ConsumerKind, SensorKind, SupplyKind};

/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The value of the optional `format` marker.
pub const FORMAT_MARKER: &str = "linepack-network";

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A whole network file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub version: u32,
    pub name: String,
    pub gas: GasSpec,
    pub nodes: Vec<NodeSpec>,
    pub pipes: Vec<PipeSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub valves: Vec<ValveSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regulators: Vec<RegulatorSpec>,
    /// Extension: compressor stations, with the keys of `regulators`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compressors: Vec<RegulatorSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supplies: Vec<SupplySpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ConsumerSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub injections: Vec<InjectionSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensors: Vec<SensorSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ZoneSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GasSpec {
    pub name: String,
    pub density_normal_kg_m3: f64,
    pub viscosity_pa_s: f64,
    pub temperature_k: f64,
    pub compressibility: CompressibilitySpec,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum CompressibilitySpec {
    Constant { z: f64 },
    Linear { z0: f64, per_bar: f64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub id: String,
    pub elevation_m: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_k: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipeSpec {
    pub id: String,
    pub from: String,
    pub to: String,
    pub length_m: f64,
    pub diameter_mm: f64,
    pub roughness_mm: f64,
    #[serde(default)]
    pub loss_coefficient: f64,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub in_service: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValveSpec {
    pub id: String,
    pub from: String,
    pub to: String,
    pub open: bool,
    pub diameter_mm: f64,
    #[serde(default)]
    pub loss_coefficient: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegulatorSpec {
    pub id: String,
    pub from: String,
    pub to: String,
    pub outlet_pressure_bar_g: f64,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub in_service: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplySpec {
    pub id: String,
    pub node: String,
    pub pressure_bar_g: f64,
    pub kind: SupplyKind,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub in_service: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    pub id: String,
    pub node: String,
    pub kind: ConsumerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand_kg_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand_nm3_h: Option<f64>,
    /// Extension: the lowest pressure the user can work with, bar g.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pressure_bar_g: Option<f64>,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub in_service: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectionSpec {
    pub id: String,
    pub node: String,
    pub rate_kg_s: f64,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub in_service: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorSpec {
    pub id: String,
    pub kind: SensorKind,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    pub id: String,
    pub nodes: Vec<String>,
}
