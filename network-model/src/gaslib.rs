//! GasLib import: the ZIB XML of a GasLib instance (`.net` topology, an
//! optional `.scn` nomination and `.cdf` combined decisions) as a network
//! file. `docs/gaslib.md` states every mapping and choice; in short:
//!
//! - sources, sinks and inner nodes are nodes; the gas is the first
//!   source's (Z linear in pressure, Papay's linear term);
//! - pipes are pipes, short pipes short wide pipes, valves loss-free valves,
//!   resistors valves with a loss coefficient; control valves are
//!   regulators and compressor stations compressors;
//! - entries with a nominated flow are supplies, sinks draw their nominated
//!   flow (without a nomination: every source, the middle of each sink's
//!   flow bounds);
//! - which valves are open and which stations run comes from the decisions
//!   file, else from rules as gas spreads from the entries (`operate`);
//! - each region (joined by pipes, short pipes, resistors and open valves)
//!   holds one pressure, set points follow the order gas reaches the
//!   regions, and entry pressures are lowered where the solved network
//!   would exceed upper bounds downstream.
//!
//! GasLib pressures are absolute ("bar") unless marked "barg"; flows are in
//! 1000 m³/h at normal conditions.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use crate::file::schema::*;
use crate::network::{ConsumerKind, SupplyKind};
use crate::units::{NORMAL_PRESSURE_BAR, NORMAL_TEMPERATURE_K, ambient_pressure_bar};

/// The GasLib files cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum GaslibError {
    #[error("{file}: not well-formed XML: {message}")]
    Xml { file: String, message: String },
    #[error("{file}: {element}: {message}")]
    Element {
        file: String,
        element: String,
        message: String,
    },
}

/// An imported instance and what the import decided for the user to know.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub file: NetworkFile,
    /// Choices and approximations, one line each.
    pub notes: Vec<String>,
    /// Pressure bounds of each node from the instance, bar g.
    pub bounds_bar_g: HashMap<String, (f64, f64)>,
}

/// Largest accepted pipe diameter (`docs/network-format.md`); GasLib's
/// few larger "pipes" are short connectors.
const MAX_DIAMETER_MM: f64 = 2000.0;
/// Diameter given to elements without one (valves, short pipes, fixed-loss resistors), mm.
const CONNECTOR_DIAMETER_MM: f64 = 1000.0;
/// Length given to GasLib's short pipes, m.
const SHORT_PIPE_LENGTH_M: f64 = 10.0;
/// Viscosity of natural gas (GasLib gives none), Pa·s.
const VISCOSITY_PA_S: f64 = 1.1e-5;

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, element: &Node, message: impl Into<String>) -> GaslibError {
        GaslibError::Element {
            file: self.file.to_string(),
            element: format!(
                "<{} id=\"{}\">",
                element.tag_name().name(),
                element.attribute("id").unwrap_or("?")
            ),
            message: message.into(),
        }
    }

    /// The `value` (with its `unit`) of child `tag`.
    fn quantity<'n>(&self, node: &Node<'n, 'n>, tag: &str) -> Option<(f64, &'n str)> {
        let child = node.children().find(|c| c.tag_name().name() == tag)?;
        let value = child.attribute("value")?.trim().parse().ok()?;
        Some((value, child.attribute("unit").unwrap_or("")))
    }

    fn required(&self, node: &Node, tag: &str) -> Result<(f64, String), GaslibError> {
        self.quantity(node, tag)
            .map(|(v, u)| (v, u.to_string()))
            .ok_or_else(|| self.err(node, format!("missing <{tag} value=\"...\">")))
    }

    fn length_m(&self, node: &Node, tag: &str) -> Result<f64, GaslibError> {
        let (v, unit) = self.required(node, tag)?;
        match unit.as_str() {
            "km" => Ok(v * 1000.0),
            "m" | "meter" => Ok(v),
            "mm" => Ok(v * 1e-3),
            other => Err(self.err(node, format!("<{tag}>: unknown length unit '{other}'"))),
        }
    }

    fn diameter_mm(&self, node: &Node, tag: &str) -> Result<f64, GaslibError> {
        Ok(self.length_m(node, tag)? * 1000.0)
    }

    /// A pressure as absolute bar, at elevation `h`.
    fn pressure_abs(&self, node: &Node, tag: &str, h: f64) -> Result<Option<f64>, GaslibError> {
        let Some((v, unit)) = self.quantity(node, tag) else {
            return Ok(None);
        };
        match unit {
            "bar" => Ok(Some(v)),
            "barg" => Ok(Some(v + ambient_pressure_bar(h))),
            other => Err(self.err(node, format!("<{tag}>: unknown pressure unit '{other}'"))),
        }
    }

    /// A flow in normal m³/h.
    fn flow_nm3_h(&self, node: &Node, value: f64, unit: &str) -> Result<f64, GaslibError> {
        match unit {
            "1000m_cube_per_hour" => Ok(value * 1000.0),
            "m_cube_per_hour" => Ok(value),
            other => Err(self.err(node, format!("unknown flow unit '{other}'"))),
        }
    }
}

