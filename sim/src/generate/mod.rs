//! Network generators: synthetic but plausible city distribution networks
//! for the demo, tests and benches.
//!
//! [`city`] lays a city the way gas utilities build one: a medium-pressure
//! trunk (MP-A, 4 bar g) of mains along every tenth street of a jittered
//! square grid (150 m blocks), fed by city gate and LNG stations through
//! station regulators, with section valves; and districts, the blocks of
//! streets between trunk mains, each a meshed MP-B network (1.5 bar g) fed
//! from the trunk through one or two metered district regulators, and
//! separate from its neighbours. Homes and shops are on the district
//! networks, plants on the trunk. Stations and district regulators report
//! flow and pressure; a pressure sensor sits on about one node in 40;
//! commercial and industrial users, and one home in ten, have the
//! three-piece safety set (gas detector, automatic shut-off valve), plants
//! and some shops a flow meter (every user with `smart_meters`). Each district is a balance zone bounded by
//! its regulators' meters, and the trunk is one more (`Z-MP`). The same
//! configuration and seed always give the same file.

use linepack_network::file::schema::*;
use linepack_network::network::{ConsumerKind, SensorKind, SupplyKind};

use crate::rng::Rng;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct CityConfig {
    /// Grid junctions to lay out; stations and valves add a few more nodes.
    pub nodes: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Set point of the station regulators: the trunk (MP-A), bar g. Default 4.0.
    pub grid_pressure_bar_g: f64,
    /// Set point of the district regulators (MP-B), bar g. Default 1.5.
    pub district_pressure_bar_g: f64,
    /// Pressure at the stations' inlets (the transmission side), bar g. Default 10.0.
    pub inlet_pressure_bar_g: f64,
    /// Every user has a flow meter reporting with the telemetry (smart
    /// meters, AMI), not only plants and some shops. Default false.
    pub smart_meters: bool,
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig {
            nodes: 2500,
            seed: 1,
            grid_pressure_bar_g: 4.0,
            district_pressure_bar_g: 1.5,
            inlet_pressure_bar_g: 10.0,
            smart_meters: false,
        }
    }
}

/// Grid spacing (a street block), m.
const SPACING_M: f64 = 150.0;
/// Trunk mains run along every this many grid lines; districts lie between.
const TRUNK_EVERY: usize = 10;
/// Grid nodes per station.
const NODES_PER_STATION: usize = 1000;
/// Chance that a street closing a loop is laid (the rest of a district is a
/// spanning tree): the mesh density.
const LOOP_CHANCE: f64 = 0.4;
/// Districts with at least this many nodes get a second feed.
const TWO_FEEDS_FROM: usize = 20;

