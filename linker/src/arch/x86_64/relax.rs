//! GOT-load relaxation, once every address is known: `mov foo@GOTPCREL(%rip), %reg`
//! becomes `lea foo(%rip), %reg`, and `call/jmp *foo@GOTPCREL(%rip)` a direct `call`/`jmp`,
//! when `foo` is within reach (psABI "GOTPCRELX" relaxation).
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::Kind;
use crate::arch::reach::reaches;
use crate::arch::tables::got_entry_target;
use crate::graph::{BlockId, LinkGraph};
use crate::Result;

pub fn relax(graph: &mut LinkGraph) -> Result<()> {
    if graph.stubs.got.is_empty() {
        return Ok(());
    }
    for b in (0..graph.blocks.len() as u32).map(BlockId) {
        if !graph.block(b).live || graph.block(b).is_zero_fill() {
            continue;
        }
        for i in 0..graph.block(b).edges.len() {
            let Some(&edge) = graph.block(b).edges.get(i) else { continue };
            if matches!(
                Kind::from_edge(edge.kind),
                Some(Kind::PCRel32GotLoadRelaxable | Kind::PCRel32GotLoadRexRelaxable)
            ) {
                relax_got_load(graph, b, i)?;
            }
        }
    }
    Ok(())
}

fn relax_got_load(graph: &mut LinkGraph, b: BlockId, i: usize) -> Result<()> {
    let Some(&edge) = graph.block(b).edges.get(i) else { return Ok(()) };
    let Some(target) = got_entry_target(graph, edge.target) else { return Ok(()) };
    let site = graph.block(b).addr.wrapping_add(u64::from(edge.offset));
    if !reaches(Kind::Delta32.info(), graph.symbol(target).addr, edge.addend, site) {
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
