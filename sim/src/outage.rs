//! What-if: the network with one station, regulator, pipe or valve out of
//! service. Solves before and after, and lists the users who lose their gas
//! (no path from a supply any more) or whose pressure falls below their
//! minimum (`min_pressure_bar_g` of the consumer, else a default).

use linepack_network::Network;
use linepack_network::ids::ElementRef;
use linepack_network::network::ConsumerKind;
use linepack_network::solver::{SolveOptions, SteadySolver};
use linepack_network::topology::Topology;
use serde::Serialize;

/// The element cannot be taken out, or the network cannot be solved as it is.
#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    #[error("no element '{0}' in the network")]
    Unknown(String),
    #[error("'{id}' is a {kind}; take out a supply, regulator, pipe or valve")]
    NotSwitchable { id: String, kind: &'static str },
    #[error("the network as it is cannot be solved: {0}")]
    Base(String),
}

/// A user the outage affects.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Affected {
    pub id: String,
    pub kind: ConsumerKind,
    pub node: String,
    pub demand_kg_s: f64,
    pub pressure_before_bar_g: Option<f64>,
    /// `None`: cut off (or the network could not be solved).
    pub pressure_after_bar_g: Option<f64>,
    pub min_pressure_bar_g: f64,
    /// `cut_off` or `below_minimum`.
    pub status: &'static str,
}

/// The answer to "what if `element` fails".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutageReport {
    pub element: String,
    pub element_kind: &'static str,
    /// False when the network without it cannot be solved (the remaining
    /// supplies cannot deliver the demand at any pressure).
    pub solved: bool,
    pub error: Option<String>,
    pub consumers: usize,
    /// Users affected, cut off first, then by pressure.
    pub affected: Vec<Affected>,
    /// Total demand of the affected users, kg/s.
    pub affected_demand_kg_s: f64,
    /// The lowest user pressure after, and where.
    pub lowest: Option<Lowest>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lowest {
    pub consumer: String,
    pub pressure_bar_g: f64,
}

