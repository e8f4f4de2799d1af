//! Where a leak can be in a zone: points along its mains. A leak on a pipe
//! between nodes A and B, at a fraction x of the way from A, draws on the
//! rest of the network exactly as withdrawals of (1 − x) of it at A and x
//! at B would (in the linearized network, with the pipe's resistance
//! proportional to its length: the two pieces of the pipe in series are
//! the pipe again), so a point's signature is that mix of its ends' node
//! signatures and costs no solve of its own. Each point carries its share
//! of the mains as prior (leaks happen along pipes, about in proportion to
//! their length) and the points within a crew's search radius of it.

use linepack_network::Network;
use linepack_network::ids::{NodeIdx, PipeIdx};
use linepack_network::topology::{Place, Topology, distance_to};

/// Points per pipe, at the middles of equal pieces.
const POINTS_PER_PIPE: usize = 5;
/// Places within a point's piece of pipe its fit is taken at: a leak
/// anywhere in the piece belongs to the point.
const SAMPLES_PER_POINT: usize = 4;
/// Prior of a node without a main in the zone (its users' service lines), m.
const NODE_PRIOR_M: f64 = 1.0;

/// One place a leak can be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Ends, as indices into the zone's nodes (the same for a node).
    pub a: u32,
    pub b: u32,
    /// Fraction of the way from `a` to `b`.
    pub x: f64,
    /// The pipe the point lies on (none: at a node).
    pub pipe: Option<PipeIdx>,
    /// The length of main the point stands for, m.
    pub prior_m: f64,
}

/// A zone's candidate leak places (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Places {
    /// The zone's nodes, whose signatures are solved.
    pub nodes: Vec<NodeIdx>,
    pub points: Vec<Point>,
    /// For each point, the points (indices) within the radius, with their
    /// distance from it, m.
    near: Vec<Vec<(u32, f64)>>,
    radius_m: f64,
}

