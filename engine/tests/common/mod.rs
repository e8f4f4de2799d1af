//! What the engine's integration tests share: a small network with every
//! kind of sensor.

#![allow(dead_code)]

/// Station S feeds A; A–B–N in a line; valve V (closed) to X; user C at N
/// with a flow meter, gas detector and shut-off valve. Zones Z1 (A, B, N)
/// and Z2 (X).
pub const NETWORK_JSON: &str = r#"{
        "version": 1, "name": "engine-test",
        "gas": {"name": "ng", "density_normal_kg_m3": 0.8, "viscosity_pa_s": 1.1e-5, "temperature_k": 283.15,
                "compressibility": {"model": "constant", "z": 1.0}},
        "nodes": [{"id": "A", "elevation_m": 0}, {"id": "B", "elevation_m": 0}, {"id": "N", "elevation_m": 0},
                  {"id": "X", "elevation_m": 0}],
        "pipes": [{"id": "P1", "from": "A", "to": "B", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.1},
                  {"id": "P2", "from": "B", "to": "N", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.1}],
        "valves": [{"id": "V", "from": "N", "to": "X", "open": false, "diameter_mm": 100}],
        "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"}],
        "consumers": [{"id": "C", "node": "N", "kind": "commercial", "demand_kg_s": 0.01}],
        "sensors": [
            {"id": "PT-A", "kind": "pressure", "at": "A"},
            {"id": "PT-B", "kind": "pressure", "at": "B"},
            {"id": "PT-N", "kind": "pressure", "at": "N"},
            {"id": "PT-X", "kind": "pressure", "at": "X"},
            {"id": "FT-C", "kind": "flow", "at": "C"},
            {"id": "GD-C", "kind": "gas_detector", "at": "C"},
            {"id": "SV-C", "kind": "shutoff_valve", "at": "C"}
        ],
        "zones": [{"id": "Z1", "nodes": ["A", "B", "N"]}, {"id": "Z2", "nodes": ["X"]}]
    }"#;

/// Monday 2026-11-23 00:00 UTC, ms.
pub const T0: i64 = 1_795_392_000_000;