fn parse<'a>(text: &'a str, file: &str) -> Result<Document<'a>, GaslibError> {
    Document::parse(text).map_err(|e| GaslibError::Xml {
        file: file.to_string(),
        message: e.to_string(),
    })
}

struct NodeInfo {
    kind: &'static str,
    height_m: f64,
    p_min_abs: Option<f64>,
    p_max_abs: Option<f64>,
    flow_min_nm3_h: Option<f64>,
    flow_max_nm3_h: Option<f64>,
}

/// Imports a GasLib instance (see the module docs). `net_name` and
/// `scn_name` name the files in errors.
///
/// # Errors
/// [`GaslibError`] naming the file and element.
pub fn import(
    net_xml: &str,
    net_name: &str,
    scenario: Option<(&str, &str)>,
    decisions: Option<(&str, &str)>,
    name: &str,
) -> Result<Imported, GaslibError> {
    let doc = parse(net_xml, net_name)?;
    let ctx = Ctx { file: net_name };
    let mut notes = Vec::new();
    let mut nodes = Vec::new();
    let mut info: HashMap<String, NodeInfo> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut gas: Option<GasSpec> = None;
    for n in doc.descendants().filter(|n| n.is_element()) {
        let kind = match n.tag_name().name() {
            "source" => "source",
            "sink" => "sink",
            "innode" => "innode",
            _ => continue,
        };
        let id = n.attribute("id").ok_or_else(|| ctx.err(&n, "no id"))?.to_string();
        let height_m = ctx.quantity(&n, "height").map_or(0.0, |(v, _)| v);
        let coordinate = |a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok());
        if kind == "source" && gas.is_none() {
            gas = Some(gas_of(&ctx, &n, &mut notes)?);
        }
        let flow = |tag: &str| -> Result<Option<f64>, GaslibError> {
            match ctx.quantity(&n, tag) {
                Some((v, u)) => Ok(Some(ctx.flow_nm3_h(&n, v, u)?)),
                None => Ok(None),
            }
        };
        info.insert(
            id.clone(),
            NodeInfo {
                kind,
                height_m,
                p_min_abs: ctx.pressure_abs(&n, "pressureMin", height_m)?,
                p_max_abs: ctx.pressure_abs(&n, "pressureMax", height_m)?,
                flow_min_nm3_h: flow("flowMin")?,
                flow_max_nm3_h: flow("flowMax")?,
            },
        );
        order.push(id.clone());
        nodes.push(NodeSpec {
            id,
            elevation_m: height_m,
            temperature_k: None,
            x: coordinate("x"),
            y: coordinate("y"),
        });
    }
    let gas = gas.ok_or_else(|| GaslibError::Element {
        file: net_name.to_string(),
        element: "<network>".into(),
        message: "no <source>: nothing feeds the network".into(),
    })?;
    let gauge = |id: &str, abs: f64| abs - ambient_pressure_bar(info.get(id).map_or(0.0, |i| i.height_m));

    // Connections, and the regions that pipes, short pipes and resistors
    // join (`operate` adds the valves it opens).
    let mut connections = Vec::new();
    let mut passive = UnionFind::default();
    for c in doc.descendants().filter(|n| n.is_element()) {
        let tag = c.tag_name().name();
        if !matches!(
            tag,
            "pipe" | "shortPipe" | "valve" | "resistor" | "controlValve" | "compressorStation"
        ) {
            continue;
        }
        let id = c.attribute("id").ok_or_else(|| ctx.err(&c, "no id"))?.to_string();
        let from = c.attribute("from").ok_or_else(|| ctx.err(&c, "no from"))?.to_string();
        let to = c.attribute("to").ok_or_else(|| ctx.err(&c, "no to"))?.to_string();
        for end in [&from, &to] {
            if !info.contains_key(end) {
                return Err(ctx.err(&c, format!("no node '{end}'")));
            }
        }
        if matches!(tag, "pipe" | "shortPipe" | "resistor") {
            passive.union(&from, &to);
        }
        connections.push((c, tag, id, from, to));
    }

    let nomination = match scenario {
        Some((text, file)) => Some(nomination(text, file, &info)?),
        None => None,
    };
    // The entries that hold a pressure: with a nomination, those with a
    // nominated flow; without, all.
    let entries: Vec<&String> = order
        .iter()
        .filter(|id| info[*id].kind == "source")
        .filter(|id| {
            nomination
                .as_ref()
                .is_none_or(|n| n.flow_nm3_h.get(*id).copied().unwrap_or(0.0) > 0.0)
        })
        .collect();
    if entries.is_empty() {
        return Err(GaslibError::Element {
            file: scenario.map_or_else(|| net_name.to_string(), |(_, f)| f.to_string()),
            element: "<scenario>".into(),
            message: "no entry with a nominated flow".into(),
        });
    }

    // Valves open or closed, stations in service or not: GasLib leaves
    // both to the operator; `operate` decides as gas spreads from the
    // entries.
    let valve_list: Vec<Link> = connections
        .iter()
        .filter(|(_, tag, ..)| *tag == "valve")
        .map(|(_, _, id, from, to)| Link::new(id, from, to, false))
        .collect();
    let station_list: Vec<Link> = connections
        .iter()
        .filter(|(_, tag, ..)| matches!(*tag, "controlValve" | "compressorStation"))
        .map(|(_, tag, id, from, to)| Link::new(id, from, to, *tag == "compressorStation"))
        .collect();
    let upper_bound: HashMap<String, f64> = info
        .iter()
        .filter_map(|(id, i)| Some((id.clone(), i.p_max_abs?)))
        .collect();
    let decided = match decisions {
        Some((text, file)) => {
            let (decided, unknown) = combined_decisions(text, file, &connections)?;
            if !unknown.is_empty() {
                notes.push(format!(
                    "{file}: decisions for elements not in the network, ignored: {}",
                    unknown.join(", ")
                ));
            }
            decided
        }
        None => HashMap::new(),
    };
    let operation = operate(
        &mut passive,
        &entries,
        &valve_list,
        &station_list,
        &upper_bound,
        &decided,
    );

    // One held pressure per passive region: a pressure set at one point of
    // a region reaches all of it through pipes of small resistance, so
    // every entry, control valve and compressor holding the region holds
    // the same pressure, the lowest of the region's upper bounds and of
    // their own limits. Two different pressures there would drive
    // enormous flows through the short connectors.
    let mut held: HashMap<String, f64> = HashMap::new();
    for id in &order {
        cap(&mut held, &mut passive, id, info[id].p_max_abs);
    }
    for (c, tag, _, _, to) in &connections {
        if matches!(*tag, "controlValve" | "compressorStation") {
            let own = ctx.pressure_abs(c, "pressureOutMax", info[to].height_m)?;
            cap(&mut held, &mut passive, to, own);
        }
    }
    for id in &entries {
        let own = nomination.as_ref().and_then(|n| n.p_max_abs.get(*id).copied());
        cap(&mut held, &mut passive, id, own);
    }
    let mut held_at = |node: &str| -> Option<f64> {
        let p = held[&passive.find(node)];
        p.is_finite().then(|| gauge(node, p))
    };

    let mut pipes = Vec::new();
    let mut valves = Vec::new();
    let mut regulators = Vec::new();
    let mut compressors = Vec::new();
    let mut clamped = 0;
    let mut short_pipes = Vec::new();
    for (c, tag, id, from, to) in connections {
        let connector = |loss_coefficient: f64, diameter_mm: f64| ValveSpec {
            id: id.clone(),
            from: from.clone(),
            to: to.clone(),
            open: true,
            diameter_mm,
            loss_coefficient,
        };
        match tag {
            "pipe" => {
                let mut diameter_mm = ctx.diameter_mm(&c, "diameter")?;
                if diameter_mm > MAX_DIAMETER_MM {
                    diameter_mm = MAX_DIAMETER_MM;
                    clamped += 1;
                }
                let roughness_mm = ctx.quantity(&c, "roughness").map_or(Ok(0.1), |(v, u)| match u {
                    "mm" => Ok(v),
                    "m" => Ok(v * 1000.0),
                    other => Err(ctx.err(&c, format!("<roughness>: unknown unit '{other}'"))),
                })?;
                pipes.push(PipeSpec {
                    id,
                    from,
                    to,
                    length_m: ctx.length_m(&c, "length")?.max(0.01),
                    diameter_mm,
                    roughness_mm: roughness_mm.clamp(1e-4, 0.49 * diameter_mm),
                    loss_coefficient: 0.0,
                    in_service: true,
                });
            }
            // A short pipe is a short wide pipe, not an ideal connection:
            // GasLib nets close loops of them, which ideal connections
            // would leave without a unique flow split.
            "shortPipe" => {
                short_pipes.push(pipes.len());
                pipes.push(PipeSpec {
                    id,
                    from,
                    to,
                    length_m: SHORT_PIPE_LENGTH_M,
                    diameter_mm: CONNECTOR_DIAMETER_MM,
                    roughness_mm: 0.1,
                    loss_coefficient: 0.0,
                    in_service: true,
                })
            }
            "valve" => valves.push(ValveSpec {
                open: !operation.closed.contains_key(&id),
                ..connector(0.0, CONNECTOR_DIAMETER_MM)
            }),
            "resistor" => {
                if let Some((drag, _)) = ctx.quantity(&c, "dragFactor") {
                    let d = ctx.diameter_mm(&c, "diameter").unwrap_or(CONNECTOR_DIAMETER_MM);
                    valves.push(connector(drag, d.min(MAX_DIAMETER_MM)));
                } else {
                    let (loss_bar, unit) = ctx.required(&c, "pressureLoss")?;
                    if unit != "bar" {
                        return Err(ctx.err(&c, format!("<pressureLoss>: unknown unit '{unit}'")));
                    }
                    let flow_max = ctx
                        .quantity(&c, "flowMax")
                        .map(|(v, u)| ctx.flow_nm3_h(&c, v.abs(), u))
                        .transpose()?
                        .unwrap_or(100_000.0);
                    let p_abs = info[&from].p_max_abs.unwrap_or(50.0);
                    valves.push(connector(
                        fixed_loss_zeta(&gas, loss_bar, 0.5 * flow_max, p_abs),
                        CONNECTOR_DIAMETER_MM,
                    ));
                }
            }
            _ if decided.get(&id) == Some(&Decision::Bypass) => valves.push(connector(0.0, CONNECTOR_DIAMETER_MM)),
            _ => {
                let set = held_at(&to)
                    .ok_or_else(|| ctx.err(&c, "no pressureOutMax and no upper bound in the region it feeds"))?;
                let spec = RegulatorSpec {
                    in_service: !operation.out_of_service.contains_key(&id),
                    id,
                    outlet_pressure_bar_g: set,
                    from,
                    to,
                };
                if tag == "controlValve" {
                    regulators.push(spec);
                } else {
                    compressors.push(spec);
                }
            }
        }
    }
    if clamped > 0 {
        notes.push(format!(
            "{clamped} pipe(s) wider than {MAX_DIAMETER_MM} mm (short connectors) imported at {MAX_DIAMETER_MM} mm"
        ));
    }

    // Entries and exits.
    let supplies: Vec<SupplySpec> = entries
        .iter()
        .map(|id| SupplySpec {
            id: format!("{id}-supply"),
            node: id.to_string(),
            pressure_bar_g: held_at(id).unwrap_or(70.0),
            kind: SupplyKind::Other,
            in_service: true,
        })
        .collect();
    let consumers: Vec<ConsumerSpec> = order
        .iter()
        .filter(|id| info[*id].kind == "sink")
        .map(|id| {
            let i = &info[id];
            let nm3_h = match &nomination {
                Some(n) => n.flow_nm3_h.get(id).copied().unwrap_or(0.0),
                None => 0.5 * (i.flow_min_nm3_h.unwrap_or(0.0) + i.flow_max_nm3_h.unwrap_or(0.0)),
            };
            ConsumerSpec {
                id: format!("{id}-exit"),
                node: id.clone(),
                kind: ConsumerKind::Other,
                demand_kg_s: None,
                demand_nm3_h: Some(nm3_h.max(0.0)),
                min_pressure_bar_g: i.p_min_abs.map(|p| gauge(id, p).max(0.0)),
                in_service: true,
            }
        })
        .collect();
    notes.push(match &nomination {
        Some(_) => format!(
            "exits draw their nominated flows; the {} entries with a nominated flow hold the pressure of their region and deliver what the exits draw (nominated entry flows are not imposed)",
            supplies.len()
        ),
        None => "no nomination: every source holds the pressure of its region, every sink draws the middle of its flow bounds".into(),
    });
    notes.push(
        "each region joined by pipes, short pipes, resistors and open valves holds one pressure: the lowest upper bound in it and of the entries, control valves and compressors feeding it".into(),
    );

    for why in [DECIDED, BYPASSED, NO_GAS, RING, TWO_SET_POINTS] {
        let ids = ids_for(&operation.out_of_service, why);
        if !ids.is_empty() {
            notes.push(format!(
                "{} control valve(s) or compressor(s) out of service, {why}: {}",
                ids.len(),
                ids.join(", ")
            ));
        }
    }
    for why in [DECIDED, LOOP, VALVE_BYPASS, LEVELS, TWO_HELD] {
        let ids = ids_for(&operation.closed, why);
        if !ids.is_empty() {
            notes.push(format!("{} valve(s) closed, each {why}: {}", ids.len(), ids.join(", ")));
        }
    }
    // Set points in the order gas reaches the regions: a control valve can
    // only hold what its inlet region gets, so a region fed by control
    // valves holds at most REDUCING_SHARE of what the regions feeding it
    // hold (a compressor boosts: its outlet keeps the region's pressure).
    // All stations feeding one region get its one set point.
    let lowered = order_set_points(
        &mut passive,
        &held,
        &supplies,
        &mut regulators,
        &mut compressors,
        |node, abs| gauge(node, abs),
    );
    if lowered > 0 {
        notes.push(format!(
            "{lowered} control valve set point(s) lowered to {:.0} % of the pressure their inlet region holds",
            100.0 * REDUCING_SHARE
        ));
    }
    // Short pipes that close a loop of short pipes are taken out: the loop
    // is at one pressure anyway, and its circulating flow is undetermined
    // (a singular Newton matrix).
    let mut loops = UnionFind::default();
    let mut dropped = Vec::new();
    for &i in &short_pipes {
        let p = &mut pipes[i];
        if !loops.union(&p.from, &p.to) {
            p.in_service = false;
            dropped.push(p.id.clone());
        }
    }
    if !dropped.is_empty() {
        notes.push(format!(
            "{} short pipe(s) out of service that would close a loop of short pipes: {}",
            dropped.len(),
            dropped.join(", ")
        ));
    }

    let bounds_bar_g = info
        .iter()
        .filter_map(|(id, i)| Some((id.clone(), (gauge(id, i.p_min_abs?), gauge(id, i.p_max_abs?)))))
        .collect();
    let mut imported = Imported {
        file: NetworkFile {
            format: Some(FORMAT_MARKER.to_string()),
            version: FORMAT_VERSION,
            name: name.to_string(),
            gas,
            nodes,
            pipes,
            valves,
            regulators,
            compressors,
            supplies,
            consumers,
            injections: Vec::new(),
            sensors: Vec::new(),
            zones: Vec::new(),
        },
        notes,
        bounds_bar_g,
    };
    fit_entry_pressures(&mut imported);
    Ok(imported)
}

