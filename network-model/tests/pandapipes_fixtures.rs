//! The solver against pandapipes 0.16.0 on every reference network in
//! `tests/fixtures/pandapipes/`, with the tolerances of `specs/hydraulics.md`:
//! Nikuradse within 1e-6 bar and 1e-6 relative flow (1e-9 kg/s absolute near
//! zero), Colebrook within 1e-4 relative.

use std::path::{Path, PathBuf};

use linepack_network::file;
use linepack_network::solver::{FrictionLaw, SolveOptions, SteadySolver};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pandapipes");
/// Tightly converged pandapipes references where the shipped one is not
/// converged (see the README there).
const TIGHT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pandapipes-tight");
/// The number of reference networks shipped; the test fails if any is missing.
const EXPECTED_NETWORKS: usize = 19;

fn networks() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap_or_else(|e| panic!("fixture folder {FIXTURES} is missing: {e}"))
        .map(|e| e.expect("readable fixture folder").path())
        .filter(|p| p.to_string_lossy().ends_with(".network.json"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        EXPECTED_NETWORKS,
        "fixture networks missing from {FIXTURES}"
    );
    files
}

fn expected_for(network: &Path) -> Value {
    let path = network.to_string_lossy().replace(".network.json", ".expected.json");
    read_json(&path)
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Tolerance {
    pressure_abs_bar: f64,
    pressure_rel: f64,
    flow_rel: f64,
    flow_abs_kg_s: f64,
}

const NIKURADSE: Tolerance = Tolerance {
    pressure_abs_bar: 1e-6,
    pressure_rel: 0.0,
    flow_rel: 1e-6,
    flow_abs_kg_s: 1e-9,
};
const COLEBROOK: Tolerance = Tolerance {
    pressure_abs_bar: 0.0,
    pressure_rel: 1e-4,
    flow_rel: 1e-4,
    flow_abs_kg_s: 1e-9,
};

fn close(got: f64, want: f64, abs: f64, rel: f64) -> bool {
    (got - want).abs() <= abs.max(rel * want.abs())
}

/// Compares one law's results with the reference beside the network;
/// returns the failures as readable lines.
fn compare(path: &Path, law: FrictionLaw, tol: &Tolerance) -> Vec<String> {
    compare_with(path, &expected_for(path), law, tol)
}

fn compare_with(path: &Path, expected: &Value, law: FrictionLaw, tol: &Tolerance) -> Vec<String> {
    let network = file::load(path).unwrap_or_else(|e| panic!("{e}"));
    let want = &expected["results"][law.name()];
    assert!(want.is_object(), "{}: no {law} results", path.display());

    let options = SolveOptions {
        friction: law,
        ..SolveOptions::default()
    };
    let state = SteadySolver::new(&network, options)
        .solve(&network)
        .unwrap_or_else(|e| panic!("{} ({law}): {e}", path.display()));

    let mut failures = Vec::new();
    let name = path.file_name().unwrap().to_string_lossy();
    for n in want["nodes"].as_array().expect("nodes") {
        let id = n["id"].as_str().unwrap();
        let node = network.find_node(id).unwrap_or_else(|| panic!("{name}: no node {id}"));
        let got = state.pressure_bar_g(&network, node).expect("connected");
        let want = n["pressure_bar_g"].as_f64().unwrap();
        if !close(got, want, tol.pressure_abs_bar, tol.pressure_rel) {
            failures.push(format!(
                "{name} {law} node {id}: {got} bar vs {want} (Δ {:.3e})",
                got - want
            ));
        }
    }
    let mut flows = |key: &str, got_of: &dyn Fn(&str) -> f64| {
        for e in want[key].as_array().expect(key) {
            let id = e["id"].as_str().unwrap();
            let got = got_of(id);
            // pandapipes reports a closed valve's flow as null: no flow.
            let want = e["flow_kg_s"].as_f64().unwrap_or(0.0);
            if !close(got, want, tol.flow_abs_kg_s, tol.flow_rel) {
                failures.push(format!(
                    "{name} {law} {key} {id}: {got} kg/s vs {want} (Δ {:.3e})",
                    got - want
                ));
            }
        }
    };
    let index = |id: &str| network.find(id).unwrap_or_else(|| panic!("{name}: no element {id}"));
    use linepack_network::ElementRef::*;
    flows("pipes", &|id| match index(id) {
        Pipe(i) => state.pipe_flow_kg_s[i.index()],
        other => panic!("{id} is {other:?}"),
    });
    flows("valves", &|id| match index(id) {
        Valve(i) => state.valve_flow_kg_s[i.index()],
        other => panic!("{id} is {other:?}"),
    });
    flows("supplies", &|id| match index(id) {
        Supply(i) => state.supply_flow_kg_s[i.index()],
        other => panic!("{id} is {other:?}"),
    });
    failures
}

#[test]
fn every_fixture_matches_pandapipes_with_nikuradse() {
    let failures: Vec<String> = networks()
        .iter()
        .flat_map(|p| compare(p, FrictionLaw::Nikuradse, &NIKURADSE))
        .collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The one reference set that is not a converged solution: pandapipes stops
/// when velocities change by less than 1e-4 m/s, and in this network the
/// flows are 2e-4 to 2e-5 kg/s (velocities below 1 mm/s) at Reynolds numbers
/// of 20 to 230, where Colebrook converges slowly. Its Colebrook flows break
/// the pipe law they were computed with by 0.2 %
/// ([`reference_colebrook_delta_is_not_converged`]); ours satisfy it to 1e-9
/// bar and differ from it by 1.6e-3 relative (2.7e-8 kg/s). The same
/// pandapipes run to tight tolerances agrees with ours to 1e-9
/// ([`colebrook_delta_matches_tightly_converged_pandapipes`]).
const UNCONVERGED_REFERENCE: (&str, FrictionLaw) = ("gas_meshed_delta_PC.network.json", FrictionLaw::Colebrook);

#[test]
fn every_fixture_matches_pandapipes_with_colebrook() {
    let failures: Vec<String> = networks()
        .iter()
        .flat_map(|p| compare(p, FrictionLaw::Colebrook, &COLEBROOK))
        .filter(|f| {
            !f.starts_with(&format!(
                "{} {} pipes ",
                UNCONVERGED_REFERENCE.0, UNCONVERGED_REFERENCE.1
            ))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn colebrook_delta_matches_tightly_converged_pandapipes() {
    let path = Path::new(FIXTURES).join(UNCONVERGED_REFERENCE.0);
    let tight = read_json(&format!(
        "{TIGHT}/{}",
        UNCONVERGED_REFERENCE.0.replace(".network.json", ".expected.json")
    ));
    let failures = compare_with(&path, &tight, FrictionLaw::Colebrook, &COLEBROOK);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Much closer than the 1e-4 the spec asks for.
    let strict = Tolerance {
        flow_rel: 1e-8,
        pressure_rel: 1e-12,
        ..COLEBROOK
    };
    let failures = compare_with(&path, &tight, FrictionLaw::Colebrook, &strict);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn colebrook_delta_flows_match_the_unconverged_reference_within_its_own_error() {
    let path = Path::new(FIXTURES).join(UNCONVERGED_REFERENCE.0);
    let loose = Tolerance {
        flow_rel: 2e-3,
        ..COLEBROOK
    };
    let failures = compare(&path, FrictionLaw::Colebrook, &loose);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Evidence for [`UNCONVERGED_REFERENCE`]: plug the reference's own
/// pressures and flows into the Colebrook pipe law.
#[test]
fn reference_colebrook_delta_is_not_converged() {
    use linepack_network::solver::friction::PipeFriction;
    use linepack_network::solver::mean_pressure_bar;
    use linepack_network::units::{NORMAL_PRESSURE_BAR, NORMAL_TEMPERATURE_K, PA_PER_BAR, ambient_pressure_bar};

    let path = Path::new(FIXTURES).join(UNCONVERGED_REFERENCE.0);
    let network = file::load(&path).unwrap();
    let want = &expected_for(&path)["results"]["colebrook"];
    let p_abs = |id: &str| {
        let n = want["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap();
        n["pressure_bar_g"].as_f64().unwrap() + ambient_pressure_bar(0.0)
    };
    let mut worst = 0.0_f64;
    for (pipe, result) in network.pipes.iter().zip(want["pipes"].as_array().unwrap()) {
        let m = result["flow_kg_s"].as_f64().unwrap();
        let (pi, pj) = (p_abs(&network.node(pipe.from).id), p_abs(&network.node(pipe.to).id));
        let d = pipe.diameter_mm * 1e-3;
        let area = std::f64::consts::PI * d * d / 4.0;
        let f = PipeFriction::new(d, pipe.roughness_mm * 1e-3, area, network.gas.viscosity_pa_s);
        let c =
            NORMAL_PRESSURE_BAR / (NORMAL_TEMPERATURE_K * PA_PER_BAR * network.gas.density_normal_kg_m3 * area * area);
        let z = network.gas.compressibility.z(mean_pressure_bar(pi, pj));
        let friction_bar =
            c * network.gas.temperature_k * z * pipe.length_m / d * f.term(FrictionLaw::Colebrook, m).0 / (pi + pj);
        worst = worst.max((friction_bar / (pi - pj) - 1.0).abs());
    }
    assert!(
        worst > 1e-3,
        "the reference now satisfies Colebrook ({worst:.2e}): tighten the tolerance again"
    );
}

#[test]
fn pipe_velocities_match_pandapipes() {
    // Not a contract of the spec, but the JSON output reports them.
    // pandapipes iterates on velocity and reports it from a slightly
    // different iterate than the flow; 1e-5 relative on the slow-flow cases.
    let mut failures = Vec::new();
    for path in networks() {
        let network = file::load(&path).unwrap();
        let expected = expected_for(&path);
        let state = SteadySolver::new(&network, SolveOptions::default())
            .solve(&network)
            .unwrap();
        for p in expected["results"]["nikuradse"]["pipes"].as_array().unwrap() {
            let id = p["id"].as_str().unwrap();
            let Some(linepack_network::ElementRef::Pipe(i)) = network.find(id) else {
                panic!("{id}")
            };
            let got = state.pipe_velocity_m_s(&network, i);
            let want = p["velocity_m_s"].as_f64().unwrap();
            if !close(got, want, 1e-9, 1e-4) {
                failures.push(format!("{} pipe {id}: {got} m/s vs {want}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
