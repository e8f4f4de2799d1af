//! Every validation error has a test: the error names the file, the element
//! and what is wrong, and nothing is loaded.

use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::ElementRef;

/// A small valid network: S feeds A, pipe P1 A→B, consumer C at B, valve V
/// B→D, sensor and zone.
fn base() -> Value {
    json!({
        "format": "linepack-network",
        "version": 1,
        "name": "t",
        "gas": {"name": "ng", "density_normal_kg_m3": 0.8, "viscosity_pa_s": 1.1e-5, "temperature_k": 283.15,
                "compressibility": {"model": "linear", "z0": 1.0, "per_bar": -0.0022}},
        "nodes": [{"id": "A", "elevation_m": 0}, {"id": "B", "elevation_m": 10}, {"id": "D", "elevation_m": 10}],
        "pipes": [{"id": "P1", "from": "A", "to": "B", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.1}],
        "valves": [{"id": "V", "from": "B", "to": "D", "open": true, "diameter_mm": 100}],
        "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"}],
        "consumers": [{"id": "C", "node": "B", "kind": "residential", "demand_nm3_h": 36}],
        "sensors": [{"id": "PT1", "kind": "pressure", "at": "B"}],
        "zones": [{"id": "Z", "nodes": ["A", "B"]}]
    })
}

fn load_json(v: &Value) -> Result<Network, LoadError> {
    parse(&v.to_string(), Format::Json, Path::new("net.json"))
}

/// Loads `v` and returns its single validation problem, checking the file is named.
fn problem(v: &Value) -> Problem {
    let err = load_json(v).expect_err("the file must be refused");
    let text = err.to_string();
    assert!(text.contains("net.json"), "error must name the file: {text}");
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "expected one problem, got: {text}");
    problems[0].clone()
}

fn assert_problem(v: &Value, element: &str, field: Option<&str>, words: &str) {
    let p = problem(v);
    assert_eq!(p.element.as_deref(), Some(element), "{p}");
    assert_eq!(p.field.as_deref(), field, "{p}");
    assert!(p.message.contains(words), "'{}' should mention '{words}'", p.message);
}

#[test]
fn the_base_network_loads_with_units_converted() {
    let n = load_json(&base()).unwrap();
    assert_eq!(n.nodes.len(), 3);
    // 36 Nm³/h at 0.8 kg/Nm³ = 0.008 kg/s.
    assert!((n.consumers[0].demand_kg_s - 0.008).abs() < 1e-15);
    assert_eq!(n.find("V"), Some(ElementRef::Valve(crate::ids::ValveIdx::new(0))));
    assert_eq!(n.sensors[0].at, ElementRef::Node(n.find_node("B").unwrap()));
    assert!(n.pipes[0].in_service, "in_service defaults to true");
    assert_eq!(n.pipes[0].loss_coefficient, 0.0);
}

#[test]
fn toml_loads_the_same_network() {
    let file: NetworkFile = serde_json::from_value(base()).unwrap();
    let text = to_string(&file, Format::Toml);
    let n = parse(&text, Format::Toml, Path::new("net.toml")).unwrap();
    assert_eq!(n.nodes, load_json(&base()).unwrap().nodes);
}

#[test]
fn unknown_key_is_refused_naming_the_element() {
    let mut v = base();
    v["pipes"][0]["lenght_m"] = json!(5);
    let p = problem(&v);
    assert_eq!(p.element.as_deref(), Some("pipe 'P1'"));
    assert!(p.message.contains("unknown field `lenght_m`"), "{p}");
}

#[test]
fn unknown_top_level_key_is_refused() {
    let mut v = base();
    v["sensor"] = json!([]);
    assert!(problem(&v).message.contains("unknown field `sensor`"));
}

#[test]
fn wrong_type_names_the_field() {
    let mut v = base();
    v["nodes"][1]["elevation_m"] = json!("ten");
    let p = problem(&v);
    assert_eq!(p.element.as_deref(), Some("node 'B'"));
    assert_eq!(p.field.as_deref(), Some("elevation_m"));
}

#[test]
fn unknown_enum_value_is_refused() {
    let mut v = base();
    v["sensors"][0]["kind"] = json!("presure");
    let p = problem(&v);
    assert_eq!(p.element.as_deref(), Some("sensor 'PT1'"));
    assert!(p.message.contains("presure"), "{p}");
}