/// Share of nodes with bounds whose solved pressure lies within them, and
/// the largest excess over an upper bound (bar), or `None` if the network
/// does not solve.
fn bounds_check(imported: &Imported) -> Option<(f64, f64)> {
    let network = crate::file::validate::build(imported.file.clone()).ok()?;
    let state = crate::solver::SteadySolver::new(&network, Default::default())
        .solve(&network)
        .ok()?;
    let (mut within, mut counted, mut excess) = (0, 0, 0.0f64);
    for (i, node) in network.nodes.iter().enumerate() {
        let (Some(p), Some(&(lo, hi))) = (
            state.pressure_bar_g(&network, crate::ids::NodeIdx::new(i)),
            imported.bounds_bar_g.get(&node.id),
        ) else {
            continue;
        };
        counted += 1;
        if p >= lo - 1e-6 && p <= hi + 1e-6 {
            within += 1;
        }
        excess = excess.max(p - hi);
    }
    Some((within as f64 / counted.max(1) as f64, excess))
}

/// Entries and compressors hold their region's upper bound; where the
/// solved network then exceeds upper bounds downstream (a compressor in
/// bypass passes its inlet pressure on), entry pressures and compressor set
/// points are lowered by the largest excess (and 0.1 bar), as long as that
/// brings more nodes within their bounds. A few rounds at most; each one a
/// steady solve.
fn fit_entry_pressures(imported: &mut Imported) {
    const MARGIN_BAR: f64 = 0.1;
    let Some((mut share, mut excess)) = bounds_check(imported) else {
        return;
    };
    let mut lowered = 0.0;
    for _ in 0..4 {
        if share >= 1.0 || excess <= 1e-6 {
            break;
        }
        let mut trial = imported.clone();
        for s in &mut trial.file.supplies {
            s.pressure_bar_g -= excess + MARGIN_BAR;
        }
        for c in &mut trial.file.compressors {
            c.outlet_pressure_bar_g -= excess + MARGIN_BAR;
        }
        match bounds_check(&trial) {
            Some((share_t, excess_t)) if share_t > share => {
                lowered += excess + MARGIN_BAR;
                *imported = trial;
                (share, excess) = (share_t, excess_t);
            }
            _ => break,
        }
    }
    if lowered > 0.0 {
        imported.notes.push(format!(
            "entry pressures and compressor set points lowered by {lowered:.2} bar: at their upper bounds the network exceeded upper bounds downstream"
        ));
    }
}

