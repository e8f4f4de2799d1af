//! Solver behaviour on small hand-made networks: regulators in each state,
//! disconnected parts, warm starts, failures, linepack, conservation. The
//! agreement with an independent solver is in `tests/pandapipes_fixtures.rs`.

use serde_json::json;

use super::*;
use crate::linepack::linepack;
use crate::testing::network;
use crate::units::{GRAVITY_M_S2, PA_PER_BAR};

fn solve(net: &Network) -> SteadyState {
    SteadySolver::new(net, SolveOptions::default())
        .solve(net)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn p_g(net: &Network, s: &SteadyState, id: &str) -> f64 {
    s.pressure_bar_g(net, net.find_node(id).unwrap()).unwrap()
}

fn regulator(net: &Network, s: &SteadyState, id: &str) -> (RegulatorState, f64) {
    let Some(crate::ElementRef::Regulator(i)) = net.find(id) else {
        panic!("{id}")
    };
    (s.regulator_state[i.index()], s.regulator_flow_kg_s[i.index()])
}

/// Supply S (pressure `p_in`) at A –P1– B =R(set 2 bar)=> C –P2– D, demand at D.
fn station(p_in: f64, demand: f64) -> Network {
    network(
        &["A", "B", "C", "D"],
        &[("P1", "A", "B", 1000.0, 150.0), ("P2", "C", "D", 1000.0, 150.0)],
        json!({
            "regulators": [{"id": "R", "from": "B", "to": "C", "outlet_pressure_bar_g": 2.0}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": p_in, "kind": "city_gate"}],
            "consumers": [{"id": "C1", "node": "D", "kind": "industrial", "demand_kg_s": demand}]
        }),
    )
}

#[test]
fn active_regulator_holds_its_set_point_and_passes_the_demand() {
    let net = station(6.0, 0.5);
    let s = solve(&net);
    assert!((p_g(&net, &s, "C") - 2.0).abs() < 1e-9);
    let (state, flow) = regulator(&net, &s, "R");
    assert_eq!(state, RegulatorState::Active);
    assert!((flow - 0.5).abs() < 1e-12);
    assert!(p_g(&net, &s, "B") > 2.0 && p_g(&net, &s, "D") < 2.0);
}

#[test]
fn regulator_with_inlet_below_set_point_is_fully_open() {
    let net = station(1.5, 0.2);
    let s = solve(&net);
    let (state, flow) = regulator(&net, &s, "R");
    assert_eq!(state, RegulatorState::Open);
    assert!((flow - 0.2).abs() < 1e-12);
    assert!(
        (p_g(&net, &s, "C") - p_g(&net, &s, "B")).abs() < 1e-9,
        "open: outlet = inlet"
    );
}

#[test]
fn regulator_closes_when_another_source_holds_the_outlet_above_its_set_point() {
    // A second supply at D at 3 bar g: above R's 2 bar set point.
    let net = network(
        &["A", "B", "C", "D"],
        &[("P1", "A", "B", 1000.0, 150.0), ("P2", "C", "D", 1000.0, 150.0)],
        json!({
            "regulators": [{"id": "R", "from": "B", "to": "C", "outlet_pressure_bar_g": 2.0}],
            "supplies": [
                {"id": "S", "node": "A", "pressure_bar_g": 6.0, "kind": "city_gate"},
                {"id": "S2", "node": "D", "pressure_bar_g": 3.0, "kind": "lng"}
            ],
            "consumers": [{"id": "C1", "node": "C", "kind": "industrial", "demand_kg_s": 0.2}]
        }),
    );
    let s = solve(&net);
    let (state, flow) = regulator(&net, &s, "R");
    assert_eq!(state, RegulatorState::Closed);
    assert_eq!(flow, 0.0);
    assert!((s.supply_flow_kg_s[1] - 0.2).abs() < 1e-12, "S2 feeds the consumer");
}

#[test]
fn of_parallel_regulators_the_higher_set_point_holds_the_outlet() {
    let net = network(
        &["A", "B", "C"],
        &[("P1", "B", "C", 500.0, 100.0)],
        json!({
            "regulators": [
                {"id": "R1", "from": "A", "to": "B", "outlet_pressure_bar_g": 2.0},
                {"id": "R2", "from": "A", "to": "B", "outlet_pressure_bar_g": 2.2}
            ],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 5.0, "kind": "city_gate"}],
            "consumers": [{"id": "C1", "node": "C", "kind": "commercial", "demand_kg_s": 0.05}]
        }),
    );
    let s = solve(&net);
    assert_eq!(regulator(&net, &s, "R1").0, RegulatorState::Closed);
    assert_eq!(regulator(&net, &s, "R2").0, RegulatorState::Active);
    assert!((p_g(&net, &s, "B") - 2.2).abs() < 1e-9);
}