#[test]
fn json_syntax_error_names_file_and_line() {
    let err = parse("{\n  \"version\": 1,\n  oops\n}", Format::Json, Path::new("bad.json")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LoadError::Syntax { .. }), "{text}");
    assert!(text.contains("bad.json") && text.contains("line 3"), "{text}");
}

#[test]
fn toml_syntax_error_names_the_file() {
    let err = parse("version = = 1", Format::Toml, Path::new("bad.toml")).unwrap_err();
    assert!(matches!(err, LoadError::Syntax { .. }));
    assert!(err.to_string().contains("bad.toml"));
}

#[test]
fn newer_version_is_refused_even_with_new_keys() {
    let mut v = base();
    v["version"] = json!(2);
    v["compressors"] = json!([]);
    let err = load_json(&v).unwrap_err();
    assert!(matches!(err, LoadError::NewerVersion { found: 2, .. }), "{err}");
    assert!(err.to_string().contains("upgrade linepack"));
}

#[test]
fn version_zero_and_wrong_marker_are_refused() {
    let mut v = base();
    v["version"] = json!(0);
    v["format"] = json!("pandapipes");
    let err = load_json(&v).unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
}

#[test]
fn duplicate_id_across_kinds_is_refused() {
    let mut v = base();
    v["consumers"][0]["id"] = json!("P1");
    assert_problem(&v, "consumer 'P1'", Some("id"), "already used by a pipe");
}

#[test]
fn malformed_ids_are_refused() {
    for bad in ["", "a/b", "x y", "temp#1", "a+"] {
        let mut v = base();
        v["sensors"][0]["id"] = json!(bad);
        let p = problem(&v);
        assert_eq!(p.field.as_deref(), Some("id"), "{bad:?}: {p}");
    }
}

#[test]
fn dangling_reference_is_refused() {
    let mut v = base();
    v["pipes"][0]["to"] = json!("Q");
    assert_problem(&v, "pipe 'P1'", Some("to"), "no node with id 'Q'");
}

#[test]
fn reference_to_the_wrong_kind_is_refused() {
    let mut v = base();
    v["consumers"][0]["node"] = json!("P1");
    assert_problem(&v, "consumer 'C'", Some("node"), "'P1' is a pipe, not a node");
}

#[test]
fn pipe_from_itself_is_refused() {
    let mut v = base();
    v["pipes"][0]["to"] = json!("A");
    assert_problem(&v, "pipe 'P1'", Some("to"), "same node");
}

#[test]
fn negative_length_is_refused() {
    let mut v = base();
    v["pipes"][0]["length_m"] = json!(-3.0);
    assert_problem(&v, "pipe 'P1'", Some("length_m"), "outside the accepted range");
}

#[test]
fn diameter_in_metres_is_caught_as_a_unit_error() {
    let mut v = base();
    v["pipes"][0]["diameter_mm"] = json!(0.1);
    v["pipes"][0]["roughness_mm"] = json!(0.01);
    assert_problem(&v, "pipe 'P1'", Some("diameter_mm"), "is the value in metres?");
}

#[test]
fn roughness_larger_than_the_radius_is_refused() {
    let mut v = base();
    v["pipes"][0]["roughness_mm"] = json!(8.0);
    v["pipes"][0]["diameter_mm"] = json!(12.0);
    assert_problem(&v, "pipe 'P1'", Some("roughness_mm"), "half the diameter");
}

#[test]
fn viscosity_in_micro_pascal_seconds_is_caught() {
    let mut v = base();
    v["gas"]["viscosity_pa_s"] = json!(11.0);
    assert_problem(&v, "gas", Some("viscosity_pa_s"), "Pa·s");
}

#[test]
fn temperature_in_celsius_is_caught() {
    let mut v = base();
    v["nodes"][0]["temperature_k"] = json!(10.0);
    assert_problem(&v, "node 'A'", Some("temperature_k"), "°C");
}

#[test]
fn non_finite_coordinates_are_refused() {
    // JSON has no NaN; TOML does.
    let file: NetworkFile = serde_json::from_value(base()).unwrap();
    let text = to_string(&file, Format::Toml).replacen("elevation_m = 0.0", "elevation_m = 0.0\nx = nan", 1);
    let err = parse(&text, Format::Toml, Path::new("n.toml")).unwrap_err();
    assert!(err.to_string().contains("finite"), "{err}");
}

