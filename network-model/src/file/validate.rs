//! Turns a parsed [`NetworkFile`] into a [`Network`], checking every id,
//! reference and range. All problems are collected, not just the first, so a
//! user can fix a file in one pass.

use std::collections::HashMap;

use super::error::Problem;
use super::schema::*;
use crate::gas::{Compressibility, Gas};
use crate::ids::*;
use crate::network::*;
use crate::units::{ambient_pressure_bar, nm3_h_to_kg_s};

/// Accepted ranges. A value outside is almost always a unit mistake (a
/// diameter in metres in a `_mm` key, a viscosity in µPa·s); the limits and
/// their reasons are listed in `docs/network-format.md`.
pub mod limits {
    pub const DENSITY_NORMAL_KG_M3: (f64, f64) = (0.05, 5.0);
    pub const VISCOSITY_PA_S: (f64, f64) = (1e-6, 1e-4);
    pub const TEMPERATURE_K: (f64, f64) = (200.0, 400.0);
    pub const Z: (f64, f64) = (0.5, 1.5);
    pub const Z_PER_BAR: (f64, f64) = (-0.01, 0.01);
    pub const ELEVATION_M: (f64, f64) = (-500.0, 9000.0);
    pub const LENGTH_M: (f64, f64) = (0.0, 1.0e6);
    pub const DIAMETER_MM: (f64, f64) = (5.0, 2000.0);
    pub const ROUGHNESS_MM: (f64, f64) = (0.0, 10.0);
    pub const LOSS_COEFFICIENT: (f64, f64) = (0.0, 1.0e6);
    pub const PRESSURE_BAR_G: (f64, f64) = (0.0, 250.0);
    pub const MIN_PRESSURE_BAR_G: (f64, f64) = (0.0, 250.0);
    pub const FLOW_KG_S: (f64, f64) = (0.0, 1000.0);
    pub const FLOW_NM3_H: (f64, f64) = (0.0, 5.0e6);
}

/// How a bound is applied: whether the lower end itself is allowed.
#[derive(Clone, Copy)]
enum Lower {
    Inclusive,
    Exclusive,
}

struct Validator {
    problems: Vec<Problem>,
    ids: HashMap<String, ElementRef>,
}

impl Validator {
    fn problem(&mut self, element: &str, field: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            element: Some(element.to_string()),
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    /// Registers `id` for `element`; reports empty, malformed and duplicate ids.
    fn register(&mut self, label: &str, id: &str, element: ElementRef) {
        if let Some(reason) = id_defect(id) {
            self.problem(label, Some("id"), reason);
            return;
        }
        match self.ids.get(id) {
            Some(previous) => {
                let msg = format!("duplicate id: '{id}' is already used by a {}", previous.kind_name());
                self.problem(label, Some("id"), msg);
            }
            None => {
                self.ids.insert(id.to_string(), element);
            }
        }
    }

    /// Registers every id of one element kind, in file order.
    fn register_all<'a>(
        &mut self,
        kind: &str,
        ids: impl Iterator<Item = &'a str>,
        element: impl Fn(usize) -> ElementRef,
    ) {
        for (i, id) in ids.enumerate() {
            self.register(&label(kind, i, id), id, element(i));
        }
    }

    fn range(&mut self, label: &str, field: &str, value: f64, bounds: (f64, f64), lower: Lower, unit_hint: &str) {
        let (lo, hi) = bounds;
        let below = match lower {
            Lower::Inclusive => value < lo,
            Lower::Exclusive => value <= lo,
        };
        if !value.is_finite() {
            self.problem(label, Some(field), format!("must be a finite number, got {value}"));
        } else if below || value > hi {
            let open = match lower {
                Lower::Inclusive => "[",
                Lower::Exclusive => "(",
            };
            self.problem(
                label,
                Some(field),
                format!("{value} is outside the accepted range {open}{lo}, {hi}]{unit_hint}"),
            );
        }
    }

    fn finite(&mut self, label: &str, field: &str, value: Option<f64>) {
        if let Some(v) = value
            && !v.is_finite()
        {
            self.problem(label, Some(field), format!("must be a finite number, got {v}"));
        }
    }

