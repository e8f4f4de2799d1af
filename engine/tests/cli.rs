//! The `linepack` command as users run it: exit codes, output, the JSON
//! contract of `sim steady --json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linepack");

fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../network-model/tests/fixtures/pandapipes")
        .join(name);
    assert!(path.exists(), "fixture {} is missing", path.display());
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("the linepack binary runs")
}

/// `gas_one_pipe1_N` with one more node, connected to nothing, written as
/// `name` (.json or .toml) in `dir`.
fn with_island(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture("gas_one_pipe1_N.network.json")).unwrap();
    let mut file: linepack_network::file::NetworkFile = serde_json::from_str(&text).unwrap();
    file.nodes.push(linepack_network::file::schema::NodeSpec {
        id: "Island".into(),
        elevation_m: 0.0,
        temperature_k: None,
        x: None,
        y: None,
    });
    let path = dir.join(name);
    let format = linepack_network::file::Format::from_path(&path).unwrap();
    std::fs::write(&path, linepack_network::file::to_string(&file, format)).unwrap();
    path
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn network_check_describes_a_valid_network() {
    let f = fixture("gas_meshed_two_valves_N.network.json");
    let o = run(&["network", "check", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("valid"), "{out}");
    assert!(out.contains("8 nodes, 6 pipes, 2 valves"), "{out}");
    assert!(out.contains("components   1 (1 with a supply"), "{out}");
    assert!(out.contains("demand       0.116667 kg/s"), "{out}");
}

#[test]
fn network_check_lists_disconnected_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_island(dir.path(), "island.json");
    let o = run(&["network", "check", path.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("disconnected 1 nodes without a path from a supply: Island"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn invalid_network_exits_2_naming_file_and_element() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    let text = std::fs::read_to_string(fixture("gas_tcross1_N.network.json")).unwrap();
    std::fs::write(&path, text.replace("\"length_m\": 5000.0", "\"length_m\": -5000.0")).unwrap();
    for args in [["network", "check"], ["sim", "steady"]] {
        let o = run(&[args[0], args[1], path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(
            err.contains("bad.json") && err.contains("pipe 'pipe_D116_D117'") && err.contains("length_m"),
            "{err}"
        );
        assert!(stdout(&o).is_empty(), "nothing on stdout for a refused file");
    }
}

#[test]
fn missing_file_and_bad_friction_law_are_usage_errors() {
    let o = run(&["sim", "steady", "/nonexistent/net.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/net.json"));
    let o = run(&[
        "sim",
        "steady",
        fixture("gas_one_pipe1_N.network.json").to_str().unwrap(),
        "--friction",
        "moody",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nikuradse or colebrook"), "{}", stderr(&o));
}

#[test]
fn sim_steady_json_follows_the_contract_and_matches_pandapipes() {
    let f = fixture("gas_meshed_two_valves_N.network.json");
    let o = run(&["sim", "steady", f.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    assert_eq!(r["converged"], true);
    assert!(r["iterations"].as_u64().unwrap() > 0);
    assert!(r["solve_time_ms"].as_f64().unwrap() > 0.0);
    assert!(r["linepack_kg"].as_f64().unwrap() > 0.0);
    for key in ["nodes", "pipes", "valves", "supplies"] {
        assert!(r[key].is_array(), "{key}");
    }
    let node = &r["nodes"][0];
    assert!(node["id"].is_string() && node["pressure_bar_g"].is_f64() && node["pressure_bar_abs"].is_f64());
    let pipe = &r["pipes"][0];
    assert!(pipe["flow_kg_s"].is_f64() && pipe["velocity_m_s"].is_f64());

    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("gas_meshed_two_valves_N.expected.json")).unwrap())
            .unwrap();
    for (got, want) in r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected["results"]["nikuradse"]["nodes"].as_array().unwrap())
    {
        assert_eq!(got["id"], want["id"]);
        let d = got["pressure_bar_g"].as_f64().unwrap() - want["pressure_bar_g"].as_f64().unwrap();
        assert!(d.abs() < 1e-6, "{}: {d}", got["id"]);
    }
}

#[test]
fn sim_steady_json_has_null_pressures_for_disconnected_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = with_island(dir.path(), "island.toml");
    let o = run(&["sim", "steady", path.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let island = r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "Island")
        .unwrap();
    assert!(island["pressure_bar_g"].is_null() && island["pressure_bar_abs"].is_null());
    assert_eq!(r["disconnected_nodes"], serde_json::json!(["Island"]));
}

#[test]
fn sim_steady_prints_tables_and_a_summary() {
    let f = fixture("gas_2eg_hnet_PC.network.json");
    let o = run(&["sim", "steady", f.to_str().unwrap(), "--friction", "colebrook"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for words in [
        "NODE",
        "PIPE",
        "SUPPLY",
        "colebrook friction",
        "pressure   min 9.",
        "at K1032",
        "linepack",
        "disconnected nodes: none",
    ] {
        assert!(out.contains(words), "missing '{words}' in:\n{out}");
    }
}

#[test]
fn sim_steady_failure_exits_1_with_converged_false() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overload.json");
    let text = std::fs::read_to_string(fixture("gas_one_pipe2_N.network.json")).unwrap();
    std::fs::write(
        &path,
        text.replace("\"demand_kg_s\": 0.004666666666667", "\"demand_kg_s\": 5.0"),
    )
    .unwrap();
    let o = run(&["sim", "steady", path.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["converged"], false);
    assert!(r["error"].as_str().unwrap().contains("node '"), "{}", r["error"]);
    assert!(stderr(&o).contains("error:"));
}

#[test]
fn sim_generate_is_deterministic_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    for p in [&a, &b] {
        let o = run(&[
            "sim",
            "generate",
            "--nodes",
            "300",
            "--seed",
            "7",
            "-o",
            p.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let o = run(&["network", "check", a.to_str().unwrap()]);
    assert!(
        o.status.success() && stdout(&o).contains("every node can be reached"),
        "{}",
        stdout(&o)
    );
    let o = run(&["sim", "steady", a.to_str().unwrap(), "--json"]);
    assert!(o.status.success());
}

#[test]
fn readme_main_job_solves_the_shipped_demo_network() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/networks/demo-city.json");
    let o = run(&["sim", "steady", demo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("converged in"), "{}", stdout(&o));
    let o = run(&["network", "check", demo.to_str().unwrap()]);
    assert!(o.status.success() && stdout(&o).contains("every node can be reached"));
}
