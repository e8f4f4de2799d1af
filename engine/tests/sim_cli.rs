//! The simulator and import commands as engineers run them: `sim run`,
//! `sim scenarios`, `sim outage`, `network import gaslib`; outputs and exit
//! codes (2 for bad input, naming what is wrong).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linepack");

fn repo(path: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    assert!(p.exists(), "{} is missing", p.display());
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("the linepack binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SCENARIO: &str = r#"
[simulation]
start = "2026-11-23T00:00:00Z"
duration = "2h"
step_s = 60
seed = 5

[[leak]]
pipe = "P120"
position = 0.5
start = "30m"
rate_kg_s = 0.01

[[device]]
sensor = "GD-C0"
at = "40m"
event = "gas_rise"
"#;

#[test]
fn sim_run_records_the_same_bytes_twice_with_a_truth() {
    let dir = tempfile::tempdir().unwrap();
    let net = repo("config/networks/demo-city.json");
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let mut recordings = Vec::new();
    for name in ["a.ndjson", "b.ndjson"] {
        let out = dir.path().join(name);
        let o = run(&[
            "sim",
            "run",
            "--network",
            net.to_str().unwrap(),
            "--scenario",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        recordings.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(recordings[0], recordings[1]);
    assert!(recordings[0].len() > 10_000);
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a.truth.json")).unwrap()).unwrap();
    let leak = &truth["leaks"][0];
    assert_eq!(leak["pipe"], "P120");
    assert!((leak["rate_kg_s"].as_f64().unwrap() - 0.01).abs() < 1e-12);
    assert!(truth["totals"]["balance_error_kg"].as_f64().unwrap().abs() < 1e-3);
}

#[test]
fn sim_run_refuses_a_bad_scenario_naming_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let net = repo("config/networks/demo-city.json");
    let scenario = dir.path().join("bad.toml");
    std::fs::write(
        &scenario,
        "[simulation]\nstart = \"2026-11-23T00:00:00Z\"\nduration = \"2h\"\n\n[[leak]]\nnode = \"NOPE\"\nstart = \"1h\"\nrate_kg_s = 0.01\n\n[[fault]]\nsensor = \"PT-NOPE\"\nkind = \"bias\"\nstart = \"1h\"\nvalue = 1.0\n",
    )
    .unwrap();
    let o = run(&[
        "sim",
        "run",
        "--network",
        net.to_str().unwrap(),
        "--scenario",
        scenario.to_str().unwrap(),
        "--out",
        dir.path().join("x.ndjson").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("NOPE") && err.contains("PT-NOPE"), "{err}");
}

#[test]
fn sim_outage_lists_users_cut_off_as_json() {
    let net = repo("config/networks/demo-city.json");
    let o = run(&[
        "sim",
        "outage",
        "--network",
        net.to_str().unwrap(),
        "--element",
        "ST0",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    // The only station out: every user is cut off.
    let affected = v["affected"].as_array().expect("affected list");
    assert_eq!(affected.len(), 304, "{v}");
    assert!(affected.iter().all(|c| c["status"] == "cut_off"));
    let o = run(&["sim", "outage", "--network", net.to_str().unwrap(), "--element", "NOPE"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("NOPE"), "{}", stderr(&o));
}

#[test]
fn sim_scenarios_writes_a_set_with_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let net = repo("config/networks/demo-city.json");
    let out = dir.path().join("set");
    let o = run(&[
        "sim",
        "scenarios",
        "--network",
        net.to_str().unwrap(),
        "--count",
        "3",
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let text = manifest.to_string();
    assert!(text.contains("clean") && text.contains("faults"), "{text}");
    // Other instruments: the noisy variants carry them; a negative spread
    // is refused by name.
    let studied = dir.path().join("studied");
    let (net, studied) = (net.to_str().unwrap(), studied.to_str().unwrap());
    let base = [
        "sim",
        "scenarios",
        "--network",
        net,
        "--count",
        "3",
        "--seed",
        "2",
        "--out",
        studied,
    ];
    let o = run(&[&base[..], &["--flow-noise-relative", "0.001"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let noisy = std::fs::read_to_string(dir.path().join("studied/leak-002.toml")).unwrap();
    assert!(noisy.contains("flow_relative = 0.001"), "{noisy}");
    let o = run(&[&base[..], &["--flow-noise-relative=-0.1"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--flow-noise-relative -0.1"), "{}", stderr(&o));
}

#[test]
fn network_import_gaslib_writes_a_network_that_solves() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo("network-model/tests/fixtures/gaslib");
    let out = dir.path().join("g11.toml");
    let o = run(&[
        "network",
        "import",
        "gaslib",
        "--net",
        fixtures.join("GasLib-11.net").to_str().unwrap(),
        "--scn",
        fixtures.join("GasLib-11.scn").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("note:"));
    let o = run(&["sim", "steady", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success());
    let o = run(&[
        "network",
        "import",
        "gaslib",
        "--net",
        fixtures.join("GasLib-11.scn").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn eval_scores_a_scenario_set_as_json_and_refuses_a_missing_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("city.json");
    let o = run(&[
        "sim",
        "generate",
        "--nodes",
        "300",
        "--seed",
        "3",
        "--smart-meters",
        "-o",
        net.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let set = dir.path().join("set");
    let o = run(&[
        "sim",
        "scenarios",
        "--network",
        net.to_str().unwrap(),
        "--count",
        "1",
        "--normal",
        "1",
        "--normal-days",
        "1.1",
        "--leak-hours",
        "1",
        "--min-percent",
        "4",
        "--max-percent",
        "5",
        "--out",
        set.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["eval", "--set", set.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &report["summary"];
    assert_eq!(s["scenarios"], 2);
    assert_eq!(s["leak_scenarios"], 1);
    assert_eq!(s["false_alarms"], 0, "{report:#}");
    let leak = &report["scenarios"][0];
    assert!(leak["detected_after_s"].as_f64().unwrap() <= 900.0, "{leak:#}");
    assert!(leak["localization_m"].as_f64().is_some(), "{leak:#}");
    let ratio = leak["estimated_rate_kg_s"].as_f64().unwrap() / leak["true_rate_kg_s"].as_f64().unwrap();
    assert!((0.5..2.0).contains(&ratio), "{leak:#}");

    let o = run(&["eval", "--set", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("manifest.json"), "{}", stderr(&o));
}