    /// Resolves a reference that must name a node.
    fn node_ref(&mut self, label: &str, field: &str, id: &str) -> Option<NodeIdx> {
        match self.ids.get(id) {
            Some(ElementRef::Node(n)) => Some(*n),
            Some(other) => {
                let msg = format!("'{id}' is a {}, not a node", other.kind_name());
                self.problem(label, Some(field), msg);
                None
            }
            None => {
                self.problem(label, Some(field), format!("no node with id '{id}'"));
                None
            }
        }
    }
}

/// Why an id cannot be used, if it cannot. Ids become MQTT topic levels and
/// URL path segments, so the MQTT wildcards and separators are refused.
fn id_defect(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("id is empty".into());
    }
    if id.len() > 256 {
        return Some(format!("id is {} bytes long; the limit is 256", id.len()));
    }
    if let Some(c) = id
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '+' | '#'))
    {
        return Some(format!(
            "id '{id}' contains {c:?}; ids may not contain whitespace, control characters, '/', '+' or '#'"
        ));
    }
    None
}

fn label(kind: &str, index: usize, id: &str) -> String {
    if id.is_empty() {
        format!("{kind}s[{index}]")
    } else {
        format!("{kind} '{id}'")
    }
}

const UNIT_HINT_MM: &str = " (millimetres: is the value in metres?)";
const UNIT_HINT_PA_S: &str = " (Pa·s: a natural gas is about 1.1e-5)";
const UNIT_HINT_K: &str = " (kelvin: is the value in °C?)";

