//! `linepack replay` and `linepack config` as users run them: the JSON-lines
//! contract, exit codes on bad input, and a journal carried across runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;

use common::{NETWORK_JSON, T0};

const BIN: &str = env!("CARGO_BIN_EXE_linepack");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("the linepack binary runs")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Pressure limits low 3.0 / low-low 2.0 bar g, journal in `dir`.
fn config(dir: &Path) -> PathBuf {
    let journal = dir.join("journal.sqlite");
    let text = format!(
        "[journal]\npath = {:?}\n\n[sensors.pressure]\nlow_low = 2.0\nlow = 3.0\noff_delay_s = 0.0\n",
        journal.display().to_string()
    );
    write(dir, "engine.toml", &text)
}

/// A recording line at `s` seconds after T0.
fn line(sensor: &str, s: i64, v: f64) -> String {
    let ts = linepack_ingest::telemetry::time::format_rfc3339_ms(T0 + s * 1000);
    format!("{{\"sensor\":\"{sensor}\",\"ts\":\"{ts}\",\"v\":{v}}}\n")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn replay_prints_every_transition_as_a_json_line_per_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let network = write(dir.path(), "net.json", NETWORK_JSON);
    let config = config(dir.path());
    let mut rec = String::new();
    rec += &line("PT-A", 0, 4.0);
    rec += &line("PT-B", 10, 2.5);
    rec += "this line is not JSON\n";
    rec += &line("NO-SUCH-SENSOR", 20, 1.0);
    rec += &line("PT-B", 30, 2.6);
    rec += &line("PT-B", 60, 3.5);
    let recording = write(dir.path(), "rec.ndjson", &rec);
    let out = run(&[
        "replay",
        "--network",
        network.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        recording.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "one alarm raised and returned: {lines:?}");
    for l in &lines {
        for key in [
            "alarm_id", "kind", "priority", "state", "source", "zone", "ts", "value", "message",
        ] {
            assert!(l.get(key).is_some(), "'{key}' missing from {l}");
        }
    }
    let raised = &lines[0];
    assert_eq!(raised["alarm_id"], "low:PT-B");
    assert_eq!(raised["kind"], "low");
    assert_eq!(raised["priority"], "medium");
    assert_eq!(raised["state"], "unacknowledged");
    assert_eq!(raised["source"], "PT-B");
    assert_eq!(raised["zone"], "Z1");
    assert_eq!(raised["ts"], "2026-11-23T00:00:10.000Z");
    assert_eq!(raised["value"], 2.5);
    assert!(raised["message"].as_str().unwrap().contains("PT-B"), "{raised}");
    assert_eq!(lines[1]["state"], "returned_unacknowledged");
    assert_eq!(lines[1]["ts"], "2026-11-23T00:01:00.000Z");
    // The bad lines are counted, not fatal.
    assert!(stderr(&out).contains("2 rejected"), "{}", stderr(&out));
}

#[test]
fn a_second_replay_restores_standing_alarms_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let network = write(dir.path(), "net.json", NETWORK_JSON);
    let config = config(dir.path());
    let args = |rec: &Path| {
        vec![
            "replay".to_string(),
            "--network".into(),
            network.display().to_string(),
            "--config".into(),
            config.display().to_string(),
            rec.display().to_string(),
        ]
    };
    let first = write(
        dir.path(),
        "first.ndjson",
        &(line("PT-B", 0, 2.5) + &line("PT-N", 0, 1.5)),
    );
    let out = Command::new(BIN).args(args(&first)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| l["alarm_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["low:PT-B", "low_low:PT-N", "low:PT-N"]);

    // Later, a new process: PT-B recovers; PT-N's alarms still stand.
    let second = write(dir.path(), "second.ndjson", &line("PT-B", 120, 3.6));
    let out = Command::new(BIN).args(args(&second)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("restored 3 standing alarms"), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (lines[0]["alarm_id"].as_str(), lines[0]["state"].as_str()),
        (Some("low:PT-B"), Some("returned_unacknowledged")),
        "the restored alarm clears; nothing is raised twice"
    );
}

#[test]
fn bad_input_exits_2_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let network = write(dir.path(), "net.json", NETWORK_JSON);
    let recording = write(dir.path(), "rec.ndjson", &line("PT-A", 0, 4.0));
    let n = network.to_str().unwrap();
    let r = recording.to_str().unwrap();

    let bad = write(dir.path(), "bad.toml", "[sensors.pressure]\nlowest = 1.0\n");
    let out = run(&["replay", "--network", n, "--config", bad.to_str().unwrap(), r]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.toml") && stderr(&out).contains("lowest"),
        "{}",
        stderr(&out)
    );

    let unordered = write(
        dir.path(),
        "unordered.toml",
        "[sensors.pressure]\nlow = 3.0\nlow_low = 4.0\n",
    );
    let out = run(&["replay", "--network", n, "--config", unordered.to_str().unwrap(), r]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("low_low"), "{}", stderr(&out));

    let unknown = write(dir.path(), "unknown.toml", "[sensors.overrides.PT-Q]\nlow = 3.0\n");
    let out = run(&["replay", "--network", n, "--config", unknown.to_str().unwrap(), r]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("PT-Q"), "{}", stderr(&out));

    let out = run(&[
        "replay",
        "--network",
        n,
        dir.path().join("missing.ndjson").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.ndjson"), "{}", stderr(&out));
}

#[test]
fn config_print_default_is_the_documented_default() {
    let out = run(&["config", "print-default"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, linepack_engine::DEFAULT_CONFIG);
    let parsed = linepack_engine::config::EngineConfig::from_toml(&text).unwrap();
    assert_eq!(parsed, linepack_engine::config::EngineConfig::default());
}