/// Generates a city network (see the module docs).
pub fn city(config: &CityConfig) -> NetworkFile {
    let mut rng = Rng::new(config.seed);
    let cols = (config.nodes.max(4) as f64).sqrt().ceil() as usize;
    let rows = config.nodes.max(4).div_ceil(cols);
    let grid_id = |r: usize, c: usize| format!("N{}", r * cols + c);
    let trunk_line = |i: usize| i.is_multiple_of(TRUNK_EVERY);
    let on_trunk = |(r, c): (usize, usize)| trunk_line(r) || trunk_line(c);
    // Districts: the blocks between trunk lines.
    let district_cols = cols.div_ceil(TRUNK_EVERY);
    let district_of = |(r, c): (usize, usize)| (r / TRUNK_EVERY) * district_cols + c / TRUNK_EVERY;
    let n_districts = rows.div_ceil(TRUNK_EVERY) * district_cols;

    let mut nodes = Vec::with_capacity(rows * cols + 64);
    for r in 0..rows {
        for c in 0..cols {
            let x = c as f64 * SPACING_M + rng.range(-20.0, 20.0);
            let y = r as f64 * SPACING_M + rng.range(-20.0, 20.0);
            nodes.push(NodeSpec {
                id: grid_id(r, c),
                elevation_m: elevation_m(x, y),
                temperature_k: None,
                x: Some(round(x)),
                y: Some(round(y)),
            });
        }
    }

    // Streets: trunk mains along the trunk lines; inside a district, a
    // random spanning tree and some more streets to close loops. Streets
    // from a district to the trunk are not laid: districts take gas only
    // through their regulators.
    struct Street {
        a: (usize, usize),
        b: (usize, usize),
        trunk: bool,
    }
    let mut streets = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            for b in [(r, c + 1), (r + 1, c)] {
                if b.0 >= rows || b.1 >= cols {
                    continue;
                }
                let a = (r, c);
                let trunk = (b.0 == r && trunk_line(r)) || (b.1 == c && trunk_line(c));
                let district = !on_trunk(a) && !on_trunk(b) && district_of(a) == district_of(b);
                if trunk || district {
                    streets.push(Street { a, b, trunk });
                }
            }
        }
    }
    rng.shuffle(&mut streets);
    streets.sort_by_key(|s| !s.trunk); // stable: trunks first, the rest in shuffled order
    let mut sets = UnionFind::new(rows * cols);
    let mut pipes = Vec::new();
    let mut valves = Vec::new();
    let mut trunk_extra: Vec<String> = Vec::new();
    let mut trunk_count = 0usize;
    for s in &streets {
        let (ia, ib) = (s.a.0 * cols + s.a.1, s.b.0 * cols + s.b.1);
        let joins = sets.union(ia, ib);
        if !(s.trunk || joins || rng.chance(LOOP_CHANCE)) {
            continue;
        }
        let (from, to) = (grid_id(s.a.0, s.a.1), grid_id(s.b.0, s.b.1));
        let length = distance(&nodes[ia], &nodes[ib]);
        let id = format!("P{}", pipes.len() + valves.len());
        if s.trunk {
            trunk_count += 1;
            // A section valve on every fifth trunk segment, at its far end.
            if trunk_count.is_multiple_of(5) {
                let mid = format!("{id}v");
                let mut node = nodes[ib].clone();
                node.id = mid.clone();
                nodes.push(node);
                trunk_extra.push(mid.clone());
                pipes.push(pipe(&id, &from, &mid, length, 300.0));
                valves.push(ValveSpec {
                    id: format!("V{}", valves.len()),
                    from: mid,
                    to,
                    open: true,
                    diameter_mm: 300.0,
                    loss_coefficient: 0.2,
                });
                continue;
            }
            pipes.push(pipe(&id, &from, &to, length, 300.0));
        } else {
            // PE mains: inner diameters of 75 to 160 mm pipes (SDR 11).
            let d = [61.4, 73.6, 90.0, 110.2, 130.8][rng.below(5)];
            pipes.push(pipe(&id, &from, &to, length, d));
        }
    }

    // Stations at trunk crossings, spread evenly; every fourth is LNG.
    let crossings: Vec<(usize, usize)> = (0..rows)
        .filter(|&r| trunk_line(r))
        .flat_map(|r| (0..cols).filter(|&c| trunk_line(c)).map(move |c| (r, c)))
        .collect();
    let n_stations = (rows * cols).div_ceil(NODES_PER_STATION).clamp(1, crossings.len());
    let mut supplies = Vec::new();
    let mut regulators = Vec::new();
    let mut sensors = Vec::new();
    for k in 0..n_stations {
        let (r, c) = crossings[(k * crossings.len()) / n_stations + crossings.len() / (2 * n_stations)];
        let outlet = grid_id(r, c);
        let inlet = format!("ST{k}-in");
        let mut node = nodes[r * cols + c].clone();
        node.id = inlet.clone();
        nodes.push(node);
        trunk_extra.push(inlet.clone());
        let lng = k % 4 == 3;
        supplies.push(SupplySpec {
            id: format!("ST{k}"),
            node: inlet.clone(),
            pressure_bar_g: if lng {
                config.inlet_pressure_bar_g * 0.6
            } else {
                config.inlet_pressure_bar_g
            },
            kind: if lng { SupplyKind::Lng } else { SupplyKind::CityGate },
            in_service: true,
        });
        regulators.push(RegulatorSpec {
            id: format!("ST{k}-reg"),
            from: inlet,
            to: outlet.clone(),
            outlet_pressure_bar_g: config.grid_pressure_bar_g,
            in_service: true,
        });
        sensors.push(sensor(&format!("PT-ST{k}"), SensorKind::Pressure, &outlet));
        sensors.push(sensor(&format!("FT-ST{k}"), SensorKind::Flow, &format!("ST{k}")));
        sensors.push(sensor(&format!("TT-ST{k}"), SensorKind::Temperature, &outlet));
    }

    // District regulators: from the trunk line west of the district at its
    // middle row, and for larger districts also from the trunk line north
    // of it at its middle column. Each reports its flow and outlet pressure.
    let mut district_nodes: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_districts];
    for r in 0..rows {
        for c in 0..cols {
            if !on_trunk((r, c)) {
                district_nodes[district_of((r, c))].push((r, c));
            }
        }
    }
    for (z, members) in district_nodes.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let (r_lo, r_hi) = (
            members.iter().map(|m| m.0).min().unwrap_or(0),
            members.iter().map(|m| m.0).max().unwrap_or(0),
        );
        let (c_lo, c_hi) = (
            members.iter().map(|m| m.1).min().unwrap_or(0),
            members.iter().map(|m| m.1).max().unwrap_or(0),
        );
        let (rm, cm) = ((r_lo + r_hi) / 2, (c_lo + c_hi) / 2);
        let mut feeds = vec![((rm, c_lo - 1), (rm, c_lo))];
        if members.len() >= TWO_FEEDS_FROM {
            feeds.push(((r_lo - 1, cm), (r_lo, cm)));
        }
        for (k, (from, to)) in feeds.into_iter().enumerate() {
            let id = format!("R{z}{}", ["a", "b"][k]);
            let outlet = grid_id(to.0, to.1);
            regulators.push(RegulatorSpec {
                id: id.clone(),
                from: grid_id(from.0, from.1),
                to: outlet.clone(),
                outlet_pressure_bar_g: config.district_pressure_bar_g,
                in_service: true,
            });
            sensors.push(sensor(&format!("FT-{id}"), SensorKind::Flow, &id));
            sensors.push(sensor(&format!("PT-{id}"), SensorKind::Pressure, &outlet));
        }
    }

    // Users. A district node stands for a street block of homes (10 to 40
    // households) or sometimes a shop or restaurant; plants sit on the trunk.
    let mut consumers = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let node = grid_id(r, c);
            let draw = rng.unit();
            let trunk = on_trunk((r, c));
            let (kind, nm3_h) = if trunk {
                if trunk_line(r) && trunk_line(c) || draw >= 0.03 {
                    continue;
                }
                (ConsumerKind::Industrial, rng.range(100.0, 600.0))
            } else if draw < 0.08 {
                (ConsumerKind::Commercial, rng.range(10.0, 80.0))
            } else if draw < 0.93 {
                (ConsumerKind::Residential, rng.range(5.0, 30.0))
            } else {
                continue;
            };
            let id = format!("C{}", consumers.len());
            let safety_set = kind != ConsumerKind::Residential || rng.chance(0.1);
            if safety_set {
                sensors.push(sensor(&format!("GD-{id}"), SensorKind::GasDetector, &id));
                sensors.push(sensor(&format!("SV-{id}"), SensorKind::ShutoffValve, &id));
            }
            // Smart meters add meters; every other draw stays the same, so a
            // city with them is the same city.
            let metered = kind == ConsumerKind::Industrial || (kind == ConsumerKind::Commercial && rng.chance(0.3));
            if metered || config.smart_meters {
                sensors.push(sensor(&format!("FT-{id}"), SensorKind::Flow, &id));
            }
            consumers.push(ConsumerSpec {
                id,
                node,
                kind,
                demand_kg_s: None,
                demand_nm3_h: Some(round(nm3_h)),
                min_pressure_bar_g: None,
                in_service: true,
            });
        }
    }
    // Pressure sensors on about one grid node in 40.
    for i in (0..rows * cols).filter(|i| i % 40 == 17) {
        sensors.push(sensor(&format!("PT-N{i}"), SensorKind::Pressure, &format!("N{i}")));
    }

    // Balance zones: each district, and the trunk.
    let mut zones: Vec<ZoneSpec> = district_nodes
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.is_empty())
        .map(|(z, m)| ZoneSpec {
            id: format!("Z{z}"),
            nodes: m.iter().map(|&(r, c)| grid_id(r, c)).collect(),
        })
        .collect();
    let mut trunk_nodes: Vec<String> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .filter(|&rc| on_trunk(rc))
        .map(|(r, c)| grid_id(r, c))
        .collect();
    trunk_nodes.extend(trunk_extra);
    zones.push(ZoneSpec {
        id: "Z-MP".into(),
        nodes: trunk_nodes,
    });

    NetworkFile {
        format: Some(FORMAT_MARKER.to_string()),
        version: FORMAT_VERSION,
        name: format!("city-{}-seed{}", config.nodes, config.seed),
        gas: GasSpec {
            name: "natural gas (H)".into(),
            density_normal_kg_m3: 0.79,
            viscosity_pa_s: 1.1e-5,
            temperature_k: 283.15,
            compressibility: CompressibilitySpec::Linear {
                z0: 1.0,
                per_bar: -0.0022,
            },
        },
        nodes,
        pipes,
        valves,
        regulators,
        compressors: Vec::new(),
        supplies,
        consumers,
        injections: Vec::new(),
        sensors,
        zones,
    }
}