#[test]
fn both_demands_and_no_demand_are_refused() {
    let mut v = base();
    v["consumers"][0]["demand_kg_s"] = json!(0.1);
    assert_problem(&v, "consumer 'C'", None, "exactly one");
    let mut v = base();
    v["consumers"][0].as_object_mut().unwrap().remove("demand_nm3_h");
    assert_problem(&v, "consumer 'C'", None, "missing demand");
}

#[test]
fn negative_demand_points_to_injections() {
    let mut v = base();
    v["consumers"][0]["demand_nm3_h"] = json!(-5);
    assert_problem(&v, "consumer 'C'", Some("demand_nm3_h"), "use an injection");
}

#[test]
fn supply_pressure_must_be_positive() {
    let mut v = base();
    v["supplies"][0]["pressure_bar_g"] = json!(0);
    assert_problem(&v, "supply 'S'", Some("pressure_bar_g"), "outside the accepted range");
}

#[test]
fn two_supplies_on_one_node_are_refused() {
    let mut v = base();
    v["supplies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "S2", "node": "A", "pressure_bar_g": 4, "kind": "lng"}));
    assert_problem(&v, "supply 'S2'", Some("node"), "already has supply 'S'");
}

#[test]
fn regulator_into_a_supply_node_is_refused() {
    let mut v = base();
    v["regulators"] = json!([{"id": "R", "from": "B", "to": "A", "outlet_pressure_bar_g": 1}]);
    assert_problem(&v, "regulator 'R'", Some("to"), "held by supply 'S'");
}

#[test]
fn sensor_on_the_wrong_element_kind_is_refused() {
    let mut v = base();
    v["sensors"][0]["kind"] = json!("gas_detector");
    assert_problem(&v, "sensor 'PT1'", Some("at"), "must be at a consumer");
}

#[test]
fn sensor_at_unknown_element_is_refused() {
    let mut v = base();
    v["sensors"][0]["at"] = json!("nowhere");
    assert_problem(&v, "sensor 'PT1'", Some("at"), "no element with id 'nowhere'");
}

#[test]
fn overlapping_zones_are_refused() {
    let mut v = base();
    v["zones"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "Z2", "nodes": ["B", "D"]}));
    assert_problem(&v, "zone 'Z2'", Some("nodes"), "already in zone 'Z'");
}

#[test]
fn zone_listing_a_node_twice_or_none_is_refused() {
    let mut v = base();
    v["zones"][0]["nodes"] = json!(["A", "A"]);
    assert_problem(&v, "zone 'Z'", Some("nodes"), "listed twice");
    let mut v = base();
    v["zones"][0]["nodes"] = json!([]);
    assert_problem(&v, "zone 'Z'", Some("nodes"), "at least one node");
}

#[test]
fn compressibility_that_vanishes_below_the_supply_pressure_is_refused() {
    let mut v = base();
    v["gas"]["compressibility"] = json!({"model": "linear", "z0": 1.0, "per_bar": -0.01});
    v["supplies"][0]["pressure_bar_g"] = json!(120);
    assert_problem(&v, "gas", Some("compressibility"), "Z falls to zero");
}

#[test]
fn several_problems_are_all_reported() {
    let mut v = base();
    v["pipes"][0]["length_m"] = json!(0);
    v["valves"][0]["to"] = json!("missing");
    v["supplies"][0]["pressure_bar_g"] = json!(300);
    let err = load_json(&v).unwrap_err();
    assert_eq!(err.problems().len(), 3, "{err}");
    assert!(err.to_string().contains("3 problems"));
}

#[test]
fn unknown_extension_and_missing_file_are_clear() {
    let err = load(Path::new("network.yaml")).unwrap_err();
    assert!(matches!(err, LoadError::UnknownExtension { .. }) && err.to_string().contains(".json or .toml"));
    let err = load(Path::new("/nonexistent/net.json")).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }) && err.to_string().contains("/nonexistent/net.json"));
}

#[test]
fn file_on_disk_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.json");
    std::fs::write(&path, base().to_string()).unwrap();
    assert_eq!(load(&path).unwrap().name, "t");
}
