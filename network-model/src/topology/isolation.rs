//! Valve isolation sets: what must close to take a pipe out safely.

use std::collections::VecDeque;

use super::Topology;
use crate::ids::*;
use crate::network::Network;

/// What isolating one pipe takes, and what it costs.
///
/// The gas-tight segment around the pipe is bounded by valves. Searching out
/// from the pipe through pipes in service, every open valve met must close;
/// a closed one already bounds the segment. A regulator is crossed only from
/// its outlet to its inlet, the way gas could flow into the segment; it lets
/// no gas back, so a segment upstream of it ends there. A supply or
/// injection inside the segment must be shut as well, since no valve stands
/// between it and the pipe.
#[derive(Clone, Debug, PartialEq)]
pub struct Isolation {
    pub pipe: PipeIdx,
    /// Open valves on the boundary of the segment.
    pub valves_to_close: Vec<ValveIdx>,
    /// Valves on the boundary that are already closed.
    pub valves_already_closed: Vec<ValveIdx>,
    /// In-service supplies inside the segment.
    pub supplies_to_shut: Vec<SupplyIdx>,
    /// In-service injections inside the segment.
    pub injections_to_stop: Vec<InjectionIdx>,
    /// Nodes of the segment (losing gas with it).
    pub segment_nodes: Vec<NodeIdx>,
    /// Pipes inside the segment (taken out with it).
    pub segment_pipes: Vec<PipeIdx>,
    /// In-service consumers that have gas now and lose it once the segment is
    /// isolated: those inside it and those fed only through it.
    pub consumers_cut_off: Vec<ConsumerIdx>,
}

pub(super) fn isolate(topology: &Topology, network: &Network, pipe: PipeIdx) -> Isolation {
    let p = &network.pipes[pipe.index()];
    let mut in_segment = vec![false; network.nodes.len()];
    let mut queue = VecDeque::new();
    for n in [p.from, p.to] {
        in_segment[n.index()] = true;
        queue.push_back(n);
    }
    let mut to_close = Vec::new();
    let mut already_closed = Vec::new();
    while let Some(n) = queue.pop_front() {
        for (b, m) in topology.neighbours(network, n) {
            let crosses = match b {
                BranchRef::Pipe(i) => i == pipe || network.pipes[i.index()].in_service,
                BranchRef::Valve(v) => {
                    if network.valves[v.index()].open {
                        to_close.push(v);
                    } else {
                        already_closed.push(v);
                    }
                    false
                }
                BranchRef::Regulator(r) => {
                    let r = &network.regulators[r.index()];
                    r.in_service && r.to == n
                }
            };
            if crosses && !in_segment[m.index()] {
                in_segment[m.index()] = true;
                queue.push_back(m);
            }
        }
    }
    // A valve with both ends inside the segment does not bound it.
    let boundary = |v: &ValveIdx| {
        let valve = &network.valves[v.index()];
        !(in_segment[valve.from.index()] && in_segment[valve.to.index()])
    };
    for list in [&mut to_close, &mut already_closed] {
        list.retain(boundary);
        list.sort_unstable();
        list.dedup();
    }

    let segment_nodes: Vec<NodeIdx> = (0..network.nodes.len())
        .filter(|&i| in_segment[i])
        .map(NodeIdx::new)
        .collect();
    let segment_pipes: Vec<PipeIdx> = network
        .pipes
        .iter()
        .enumerate()
        .filter(|(i, q)| (*i == pipe.index() || q.in_service) && in_segment[q.from.index()] && in_segment[q.to.index()])
        .map(|(i, _)| PipeIdx::new(i))
        .collect();
    let supplies_to_shut: Vec<SupplyIdx> = network
        .supplies
        .iter()
        .enumerate()
        .filter(|(_, s)| s.in_service && in_segment[s.node.index()])
        .map(|(i, _)| SupplyIdx::new(i))
        .collect();
    let injections_to_stop: Vec<InjectionIdx> = network
        .injections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.in_service && in_segment[s.node.index()])
        .map(|(i, _)| InjectionIdx::new(i))
        .collect();

    // Who still has gas with the valves closed and the segment empty.
    let before = topology.supplied(network);
    let after = topology.supplied_without(network, &|e| match e {
        ElementRef::Valve(v) => to_close.contains(&v),
        ElementRef::Node(n) => in_segment[n.index()],
        _ => false,
    });
    let consumers_cut_off: Vec<ConsumerIdx> = network
        .consumers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.in_service && before[c.node.index()] && !after[c.node.index()])
        .map(|(i, _)| ConsumerIdx::new(i))
        .collect();

    Isolation {
        pipe,
        valves_to_close: to_close,
        valves_already_closed: already_closed,
        supplies_to_shut,
        injections_to_stop,
        segment_nodes,
        segment_pipes,
        consumers_cut_off,
    }
}
