//! Dead-stripping. Roots are live symbols (the definitions the graph exports) and blocks of
//! root sections (initializers and finalizers); everything reachable through edges from a
//! root is kept, the rest is dropped from its section.

use crate::graph::{BlockId, Definition, LinkGraph};
use crate::Result;

pub fn mark_live(graph: &mut LinkGraph) {
    // Every block is pushed once at least (more when several edges reach it first).
    let mut work: Vec<BlockId> = Vec::with_capacity(graph.blocks.len());
    for symbol in &mut graph.symbols {
        if symbol.live {
            if let Definition::Block { block, .. } = symbol.def {
                work.push(block);
            }
        }
    }
    for section in &graph.sections {
        if section.role.is_root() {
            work.extend(&section.blocks);
        }
    }
    work.extend((0..graph.blocks.len()).map(|i| BlockId(i as u32)).filter(|b| graph.blocks[b.index()].live));
    for block in &mut graph.blocks {
        block.live = false;
    }
    while let Some(block) = work.pop() {
        if std::mem::replace(&mut graph.blocks[block.index()].live, true) {
            continue;
        }
        for e in 0..graph.blocks[block.index()].edges.len() {
            let target = graph.blocks[block.index()].edges[e].target();
            let symbol = &mut graph.symbols[target.index()];
            symbol.live = true;
            if let Definition::Block { block: t, .. } = symbol.def {
                if !graph.blocks[t.index()].live {
                    work.push(t);
                }
            }
        }
    }
    // A symbol is live when its block is.
    for symbol in &mut graph.symbols {
        if let Definition::Block { block, .. } = symbol.def {
            symbol.live = graph.blocks[block.index()].live;
        }
    }
}

/// Removes dead blocks from their sections (they stay in the arena, unreferenced).
pub fn prune(graph: &mut LinkGraph) -> Result<()> {
    mark_live(graph);
    let blocks = &graph.blocks;
    for section in &mut graph.sections {
        section.blocks.retain(|b| blocks[b.index()].live);
    }
    Ok(())
}
