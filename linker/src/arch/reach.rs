//! Stubs are fallbacks: once every address is known, a reference to an external goes
//! straight to it when its field reaches, and through the target's stub only when it
//! doesn't (and the target is code).
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::fixup::page;
use super::{EdgeInfo, Formula, TableUse};
use crate::graph::{BlockId, Definition, LinkGraph};
use crate::Result;

/// Whether an edge described by `info` at `site` reaches `target + addend` without help.
pub fn reaches(info: &EdgeInfo, target: u64, addend: i64, site: u64) -> bool {
    let absolute = i128::from(target).saturating_add(i128::from(addend));
    let value = match info.formula {
        Formula::Relative => absolute.saturating_sub(i128::from(site)),
        Formula::PageRelative => page(absolute).saturating_sub(page(i128::from(site))),
        _ => absolute,
    };
    info.accepts(value)
}

pub fn use_stubs_where_far(graph: &mut LinkGraph) -> Result<()> {
    if graph.stubs.plt.is_empty() {
        return Ok(());
    }
    // The few targets with a stub, by symbol index: most edges are ruled out here, without
    // reading their target's symbol (a cache miss each, spread over the graph's symbols).
    let mut stubbed = vec![false; graph.symbols.len()];
    for target in graph.stubs.plt.keys() {
        if let Some(flag) = stubbed.get_mut(target.index()) {
            *flag = true;
        }
    }
    for b in (0..graph.blocks.len() as u32).map(BlockId) {
        if !graph.block(b).live || graph.block(b).is_zero_fill() {
            continue;
        }
        for i in 0..graph.block(b).edges.len() {
            let Some(&edge) = graph.block(b).edges.get(i) else { continue };
            let Some(info) = graph.arch.edge_info(edge.kind()) else { continue };
            let branch = match info.table {
                TableUse::StubIfFar => false,
                TableUse::BranchStubIfFar => true,
                _ => continue,
            };
            if !stubbed.get(edge.target().index()).is_some_and(|&s| s) {
                continue;
            }
            let target = graph.symbol(edge.target());
            // Only externals get stubs (`tables::build_tables`).
            if !matches!(target.def, Definition::External { .. }) {
                continue;
            }
            let Some(&stub) = graph.stubs.plt.get(&edge.target()) else { continue };
            let site = graph.block(b).addr.wrapping_add(u64::from(edge.offset));
            // An address taken of code may use the stub as the function's address (as a
            // non-PIE executable's PLT entry is); data has no stand-in.
            if (branch || target.flags.callable) && !reaches(info, target.addr, edge.addend, site) {
                if let Some(e) = graph.block_mut(b).edges.get_mut(i) {
                    e.set_target(stub);
                }
            }
        }
    }
    Ok(())
}