/// Validates `file` and builds the network, or returns every problem found.
pub fn build(file: NetworkFile) -> Result<Network, Vec<Problem>> {
    let mut v = Validator {
        problems: Vec::new(),
        ids: HashMap::new(),
    };

    let counts = [
        file.nodes.len(),
        file.pipes.len(),
        file.valves.len(),
        file.regulators.len() + file.compressors.len(),
        file.supplies.len(),
        file.consumers.len(),
        file.injections.len(),
        file.sensors.len(),
        file.zones.len(),
    ];
    if counts.iter().any(|&c| c >= u32::MAX as usize) {
        return Err(vec![Problem {
            element: None,
            field: None,
            message: format!("too many elements of one kind (limit {})", u32::MAX - 1),
        }]);
    }

    let gas = gas(&mut v, &file.gas);

    // Ids first, so that references can be resolved in any order.
    v.register_all("node", file.nodes.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Node(NodeIdx::new(i))
    });
    v.register_all("pipe", file.pipes.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Pipe(PipeIdx::new(i))
    });
    v.register_all("valve", file.valves.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Valve(ValveIdx::new(i))
    });
    // Compressors are regulators that boost: they follow the regulators.
    v.register_all("regulator", file.regulators.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Regulator(RegulatorIdx::new(i))
    });
    let n_reducing = file.regulators.len();
    v.register_all("compressor", file.compressors.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Regulator(RegulatorIdx::new(n_reducing + i))
    });
    v.register_all("supply", file.supplies.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Supply(SupplyIdx::new(i))
    });
    v.register_all("consumer", file.consumers.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Consumer(ConsumerIdx::new(i))
    });
    v.register_all("injection", file.injections.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Injection(InjectionIdx::new(i))
    });
    v.register_all("sensor", file.sensors.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Sensor(SensorIdx::new(i))
    });
    v.register_all("zone", file.zones.iter().map(|e| e.id.as_str()), |i| {
        ElementRef::Zone(ZoneIdx::new(i))
    });

    let nodes: Vec<Node> = file
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let l = label("node", i, &n.id);
            v.range(
                &l,
                "elevation_m",
                n.elevation_m,
                limits::ELEVATION_M,
                Lower::Inclusive,
                "",
            );
            if let Some(t) = n.temperature_k {
                v.range(
                    &l,
                    "temperature_k",
                    t,
                    limits::TEMPERATURE_K,
                    Lower::Inclusive,
                    UNIT_HINT_K,
                );
            }
            v.finite(&l, "x", n.x);
            v.finite(&l, "y", n.y);
            Node {
                id: n.id.clone(),
                elevation_m: n.elevation_m,
                temperature_k: n.temperature_k,
                x: n.x,
                y: n.y,
            }
        })
        .collect();

    let pipes: Vec<Option<Pipe>> = file
        .pipes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let l = label("pipe", i, &p.id);
            v.range(&l, "length_m", p.length_m, limits::LENGTH_M, Lower::Exclusive, "");
            v.range(
                &l,
                "diameter_mm",
                p.diameter_mm,
                limits::DIAMETER_MM,
                Lower::Inclusive,
                UNIT_HINT_MM,
            );
            v.range(
                &l,
                "roughness_mm",
                p.roughness_mm,
                limits::ROUGHNESS_MM,
                Lower::Exclusive,
                UNIT_HINT_MM,
            );
            if p.roughness_mm.is_finite() && p.diameter_mm.is_finite() && p.roughness_mm * 2.0 >= p.diameter_mm {
                v.problem(
                    &l,
                    Some("roughness_mm"),
                    format!(
                        "{} mm is not below half the diameter ({} mm)",
                        p.roughness_mm, p.diameter_mm
                    ),
                );
            }
            v.range(
                &l,
                "loss_coefficient",
                p.loss_coefficient,
                limits::LOSS_COEFFICIENT,
                Lower::Inclusive,
                "",
            );
            let (from, to) = branch_ends(&mut v, &l, &p.from, &p.to)?;
            Some(Pipe {
                id: p.id.clone(),
                from,
                to,
                length_m: p.length_m,
                diameter_mm: p.diameter_mm,
                roughness_mm: p.roughness_mm,
                loss_coefficient: p.loss_coefficient,
                in_service: p.in_service,
            })
        })
        .collect();

    let valves: Vec<Option<Valve>> = file
        .valves
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let l = label("valve", i, &p.id);
            v.range(
                &l,
                "diameter_mm",
                p.diameter_mm,
                limits::DIAMETER_MM,
                Lower::Inclusive,
                UNIT_HINT_MM,
            );
            v.range(
                &l,
                "loss_coefficient",
                p.loss_coefficient,
                limits::LOSS_COEFFICIENT,
                Lower::Inclusive,
                "",
            );
            let (from, to) = branch_ends(&mut v, &l, &p.from, &p.to)?;
            Some(Valve {
                id: p.id.clone(),
                from,
                to,
                open: p.open,
                diameter_mm: p.diameter_mm,
                loss_coefficient: p.loss_coefficient,
            })
        })
        .collect();

    let regulators: Vec<Option<Regulator>> = file
        .regulators
        .iter()
        .enumerate()
        .map(|(i, p)| ("regulator", RegulatorKind::Reducing, i, p))
        .chain(
            file.compressors
                .iter()
                .enumerate()
                .map(|(i, p)| ("compressor", RegulatorKind::Compressor, i, p)),
        )
        .map(|(what, kind, i, p)| {
            let l = label(what, i, &p.id);
            v.range(
                &l,
                "outlet_pressure_bar_g",
                p.outlet_pressure_bar_g,
                limits::PRESSURE_BAR_G,
                Lower::Exclusive,
                "",
            );
            let (from, to) = branch_ends(&mut v, &l, &p.from, &p.to)?;
            Some(Regulator {
                id: p.id.clone(),
                from,
                to,
                outlet_pressure_bar_g: p.outlet_pressure_bar_g,
                in_service: p.in_service,
                kind,
            })
        })
        .collect();

    let mut supply_at: HashMap<NodeIdx, usize> = HashMap::new();
    let supplies: Vec<Option<Supply>> = file
        .supplies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let l = label("supply", i, &s.id);
            v.range(
                &l,
                "pressure_bar_g",
                s.pressure_bar_g,
                limits::PRESSURE_BAR_G,
                Lower::Exclusive,
                "",
            );
            let node = v.node_ref(&l, "node", &s.node)?;
            if let Some(&other) = supply_at.get(&node) {
                let msg = format!(
                    "node '{}' already has supply '{}'; one node holds one supply pressure",
                    s.node, file.supplies[other].id
                );
                v.problem(&l, Some("node"), msg);
            }
            supply_at.insert(node, i);
            Some(Supply {
                id: s.id.clone(),
                node,
                pressure_bar_g: s.pressure_bar_g,
                kind: s.kind,
                in_service: s.in_service,
            })
        })
        .collect();

    // A regulator cannot hold a node that a supply already holds.
    for (i, r) in regulators.iter().enumerate() {
        if let Some(r) = r
            && let Some(&s) = supply_at.get(&r.to)
        {
            let msg = format!(
                "outlet node '{}' is held by supply '{}'; a regulator must feed its own node",
                nodes[r.to.index()].id,
                file.supplies[s].id
            );
            let l = match r.kind {
                RegulatorKind::Reducing => label("regulator", i, &r.id),
                RegulatorKind::Compressor => label("compressor", i - n_reducing, &r.id),
            };
            v.problem(&l, Some("to"), msg);
        }
    }

    let density_n = gas.as_ref().map_or(f64::NAN, |g| g.density_normal_kg_m3);
    let consumers: Vec<Option<Consumer>> = file
        .consumers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let l = label("consumer", i, &c.id);
            let demand_kg_s = match (c.demand_kg_s, c.demand_nm3_h) {
                (Some(kg_s), None) => {
                    v.range(
                        &l,
                        "demand_kg_s",
                        kg_s,
                        limits::FLOW_KG_S,
                        Lower::Inclusive,
                        " (use an injection for inflow)",
                    );
                    kg_s
                }
                (None, Some(nm3_h)) => {
                    v.range(
                        &l,
                        "demand_nm3_h",
                        nm3_h,
                        limits::FLOW_NM3_H,
                        Lower::Inclusive,
                        " (use an injection for inflow)",
                    );
                    nm3_h_to_kg_s(nm3_h, density_n)
                }
                (Some(_), Some(_)) => {
                    v.problem(&l, None, "give exactly one of demand_kg_s and demand_nm3_h, not both");
                    f64::NAN
                }
                (None, None) => {
                    v.problem(&l, None, "missing demand: give demand_kg_s or demand_nm3_h");
                    f64::NAN
                }
            };
            if let Some(p) = c.min_pressure_bar_g {
                v.range(
                    &l,
                    "min_pressure_bar_g",
                    p,
                    limits::MIN_PRESSURE_BAR_G,
                    Lower::Inclusive,
                    "",
                );
            }
            let node = v.node_ref(&l, "node", &c.node)?;
            Some(Consumer {
                id: c.id.clone(),
                node,
                kind: c.kind,
                demand_kg_s,
                min_pressure_bar_g: c.min_pressure_bar_g,
                in_service: c.in_service,
            })
        })
        .collect();

    let injections: Vec<Option<Injection>> = file
        .injections
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let l = label("injection", i, &c.id);
            v.range(
                &l,
                "rate_kg_s",
                c.rate_kg_s,
                limits::FLOW_KG_S,
                Lower::Inclusive,
                " (use a consumer for outflow)",
            );
            let node = v.node_ref(&l, "node", &c.node)?;
            Some(Injection {
                id: c.id.clone(),
                node,
                rate_kg_s: c.rate_kg_s,
                in_service: c.in_service,
            })
        })
        .collect();

    let sensors: Vec<Option<Sensor>> = file
        .sensors
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let l = label("sensor", i, &s.id);
            let Some(&at) = v.ids.get(&s.at) else {
                v.problem(&l, Some("at"), format!("no element with id '{}'", s.at));
                return None;
            };
            let allowed = s.kind.allowed_targets();
            if !allowed.contains(&at.kind_name()) {
                let msg = format!(
                    "'{}' is a {}; a {} sensor must be at a {}",
                    s.at,
                    at.kind_name(),
                    serde_json::to_value(s.kind)
                        .ok()
                        .and_then(|k| k.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    allowed.join(" or ")
                );
                v.problem(&l, Some("at"), msg);
                return None;
            }
            Some(Sensor {
                id: s.id.clone(),
                kind: s.kind,
                at,
            })
        })
        .collect();

    let mut zone_of: HashMap<NodeIdx, usize> = HashMap::new();
    let zones: Vec<Option<Zone>> = file
        .zones
        .iter()
        .enumerate()
        .map(|(i, z)| {
            let l = label("zone", i, &z.id);
            if z.nodes.is_empty() {
                v.problem(&l, Some("nodes"), "a zone needs at least one node");
            }
            let mut nodes = Vec::with_capacity(z.nodes.len());
            for id in &z.nodes {
                let Some(n) = v.node_ref(&l, "nodes", id) else { continue };
                match zone_of.get(&n) {
                    Some(&other) if other == i => v.problem(&l, Some("nodes"), format!("node '{id}' is listed twice")),
                    Some(&other) => {
                        let msg = format!(
                            "node '{id}' is already in zone '{}'; zones may not overlap",
                            file.zones[other].id
                        );
                        v.problem(&l, Some("nodes"), msg)
                    }
                    None => {
                        zone_of.insert(n, i);
                        nodes.push(n);
                    }
                }
            }
            Some(Zone {
                id: z.id.clone(),
                nodes,
            })
        })
        .collect();

    if let Some(g) = &gas {
        // Z must stay positive at every pressure the network can see.
        let limit = g.compressibility.max_valid_pressure_bar();
        for s in supplies.iter().flatten() {
            let p_abs = s.pressure_bar_g + ambient_pressure_bar(nodes[s.node.index()].elevation_m);
            if p_abs >= limit {
                v.problems.push(Problem {
                    element: Some("gas".into()),
                    field: Some("compressibility".into()),
                    message: format!(
                        "Z falls to zero at {limit:.1} bar, below the {p_abs:.1} bar absolute of supply '{}'",
                        s.id
                    ),
                });
            }
        }
    }

    if !v.problems.is_empty() {
        return Err(v.problems);
    }
    // Every `None` above came with a problem, so with none reported all are present.
    let (Some(gas), true) = (gas, v.problems.is_empty()) else {
        unreachable!("an element was dropped without a problem being reported")
    };
    Ok(Network {
        name: file.name,
        gas,
        nodes,
        pipes: present(pipes),
        valves: present(valves),
        regulators: present(regulators),
        supplies: present(supplies),
        consumers: present(consumers),
        injections: present(injections),
        sensors: present(sensors),
        zones: present(zones),
        ids: v.ids,
    })
}

