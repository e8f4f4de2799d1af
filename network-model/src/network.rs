//! The validated, in-memory network: element arrays indexed by dense ids.
//!
//! A [`Network`] is only ever built by the loader ([`crate::file`]), which
//! checks every reference and range first, so code working on it can index
//! without checking.

use std::collections::HashMap;

use crate::gas::Gas;
use crate::ids::*;

/// A junction.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub id: String,
    pub elevation_m: f64,
    /// Overrides the gas temperature at this node, K.
    pub temperature_k: Option<f64>,
    /// Map position (projected metres or lon/lat).
    pub x: Option<f64>,
    pub y: Option<f64>,
}

/// A pipe; positive flow runs `from` → `to`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipe {
    pub id: String,
    pub from: NodeIdx,
    pub to: NodeIdx,
    pub length_m: f64,
    /// Inner diameter, mm.
    pub diameter_mm: f64,
    /// Absolute wall roughness, mm.
    pub roughness_mm: f64,
    /// Sum of minor-loss coefficients ζ.
    pub loss_coefficient: f64,
    pub in_service: bool,
}

/// A valve: closed, it carries no flow; open, it has only its ζ loss.
#[derive(Clone, Debug, PartialEq)]
pub struct Valve {
    pub id: String,
    pub from: NodeIdx,
    pub to: NodeIdx,
    pub open: bool,
    pub diameter_mm: f64,
    pub loss_coefficient: f64,
}

/// A pressure-reducing station: holds `to` at its set point while the inlet
/// is higher; lets no flow back.
#[derive(Clone, Debug, PartialEq)]
pub struct Regulator {
    pub id: String,
    pub from: NodeIdx,
    pub to: NodeIdx,
    pub outlet_pressure_bar_g: f64,
    pub in_service: bool,
    pub kind: RegulatorKind,
}

/// Which way a pressure-controlling element works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegulatorKind {
    /// A pressure-reducing regulator (or control valve): holds its outlet
    /// at the set point while the inlet is higher.
    Reducing,
    /// A compressor (format extension `compressors`): raises its outlet to
    /// the set point while the inlet is lower; above it, gas passes through
    /// the station's bypass.
    Compressor,
}

/// What kind of station a supply is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplyKind {
    CityGate,
    Lng,
    Other,
}

/// A station that holds its node at a fixed pressure and delivers whatever
/// the network draws.
#[derive(Clone, Debug, PartialEq)]
pub struct Supply {
    pub id: String,
    pub node: NodeIdx,
    pub pressure_bar_g: f64,
    pub kind: SupplyKind,
    pub in_service: bool,
}

/// What kind of user a consumer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerKind {
    Industrial,
    Commercial,
    Residential,
    Other,
}

/// A withdrawal. The file may give Nm³/h; it is converted to kg/s at load.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    pub id: String,
    pub node: NodeIdx,
    pub kind: ConsumerKind,
    pub demand_kg_s: f64,
    /// The lowest pressure at its node it can work with, bar g (an
    /// extension of the format, optional).
    pub min_pressure_bar_g: Option<f64>,
    pub in_service: bool,
}

/// A fixed inflow (e.g. a biomethane plant).
#[derive(Clone, Debug, PartialEq)]
pub struct Injection {
    pub id: String,
    pub node: NodeIdx,
    pub rate_kg_s: f64,
    pub in_service: bool,
}

/// What a sensor measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// Pressure at a node or supply.
    Pressure,
    /// Mass or volume flow through a pipe, regulator, supply or consumer,
    /// positive in the element's own direction.
    Flow,
    /// Gas temperature at a node.
    Temperature,
    /// A consumer's gas detector, in %LEL.
    GasDetector,
    /// A consumer's automatic shut-off valve: 1 open, 0 closed.
    ShutoffValve,
}

impl SensorKind {
    /// The element kinds this sensor kind may be attached to.
    pub fn allowed_targets(self) -> &'static [&'static str] {
        match self {
            SensorKind::Pressure => &["node", "supply"],
            SensorKind::Flow => &["pipe", "regulator", "supply", "consumer"],
            SensorKind::Temperature => &["node"],
            SensorKind::GasDetector | SensorKind::ShutoffValve => &["consumer"],
        }
    }
}