/// The gas of the first source: norm density, temperature, and Z linear
/// in pressure: Papay's Z = 1 − 3.52 p_r e^(−2.256 T_r) + 0.274 p_r² e^(−1.878 T_r)
/// without its quadratic term.
fn gas_of(ctx: &Ctx, source: &Node, notes: &mut Vec<String>) -> Result<GasSpec, GaslibError> {
    let density = ctx.quantity(source, "normDensity").map_or(0.785, |(v, _)| v);
    let temperature_k = match ctx.quantity(source, "gasTemperature") {
        Some((v, "Celsius")) => v + 273.15,
        Some((v, "K")) => v,
        Some((_, other)) => return Err(ctx.err(source, format!("<gasTemperature>: unknown unit '{other}'"))),
        None => 283.15,
    };
    let compressibility = match (
        ctx.quantity(source, "pseudocriticalPressure"),
        ctx.quantity(source, "pseudocriticalTemperature"),
    ) {
        (Some((pc, _)), Some((tc, _))) if pc > 0.0 && tc > 0.0 => CompressibilitySpec::Linear {
            z0: 1.0,
            per_bar: -3.52 * (-2.256 * temperature_k / tc).exp() / pc,
        },
        _ => CompressibilitySpec::Constant { z: 1.0 },
    };
    notes.push(format!(
        "gas: norm density {density} kg/m³, {temperature_k:.2} K, viscosity {VISCOSITY_PA_S} Pa·s, Z linear in pressure (Papay's linear term)"
    ));
    Ok(GasSpec {
        name: "GasLib natural gas".into(),
        density_normal_kg_m3: density,
        viscosity_pa_s: VISCOSITY_PA_S,
        temperature_k,
        compressibility,
    })
}