fn present<T>(elements: Vec<Option<T>>) -> Vec<T> {
    let n = elements.len();
    let all: Vec<T> = elements.into_iter().flatten().collect();
    assert_eq!(all.len(), n, "an element was dropped without a problem being reported");
    all
}

fn branch_ends(v: &mut Validator, l: &str, from: &str, to: &str) -> Option<(NodeIdx, NodeIdx)> {
    let f = v.node_ref(l, "from", from);
    let t = v.node_ref(l, "to", to);
    let (f, t) = (f?, t?);
    if f == t {
        v.problem(l, Some("to"), format!("from and to are the same node '{from}'"));
        return None;
    }
    Some((f, t))
}

fn gas(v: &mut Validator, g: &GasSpec) -> Option<Gas> {
    let l = "gas";
    let before = v.problems.len();
    v.range(
        l,
        "density_normal_kg_m3",
        g.density_normal_kg_m3,
        limits::DENSITY_NORMAL_KG_M3,
        Lower::Inclusive,
        "",
    );
    v.range(
        l,
        "viscosity_pa_s",
        g.viscosity_pa_s,
        limits::VISCOSITY_PA_S,
        Lower::Inclusive,
        UNIT_HINT_PA_S,
    );
    v.range(
        l,
        "temperature_k",
        g.temperature_k,
        limits::TEMPERATURE_K,
        Lower::Inclusive,
        UNIT_HINT_K,
    );
    let compressibility = match g.compressibility {
        CompressibilitySpec::Constant { z } => {
            v.range(l, "compressibility.z", z, limits::Z, Lower::Inclusive, "");
            Compressibility::Constant { z }
        }
        CompressibilitySpec::Linear { z0, per_bar } => {
            v.range(l, "compressibility.z0", z0, limits::Z, Lower::Inclusive, "");
            v.range(
                l,
                "compressibility.per_bar",
                per_bar,
                limits::Z_PER_BAR,
                Lower::Inclusive,
                "",
            );
            Compressibility::Linear { z0, per_bar }
        }
    };
    (v.problems.len() == before).then(|| Gas {
        name: g.name.clone(),
        density_normal_kg_m3: g.density_normal_kg_m3,
        viscosity_pa_s: g.viscosity_pa_s,
        temperature_k: g.temperature_k,
        compressibility,
    })
}