impl Places {
    /// The places of a zone of `nodes`: points along the pipes with both
    /// ends in it, and the nodes without such a pipe; each with its
    /// neighbours within `radius_m` of network distance.
    pub fn new(network: &Network, topology: &Topology, nodes: Vec<NodeIdx>, radius_m: f64) -> Places {
        let mut place_of = vec![u32::MAX; network.nodes.len()];
        for (k, n) in nodes.iter().enumerate() {
            place_of[n.index()] = k as u32;
        }
        let mut points = Vec::new();
        let mut has_main = vec![false; nodes.len()];
        // The points at each node's pipes, to find a point's neighbours.
        let mut at_node: Vec<Vec<u32>> = vec![Vec::new(); nodes.len()];
        for (i, p) in network.pipes.iter().enumerate() {
            let (a, b) = (place_of[p.from.index()], place_of[p.to.index()]);
            if !p.in_service || a == u32::MAX || b == u32::MAX || a == b {
                continue;
            }
            has_main[a as usize] = true;
            has_main[b as usize] = true;
            for k in 0..POINTS_PER_PIPE {
                at_node[a as usize].push(points.len() as u32);
                at_node[b as usize].push(points.len() as u32);
                points.push(Point {
                    a,
                    b,
                    x: (k as f64 + 0.5) / POINTS_PER_PIPE as f64,
                    pipe: Some(PipeIdx::new(i)),
                    prior_m: p.length_m / POINTS_PER_PIPE as f64,
                });
            }
        }
        for (k, _) in has_main.iter().enumerate().filter(|(_, m)| !**m) {
            at_node[k].push(points.len() as u32);
            points.push(Point {
                a: k as u32,
                b: k as u32,
                x: 0.0,
                pipe: None,
                prior_m: NODE_PRIOR_M,
            });
        }
        let place = |p: &Point| match p.pipe {
            Some(i) => Place::Pipe(i, p.x),
            None => Place::Node(nodes[p.a as usize]),
        };
        let near = points
            .iter()
            .map(|p| {
                let start = place(p);
                let d = topology.distances_from(network, start, radius_m);
                let mut near: Vec<(u32, f64)> = nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| d[n.index()].is_finite())
                    .flat_map(|(k, _)| at_node[k].iter().copied())
                    .filter_map(|j| {
                        let d = distance_to(network, &d, start, place(&points[j as usize]));
                        (d <= radius_m).then_some((j, d))
                    })
                    .collect();
                near.sort_unstable_by_key(|&(j, _)| j);
                near.dedup_by_key(|&mut (j, _)| j);
                near
            })
            .collect();
        Places {
            nodes,
            points,
            near,
            radius_m,
        }
    }

    /// For each point, the probability that the leak is within the radius
    /// of it, from each point's `probability`.
    pub fn within(&self, probability: &[f64]) -> Vec<f64> {
        self.near
            .iter()
            .map(|near| near.iter().map(|&(j, _)| probability[j as usize]).sum())
            .collect()
    }

    /// Half the leak, as withdrawals at the zone's nodes (node, kg/s): each
    /// point's `probability` times half its fitted rate (`fits`: rate, χ²),
    /// split between its ends as the point draws on them.
    pub fn half_leak(&self, probability: &[f64], fits: &[(f64, f64)]) -> Vec<(NodeIdx, f64)> {
        let mut at = vec![0.0; self.nodes.len()];
        for ((p, &pr), &(q, _)) in self.points.iter().zip(probability).zip(fits) {
            let w = 0.5 * pr * q;
            if w > 0.0 && w.is_finite() {
                at[p.a as usize] += (1.0 - p.x) * w;
                at[p.b as usize] += p.x * w;
            }
        }
        self.nodes
            .iter()
            .zip(at)
            .filter(|&(_, w)| w > 0.0)
            .map(|(&n, w)| (n, w))
            .collect()
    }

    /// For each point, how close the probability lies to it: each point
    /// within the radius counts with 1 − its distance / the radius. A crew
    /// sent there searches outwards; a place at the edge of a cluster of
    /// evidence, whose radius just reaches a little more, is no better.
    pub fn closeness(&self, probability: &[f64]) -> Vec<f64> {
        self.near
            .iter()
            .map(|near| {
                near.iter()
                    .map(|&(j, d)| probability[j as usize] * (1.0 - d / self.radius_m).max(0.0))
                    .sum()
            })
            .collect()
    }

    /// A search plan of at most `count` points, one per `group` (a pipe):
    /// the first is the point the probability lies closest to
    /// ([`closeness`](Self::closeness)); each next one the point closest
    /// to the probability not yet within the radius of those before it, so
    /// a second place the evidence points to is listed rather than the
    /// first one's neighbours. Ties go to the lower `tiebreak` (a point's
    /// χ²), then the lower index. Each point comes with the probability
    /// that the leak is within the radius of it or of one before it: what
    /// searching them in order finds.
    pub fn search_plan<G: std::hash::Hash + Eq>(
        &self,
        probability: &[f64],
        tiebreak: &[f64],
        group: impl Fn(usize) -> G,
        count: usize,
    ) -> Vec<(usize, f64)> {
        let mut left = probability.to_vec();
        let mut listed = std::collections::HashSet::new();
        let mut covered = 0.0;
        let mut plan = Vec::with_capacity(count);
        while plan.len() < count {
            // To a millionth: summation order must not decide.
            let closeness: Vec<i64> = self
                .closeness(&left)
                .into_iter()
                .map(|c| -(c * 1e6).round() as i64)
                .collect();
            let Some(k) = (0..self.points.len())
                .filter(|&k| !listed.contains(&group(k)))
                .min_by(|&x, &y| {
                    closeness[x]
                        .cmp(&closeness[y])
                        .then(tiebreak[x].total_cmp(&tiebreak[y]))
                })
            else {
                break;
            };
            listed.insert(group(k));
            for &(j, _) in &self.near[k] {
                covered += left[j as usize];
                left[j as usize] = 0.0;
            }
            plan.push((k, covered));
        }
        plan
    }

    /// Where along its pipe a point's fit is taken: spread evenly over the
    /// piece of pipe the point stands for (a lone node: at it). On a clean
    /// day the fit is sharper than a piece: a leak 80 % along a pipe fitted
    /// its own pipe's points at 70 % and 90 % worse than a far place.
    pub fn samples(point: &Point) -> impl Iterator<Item = f64> {
        let (piece, n) = match point.pipe {
            Some(_) => (1.0 / POINTS_PER_PIPE as f64, SAMPLES_PER_POINT),
            None => (0.0, 1),
        };
        (0..n).map(move |i| point.x + piece * ((i as f64 + 0.5) / n as f64 - 0.5))
    }

    /// The signature of a leak `x` of the way along `point`'s pipe, from
    /// its ends' (`signatures`: nodes × `sensors`).
    pub fn signature<'a>(
        &self,
        point: &Point,
        x: f64,
        signatures: &'a [f64],
        sensors: usize,
    ) -> impl Iterator<Item = f64> + 'a {
        let (a, b) = (point.a as usize * sensors, point.b as usize * sensors);
        (0..sensors).map(move |j| (1.0 - x) * signatures[a + j] + x * signatures[b + j])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use linepack_network::file::{self, Format};
    use std::path::Path;

    /// A–B–C in a row, 100 m pipes, fed at A; a user at C and a pressure
    /// sensor at B (also eval's and the model's test network).
    pub(crate) fn row() -> Network {
        let text = r#"{"version": 1, "name": "row",
            "gas": {"name": "ng", "density_normal_kg_m3": 0.8, "viscosity_pa_s": 1.1e-5, "temperature_k": 283.15,
                    "compressibility": {"model": "constant", "z": 1.0}},
            "nodes": [{"id": "A", "elevation_m": 0}, {"id": "B", "elevation_m": 0}, {"id": "C", "elevation_m": 0}],
            "pipes": [{"id": "P1", "from": "A", "to": "B", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.05},
                      {"id": "P2", "from": "B", "to": "C", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.05}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 1, "kind": "city_gate"}],
            "consumers": [{"id": "U", "node": "C", "kind": "industrial", "demand_nm3_h": 100}],
            "sensors": [{"id": "PT-B", "kind": "pressure", "at": "B"}]}"#;
        file::parse(text, Format::Json, Path::new("row.json")).unwrap()
    }

    #[test]
    fn points_lie_along_the_pipes_and_know_their_neighbours() {
        let net = row();
        let nodes: Vec<NodeIdx> = (0..3).map(NodeIdx::new).collect();
        let places = Places::new(&net, &Topology::new(&net), nodes, 50.0);
        assert_eq!(places.points.len(), 2 * POINTS_PER_PIPE);
        assert!(places.points.iter().all(|p| p.prior_m == 20.0));
        // P1 at 90 % (10 m from B) reaches P2's points up to 40 m past B,
        // and P1's own back to 40 m.
        let k = places
            .points
            .iter()
            .position(|p| p.pipe == Some(PipeIdx::new(0)) && p.x == 0.9)
            .unwrap();
        let near: Vec<(usize, f64, f64)> = places.near[k]
            .iter()
            .map(|&(j, d)| {
                let p = &places.points[j as usize];
                (p.pipe.unwrap().index(), p.x, (d * 1e9).round() / 1e9)
            })
            .collect();
        assert_eq!(
            near,
            [
                (0, 0.5, 40.0),
                (0, 0.7, 20.0),
                (0, 0.9, 0.0),
                (1, 0.1, 20.0),
                (1, 0.3, 40.0)
            ]
        );
        // A point's signature mixes its ends'.
        let signatures = [1.0, 10.0, 2.0, 20.0, 4.0, 40.0];
        let s: Vec<f64> = places.signature(&places.points[k], 0.9, &signatures, 2).collect();
        assert!((s[0] - 1.9).abs() < 1e-12 && (s[1] - 19.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn a_point_is_fitted_over_its_piece_of_pipe() {
        let net = row();
        let nodes: Vec<NodeIdx> = (0..3).map(NodeIdx::new).collect();
        let places = Places::new(&net, &Topology::new(&net), nodes, 50.0);
        let p = places.points.iter().find(|p| p.x == 0.9).unwrap();
        let xs: Vec<f64> = Places::samples(p).map(|x| (x * 1e9).round() / 1e9).collect();
        assert_eq!(xs, [0.825, 0.875, 0.925, 0.975]);
        let node = Point {
            a: 1,
            b: 1,
            x: 0.0,
            pipe: None,
            prior_m: NODE_PRIOR_M,
        };
        assert_eq!(Places::samples(&node).collect::<Vec<_>>(), [0.0]);
    }

    #[test]
    fn half_the_leak_is_spread_over_the_points_ends_as_weighed() {
        let net = row();
        let nodes: Vec<NodeIdx> = (0..3).map(NodeIdx::new).collect();
        let places = Places::new(&net, &Topology::new(&net), nodes, 50.0);
        let at = |pipe: usize, x: f64| point_at(&places, pipe, x);
        let mut probability = vec![0.0; places.points.len()];
        let mut fits = vec![(0.0, 0.0); places.points.len()];
        // 0.75 of the probability 10 % along A–B at 0.04 kg/s, 0.25 at
        // 90 % along B–C at 0.08 kg/s.
        probability[at(0, 0.1)] = 0.75;
        fits[at(0, 0.1)].0 = 0.04;
        probability[at(1, 0.9)] = 0.25;
        fits[at(1, 0.9)].0 = 0.08;
        let half = places.half_leak(&probability, &fits);
        let expected = [(0, 0.9 * 0.015), (1, 0.1 * 0.015 + 0.1 * 0.01), (2, 0.9 * 0.01)];
        assert_eq!(half.len(), 3, "{half:?}");
        for ((node, w), (i, e)) in half.iter().zip(expected) {
            assert_eq!(node.index(), i);
            assert!((w - e).abs() < 1e-15, "{half:?}");
        }
        // Nothing located: nothing withdrawn.
        assert!(places.half_leak(&vec![0.0; places.points.len()], &fits).is_empty());
    }

    #[test]
    fn a_search_plan_lists_a_second_place_before_the_first_ones_neighbours() {
        // A–B–C–D–E in a row, 100 m pipes; 100 m radius. Most of the
        // probability about B, a third of it at E.
        let net = long_row();
        let nodes: Vec<NodeIdx> = (0..5).map(NodeIdx::new).collect();
        let places = Places::new(&net, &Topology::new(&net), nodes, 100.0);
        let at = |pipe: usize, x: f64| point_at(&places, pipe, x);
        let mut probability = vec![0.0; places.points.len()];
        probability[at(0, 0.9)] = 0.35;
        probability[at(1, 0.1)] = 0.3;
        probability[at(3, 0.9)] = 0.35;
        let fits = vec![0.0; places.points.len()];
        let plan = places.search_plan(&probability, &fits, |k| places.points[k].pipe, 3);
        let stops: Vec<(usize, f64)> = plan
            .iter()
            .map(|&(k, c)| (places.points[k].pipe.unwrap().index(), (c * 1e9).round() / 1e9))
            .collect();
        // B's cluster first (both its points), then E's end of D–E, then
        // nothing left: the best fit of a pipe not yet listed.
        assert_eq!(stops[0], (0, 0.65));
        assert_eq!(stops[1], (3, 1.0));
        assert_eq!(stops[2].1, 1.0);
        assert_eq!(plan.len(), 3);
        // The first stop is the one the closeness alone ranks first.
        let closeness = places.closeness(&probability);
        assert!(closeness.iter().all(|&c| c <= closeness[plan[0].0] + 1e-12));
    }

    /// The index of the point `x` of the way along pipe `pipe`.
    fn point_at(places: &Places, pipe: usize, x: f64) -> usize {
        places
            .points
            .iter()
            .position(|p| p.pipe == Some(PipeIdx::new(pipe)) && p.x == x)
            .unwrap()
    }

    /// A–B–C–D–E in a row, 100 m pipes, fed at A.
    fn long_row() -> Network {
        let text = r#"{"version": 1, "name": "long row",
            "gas": {"name": "ng", "density_normal_kg_m3": 0.8, "viscosity_pa_s": 1.1e-5, "temperature_k": 283.15,
                    "compressibility": {"model": "constant", "z": 1.0}},
            "nodes": [{"id": "A", "elevation_m": 0}, {"id": "B", "elevation_m": 0}, {"id": "C", "elevation_m": 0},
                      {"id": "D", "elevation_m": 0}, {"id": "E", "elevation_m": 0}],
            "pipes": [{"id": "P1", "from": "A", "to": "B", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.05},
                      {"id": "P2", "from": "B", "to": "C", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.05},
                      {"id": "P3", "from": "C", "to": "D", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.05},
                      {"id": "P4", "from": "D", "to": "E", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.05}],
            "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 1, "kind": "city_gate"}],
            "consumers": [{"id": "U", "node": "E", "kind": "industrial", "demand_nm3_h": 100}],
            "sensors": [{"id": "PT-C", "kind": "pressure", "at": "C"}]}"#;
        file::parse(text, Format::Json, Path::new("long-row.json")).unwrap()
    }

    #[test]
    fn the_place_with_most_probability_around_it_beats_the_single_best_point() {
        let net = row();
        let nodes: Vec<NodeIdx> = (0..3).map(NodeIdx::new).collect();
        let places = Places::new(&net, &Topology::new(&net), nodes, 50.0);
        // The single most probable point at the far end of P1, more of the
        // probability spread over P2.
        let mut probability = vec![0.0; places.points.len()];
        probability[0] = 0.3;
        for (j, p) in places.points.iter().enumerate() {
            if p.pipe == Some(PipeIdx::new(1)) && p.x < 0.5 {
                probability[j] = 0.2;
            }
        }
        probability[places.points.len() - 1] = 0.1;
        let within = places.within(&probability);
        let best = (0..within.len())
            .max_by(|&i, &j| within[i].total_cmp(&within[j]))
            .unwrap();
        // The middle of P2 has all of P2's within 40 m.
        assert_eq!(
            (places.points[best].pipe, places.points[best].x),
            (Some(PipeIdx::new(1)), 0.5)
        );
        assert!((within[best] - 0.5).abs() < 1e-12, "{within:?}");
        assert!(within[0] < 0.31);
        // Closeness weighs the near more: P2's first half (0.32, its two
        // points 20 m apart) beats its middle (0.18), whose radius holds
        // more but farther.
        let closeness = places.closeness(&probability);
        let mid = places
            .points
            .iter()
            .position(|p| p.pipe == Some(PipeIdx::new(1)) && p.x == 0.5)
            .unwrap();
        let first = mid - 2;
        assert!((closeness[first] - 0.32).abs() < 1e-12, "{closeness:?}");
        assert!((closeness[mid] - 0.18).abs() < 1e-12, "{closeness:?}");
        assert!(closeness.iter().all(|&c| c <= 0.32 + 1e-12));
    }
}