#[test]
fn nodes_without_a_supply_path_are_reported_not_an_error() {
    let net = network(
        &["A", "B", "X", "Y"],
        &[("P1", "A", "B", 100.0, 100.0), ("P2", "X", "Y", 100.0, 100.0)],
        json!({
            "valves": [{"id": "V", "from": "B", "to": "X", "open": false, "diameter_mm": 100}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4.0, "kind": "city_gate"}],
            "consumers": [
                {"id": "CB", "node": "B", "kind": "residential", "demand_kg_s": 0.01},
                {"id": "CY", "node": "Y", "kind": "residential", "demand_kg_s": 0.01}
            ]
        }),
    );
    let s = solve(&net);
    let off: Vec<&str> = s.disconnected_nodes().map(|n| net.node(n).id.as_str()).collect();
    assert_eq!(off, ["X", "Y"]);
    assert!(s.pressure_bar_abs(net.find_node("Y").unwrap()).is_none());
    assert_eq!(s.pipe_flow_kg_s[1], 0.0);
    assert!(
        (s.supply_flow_kg_s[0] - 0.01).abs() < 1e-12,
        "only the connected demand is served"
    );
}

#[test]
fn out_of_service_pipe_and_open_valve() {
    let mut net = network(
        &["A", "B", "C"],
        &[
            ("P1", "A", "B", 100.0, 100.0),
            ("P2", "A", "C", 100.0, 100.0),
            ("P3", "B", "C", 100.0, 100.0),
        ],
        json!({
            "valves": [{"id": "V", "from": "B", "to": "C", "open": true, "diameter_mm": 100, "loss_coefficient": 0.0}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4.0, "kind": "city_gate"}],
            "consumers": [{"id": "CC", "node": "C", "kind": "residential", "demand_kg_s": 0.05}]
        }),
    );
    net.pipes[1].in_service = false;
    let s = solve(&net);
    assert_eq!(s.pipe_flow_kg_s[1], 0.0);
    // C is fed through P1 then P3 and the loss-free valve in parallel.
    assert!((s.pipe_flow_kg_s[0] - 0.05).abs() < 1e-12);
    assert!((s.pipe_flow_kg_s[2] + s.valve_flow_kg_s[0] - 0.05).abs() < 1e-12);
    assert!(
        s.valve_flow_kg_s[0] > s.pipe_flow_kg_s[2],
        "the loss-free valve takes most"
    );
}

#[test]
fn static_gas_column_has_no_flow_and_hydrostatic_pressure() {
    let mut net = network(
        &["low", "high"],
        &[("P", "low", "high", 500.0, 100.0)],
        json!({
            "supplies": [{"id": "S", "node": "low", "pressure_bar_g": 4.0, "kind": "city_gate"}]
        }),
    );
    net.nodes[1].elevation_m = 100.0;
    let s = solve(&net);
    assert!(s.pipe_flow_kg_s[0].abs() < 1e-12);
    let (pl, ph) = (s.pressure_bar_abs[0], s.pressure_bar_abs[1]);
    let rho = 0.5 * (net.gas.density_kg_m3(pl, 283.15) + net.gas.density_kg_m3(ph, 283.15));
    let expected_drop = rho * GRAVITY_M_S2 * 100.0 / PA_PER_BAR;
    assert!(
        ((pl - ph) - expected_drop).abs() < 1e-12,
        "{} vs {expected_drop}",
        pl - ph
    );
}