/// A telemetry point.
#[derive(Clone, Debug, PartialEq)]
pub struct Sensor {
    pub id: String,
    pub kind: SensorKind,
    pub at: ElementRef,
}

/// A balance area (district).
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    pub id: String,
    pub nodes: Vec<NodeIdx>,
}

/// A validated gas network.
#[derive(Clone, Debug)]
pub struct Network {
    pub name: String,
    pub gas: Gas,
    pub nodes: Vec<Node>,
    pub pipes: Vec<Pipe>,
    pub valves: Vec<Valve>,
    pub regulators: Vec<Regulator>,
    pub supplies: Vec<Supply>,
    pub consumers: Vec<Consumer>,
    pub injections: Vec<Injection>,
    pub sensors: Vec<Sensor>,
    pub zones: Vec<Zone>,
    pub(crate) ids: HashMap<String, ElementRef>,
}

impl Network {
    /// The element with string id `id`, if any.
    pub fn find(&self, id: &str) -> Option<ElementRef> {
        self.ids.get(id).copied()
    }

    /// The node with string id `id`, if `id` names a node.
    pub fn find_node(&self, id: &str) -> Option<NodeIdx> {
        match self.find(id) {
            Some(ElementRef::Node(n)) => Some(n),
            _ => None,
        }
    }

    /// The string id of any element.
    pub fn id_of(&self, element: ElementRef) -> &str {
        match element {
            ElementRef::Node(i) => &self.nodes[i.index()].id,
            ElementRef::Pipe(i) => &self.pipes[i.index()].id,
            ElementRef::Valve(i) => &self.valves[i.index()].id,
            ElementRef::Regulator(i) => &self.regulators[i.index()].id,
            ElementRef::Supply(i) => &self.supplies[i.index()].id,
            ElementRef::Consumer(i) => &self.consumers[i.index()].id,
            ElementRef::Injection(i) => &self.injections[i.index()].id,
            ElementRef::Sensor(i) => &self.sensors[i.index()].id,
            ElementRef::Zone(i) => &self.zones[i.index()].id,
        }
    }

    /// The node.
    #[inline]
    pub fn node(&self, i: NodeIdx) -> &Node {
        &self.nodes[i.index()]
    }

    /// The gas temperature at a node (its override, else the gas's), K.
    #[inline]
    pub fn node_temperature_k(&self, i: NodeIdx) -> f64 {
        self.nodes[i.index()].temperature_k.unwrap_or(self.gas.temperature_k)
    }

    /// The two end nodes of a branch, `(from, to)`.
    pub fn branch_ends(&self, b: BranchRef) -> (NodeIdx, NodeIdx) {
        match b {
            BranchRef::Pipe(i) => (self.pipes[i.index()].from, self.pipes[i.index()].to),
            BranchRef::Valve(i) => (self.valves[i.index()].from, self.valves[i.index()].to),
            BranchRef::Regulator(i) => (self.regulators[i.index()].from, self.regulators[i.index()].to),
        }
    }

    /// Whether a branch can carry gas in its configured state (in service, or open).
    pub fn branch_active(&self, b: BranchRef) -> bool {
        match b {
            BranchRef::Pipe(i) => self.pipes[i.index()].in_service,
            BranchRef::Valve(i) => self.valves[i.index()].open,
            BranchRef::Regulator(i) => self.regulators[i.index()].in_service,
        }
    }

    /// Every branch, pipes first, then valves, then regulators.
    pub fn branches(&self) -> impl Iterator<Item = BranchRef> + '_ {
        (0..self.pipes.len())
            .map(|i| BranchRef::Pipe(PipeIdx::new(i)))
            .chain((0..self.valves.len()).map(|i| BranchRef::Valve(ValveIdx::new(i))))
            .chain((0..self.regulators.len()).map(|i| BranchRef::Regulator(RegulatorIdx::new(i))))
    }

    /// Total in-service consumer demand, kg/s.
    pub fn total_demand_kg_s(&self) -> f64 {
        self.consumers
            .iter()
            .filter(|c| c.in_service)
            .map(|c| c.demand_kg_s)
            .sum()
    }

    /// Total in-service injection, kg/s.
    pub fn total_injection_kg_s(&self) -> f64 {
        self.injections
            .iter()
            .filter(|c| c.in_service)
            .map(|c| c.rate_kg_s)
            .sum()
    }
}
