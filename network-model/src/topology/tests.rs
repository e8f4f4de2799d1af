use serde_json::json;

use super::*;
use crate::solver::{SolveOptions, SteadySolver};
use crate::testing::network;

fn node(net: &Network, id: &str) -> NodeIdx {
    net.find_node(id).unwrap()
}

fn ids(net: &Network, nodes: &[NodeIdx]) -> Vec<String> {
    let mut v: Vec<String> = nodes.iter().map(|n| net.node(*n).id.clone()).collect();
    v.sort();
    v
}

fn element(net: &Network, id: &str) -> ElementRef {
    net.find(id).unwrap()
}

/// A ring fed at A: A –P1– B –P2– B2 –V1– C, C –P3– D and C –P4– D in
/// parallel, D –P5– A2 –V2– A closing the ring, and a spur D –P6– E;
/// consumers at B, C and E.
fn ring() -> Network {
    network(
        &["A", "A2", "B", "B2", "C", "D", "E"],
        &[
            ("P1", "A", "B", 100.0, 100.0),
            ("P2", "B", "B2", 100.0, 100.0),
            ("P3", "C", "D", 100.0, 100.0),
            ("P4", "D", "C", 100.0, 100.0),
            ("P5", "A2", "D", 100.0, 100.0),
            ("P6", "D", "E", 100.0, 100.0),
        ],
        json!({
            "valves": [
                {"id": "V1", "from": "B2", "to": "C", "open": true, "diameter_mm": 100},
                {"id": "V2", "from": "A", "to": "A2", "open": true, "diameter_mm": 100}
            ],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"}],
            "consumers": [
                {"id": "CC", "node": "C", "kind": "commercial", "demand_kg_s": 0.01},
                {"id": "CE", "node": "E", "kind": "residential", "demand_kg_s": 0.01},
                {"id": "CB", "node": "B", "kind": "residential", "demand_kg_s": 0.01}
            ]
        }),
    )
}

#[test]
fn isolation_of_a_pipe_in_a_meshed_ring() {
    let net = ring();
    let topo = Topology::new(&net);
    let Some(ElementRef::Pipe(p3)) = net.find("P3") else {
        panic!()
    };
    let iso = topo.isolation(&net, p3);
    // The segment C–D–E (with the parallel pipe P4 and spur P6) is bounded by
    // V1 and, through P5 to A2, by V2.
    let valves: Vec<&str> = iso
        .valves_to_close
        .iter()
        .map(|v| net.valves[v.index()].id.as_str())
        .collect();
    assert_eq!(valves, ["V1", "V2"]);
    assert_eq!(ids(&net, &iso.segment_nodes), ["A2", "C", "D", "E"]);
    let pipes: Vec<&str> = iso
        .segment_pipes
        .iter()
        .map(|p| net.pipes[p.index()].id.as_str())
        .collect();
    assert_eq!(pipes, ["P3", "P4", "P5", "P6"]);
    let cut: Vec<&str> = iso
        .consumers_cut_off
        .iter()
        .map(|c| net.consumers[c.index()].id.as_str())
        .collect();
    assert_eq!(cut, ["CC", "CE"], "the consumer at B keeps its gas");
    assert!(iso.supplies_to_shut.is_empty() && iso.valves_already_closed.is_empty());
}

#[test]
fn isolation_next_to_a_station_must_shut_the_station() {
    let net = ring();
    let topo = Topology::new(&net);
    let Some(ElementRef::Pipe(p1)) = net.find("P1") else {
        panic!()
    };
    let iso = topo.isolation(&net, p1);
    assert_eq!(iso.supplies_to_shut.len(), 1, "no valve between station S and pipe P1");
    let valves: Vec<&str> = iso
        .valves_to_close
        .iter()
        .map(|v| net.valves[v.index()].id.as_str())
        .collect();
    assert_eq!(valves, ["V1", "V2"]);
    // Everything loses gas: the only station is shut.
    assert_eq!(iso.consumers_cut_off.len(), 3);
}