#[test]
fn supplies_balance_demands_and_injections() {
    let net = network(
        &["A", "B", "C", "D"],
        &[
            ("P1", "A", "B", 800.0, 100.0),
            ("P2", "B", "C", 800.0, 80.0),
            ("P3", "C", "D", 800.0, 80.0),
            ("P4", "D", "A", 800.0, 100.0),
        ],
        json!({
            "supplies": [
                {"id": "S1", "node": "A", "pressure_bar_g": 4.0, "kind": "city_gate"},
                {"id": "S2", "node": "C", "pressure_bar_g": 3.9, "kind": "lng"}
            ],
            "consumers": [
                {"id": "CB", "node": "B", "kind": "industrial", "demand_kg_s": 0.3},
                {"id": "CD", "node": "D", "kind": "industrial", "demand_kg_s": 0.2}
            ],
            "injections": [{"id": "I", "node": "D", "rate_kg_s": 0.05}]
        }),
    );
    let s = solve(&net);
    let supplied: f64 = s.supply_flow_kg_s.iter().sum();
    assert!((supplied - 0.45).abs() < 1e-12, "{supplied}");
}

#[test]
fn warm_resolve_after_a_demand_change_is_fast_and_matches_a_cold_solve() {
    let mut net = station(6.0, 0.5);
    let mut solver = SteadySolver::new(&net, SolveOptions::default());
    let mut state = solver.solve(&net).unwrap();
    let cold_iterations = state.iterations;
    net.consumers[0].demand_kg_s = 0.55;
    solver.resolve(&net, &mut state).unwrap();
    let fresh = solve(&net);
    assert!(
        state.iterations <= cold_iterations,
        "{} > {cold_iterations}",
        state.iterations
    );
    for (a, b) in state.pressure_bar_abs.iter().zip(&fresh.pressure_bar_abs) {
        assert!((a - b).abs() < 1e-9);
    }
    assert!((state.regulator_flow_kg_s[0] - 0.55).abs() < 1e-12);
}

#[test]
fn taking_a_pipe_out_between_solves_builds_a_new_layout() {
    let mut net = network(
        &["A", "B", "C"],
        &[
            ("P1", "A", "B", 500.0, 100.0),
            ("P2", "B", "C", 500.0, 100.0),
            ("P3", "A", "C", 500.0, 100.0),
        ],
        json!({
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4.0, "kind": "city_gate"}],
            "consumers": [{"id": "CC", "node": "C", "kind": "residential", "demand_kg_s": 0.1}]
        }),
    );
    let mut solver = SteadySolver::new(&net, SolveOptions::default());
    let mut state = solver.solve(&net).unwrap();
    net.pipes[2].in_service = false;
    solver.resolve(&net, &mut state).unwrap();
    assert_eq!(state.pipe_flow_kg_s[2], 0.0);
    assert!((state.pipe_flow_kg_s[1] - 0.1).abs() < 1e-12);
}

#[test]
fn impossible_demand_is_a_clear_error_naming_a_node() {
    let net = station(0.05, 50.0);
    let err = SteadySolver::new(&net, SolveOptions::default())
        .solve(&net)
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("node '"), "{text}");
    assert_eq!(err.last_state().pressure_bar_abs.len(), 4);
}

#[test]
fn iteration_limit_reports_not_converged_with_the_worst_node() {
    let net = station(6.0, 0.5);
    let options = SolveOptions {
        max_iterations: 1,
        ..SolveOptions::default()
    };
    match SteadySolver::new(&net, options).solve(&net) {
        Err(SolveError::NotConverged { worst_node, .. }) => assert!(["B", "C", "D"].contains(&worst_node.as_str())),
        other => panic!("expected NotConverged, got {other:?}"),
    }
}

