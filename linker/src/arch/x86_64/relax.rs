//! Pre-fix-up optimizations, once every address is known.
//!
//! - A 32-bit reference to an external goes straight to it when it fits, and through the
//!   target's stub only when it doesn't (and the target is code).
//! - `mov foo@GOTPCREL(%rip), %reg` becomes `lea foo(%rip), %reg`, and `call/jmp
//!   *foo@GOTPCREL(%rip)` becomes a direct `call`/`jmp`, when `foo` is within reach
//!   (psABI "GOTPCRELX" relaxation).
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::Kind;
use crate::arch::{Formula, TableUse};
use crate::graph::{BlockId, Definition, LinkGraph, SymbolId};
use crate::Result;

/// Whether an edge of `kind` at `site` reaches `target + addend` without help.
fn fits(kind: Kind, target: u64, addend: i64, site: u64) -> bool {
    let info = kind.info();
    let absolute = i128::from(target).saturating_add(i128::from(addend));
    let value = match info.formula {
        Formula::Relative => absolute.saturating_sub(i128::from(site)),
        _ => absolute,
    };
    info.range.contains(value, info.width)
}

/// The target of a GOT entry's `Pointer64` edge (the GOT block's edges are in offset order).
fn got_entry_target(graph: &LinkGraph, entry: SymbolId) -> Option<SymbolId> {
    let Definition::Block { block, offset } = graph.symbol(entry).def else { return None };
    let edges = &graph.block(block).edges;
    let at = u32::try_from(offset).ok()?;
    let index = edges.binary_search_by_key(&at, |e| e.offset).ok()?;
    edges.get(index).map(|e| e.target)
}

pub fn relax(graph: &mut LinkGraph) -> Result<()> {
    for b in (0..graph.blocks.len() as u32).map(BlockId) {
        if !graph.block(b).live || graph.block(b).is_zero_fill() {
            continue;
        }
        for i in 0..graph.block(b).edges.len() {
            let Some(&edge) = graph.block(b).edges.get(i) else { continue };
            let Some(kind) = Kind::from_edge(edge.kind) else { continue };
            let site = graph.block(b).addr.wrapping_add(u64::from(edge.offset));
            match kind {
                _ if kind.info().table == TableUse::StubIfFar => {
                    let target = graph.symbol(edge.target);
                    let far = !fits(kind, target.addr, edge.addend, site);
                    // A branch always goes to code; an address taken of code may use the stub
                    // as the function's address (as a non-PIE executable's PLT entry is).
                    let code = kind == Kind::BranchPCRel32 || target.flags.callable;
                    if let (true, true, Some(&stub)) = (far, code, graph.stubs.plt.get(&edge.target)) {
                        if let Some(e) = graph.block_mut(b).edges.get_mut(i) {
                            e.target = stub;
                        }
                    }
                }
                Kind::PCRel32GotLoadRelaxable | Kind::PCRel32GotLoadRexRelaxable => {
                    relax_got_load(graph, b, i)?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn relax_got_load(graph: &mut LinkGraph, b: BlockId, i: usize) -> Result<()> {
    let Some(&edge) = graph.block(b).edges.get(i) else { return Ok(()) };
    let Some(target) = got_entry_target(graph, edge.target) else { return Ok(()) };
    let site = graph.block(b).addr.wrapping_add(u64::from(edge.offset));
    if !fits(Kind::Delta32, graph.symbol(target).addr, edge.addend, site) {
        return Ok(());
    }
    let at = edge.offset as usize;
    let Some(new_offset) = rewrite_got_load(graph.make_owned(b), at) else { return Ok(()) };
    if let Some(e) = graph.block_mut(b).edges.get_mut(i) {
        e.kind = Kind::Delta32.into();
        e.target = target;
        e.offset = new_offset;
    }
    Ok(())
}

/// Rewrites the instruction whose 32-bit displacement is at `at` to use its target directly;
/// returns where the displacement is afterwards, or `None` if it is not one we relax.
fn rewrite_got_load(bytes: &mut [u8], at: usize) -> Option<u32> {
    let opcode_at = at.checked_sub(2)?;
    let end = at.checked_add(4)?;
    let insn = bytes.get_mut(opcode_at..end)?;
    let offset = u32::try_from(at).ok()?;
    match *insn {
        // mov disp(%rip), %reg  →  lea disp(%rip), %reg
        [0x8b, _, ..] => {
            *insn.first_mut()? = 0x8d;
            Some(offset)
        }
        // call *disp(%rip)  →  addr32 call rel32
        [0xff, 0x15, ..] => {
            insn.get_mut(..2)?.copy_from_slice(&[0x67, 0xe8]);
            Some(offset)
        }
        // jmp *disp(%rip)  →  jmp rel32; nop
        [0xff, 0x25, d0, d1, d2, _] => {
            insn.copy_from_slice(&[0xe9, d0, d1, d2, 0x90, 0x90]);
            offset.checked_sub(1)
        }
        _ => None,
    }
}