/// Solves `network` with `element` out of service (see the module docs).
///
/// # Errors
/// [`OutageError`] when the element is unknown or not switchable, or the
/// network cannot be solved even before the outage.
pub fn outage(
    network: &Network,
    element: &str,
    default_min_bar_g: f64,
    options: SolveOptions,
) -> Result<OutageReport, OutageError> {
    let target = network
        .find(element)
        .ok_or_else(|| OutageError::Unknown(element.to_string()))?;
    let mut after = network.clone();
    let kind = match target {
        ElementRef::Supply(i) => {
            after.supplies[i.index()].in_service = false;
            "supply"
        }
        ElementRef::Regulator(i) => {
            after.regulators[i.index()].in_service = false;
            "regulator"
        }
        ElementRef::Pipe(i) => {
            after.pipes[i.index()].in_service = false;
            "pipe"
        }
        ElementRef::Valve(i) => {
            after.valves[i.index()].open = false;
            "valve"
        }
        other => {
            return Err(OutageError::NotSwitchable {
                id: element.to_string(),
                kind: match other {
                    ElementRef::Node(_) => "node",
                    ElementRef::Consumer(_) => "consumer",
                    ElementRef::Injection(_) => "injection",
                    ElementRef::Sensor(_) => "sensor",
                    _ => "zone",
                },
            });
        }
    };
    let before = SteadySolver::new(network, options)
        .solve(network)
        .map_err(|e| OutageError::Base(e.to_string()))?;
    let cut_off = {
        let topology = Topology::new(network);
        let mut cut = vec![false; network.nodes.len()];
        for n in topology.cut_off_by(network, target) {
            cut[n.index()] = true;
        }
        cut
    };
    let (solved_after, error) = match SteadySolver::new(&after, options).solve(&after) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.to_string())),
    };

    let mut affected = Vec::new();
    let mut lowest: Option<Lowest> = None;
    let mut consumers = 0;
    for c in network.consumers.iter().filter(|c| c.in_service) {
        consumers += 1;
        let min = c.min_pressure_bar_g.unwrap_or(default_min_bar_g);
        let p_before = before.pressure_bar_g(network, c.node);
        let p_after = solved_after.as_ref().and_then(|s| s.pressure_bar_g(&after, c.node));
        if let Some(p) = p_after
            && lowest.as_ref().is_none_or(|l| p < l.pressure_bar_g)
        {
            lowest = Some(Lowest {
                consumer: c.id.clone(),
                pressure_bar_g: p,
            });
        }
        let status = if cut_off[c.node.index()] {
            Some("cut_off")
        } else if p_after.is_none_or(|p| p < min) && solved_after.is_some() {
            Some("below_minimum")
        } else {
            None
        };
        if let Some(status) = status {
            affected.push(Affected {
                id: c.id.clone(),
                kind: c.kind,
                node: network.node(c.node).id.clone(),
                demand_kg_s: c.demand_kg_s,
                pressure_before_bar_g: p_before,
                pressure_after_bar_g: p_after,
                min_pressure_bar_g: min,
                status,
            });
        }
    }
    affected.sort_by(|a, b| {
        (a.status != "cut_off")
            .cmp(&(b.status != "cut_off"))
            .then(
                a.pressure_after_bar_g
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&b.pressure_after_bar_g.unwrap_or(f64::NEG_INFINITY)),
            )
            .then(a.id.cmp(&b.id))
    });
    Ok(OutageReport {
        element: element.to_string(),
        element_kind: kind,
        solved: solved_after.is_some(),
        error,
        consumers,
        affected_demand_kg_s: affected.iter().fold(0.0, |sum, a| sum + a.demand_kg_s),
        affected,
        lowest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use linepack_network::file::{Format, parse};

    /// Two stations S1 (at A) and S2 (at E) feeding a line A–B–C–D–E; a
    /// spur C–F with a user far out; users at B and F.
    fn network() -> Network {
        let text = r#"{
            "version": 1, "name": "outage-test",
            "gas": {"name": "ng", "density_normal_kg_m3": 0.8, "viscosity_pa_s": 1.1e-5, "temperature_k": 283.15,
                    "compressibility": {"model": "constant", "z": 1.0}},
            "nodes": [{"id": "A", "elevation_m": 0}, {"id": "B", "elevation_m": 0}, {"id": "C", "elevation_m": 0},
                      {"id": "D", "elevation_m": 0}, {"id": "E", "elevation_m": 0}, {"id": "F", "elevation_m": 0}],
            "pipes": [{"id": "P1", "from": "A", "to": "B", "length_m": 2000, "diameter_mm": 100, "roughness_mm": 0.1},
                      {"id": "P2", "from": "B", "to": "C", "length_m": 2000, "diameter_mm": 100, "roughness_mm": 0.1},
                      {"id": "P3", "from": "C", "to": "D", "length_m": 2000, "diameter_mm": 100, "roughness_mm": 0.1},
                      {"id": "P4", "from": "D", "to": "E", "length_m": 2000, "diameter_mm": 100, "roughness_mm": 0.1},
                      {"id": "P5", "from": "C", "to": "F", "length_m": 1000, "diameter_mm": 80, "roughness_mm": 0.1}],
            "supplies": [{"id": "S1", "node": "A", "pressure_bar_g": 2, "kind": "city_gate"},
                         {"id": "S2", "node": "E", "pressure_bar_g": 2, "kind": "lng"}],
            "consumers": [{"id": "CB", "node": "B", "kind": "commercial", "demand_kg_s": 0.05},
                          {"id": "CF", "node": "F", "kind": "industrial", "demand_kg_s": 0.1, "min_pressure_bar_g": 1.0}]
        }"#;
        parse(text, Format::Json, std::path::Path::new("outage-test.json")).unwrap()
    }

    fn ids(r: &OutageReport) -> Vec<(&str, &str)> {
        r.affected.iter().map(|a| (a.id.as_str(), a.status)).collect()
    }

    #[test]
    fn the_second_station_carries_the_users_but_not_at_every_minimum() {
        let r = outage(&network(), "S1", 0.5, SolveOptions::default()).unwrap();
        assert!(r.solved);
        assert_eq!(r.element_kind, "supply");
        // B keeps well above the default 0.5 bar g; F falls under its own 1.0.
        assert_eq!(ids(&r), [("CF", "below_minimum")], "{r:?}");
        let r = outage(&network(), "S2", 0.5, SolveOptions::default()).unwrap();
        assert!(r.lowest.unwrap().pressure_bar_g > 0.5);
    }

    #[test]
    fn a_spur_cut_off_and_a_user_below_its_minimum() {
        let r = outage(&network(), "P5", 0.5, SolveOptions::default()).unwrap();
        assert_eq!(ids(&r), [("CF", "cut_off")]);
        assert!(r.affected[0].pressure_after_bar_g.is_none());
        assert!((r.affected_demand_kg_s - 0.1).abs() < 1e-12);
        // Without P1, B and the spur hang on S2 alone over a long way: F drops below its 1.0 bar g.
        let r = outage(&network(), "P1", 0.5, SolveOptions::default()).unwrap();
        assert_eq!(ids(&r), [("CF", "below_minimum")], "{r:?}");
        let a = &r.affected[0];
        assert!(
            a.pressure_after_bar_g.unwrap() < 1.0 && a.pressure_before_bar_g.unwrap() > 1.0,
            "{a:?}"
        );
    }

    #[test]
    fn nodes_and_unknown_ids_are_refused() {
        assert!(matches!(
            outage(&network(), "B", 0.5, SolveOptions::default()),
            Err(OutageError::NotSwitchable { kind: "node", .. })
        ));
        assert!(matches!(
            outage(&network(), "Q", 0.5, SolveOptions::default()),
            Err(OutageError::Unknown(_))
        ));
    }
}