#[test]
fn loop_of_loss_free_valves_is_reported_singular() {
    // Two loss-free valves in parallel: the split between them is undetermined.
    let net = network(
        &["A", "B", "C"],
        &[("P1", "B", "C", 100.0, 100.0)],
        json!({
            "valves": [
                {"id": "V1", "from": "A", "to": "B", "open": true, "diameter_mm": 100},
                {"id": "V2", "from": "A", "to": "B", "open": true, "diameter_mm": 100}
            ],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4.0, "kind": "city_gate"}],
            "consumers": [{"id": "CC", "node": "C", "kind": "residential", "demand_kg_s": 0.1}]
        }),
    );
    let err = SteadySolver::new(&net, SolveOptions::default())
        .solve(&net)
        .unwrap_err();
    assert!(matches!(err, SolveError::Singular { .. }), "{err}");
}

#[test]
fn linepack_of_one_pipe_is_density_at_mean_pressure_times_volume() {
    let net = station(6.0, 0.5);
    let s = solve(&net);
    let lp = linepack(&net, &s);
    let (pi, pj) = (s.pressure_bar_abs[0], s.pressure_bar_abs[1]);
    let pm = 2.0 / 3.0 * (pi.powi(3) - pj.powi(3)) / (pi * pi - pj * pj);
    let volume = std::f64::consts::PI * 0.15 * 0.15 / 4.0 * 1000.0;
    let expected = net.gas.density_kg_m3(pm, 283.15) * volume;
    assert!((lp.pipe_kg[0] - expected).abs() < 1e-9 * expected);
    assert!((lp.total_kg - lp.pipe_kg.iter().sum::<f64>()).abs() < 1e-12);
}

#[test]
fn the_pivoting_fallback_gives_the_same_solution() {
    let net = station(6.0, 0.5);
    let reference = solve(&net);
    let options = SolveOptions {
        linear_solver: LinearSolver::PartialPivoting,
        ..SolveOptions::default()
    };
    let mut solver = SteadySolver::new(&net, options);
    let pivoted = solver.solve(&net).unwrap();
    assert!(solver.layout.as_ref().unwrap().needs_pivoting.get());
    for (a, b) in reference.pressure_bar_abs.iter().zip(&pivoted.pressure_bar_abs) {
        assert!((a - b).abs() < 1e-12);
    }
}

#[test]
fn colebrook_converges_through_zero_flow() {
    // A dead-end branch carries exactly no flow.
    let net = network(
        &["A", "B", "C", "Dead"],
        &[
            ("P1", "A", "B", 500.0, 100.0),
            ("P2", "B", "C", 500.0, 100.0),
            ("P3", "B", "Dead", 500.0, 100.0),
        ],
        json!({
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4.0, "kind": "city_gate"}],
            "consumers": [{"id": "CC", "node": "C", "kind": "residential", "demand_kg_s": 0.1}]
        }),
    );
    let options = SolveOptions {
        friction: FrictionLaw::Colebrook,
        ..SolveOptions::default()
    };
    let s = SteadySolver::new(&net, options).solve(&net).unwrap();
    assert!(s.pipe_flow_kg_s[2].abs() < 1e-12);
    assert!((p_g(&net, &s, "Dead") - p_g(&net, &s, "B")).abs() < 1e-9);
}

#[test]
fn a_storage_step_closes_the_mass_balance_with_the_linepack_change() {
    // A long line behind a regulator, demand doubling: the line unpacks, so
    // for a while the supply delivers less than the demand.
    let mut net = station(8.0, 0.3);
    for p in &mut net.pipes {
        p.length_m = 5_000.0;
    }
    let mut solver = SteadySolver::new(&net, SolveOptions::default());
    let mut state = solver.solve(&net).unwrap();
    let before = linepack(&net, &state).total_kg;
    net.consumers[0].demand_kg_s = 0.6;
    let dt = 60.0;
    solver.step(&net, &mut state, dt).unwrap();
    let after = linepack(&net, &state).total_kg;
    let supplied: f64 = state.supply_flow_kg_s.iter().sum();
    let packing = (after - before) / dt;
    assert!(packing < -1e-3, "the line unpacks: {packing} kg/s");
    assert!(supplied < 0.6, "part of the demand comes out of the line: {supplied}");
    assert!(
        (supplied - 0.6 - packing).abs() < 1e-9,
        "supply {supplied} = demand 0.6 + packing {packing}"
    );
    // Step on with the demand held: it tends to the new steady state.
    for _ in 0..2000 {
        solver.step(&net, &mut state, dt).unwrap();
    }
    let steady = solve(&net);
    assert!((state.supply_flow_kg_s[0] - steady.supply_flow_kg_s[0]).abs() < 1e-6);
    assert!((p_g(&net, &state, "D") - p_g(&net, &steady, "D")).abs() < 1e-6);
}

