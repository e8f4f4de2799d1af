//! The network as a graph (petgraph): nodes are junctions, edges are pipes,
//! valves and regulators. Answers the questions the engine asks of the
//! topology:
//!
//! - which nodes each in-service supply can reach ([`Topology::supplied`],
//!   [`Topology::components`]);
//! - which nodes lose supply when an element fails ([`Topology::cut_off_by`]);
//! - what is upstream or downstream of an element in a flow state
//!   ([`Topology::upstream`], [`Topology::downstream`]);
//! - which valves isolate a pipe and who loses gas then ([`Topology::isolation`]);
//! - how far apart places are along the mains ([`Topology::distances`],
//!   [`distance_to`]).
//!
//! Gas passes pipes in service and open valves both ways, and regulators only
//! from inlet to outlet (they let no flow back).

mod isolation;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use petgraph::graph::{NodeIndex, UnGraph};

pub use isolation::Isolation;

use crate::ids::*;
use crate::network::Network;
use crate::solver::SteadyState;

/// A place in the network: a node, or a fraction of the way along a pipe
/// from its `from` end (a leak, a candidate location).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Place {
    Node(NodeIdx),
    Pipe(PipeIdx, f64),
}

/// Network distance to `place` given `distances` to every node from
/// `start` ([`Topology::distances_from`]): out of a pipe through either
/// end, or along the pipe when `start` lies on the same one.
pub fn distance_to(network: &Network, distances: &[f64], start: Place, place: Place) -> f64 {
    match place {
        Place::Node(n) => distances[n.index()],
        Place::Pipe(i, x) => {
            let p = &network.pipes[i.index()];
            let via_ends =
                (distances[p.from.index()] + x * p.length_m).min(distances[p.to.index()] + (1.0 - x) * p.length_m);
            match start {
                Place::Pipe(j, at) if j == i => via_ends.min((x - at).abs() * p.length_m),
                _ => via_ends,
            }
        }
    }
}

/// The graph of one network. Node `i` of the graph is node `i` of the
/// network; each edge carries its branch.
pub struct Topology {
    graph: UnGraph<NodeIdx, BranchRef, u32>,
}

/// Connected parts of the network over branches that can carry gas.
#[derive(Clone, Debug, PartialEq)]
pub struct Components {
    /// Component of each node.
    pub of_node: Vec<u32>,
    pub list: Vec<Component>,
}

/// One connected part.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    pub nodes: Vec<NodeIdx>,
    /// In-service supplies in this component; none means it has no gas.
    pub supplies: Vec<SupplyIdx>,
}

impl Topology {
    pub fn new(network: &Network) -> Self {
        let mut graph = UnGraph::with_capacity(
            network.nodes.len(),
            network.pipes.len() + network.valves.len() + network.regulators.len(),
        );
        for i in 0..network.nodes.len() {
            graph.add_node(NodeIdx::new(i));
        }
        for b in network.branches() {
            let (f, t) = network.branch_ends(b);
            graph.add_edge(NodeIndex::new(f.index()), NodeIndex::new(t.index()), b);
        }
        Topology { graph }
    }

    /// Branches at a node with the node at their other end.
    fn neighbours<'a>(&'a self, network: &'a Network, n: NodeIdx) -> impl Iterator<Item = (BranchRef, NodeIdx)> + 'a {
        self.graph.edges(NodeIndex::new(n.index())).map(move |e| {
            let b = *e.weight();
            let (f, t) = network.branch_ends(b);
            (b, if f == n { t } else { f })
        })
    }

    /// Whether gas can pass branch `b` from node `at` in its configured state.
    fn passes(network: &Network, b: BranchRef, at: NodeIdx) -> bool {
        match b {
            BranchRef::Regulator(i) => {
                let r = &network.regulators[i.index()];
                r.in_service && r.from == at
            }
            other => network.branch_active(other),
        }
    }

