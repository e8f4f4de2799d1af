//! The network for maps: GeoJSON of nodes, pipes, valves, regulators,
//! stations and users, and the sensor catalog; both built once at start.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use linepack_network::Network;
use linepack_network::ids::ElementRef;
use linepack_network::network::SensorKind;
use serde::Serialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState, Caller, Role};
use crate::engine::Engine;

/// One sensor as the page and integrations see it.
#[derive(Clone, Debug, Serialize)]
pub struct SensorEntry {
    pub id: String,
    pub kind: &'static str,
    /// Internal unit of its values.
    pub unit: &'static str,
    /// The element it is at (a node, pipe, regulator, supply, consumer).
    pub at: String,
    /// The node it measures at.
    pub node: Option<String>,
    pub zone: Option<String>,
}

/// What does not change while the engine runs.
pub struct Catalog {
    pub sensors: Vec<SensorEntry>,
    /// Sensor index by id.
    pub sensor_index: std::collections::HashMap<String, usize>,
    /// The GeoJSON text.
    pub geojson: String,
}

pub fn kind_and_unit(kind: SensorKind) -> (&'static str, &'static str) {
    match kind {
        SensorKind::Pressure => ("pressure", "bar_g"),
        SensorKind::Flow => ("flow", "kg/s"),
        SensorKind::Temperature => ("temperature", "K"),
        SensorKind::GasDetector => ("gas_detector", "%LEL"),
        SensorKind::ShutoffValve => ("shutoff_valve", "open"),
    }
}

impl Catalog {
    pub fn new(network: &Network, engine: &Engine) -> Catalog {
        let table = &engine.table;
        let sensors: Vec<SensorEntry> = network
            .sensors
            .iter()
            .zip(&table.info)
            .map(|(s, info)| {
                let (kind, unit) = kind_and_unit(s.kind);
                SensorEntry {
                    id: s.id.clone(),
                    kind,
                    unit,
                    at: network.id_of(s.at).to_string(),
                    node: info.node.map(|n| network.nodes[n.index()].id.clone()),
                    zone: info.zone.map(|z| table.zone_names[z as usize].clone()),
                }
            })
            .collect();
        let sensor_index = sensors.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        Catalog {
            geojson: build_geojson(network, engine, &sensors).to_string(),
            sensors,
            sensor_index,
        }
    }
}

/// A FeatureCollection in the network's own coordinates (projected metres,
/// kilometres or lon/lat, as the file gives them; `crs` says which is
/// unknown). Nodes without coordinates are left out, and so are links
/// touching them. `index` is the element's position, the key into
/// `/api/network/state`.
fn build_geojson(network: &Network, engine: &Engine, sensors: &[SensorEntry]) -> Value {
    let xy = |n: usize| Some([network.nodes[n].x?, network.nodes[n].y?]);
    let zone_of = |n: usize| engine.table.node_zone[n].map(|z| engine.table.zone_names[z as usize].clone());
    let mut sensors_at: Vec<Vec<&str>> = vec![Vec::new(); network.nodes.len()];
    for s in sensors {
        if let Some(node) = s.node.as_deref().and_then(|id| network.find_node(id)) {
            sensors_at[node.index()].push(&s.id);
        }
    }
    let mut features = Vec::new();
    for (i, n) in network.nodes.iter().enumerate() {
        if let Some(p) = xy(i) {
            features.push(json!({
                "type": "Feature", "id": n.id,
                "geometry": {"type": "Point", "coordinates": p},
                "properties": {"element": "node", "index": i, "zone": zone_of(i),
                               "elevation_m": n.elevation_m, "sensors": sensors_at[i]},
            }));
        }
    }
    let mut link = |element: &str, i: usize, id: &str, from: usize, to: usize, extra: Value| {
        if let (Some(a), Some(b)) = (xy(from), xy(to)) {
            let mut props = json!({"element": element, "index": i, "from": network.nodes[from].id,
                                   "to": network.nodes[to].id, "zone": zone_of(from)});
            if let (Value::Object(p), Value::Object(e)) = (&mut props, extra) {
                p.extend(e);
            }
            features.push(json!({
                "type": "Feature", "id": id,
                "geometry": {"type": "LineString", "coordinates": [a, b]},
                "properties": props,
            }));
        }
    };
    for (i, p) in network.pipes.iter().enumerate() {
        let extra = json!({"length_m": p.length_m, "diameter_mm": p.diameter_mm, "in_service": p.in_service});
        link("pipe", i, &p.id, p.from.index(), p.to.index(), extra);
    }
    for (i, v) in network.valves.iter().enumerate() {
        link("valve", i, &v.id, v.from.index(), v.to.index(), json!({"open": v.open}));
    }
    for (i, r) in network.regulators.iter().enumerate() {
        let extra = json!({"outlet_pressure_bar_g": r.outlet_pressure_bar_g, "in_service": r.in_service});
        link("regulator", i, &r.id, r.from.index(), r.to.index(), extra);
    }
    for (i, s) in network.supplies.iter().enumerate() {
        if let Some(p) = xy(s.node.index()) {
            features.push(json!({
                "type": "Feature", "id": s.id,
                "geometry": {"type": "Point", "coordinates": p},
                "properties": {"element": "supply", "index": i, "node": network.nodes[s.node.index()].id,
                               "kind": format!("{:?}", s.kind).to_lowercase(), "pressure_bar_g": s.pressure_bar_g},
            }));
        }
    }
    let mut devices_at: Vec<Vec<&str>> = vec![Vec::new(); network.consumers.len()];
    for s in &network.sensors {
        if let ElementRef::Consumer(c) = s.at {
            devices_at[c.index()].push(&s.id);
        }
    }
    for (i, c) in network.consumers.iter().enumerate() {
        if let Some(p) = xy(c.node.index()) {
            features.push(json!({
                "type": "Feature", "id": c.id,
                "geometry": {"type": "Point", "coordinates": p},
                "properties": {"element": "consumer", "index": i, "node": network.nodes[c.node.index()].id,
                               "kind": format!("{:?}", c.kind).to_lowercase(), "zone": zone_of(c.node.index()),
                               "sensors": devices_at[i]},
            }));
        }
    }
    json!({
        "type": "FeatureCollection",
        "name": network.name,
        "crs_note": "coordinates as in the network file (x, y): projected units or lon/lat",
        "features": features,
    })
}

pub async fn geojson(caller: Caller, State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        s.catalog.geojson.clone(),
    ))
}

/// The model's pressures and flows, indexed like the GeoJSON's `index`.
pub async fn state(caller: Caller, State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let state = s
        .view
        .network_state()
        .ok_or_else(|| ApiError::Unavailable("the model has no state yet (first period not judged)".into()))?;
    Ok(Json((*state).clone()))
}

pub async fn sensors(caller: Caller, State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(json!({ "sensors": s.catalog.sensors })))
}