/// Supply at A (`p_in` bar g) –P1– B =compressor (set 60 bar g)=> C –P2– D, demand at D.
fn compressor_line(p_in: f64) -> Network {
    network(
        &["A", "B", "C", "D"],
        &[("P1", "A", "B", 50_000.0, 500.0), ("P2", "C", "D", 50_000.0, 500.0)],
        json!({
            "compressors": [{"id": "K", "from": "B", "to": "C", "outlet_pressure_bar_g": 60.0}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": p_in, "kind": "other"}],
            "consumers": [{"id": "X", "node": "D", "kind": "industrial", "demand_kg_s": 40.0}]
        }),
    )
}

#[test]
fn a_compressor_raises_its_outlet_to_the_set_point() {
    let net = compressor_line(40.0);
    let s = solve(&net);
    let (state, flow) = regulator(&net, &s, "K");
    assert_eq!(state, RegulatorState::Active);
    assert!((flow - 40.0).abs() < 1e-9);
    assert!((p_g(&net, &s, "C") - 60.0).abs() < 1e-9);
    assert!(p_g(&net, &s, "B") < 40.0, "suction below the supply");
}

#[test]
fn a_compressor_with_its_inlet_above_the_set_point_is_bypassed() {
    let net = compressor_line(75.0);
    let s = solve(&net);
    let (state, flow) = regulator(&net, &s, "K");
    assert_eq!(state, RegulatorState::Open);
    assert!((flow - 40.0).abs() < 1e-9);
    assert!((p_g(&net, &s, "B") - p_g(&net, &s, "C")).abs() < 1e-9);
    assert!(p_g(&net, &s, "C") > 60.0);
}

/// A regulator feeding a loop D–E–F–D, users at E and F.
fn fed_loop() -> Network {
    network(
        &["A", "B", "C", "D", "E", "F"],
        &[
            ("P1", "A", "B", 1000.0, 150.0),
            ("P2", "C", "D", 500.0, 100.0),
            ("P3", "D", "E", 800.0, 80.0),
            ("P4", "E", "F", 600.0, 80.0),
            ("P5", "F", "D", 900.0, 80.0),
        ],
        json!({
            "regulators": [{"id": "R", "from": "B", "to": "C", "outlet_pressure_bar_g": 1.5}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4.0, "kind": "city_gate"}],
            "consumers": [
                {"id": "CE", "node": "E", "kind": "residential", "demand_kg_s": 0.05},
                {"id": "CF", "node": "F", "kind": "residential", "demand_kg_s": 0.08}
            ]
        }),
    )
}