    /// Network distance (m, along the pipes; valves and regulators count
    /// 0, whatever their state) from the nearest of `from` (nodes with the
    /// distance they start at) to every node; `f64::INFINITY` where it is
    /// more than `limit_m` (the search stops there).
    pub fn distances(&self, network: &Network, from: &[(NodeIdx, f64)], limit_m: f64) -> Vec<f64> {
        let mut dist = vec![f64::INFINITY; network.nodes.len()];
        // Non-negative f64 bits order like the values.
        let mut heap = BinaryHeap::new();
        for &(n, d) in from {
            if d <= limit_m && d < dist[n.index()] {
                dist[n.index()] = d;
                heap.push(Reverse((d.to_bits(), n)));
            }
        }
        while let Some(Reverse((bits, n))) = heap.pop() {
            let d = f64::from_bits(bits);
            if d > dist[n.index()] {
                continue;
            }
            for (b, m) in self.neighbours(network, n) {
                let length = match b {
                    BranchRef::Pipe(p) => network.pipes[p.index()].length_m,
                    BranchRef::Valve(_) | BranchRef::Regulator(_) => 0.0,
                };
                let next = d + length;
                if next <= limit_m && next < dist[m.index()] {
                    dist[m.index()] = next;
                    heap.push(Reverse((next.to_bits(), m)));
                }
            }
        }
        dist
    }

    /// [`Topology::distances`] from one place.
    pub fn distances_from(&self, network: &Network, start: Place, limit_m: f64) -> Vec<f64> {
        match start {
            Place::Node(n) => self.distances(network, &[(n, 0.0)], limit_m),
            Place::Pipe(i, x) => {
                let p = &network.pipes[i.index()];
                self.distances(
                    network,
                    &[(p.from, x * p.length_m), (p.to, (1.0 - x) * p.length_m)],
                    limit_m,
                )
            }
        }
    }

    /// Nodes reachable from in-service supplies with `removed` elements taken
    /// out (a removed node neither passes nor receives gas).
    pub fn supplied_without(&self, network: &Network, removed: &dyn Fn(ElementRef) -> bool) -> Vec<bool> {
        let mut seen = vec![false; network.nodes.len()];
        let mut queue = VecDeque::new();
        for (i, s) in network.supplies.iter().enumerate() {
            let blocked = removed(ElementRef::Supply(SupplyIdx::new(i))) || removed(ElementRef::Node(s.node));
            if s.in_service && !blocked && !seen[s.node.index()] {
                seen[s.node.index()] = true;
                queue.push_back(s.node);
            }
        }
        while let Some(n) = queue.pop_front() {
            for (b, m) in self.neighbours(network, n) {
                if !seen[m.index()]
                    && Self::passes(network, b, n)
                    && !removed(b.into())
                    && !removed(ElementRef::Node(m))
                {
                    seen[m.index()] = true;
                    queue.push_back(m);
                }
            }
        }
        seen
    }

    /// Nodes reachable from in-service supplies as configured.
    pub fn supplied(&self, network: &Network) -> Vec<bool> {
        self.supplied_without(network, &|_| false)
    }

    /// Connected components over branches that can carry gas (regulators in
    /// service count both ways here: they join what they connect).
    pub fn components(&self, network: &Network) -> Components {
        let mut of_node = vec![u32::MAX; network.nodes.len()];
        let mut list = Vec::new();
        let mut queue = VecDeque::new();
        for start in 0..network.nodes.len() {
            if of_node[start] != u32::MAX {
                continue;
            }
            let c = list.len() as u32;
            let mut nodes = vec![NodeIdx::new(start)];
            of_node[start] = c;
            queue.push_back(NodeIdx::new(start));
            while let Some(n) = queue.pop_front() {
                for (b, m) in self.neighbours(network, n) {
                    let joins = match b {
                        BranchRef::Regulator(i) => network.regulators[i.index()].in_service,
                        other => network.branch_active(other),
                    };
                    if joins && of_node[m.index()] == u32::MAX {
                        of_node[m.index()] = c;
                        nodes.push(m);
                        queue.push_back(m);
                    }
                }
            }
            nodes.sort_unstable();
            list.push(Component {
                nodes,
                supplies: Vec::new(),
            });
        }
        for (i, s) in network.supplies.iter().enumerate() {
            if s.in_service {
                list[of_node[s.node.index()] as usize].supplies.push(SupplyIdx::new(i));
            }
        }
        Components { of_node, list }
    }

    /// Zones bounded by flow meters: the connected parts of the network
    /// once the branches `metered` says carry a flow meter are cut, each
    /// with its nodes in order; zones ordered by their first node. Every
    /// other branch joins, whatever its state, so zones do not change when
    /// a valve moves. What a balance zone is when the network file names
    /// none.
    pub fn metered_zones(&self, network: &Network, metered: &dyn Fn(BranchRef) -> bool) -> Vec<Vec<NodeIdx>> {
        let mut zone_of = vec![u32::MAX; network.nodes.len()];
        let mut zones = Vec::new();
        let mut queue = VecDeque::new();
        for start in 0..network.nodes.len() {
            if zone_of[start] != u32::MAX {
                continue;
            }
            let z = zones.len() as u32;
            zone_of[start] = z;
            let mut nodes = vec![NodeIdx::new(start)];
            queue.push_back(NodeIdx::new(start));
            while let Some(n) = queue.pop_front() {
                for (b, m) in self.neighbours(network, n) {
                    if !metered(b) && zone_of[m.index()] == u32::MAX {
                        zone_of[m.index()] = z;
                        nodes.push(m);
                        queue.push_back(m);
                    }
                }
            }
            nodes.sort_unstable();
            zones.push(nodes);
        }
        zones
    }

