//! Cycles: the strongly connected components of more than one module.

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::deps::{Edges, Reason};
use crate::tree::ModId;

/// Modules that depend on each other, directly or around a ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Sorted by module id (the tree's load order).
    pub modules: Vec<ModId>,
    /// The dependencies inside the cycle, with their reasons.
    pub edges: Vec<(ModId, ModId, Vec<Reason>)>,
}

pub fn cycles(modules: usize, edges: &Edges) -> Vec<Cycle> {
    let mut graph = DiGraph::<ModId, ()>::with_capacity(modules, edges.len());
    for m in 0..modules {
        graph.add_node(m);
    }
    graph.extend_with_edges(
        edges
            .keys()
            .map(|&(from, to)| (NodeIndex::new(from), NodeIndex::new(to))),
    );
    let mut out: Vec<Cycle> = tarjan_scc(&graph)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .map(|scc| {
            let mut members: Vec<ModId> = scc.iter().map(|n| graph[*n]).collect();
            members.sort_unstable();
            let inside = edges
                .iter()
                .filter(|((from, to), _)| members.contains(from) && members.contains(to))
                .map(|(&(from, to), reasons)| (from, to, reasons.clone()))
                .collect();
            Cycle {
                modules: members,
                edges: inside,
            }
        })
        .collect();
    out.sort_by(|a, b| a.modules.cmp(&b.modules));
    out
}