#[test]
fn withdrawal_response_matches_a_finite_difference() {
    let net = fed_loop();
    let mut solver = SteadySolver::new(&net, SolveOptions::default());
    let base = solver.solve(&net).unwrap();
    let nodes: Vec<NodeIdx> = ["E", "F", "A", "B"]
        .iter()
        .map(|id| net.find_node(id).unwrap())
        .collect();
    let mut responses = Vec::new();
    solver
        .withdrawal_responses(&net, &base, &[], &nodes, |r| responses.push(r.clone()))
        .unwrap();
    assert_eq!(responses.len(), 4);
    let dq = 1e-4;
    for r in &responses[..2] {
        // The same extra withdrawal, solved in full.
        let mut leaky = net.clone();
        let c = leaky.consumers.iter().position(|c| c.node == r.node).unwrap();
        leaky.consumers[c].demand_kg_s += dq;
        let solved = SteadySolver::new(&leaky, SolveOptions::default())
            .solve(&leaky)
            .unwrap();
        for i in 0..net.nodes.len() {
            let fd = (solved.pressure_bar_abs[i] - base.pressure_bar_abs[i]) / dq;
            assert!(
                (fd - r.pressure_bar[i]).abs() <= 1e-3 * fd.abs().max(1e-6),
                "node {}: finite difference {fd}, response {}",
                net.nodes[i].id,
                r.pressure_bar[i]
            );
        }
        for p in 0..net.pipes.len() {
            let fd = (solved.pipe_flow_kg_s[p] - base.pipe_flow_kg_s[p]) / dq;
            assert!(
                (fd - r.pipe_flow_kg_s[p]).abs() < 1e-3,
                "pipe {p}: {fd} vs {}",
                r.pipe_flow_kg_s[p]
            );
        }
        // Everything extra comes through the regulator and the supply.
        assert!((r.regulator_flow_kg_s[0] - 1.0).abs() < 1e-9);
        assert!((r.supply_flow_kg_s[0] - 1.0).abs() < 1e-9);
        assert!(
            r.pressure_bar[i_of(&net, "E")] < 0.0,
            "a withdrawal lowers the pressure"
        );
        assert_eq!(r.pressure_bar[i_of(&net, "C")], 0.0, "the regulator holds its outlet");
    }
    // At the supply's node only the supply answers.
    assert_eq!(responses[2].supply_flow_kg_s[0], 1.0);
    assert!(responses[2].pressure_bar.iter().all(|&p| p == 0.0));
    // Upstream of the regulator: the supply delivers it, the regulator does not.
    assert!((responses[3].supply_flow_kg_s[0] - 1.0).abs() < 1e-9);
    assert!(responses[3].regulator_flow_kg_s[0].abs() < 1e-9);
}

#[test]
fn the_response_about_half_a_leak_gives_its_whole_effect() {
    // A leak at F of 60 % of the loop's demand: the response about the
    // state without it (the tangent) misses the growth of the losses with
    // the flow; the response about the state with half of it (the
    // midpoint) times the leak matches the solve with the leak in full.
    let net = fed_loop();
    let f = net.find_node("F").unwrap();
    let q = 0.08;
    let mut solver = SteadySolver::new(&net, SolveOptions::default());
    let base = solver.solve(&net).unwrap();
    let mut leaky = net.clone();
    let c = leaky.consumers.iter().position(|c| c.node == f).unwrap();
    leaky.consumers[c].demand_kg_s += q;
    let full = SteadySolver::new(&leaky, SolveOptions::default())
        .solve(&leaky)
        .unwrap();
    let mut response = |withdrawn: &[(NodeIdx, f64)]| {
        let mut got = None;
        solver
            .withdrawal_responses(&net, &base, withdrawn, &[f], |r| got = Some(r.clone()))
            .unwrap();
        got.unwrap()
    };
    let (tangent, midpoint) = (response(&[]), response(&[(f, q / 2.0)]));
    for node in ["E", "F"] {
        let i = i_of(&net, node);
        let effect = full.pressure_bar_abs[i] - base.pressure_bar_abs[i];
        let off = |r: &WithdrawalResponse| (q * r.pressure_bar[i] - effect).abs();
        assert!(
            off(&tangent) > 0.02 * effect.abs(),
            "{node}: the tangent is off by {}",
            off(&tangent)
        );
        assert!(
            off(&midpoint) < 0.05 * off(&tangent),
            "{node}: midpoint off by {}, tangent by {}",
            off(&midpoint),
            off(&tangent)
        );
    }
    // The state asked about is left as it was; the extra withdrawal is
    // not left behind in the solver.
    assert_eq!(solver.solve(&net).unwrap().pressure_bar_abs, base.pressure_bar_abs);
}

fn i_of(net: &Network, id: &str) -> usize {
    net.find_node(id).unwrap().index()
}