/// The drag factor ζ that gives a fixed loss of `loss_bar` at `flow_nm3_h`
/// through a connector at absolute pressure `p_abs`.
fn fixed_loss_zeta(gas: &GasSpec, loss_bar: f64, flow_nm3_h: f64, p_abs: f64) -> f64 {
    let d = CONNECTOR_DIAMETER_MM * 1e-3;
    let area = std::f64::consts::PI * d * d / 4.0;
    let m = flow_nm3_h * gas.density_normal_kg_m3 / 3600.0;
    let rho = gas.density_normal_kg_m3 * NORMAL_TEMPERATURE_K * p_abs / (gas.temperature_k * NORMAL_PRESSURE_BAR);
    let v = m / (rho * area);
    if v <= 0.0 {
        return 0.0;
    }
    (loss_bar * 1e5 / (0.5 * rho * v * v)).min(1e6)
}

const DECIDED: &str = "as the decisions file says";
const LOOP: &str = "closes a loop (one pressure, no unique flow split)";
const VALVE_BYPASS: &str = "bypasses a station (closed so the station acts)";
const TWO_HELD: &str = "joins two entries through valves alone";
const LEVELS: &str = "joins regions of different pressure levels";
/// Valves join regions whose lowest upper pressure bounds are at least
/// this ratio of each other.
const LEVEL_RATIO: f64 = 0.5;
const BYPASSED: &str = "inlet and outlet joined by pipes and open valves";
const NO_GAS: &str = "no gas reaches the inlet";
const RING: &str = "would close a ring of stations";
const TWO_SET_POINTS: &str = "outlet joined by open valves to another held pressure";

