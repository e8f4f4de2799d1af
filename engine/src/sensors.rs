//! What the engine knows of each sensor before any reading: where it is,
//! what it measures, and its resolved limits (kind defaults with per-sensor
//! overrides), checked once at start.

use linepack_network::Network;
use std::collections::HashSet;

use linepack_network::ids::{BranchRef, ConsumerIdx, ElementRef, NodeIdx};
use linepack_network::network::SensorKind;
use linepack_network::topology::Topology;

use crate::config::{EngineConfig, LimitsConfig};

/// A sensor's place in the network.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorInfo {
    pub id: String,
    pub kind: SensorKind,
    /// The node it measures at (pipes and regulators: their inlet).
    pub node: Option<NodeIdx>,
    pub consumer: Option<ConsumerIdx>,
    /// Index into [`SensorTable::zone_names`].
    pub zone: Option<u32>,
}

/// One sensor's limits; NaN where a limit is not set, 0 where a time check
/// is off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub stale_after_ms: i64,
    pub flatline_after_ms: i64,
    pub flatline_tolerance: f64,
    pub physical_min: f64,
    pub physical_max: f64,
    pub low_low: f64,
    pub low: f64,
    pub high: f64,
    pub high_high: f64,
    pub deadband: f64,
    pub on_delay_ms: i64,
    pub off_delay_ms: i64,
    pub rate_per_min: f64,
}

impl Limits {
    /// Inside the sensor's physical range (NaN is not).
    #[inline]
    pub fn in_physical_range(&self, value: f64) -> bool {
        value >= self.physical_min && value <= self.physical_max
    }
}

/// A limit setting that cannot work, naming the table.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{table}: {message}")]
pub struct LimitsError {
    pub table: String,
    pub message: String,
}

fn resolve(c: &LimitsConfig, table: &str) -> Result<Limits, LimitsError> {
    let err = |message: String| LimitsError {
        table: table.to_string(),
        message,
    };
    let ms = |key: &str, v: Option<f64>| -> Result<i64, LimitsError> {
        match v {
            None => Ok(0),
            Some(s) if s.is_finite() && s >= 0.0 => Ok((s * 1000.0) as i64),
            Some(s) => Err(err(format!("{key} = {s}: a time must be 0 or more seconds"))),
        }
    };
    let value = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let l = Limits {
        stale_after_ms: ms("stale_after_s", c.stale_after_s)?,
        flatline_after_ms: ms("flatline_after_s", c.flatline_after_s)?,
        flatline_tolerance: c.flatline_tolerance.unwrap_or(0.0),
        physical_min: c.physical_min.unwrap_or(f64::NEG_INFINITY),
        physical_max: c.physical_max.unwrap_or(f64::INFINITY),
        low_low: value(c.low_low),
        low: value(c.low),
        high: value(c.high),
        high_high: value(c.high_high),
        deadband: c.deadband.unwrap_or(0.0),
        on_delay_ms: ms("on_delay_s", c.on_delay_s)?,
        off_delay_ms: ms("off_delay_s", c.off_delay_s)?,
        rate_per_min: value(c.rate_of_change_per_min),
    };
    if l.physical_min >= l.physical_max {
        return Err(err(format!(
            "physical_min {} is not below physical_max {}",
            l.physical_min, l.physical_max
        )));
    }
    // Ordered limits: low_low ≤ low ≤ high ≤ high_high, where set.
    let order = [
        ("low_low", l.low_low),
        ("low", l.low),
        ("high", l.high),
        ("high_high", l.high_high),
    ];
    let set: Vec<(&str, f64)> = order.into_iter().filter(|(_, v)| !v.is_nan()).collect();
    for w in set.windows(2) {
        if w[0].1 > w[1].1 {
            return Err(err(format!("{} = {} is above {} = {}", w[0].0, w[0].1, w[1].0, w[1].1)));
        }
    }
    if l.deadband.is_nan() || l.deadband < 0.0 {
        return Err(err(format!("deadband = {}: must be 0 or more", l.deadband)));
    }
    if l.rate_per_min <= 0.0 {
        return Err(err("rate_of_change_per_min must be positive".into()));
    }
    Ok(l)
}