fn pipe(id: &str, from: &str, to: &str, length_m: f64, diameter_mm: f64) -> PipeSpec {
    PipeSpec {
        id: id.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        length_m,
        diameter_mm,
        roughness_mm: 0.05,
        loss_coefficient: 0.0,
        in_service: true,
    }
}

fn sensor(id: &str, kind: SensorKind, at: &str) -> SensorSpec {
    SensorSpec {
        id: id.to_string(),
        kind,
        at: at.to_string(),
    }
}

/// Gentle hills: ±30 m over a few kilometres.
fn elevation_m(x: f64, y: f64) -> f64 {
    round(40.0 + 25.0 * (x / 1700.0).sin() * (y / 2300.0).cos() + 5.0 * (x / 600.0 + y / 900.0).sin())
}

fn distance(a: &NodeSpec, b: &NodeSpec) -> f64 {
    let (dx, dy) = (
        a.x.unwrap_or(0.0) - b.x.unwrap_or(0.0),
        a.y.unwrap_or(0.0) - b.y.unwrap_or(0.0),
    );
    round((dx * dx + dy * dy).sqrt().max(1.0))
}

/// Rounds to 0.01 so files stay short and readable.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Disjoint sets for the spanning tree.
struct UnionFind(Vec<usize>);

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind((0..n).collect())
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    /// Joins the sets of `a` and `b`; false if they were already one.
    fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        self.0[ra] = rb;
        true
    }
}

#[cfg(test)]
mod tests;