/// A valve or station between two nodes.
struct Link {
    id: String,
    from: String,
    to: String,
    compressor: bool,
}

impl Link {
    fn new(id: &str, from: &str, to: &str, compressor: bool) -> Self {
        Link {
            id: id.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            compressor,
        }
    }
}

/// Which valves are closed and which stations out of service, and why.
struct Operation {
    closed: HashMap<String, &'static str>,
    out_of_service: HashMap<String, &'static str>,
}

/// Operates the network. Regions are joined by pipes, short pipes and
/// resistors (`passive`), and by the valves this opens: every valve opens
/// unless it closes a loop (one pressure, no unique flow split), runs
/// parallel to a station (its bypass: closed so the station acts), joins
/// regions of different pressure levels (their lowest upper bounds further
/// apart than [`LEVEL_RATIO`]; GasLib separates them by closed valves), or
/// joins two entries through valves alone. Stations then carry gas as it
/// spreads from the entries' regions (compressors first, one feeding each
/// region); the others stay in service unless their inlet and outlet share
/// a region, no gas reaches them, they would close a ring of stations
/// (round a ring the set points cannot all hold), or open valves alone
/// join their outlet to another held pressure (two fixed pressures at one
/// point).
fn operate(
    passive: &mut UnionFind,
    entries: &[&String],
    valves: &[Link],
    stations: &[Link],
    upper_bound: &HashMap<String, f64>,
    decided: &HashMap<String, Decision>,
) -> Operation {
    const HELD: &str = "\u{0}held";
    let mut closed = HashMap::new();
    let mut out_of_service = HashMap::new();
    // The lowest upper bound of each region.
    let mut level: HashMap<String, f64> = HashMap::new();
    for (id, p) in upper_bound {
        cap(&mut level, passive, id, Some(*p));
    }
    let mut ideal = UnionFind::default();
    for id in entries {
        ideal.union(HELD, id);
    }
    for v in valves {
        let (a, b) = (passive.find(&v.from), passive.find(&v.to));
        let (la, lb) = (
            level.get(&a).copied().unwrap_or(f64::INFINITY),
            level.get(&b).copied().unwrap_or(f64::INFINITY),
        );
        let why = if let Some(d) = decided.get(&v.id) {
            (*d == Decision::Closed).then_some(DECIDED)
        } else if a == b {
            Some(LOOP)
        } else if stations.iter().any(|s| {
            let (x, y) = (passive.find(&s.from), passive.find(&s.to));
            (x == a && y == b) || (x == b && y == a)
        }) {
            Some(VALVE_BYPASS)
        } else if la.is_finite() && lb.is_finite() && la.min(lb) < LEVEL_RATIO * la.max(lb) {
            Some(LEVELS)
        } else if ideal.find(&v.from) == ideal.find(HELD) && ideal.find(&v.to) == ideal.find(HELD) {
            Some(TWO_HELD)
        } else {
            None
        };
        match why {
            Some(why) => {
                closed.insert(v.id.clone(), why);
            }
            None => {
                passive.union(&a, &b);
                level.insert(passive.find(&a), la.min(lb));
                ideal.union(&v.from, &v.to);
            }
        }
    }

    for s in stations {
        match decided.get(&s.id) {
            Some(Decision::Closed) => {
                out_of_service.insert(s.id.clone(), DECIDED);
            }
            Some(Decision::Bypass) => {
                passive.union(&s.from, &s.to);
                ideal.union(&s.from, &s.to);
            }
            _ => {}
        }
    }
    let stations: Vec<&Link> = stations
        .iter()
        .filter(|s| !matches!(decided.get(&s.id), Some(Decision::Closed | Decision::Bypass)))
        .collect();
    let mut fed: std::collections::HashSet<String> = entries.iter().map(|id| passive.find(id)).collect();
    let mut ordered: Vec<&Link> = stations.clone();
    ordered.sort_by_key(|s| !s.compressor);
    let mut feeds: Vec<&Link> = Vec::new();
    loop {
        let mut grew = false;
        for s in &ordered {
            let (a, b) = (passive.find(&s.from), passive.find(&s.to));
            if a != b && fed.contains(&a) && !fed.contains(&b) {
                fed.insert(b);
                feeds.push(s);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    // The feeding stations form a forest over the regions; the others
    // join it where they may.
    let mut downstream: HashMap<String, Vec<String>> = HashMap::new();
    let others = ordered.iter().copied().filter(|s| !feeds.iter().any(|f| f.id == s.id));
    for s in feeds.iter().copied().chain(others) {
        let (a, b) = (passive.find(&s.from), passive.find(&s.to));
        let why = if decided.get(&s.id) == Some(&Decision::Active) {
            ideal.union(HELD, &s.to);
            None
        } else if a == b {
            Some(BYPASSED)
        } else if !fed.contains(&a) {
            Some(NO_GAS)
        } else if reaches(&downstream, &b, &a) {
            Some(RING)
        } else if !ideal.union(HELD, &s.to) {
            Some(TWO_SET_POINTS)
        } else {
            None
        };
        match why {
            Some(why) => {
                out_of_service.insert(s.id.clone(), why);
            }
            None => downstream.entry(a).or_default().push(b),
        }
    }
    Operation { closed, out_of_service }
}

/// What a `.cdf` decision says of a valve or station.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Open,
    Closed,
    Active,
    Bypass,
}

/// The first decision of each group of a `.cdf` combined-decisions file:
/// valves open (1) or closed (0), control valves and compressor stations
/// closed (0), active or in bypass; and the ids it names that the network
/// does not have.
fn combined_decisions(
    text: &str,
    file: &str,
    connections: &[(Node, &str, String, String, String)],
) -> Result<(HashMap<String, Decision>, Vec<String>), GaslibError> {
    let doc = parse(text, file)?;
    let ctx = Ctx { file };
    let mut out = HashMap::new();
    let mut unknown = Vec::new();
    for group in doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "decisionGroup")
    {
        let Some(first) = group
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "decision")
        else {
            continue;
        };
        for e in first.children().filter(|n| n.is_element()) {
            let tag = e.tag_name().name();
            let id = e.attribute("id").ok_or_else(|| ctx.err(&e, "no id"))?;
            if !connections.iter().any(|(_, t, cid, ..)| *t == tag && cid == id) {
                unknown.push(id.to_string());
                continue;
            }
            let decision = match (tag, e.attribute("value"), e.attribute("mode")) {
                ("valve", Some("1"), _) => Decision::Open,
                (_, Some("0"), _) => Decision::Closed,
                (_, Some("1"), Some("bypass")) => Decision::Bypass,
                (_, Some("1"), _) => Decision::Active,
                (_, other, _) => return Err(ctx.err(&e, format!("value {other:?}: expected 0 or 1"))),
            };
            out.insert(id.to_string(), decision);
        }
    }
    Ok((out, unknown))
}

