//! GOT-load relaxation (LLVM 19 has none on AArch64): `adrp x0, :got:sym; ldr x0, [x0,
//! :got_lo12:sym]` becomes `adrp x0, sym; add x0, x0, :lo12:sym` when every `adrp` of the
//! graph that pages to `sym`'s entry reaches `sym` itself. The two halves are separate
//! edges, possibly far apart, so the choice is made per entry, for all of its uses at once:
//! an `adrp` relaxed without its `ldr` would load from the wrong place.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::Kind;
use crate::arch::reach::reaches;
use crate::arch::tables::got_entry_target;
use crate::graph::{BlockId, LinkGraph, SymbolId};
use crate::Result;
use std::collections::HashMap;

/// `ldr xT, [xN, #imm]` (64-bit, unsigned offset) with its offset bits cleared.
const LDR_X_UNSIGNED_OFFSET: u32 = 0xf940_0000;
/// `add xT, xN, #imm`.
const ADD_X_IMMEDIATE: u32 = 0x9100_0000;

pub fn relax(graph: &mut LinkGraph) -> Result<()> {
    if graph.stubs.got.is_empty() {
        return Ok(());
    }
    addresses_of_far_functions_through_stubs(graph);
    // Entry → whether all of its page/offset pairs can use the target directly.
    let mut verdicts: HashMap<SymbolId, bool> = HashMap::new();
    let mut uses = Vec::new();
    for b in live_blocks(graph) {
        for (i, edge) in graph.block(b).edges.iter().enumerate() {
            let ok = match Kind::from_edge(edge.kind()) {
                Some(Kind::GotPage21) => {
                    let site = graph.block(b).addr.wrapping_add(u64::from(edge.offset));
                    got_entry_target(graph, edge.target()).is_some_and(|target| {
                        edge.addend == 0 && reaches(Kind::Page21.info(), graph.symbol(target).addr, 0, site)
                    })
                }
                Some(Kind::GotPageOffset12) => {
                    edge.addend == 0 && instruction(graph, b, edge.offset).is_some_and(is_ldr_x)
                }
                _ => continue,
            };
            let verdict = verdicts.entry(edge.target()).or_insert(true);
            *verdict &= ok;
            uses.push((b, i));
        }
    }
    for (b, i) in uses {
        let Some(&edge) = graph.block(b).edges.get(i) else { continue };
        if verdicts.get(&edge.target()) != Some(&true) {
            continue;
        }
        let Some(target) = got_entry_target(graph, edge.target()) else { continue };
        let kind = if Kind::from_edge(edge.kind()) == Some(Kind::GotPage21) {
            Kind::Page21
        } else {
            let Some(ldr) = instruction(graph, b, edge.offset) else { continue };
            set_instruction(graph, b, edge.offset, ADD_X_IMMEDIATE | (ldr & 0x3ff));
            Kind::AddOffset12
        };
        if let Some(e) = graph.block_mut(b).edges.get_mut(i) {
            e.set_kind(kind.into());
            e.set_target(target);
        }
    }
    Ok(())
}

/// `adrp x0, f; add x0, x0, :lo12:f` where `f` is code beyond `adrp`'s ±4 GiB (a shared
/// library's function, in non-PIC code): the stub stands for the function, as a non-PIE
/// executable's PLT entry does, and the page and every low-bits edge to `f` go to it
/// together.
fn addresses_of_far_functions_through_stubs(graph: &mut LinkGraph) {
    if graph.stubs.plt.is_empty() {
        return;
    }
    let mut far = HashMap::new();
    for b in live_blocks(graph) {
        for edge in &graph.block(b).edges {
            if Kind::from_edge(edge.kind()) != Some(Kind::Page21) {
                continue;
            }
            let Some(&stub) = graph.stubs.plt.get(&edge.target()) else { continue };
            let target = graph.symbol(edge.target());
            let site = graph.block(b).addr.wrapping_add(u64::from(edge.offset));
            if target.flags.callable && !reaches(Kind::Page21.info(), target.addr, edge.addend, site) {
                far.insert(edge.target(), stub);
            }
        }
    }
    if far.is_empty() {
        return;
    }
    for b in live_blocks(graph) {
        for edge in &mut graph.block_mut(b).edges {
            let pair = matches!(
                Kind::from_edge(edge.kind()),
                Some(
                    Kind::Page21
                        | Kind::AddOffset12
                        | Kind::LoadStoreOffset12x1
                        | Kind::LoadStoreOffset12x2
                        | Kind::LoadStoreOffset12x4
                        | Kind::LoadStoreOffset12x8
                        | Kind::LoadStoreOffset12x16
                )
            );
            if let (true, Some(&stub)) = (pair, far.get(&edge.target())) {
                edge.set_target(stub);
            }
        }
    }
}

fn live_blocks(graph: &LinkGraph) -> Vec<BlockId> {
    (0..graph.blocks.len() as u32)
        .map(BlockId)
        .filter(|&b| graph.block(b).live && !graph.block(b).is_zero_fill())
        .collect()
}

fn is_ldr_x(insn: u32) -> bool {
    insn & 0xffc0_0000 == LDR_X_UNSIGNED_OFFSET
}

fn instruction(graph: &LinkGraph, block: BlockId, offset: u32) -> Option<u32> {
    let block = graph.block(block);
    let at = offset as usize;
    let bytes = graph.block_bytes(block).get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn set_instruction(graph: &mut LinkGraph, block: BlockId, offset: u32, insn: u32) {
    let at = offset as usize;
    if let Some(bytes) = at.checked_add(4).and_then(|end| graph.make_owned(block).get_mut(at..end)) {
        bytes.copy_from_slice(&insn.to_le_bytes());
    }
}