    /// Nodes that have gas now and would lose it if `element` failed (a
    /// station tripping, a valve closing, a pipe cut, a node lost). These are
    /// the nodes whose alarms are consequences of that failure.
    pub fn cut_off_by(&self, network: &Network, element: ElementRef) -> Vec<NodeIdx> {
        let before = self.supplied(network);
        let after = self.supplied_without(network, &|e| e == element);
        (0..network.nodes.len())
            .filter(|&i| before[i] && !after[i])
            .map(NodeIdx::new)
            .collect()
    }

    /// Nodes that gas reaches after passing `element`, following the flow
    /// directions of `state` (flows below `1e-9` kg/s count as none).
    pub fn downstream(&self, network: &Network, state: &SteadyState, element: ElementRef) -> Vec<NodeIdx> {
        self.follow_flow(network, state, element, true)
    }

    /// Nodes whose gas reaches `element`, following the flow directions of
    /// `state` backwards.
    pub fn upstream(&self, network: &Network, state: &SteadyState, element: ElementRef) -> Vec<NodeIdx> {
        self.follow_flow(network, state, element, false)
    }

    fn follow_flow(&self, network: &Network, state: &SteadyState, element: ElementRef, forward: bool) -> Vec<NodeIdx> {
        const NO_FLOW_KG_S: f64 = 1e-9;
        let flow = |b: BranchRef| match b {
            BranchRef::Pipe(i) => state.pipe_flow_kg_s[i.index()],
            BranchRef::Valve(i) => state.valve_flow_kg_s[i.index()],
            BranchRef::Regulator(i) => state.regulator_flow_kg_s[i.index()],
        };
        // Where to start: the end of a branch the gas leaves by (downstream)
        // or enters by (upstream); the node of anything attached to one.
        let start = match element {
            ElementRef::Pipe(_) | ElementRef::Valve(_) | ElementRef::Regulator(_) => {
                let b = match element {
                    ElementRef::Pipe(i) => BranchRef::Pipe(i),
                    ElementRef::Valve(i) => BranchRef::Valve(i),
                    ElementRef::Regulator(i) => BranchRef::Regulator(i),
                    _ => unreachable!(),
                };
                let (f, t) = network.branch_ends(b);
                let m = flow(b);
                if m.abs() <= NO_FLOW_KG_S {
                    return Vec::new();
                }
                if (m > 0.0) == forward { t } else { f }
            }
            ElementRef::Node(n) => n,
            ElementRef::Supply(i) => network.supplies[i.index()].node,
            ElementRef::Consumer(i) => network.consumers[i.index()].node,
            ElementRef::Injection(i) => network.injections[i.index()].node,
            ElementRef::Sensor(i) => match network.sensors[i.index()].at {
                ElementRef::Sensor(_) | ElementRef::Zone(_) => return Vec::new(),
                at => return self.follow_flow(network, state, at, forward),
            },
            ElementRef::Zone(_) => return Vec::new(),
        };
        let mut seen = vec![false; network.nodes.len()];
        seen[start.index()] = true;
        let mut out = vec![start];
        let mut queue = VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            for (b, m) in self.neighbours(network, n) {
                let (f, _) = network.branch_ends(b);
                let q = flow(b);
                // Flow leaves n through b when it runs from n towards m.
                let leaves = if f == n { q > NO_FLOW_KG_S } else { q < -NO_FLOW_KG_S };
                let enters = if f == n { q < -NO_FLOW_KG_S } else { q > NO_FLOW_KG_S };
                let follow = if forward { leaves } else { enters };
                if follow && !seen[m.index()] {
                    seen[m.index()] = true;
                    out.push(m);
                    queue.push_back(m);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The isolation set of a pipe: the valves to close so that no gas can
    /// reach it, and what that cuts off (see [`Isolation`]).
    pub fn isolation(&self, network: &Network, pipe: PipeIdx) -> Isolation {
        isolation::isolate(self, network, pipe)
    }
}