/// Sensors and their limits, indexed like `network.sensors`.
#[derive(Clone, Debug)]
pub struct SensorTable {
    pub info: Vec<SensorInfo>,
    pub limits: Vec<Limits>,
    /// Balance zones: the network file's, or derived from flow meters.
    pub zone_names: Vec<String>,
    /// The zone of each node.
    pub node_zone: Vec<Option<u32>>,
}

impl SensorTable {
    /// # Errors
    /// [`LimitsError`] for an override of a sensor the network lacks, or
    /// limits that cannot work.
    pub fn build(network: &Network, config: &EngineConfig) -> Result<SensorTable, LimitsError> {
        for id in config.sensors.overrides.keys() {
            if !matches!(network.find(id), Some(ElementRef::Sensor(_))) {
                return Err(LimitsError {
                    table: format!("sensors.overrides.\"{id}\""),
                    message: format!("the network has no sensor '{id}'"),
                });
            }
        }
        let (zone_names, zone_of) = zones(network);
        let mut info = Vec::with_capacity(network.sensors.len());
        let mut limits = Vec::with_capacity(network.sensors.len());
        for s in &network.sensors {
            let (node, consumer) = match s.at {
                ElementRef::Node(n) => (Some(n), None),
                ElementRef::Supply(i) => (Some(network.supplies[i.index()].node), None),
                ElementRef::Consumer(i) => (Some(network.consumers[i.index()].node), Some(i)),
                ElementRef::Pipe(i) => (Some(network.pipes[i.index()].from), None),
                ElementRef::Regulator(i) => (Some(network.regulators[i.index()].to), None),
                ElementRef::Valve(i) => (Some(network.valves[i.index()].from), None),
                ElementRef::Injection(i) => (Some(network.injections[i.index()].node), None),
                ElementRef::Sensor(_) | ElementRef::Zone(_) => (None, None),
            };
            let (table, kind_cfg) = match s.kind {
                SensorKind::Pressure => ("sensors.pressure", &config.sensors.pressure),
                SensorKind::Flow => ("sensors.flow", &config.sensors.flow),
                SensorKind::Temperature => ("sensors.temperature", &config.sensors.temperature),
                SensorKind::GasDetector => ("sensors.gas_detector", &config.sensors.gas_detector),
                SensorKind::ShutoffValve => ("sensors.shutoff_valve", &config.sensors.shutoff_valve),
            };
            let over = config.sensors.overrides.get(&s.id);
            let table = if over.is_some() {
                format!("sensors.overrides.\"{}\"", s.id)
            } else {
                table.to_string()
            };
            limits.push(resolve(
                &over.map_or_else(|| kind_cfg.clone(), |o| o.or(kind_cfg)),
                &table,
            )?);
            info.push(SensorInfo {
                id: s.id.clone(),
                kind: s.kind,
                node,
                consumer,
                zone: node.and_then(|n| zone_of[n.index()]),
            });
        }
        Ok(SensorTable {
            info,
            limits,
            zone_names,
            node_zone: zone_of,
        })
    }
}

/// The zones' names and the zone of each node: the network file's zones,
/// or, when it names none, the parts its branch flow meters bound
/// (`zone-1`, `zone-2`, ... by first node).
fn zones(network: &Network) -> (Vec<String>, Vec<Option<u32>>) {
    let mut zone_of = vec![None; network.nodes.len()];
    if !network.zones.is_empty() {
        for (z, zone) in network.zones.iter().enumerate() {
            for n in &zone.nodes {
                zone_of[n.index()] = Some(z as u32);
            }
        }
        return (network.zones.iter().map(|z| z.id.clone()).collect(), zone_of);
    }
    let metered: HashSet<BranchRef> = network
        .sensors
        .iter()
        .filter(|s| s.kind == SensorKind::Flow)
        .filter_map(|s| match s.at {
            ElementRef::Pipe(i) => Some(BranchRef::Pipe(i)),
            ElementRef::Valve(i) => Some(BranchRef::Valve(i)),
            ElementRef::Regulator(i) => Some(BranchRef::Regulator(i)),
            _ => None,
        })
        .collect();
    let derived = Topology::new(network).metered_zones(network, &|b| metered.contains(&b));
    for (z, nodes) in derived.iter().enumerate() {
        for n in nodes {
            zone_of[n.index()] = Some(z as u32);
        }
    }
    ((1..=derived.len()).map(|k| format!("zone-{k}")).collect(), zone_of)
}