/// The ids decided for `why`, in natural order.
fn ids_for<'a>(decided: &'a HashMap<String, &'static str>, why: &str) -> Vec<&'a str> {
    let mut ids: Vec<&str> = decided
        .iter()
        .filter(|(_, w)| **w == why)
        .map(|(id, _)| id.as_str())
        .collect();
    ids.sort_unstable_by_key(|id| natural_key(id));
    ids
}

/// Orders ids like "valve_9" before "valve_10".
fn natural_key(id: &str) -> (String, u64) {
    let digits = id.len() - id.bytes().rev().take_while(u8::is_ascii_digit).count();
    (id[..digits].to_string(), id[digits..].parse().unwrap_or(0))
}

/// Share of the inlet region's pressure a control valve can hold at its
/// outlet: what is left after the inlet region's own pressure drop.
const REDUCING_SHARE: f64 = 0.95;

/// Sets the outlet pressure of every station in service, region by region
/// in topological order of the stations (they form no ring here): a region
/// holds its `held` pressure (absolute), capped at [`REDUCING_SHARE`] of
/// the pressure held by each region that feeds it through a control valve;
/// regions with an entry keep their pressure. Returns how many control
/// valves got a lower set point than their region's bound.
fn order_set_points(
    passive: &mut UnionFind,
    held: &HashMap<String, f64>,
    supplies: &[SupplySpec],
    regulators: &mut [RegulatorSpec],
    compressors: &mut [RegulatorSpec],
    gauge: impl Fn(&str, f64) -> f64,
) -> usize {
    // (from region, to region, is a compressor, index)
    let mut edges = Vec::new();
    for (kind, list) in [(false, &*regulators), (true, &*compressors)] {
        for (i, r) in list.iter().enumerate().filter(|(_, r)| r.in_service) {
            edges.push((passive.find(&r.from), passive.find(&r.to), kind, i));
        }
    }
    let entry_regions: std::collections::HashSet<String> = supplies.iter().map(|s| passive.find(&s.node)).collect();
    let mut indegree: HashMap<&str, usize> = HashMap::new();
    for (a, b, ..) in &edges {
        indegree.entry(a.as_str()).or_insert(0);
        *indegree.entry(b.as_str()).or_insert(0) += 1;
    }
    let mut ready: Vec<&str> = indegree.iter().filter(|(_, d)| **d == 0).map(|(r, _)| *r).collect();
    ready.sort_unstable();
    let mut holds: HashMap<&str, f64> = HashMap::new();
    let mut lowered = 0;
    while let Some(region) = ready.pop() {
        let bound = held.get(region).copied().unwrap_or(f64::INFINITY);
        let mut p = bound;
        if !entry_regions.contains(region) {
            for (a, _, compressor, _) in edges.iter().filter(|(_, b, ..)| b == region) {
                if !compressor && let Some(up) = holds.get(a.as_str()) {
                    p = p.min(REDUCING_SHARE * up);
                }
            }
        }
        holds.insert(region, p);
        for (_, _, compressor, i) in edges.iter().filter(|(_, b, ..)| b == region) {
            let r = if *compressor {
                &mut compressors[*i]
            } else {
                &mut regulators[*i]
            };
            if p.is_finite() {
                if !compressor && p < bound {
                    lowered += 1;
                }
                r.outlet_pressure_bar_g = gauge(&r.to, p);
            }
        }
        for (_, b, ..) in edges.iter().filter(|(a, ..)| a == region) {
            let d = indegree.get_mut(b.as_str()).expect("counted");
            *d -= 1;
            if *d == 0 {
                ready.push(b.as_str());
            }
        }
    }
    lowered
}

