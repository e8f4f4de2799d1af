//! Small builders for hand-made test networks.

use std::path::Path;

use serde_json::{Value, json};

use crate::Network;
use crate::file::{Format, parse};

/// A network from shorthand: `nodes` are ids (elevation 0), `pipes` are
/// `[id, from, to, length_m, diameter_mm]`; every other array is given in
/// file form under `extra` (valves, regulators, supplies, consumers, ...).
pub fn network(nodes: &[&str], pipes: &[(&str, &str, &str, f64, f64)], extra: Value) -> Network {
    let mut v = json!({
        "version": 1,
        "name": "test",
        "gas": {"name": "ng", "density_normal_kg_m3": 0.8, "viscosity_pa_s": 1.1e-5, "temperature_k": 283.15,
                "compressibility": {"model": "constant", "z": 1.0}},
        "nodes": nodes.iter().map(|id| json!({"id": id, "elevation_m": 0.0})).collect::<Vec<_>>(),
        "pipes": pipes.iter().map(|(id, f, t, l, d)| json!({
            "id": id, "from": f, "to": t, "length_m": l, "diameter_mm": d, "roughness_mm": 0.1
        })).collect::<Vec<_>>(),
    });
    for (k, val) in extra.as_object().expect("extra is an object") {
        v[k] = val.clone();
    }
    parse(&v.to_string(), Format::Json, Path::new("test.json")).unwrap_or_else(|e| panic!("{e}"))
}