#[test]
fn isolation_reports_valves_already_closed_and_crosses_regulators_upstream_only() {
    // S→A –P1– B =R=> C –P2– D, closed valve VC from D to E.
    let net = network(
        &["A", "B", "C", "D", "E"],
        &[("P1", "A", "B", 100.0, 100.0), ("P2", "C", "D", 100.0, 100.0)],
        json!({
            "valves": [
                {"id": "V0", "from": "A", "to": "B", "open": true, "diameter_mm": 100},
                {"id": "VC", "from": "D", "to": "E", "open": false, "diameter_mm": 100}
            ],
            "regulators": [{"id": "R", "from": "B", "to": "C", "outlet_pressure_bar_g": 1}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"}]
        }),
    );
    let topo = Topology::new(&net);
    let Some(ElementRef::Pipe(p2)) = net.find("P2") else {
        panic!()
    };
    let iso = topo.isolation(&net, p2);
    // Gas reaches P2 through R from B, and B from A through P1 and V0.
    assert_eq!(ids(&net, &iso.segment_nodes), ["A", "B", "C", "D"]);
    assert_eq!(iso.valves_already_closed.len(), 1);
    let Some(ElementRef::Pipe(p1)) = net.find("P1") else {
        panic!()
    };
    let upstream = topo.isolation(&net, p1);
    // Isolating P1 does not reach past R: no gas flows back through it.
    assert_eq!(ids(&net, &upstream.segment_nodes), ["A", "B"]);
}

#[test]
fn supplied_nodes_respect_valves_service_and_regulator_direction() {
    let net = network(
        &["A", "B", "C", "D", "X"],
        &[("P1", "A", "B", 100.0, 100.0), ("P2", "C", "D", 100.0, 100.0)],
        json!({
            "valves": [{"id": "V", "from": "D", "to": "X", "open": false, "diameter_mm": 100}],
            // R points from C to B: gas from A cannot pass it backwards.
            "regulators": [{"id": "R", "from": "C", "to": "B", "outlet_pressure_bar_g": 1}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"}]
        }),
    );
    let topo = Topology::new(&net);
    let supplied = topo.supplied(&net);
    let have: Vec<&str> = (0..5)
        .filter(|&i| supplied[i])
        .map(|i| net.nodes[i].id.as_str())
        .collect();
    assert_eq!(have, ["A", "B"]);
    let comps = topo.components(&net);
    // {A, B, C, D} joined (the regulator joins), {X} alone behind the closed valve.
    assert_eq!(comps.list.len(), 2);
    assert_eq!(
        comps.list[comps.of_node[node(&net, "A").index()] as usize]
            .supplies
            .len(),
        1
    );
    assert!(
        comps.list[comps.of_node[node(&net, "X").index()] as usize]
            .supplies
            .is_empty()
    );
}

#[test]
fn with_two_stations_a_station_or_main_failure_cuts_off_nothing() {
    // Two stations feed a shared main B–C; station S2's own feeder F hangs off D.
    let net = network(
        &["A", "B", "C", "D", "F"],
        &[
            ("P1", "A", "B", 100.0, 100.0),
            ("P2", "B", "C", 100.0, 100.0),
            ("P3", "D", "C", 100.0, 100.0),
            ("P4", "F", "D", 100.0, 100.0),
        ],
        json!({
            "supplies": [
                {"id": "S1", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"},
                {"id": "S2", "node": "F", "pressure_bar_g": 4, "kind": "lng"}
            ]
        }),
    );
    let topo = Topology::new(&net);
    assert!(
        topo.cut_off_by(&net, element(&net, "S2")).is_empty(),
        "S1 still feeds everything"
    );
    assert_eq!(
        ids(&net, &topo.cut_off_by(&net, element(&net, "P2"))),
        Vec::<String>::new()
    );
    // Losing node D cuts F off from S1 (and S2 is at F, so F keeps gas).
    assert!(topo.cut_off_by(&net, element(&net, "D")).contains(&node(&net, "D")));
    let two_lost = topo.cut_off_by(&net, element(&net, "S1"));
    assert!(two_lost.is_empty(), "S2 feeds A through the main");
}

#[test]
fn cut_off_by_a_valve_on_a_radial_line() {
    let net = ring();
    let topo = Topology::new(&net);
    // Closing V2 alone: D, E, C still fed through B and V1.
    assert!(topo.cut_off_by(&net, element(&net, "V2")).is_empty());
    // Losing the station loses everything.
    assert_eq!(topo.cut_off_by(&net, element(&net, "S")).len(), 7);
}

#[test]
fn upstream_and_downstream_follow_the_solved_flow() {
    // A tree: S→A –P1– B –P2– C, B –P3– D; demands at C and D.
    let net = network(
        &["A", "B", "C", "D"],
        &[
            ("P1", "A", "B", 500.0, 100.0),
            ("P2", "B", "C", 500.0, 100.0),
            ("P3", "D", "B", 500.0, 100.0),
        ],
        json!({
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"}],
            "consumers": [
                {"id": "CC", "node": "C", "kind": "industrial", "demand_kg_s": 0.1},
                {"id": "CD", "node": "D", "kind": "industrial", "demand_kg_s": 0.1}
            ]
        }),
    );
    let state = SteadySolver::new(&net, SolveOptions::default()).solve(&net).unwrap();
    let topo = Topology::new(&net);
    // P3 points D→B but carries gas B→D: downstream of it is D alone.
    assert_eq!(ids(&net, &topo.downstream(&net, &state, element(&net, "P3"))), ["D"]);
    assert_eq!(ids(&net, &topo.upstream(&net, &state, element(&net, "P3"))), ["A", "B"]);
    assert_eq!(
        ids(&net, &topo.downstream(&net, &state, element(&net, "S"))),
        ["A", "B", "C", "D"]
    );
    assert_eq!(
        ids(&net, &topo.upstream(&net, &state, element(&net, "CC"))),
        ["A", "B", "C"]
    );
}

#[test]
fn metered_zones_are_cut_at_the_meters_whatever_the_valves() {
    let net = ring();
    let p = |id: &str| match element(&net, id) {
        ElementRef::Pipe(i) => BranchRef::Pipe(i),
        ElementRef::Valve(i) => BranchRef::Valve(i),
        _ => unreachable!(),
    };
    // Meters on P2 and P5 cut the ring in two; A2 stays with A through V2.
    let (p2, p5) = (p("P2"), p("P5"));
    let zones = Topology::new(&net).metered_zones(&net, &|b| b == p2 || b == p5);
    let named: Vec<Vec<String>> = zones.iter().map(|z| ids(&net, z)).collect();
    assert_eq!(named, [vec!["A", "A2", "B"], vec!["B2", "C", "D", "E"]]);
    // No meters: one zone.
    assert_eq!(Topology::new(&net).metered_zones(&net, &|_| false).len(), 1);
}

#[test]
fn distances_run_along_the_pipes_and_stop_at_the_limit() {
    let net = ring();
    let topo = Topology::new(&net);
    let at = |d: &[f64], id: &str| d[node(&net, id).index()];
    // From A: valves count nothing, so A2 is at 0 and D one pipe away; C is
    // two pipes away both ways round the ring.
    let d = topo.distances(&net, &[(node(&net, "A"), 0.0)], f64::INFINITY);
    for (id, m) in [
        ("A", 0.0),
        ("A2", 0.0),
        ("B", 100.0),
        ("D", 100.0),
        ("B2", 200.0),
        ("C", 200.0),
        ("E", 200.0),
    ] {
        assert_eq!(at(&d, id), m, "{id}");
    }
    let near = topo.distances(&net, &[(node(&net, "A"), 0.0)], 150.0);
    assert_eq!(at(&near, "D"), 100.0);
    assert!(at(&near, "C").is_infinite() && at(&near, "E").is_infinite());
    // A place 30 m along P1 from B.
    let d = topo.distances(&net, &[(node(&net, "B"), 30.0), (node(&net, "A"), 70.0)], f64::INFINITY);
    assert_eq!(
        (at(&d, "B"), at(&d, "A"), at(&d, "B2"), at(&d, "D")),
        (30.0, 70.0, 130.0, 170.0)
    );
    // The same from the place itself, and on to places along pipes.
    let (Some(ElementRef::Pipe(p1)), Some(ElementRef::Pipe(p2))) = (net.find("P1"), net.find("P2")) else {
        panic!()
    };
    let start = Place::Pipe(p1, 0.7);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    let from_place = topo.distances_from(&net, start, f64::INFINITY);
    assert!(from_place.iter().zip(&d).all(|(a, b)| close(*a, *b)), "{from_place:?}");
    assert!(close(distance_to(&net, &d, start, Place::Pipe(p1, 0.2)), 50.0));
    assert!(close(distance_to(&net, &d, start, Place::Pipe(p2, 0.5)), 80.0));
    assert!(close(distance_to(&net, &d, start, Place::Node(node(&net, "A"))), 70.0));
}