/// Lowers the pressure `by_region` records for `node`'s region to `p`
/// (a region without a record starts unbounded).
fn cap(by_region: &mut HashMap<String, f64>, passive: &mut UnionFind, node: &str, p: Option<f64>) {
    let v = by_region.entry(passive.find(node)).or_insert(f64::INFINITY);
    if let Some(p) = p {
        *v = v.min(p);
    }
}

/// Whether `to` can be reached from `from` along `edges`.
fn reaches(edges: &HashMap<String, Vec<String>>, from: &str, to: &str) -> bool {
    let mut stack = vec![from];
    let mut seen = std::collections::HashSet::new();
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        if seen.insert(x) {
            stack.extend(edges.get(x).into_iter().flatten().map(String::as_str));
        }
    }
    false
}

/// Disjoint sets of node ids.
#[derive(Default)]
struct UnionFind(HashMap<String, String>);

impl UnionFind {
    fn find(&mut self, a: &str) -> String {
        let mut x = a.to_string();
        loop {
            let parent = self.0.entry(x.clone()).or_insert_with(|| x.clone()).clone();
            if parent == x {
                return x;
            }
            x = parent;
        }
    }

    /// Joins the sets of `a` and `b`; false if they were already one.
    fn union(&mut self, a: &str, b: &str) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        self.0.insert(ra, rb);
        true
    }
}

struct Nomination {
    flow_nm3_h: HashMap<String, f64>,
    p_max_abs: HashMap<String, f64>,
}

/// Flows (and entry pressure bounds) of a `.scn` nomination.
fn nomination(text: &str, file: &str, info: &HashMap<String, NodeInfo>) -> Result<Nomination, GaslibError> {
    let doc = parse(text, file)?;
    let ctx = Ctx { file };
    let mut nom = Nomination {
        flow_nm3_h: HashMap::new(),
        p_max_abs: HashMap::new(),
    };
    for n in doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "node")
    {
        let id = n.attribute("id").ok_or_else(|| ctx.err(&n, "no id"))?;
        let Some(node) = info.get(id) else {
            return Err(ctx.err(&n, "not a node of the network"));
        };
        // "both", or the middle of "lower" and "upper".
        let mut lower = None;
        let mut upper = None;
        for f in n.children().filter(|c| c.is_element()) {
            let value = || -> Result<f64, GaslibError> {
                f.attribute("value")
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| ctx.err(&n, format!("<{}> without a numeric value", f.tag_name().name())))
            };
            match (f.tag_name().name(), f.attribute("bound")) {
                ("flow", Some("both")) => {
                    let v = ctx.flow_nm3_h(&n, value()?, f.attribute("unit").unwrap_or(""))?;
                    lower = Some(v);
                    upper = Some(v);
                }
                ("flow", Some("lower")) => {
                    lower = Some(ctx.flow_nm3_h(&n, value()?, f.attribute("unit").unwrap_or(""))?)
                }
                ("flow", Some("upper")) => {
                    upper = Some(ctx.flow_nm3_h(&n, value()?, f.attribute("unit").unwrap_or(""))?)
                }
                ("pressure", Some("upper")) => {
                    let v = value()?;
                    let abs = match f.attribute("unit") {
                        Some("bar") => v,
                        Some("barg") => v + ambient_pressure_bar(node.height_m),
                        other => return Err(ctx.err(&n, format!("<pressure>: unknown unit '{other:?}'"))),
                    };
                    nom.p_max_abs.insert(id.to_string(), abs);
                }
                _ => {}
            }
        }
        if let (Some(l), Some(u)) = (lower, upper) {
            nom.flow_nm3_h.insert(id.to_string(), 0.5 * (l + u));
        }
    }
    Ok(nom)
}
