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
                Kind::from_edge(edge.kind()),
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
    let Some(target) = got_entry_target(graph, edge.target()) else { return Ok(()) };
    let site = graph.block(b).addr.wrapping_add(u64::from(edge.offset));
    if !reaches(Kind::Delta32.info(), graph.symbol(target).addr, edge.addend, site) {
        return Ok(());
    }
    let at = edge.offset as usize;
    let Some((new_offset, opcode_at, insn)) = got_load_rewrite(graph.block_bytes(graph.block(b)), at) else {
        return Ok(());
    };
    if graph.patch(b, opcode_at, insn.as_slice()).is_none() {
        return Ok(());
    }
    if let Some(e) = graph.block_mut(b).edges.get_mut(i) {
        e.set_kind(Kind::Delta32.into());
        e.set_target(target);
        e.offset = new_offset;
    }
    Ok(())
}

/// An instruction's new bytes, as many as changed (up to six).
struct Rewritten {
    bytes: [u8; 6],
    len: usize,
}

impl Rewritten {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// How the instruction whose 32-bit displacement is at `at` is rewritten to use its target
/// directly: where the displacement is afterwards, where the new bytes go and what they
/// are (a patch, so the block's bytes are not copied to be edited); `None` if it is not one
/// we relax.
fn got_load_rewrite(bytes: &[u8], at: usize) -> Option<(u32, usize, Rewritten)> {
    let opcode_at = at.checked_sub(2)?;
    let end = at.checked_add(4)?;
    let insn = bytes.get(opcode_at..end)?;
    let offset = u32::try_from(at).ok()?;
    let short = |first: &[u8]| {
        let mut bytes = [0; 6];
        bytes.get_mut(..first.len())?.copy_from_slice(first);
        Some(Rewritten { bytes, len: first.len() })
    };
    match *insn {
        // mov disp(%rip), %reg  →  lea disp(%rip), %reg
        [0x8b, _, ..] => Some((offset, opcode_at, short(&[0x8d])?)),
        // call *disp(%rip)  →  addr32 call rel32
        [0xff, 0x15, ..] => Some((offset, opcode_at, short(&[0x67, 0xe8])?)),
        // jmp *disp(%rip)  →  jmp rel32; nop (the displacement moves back a byte)
        [0xff, 0x25, d0, d1, d2, _] => {
            let jmp = Rewritten { bytes: [0xe9, d0, d1, d2, 0x90, 0x90], len: 6 };
            Some((offset.checked_sub(1)?, opcode_at, jmp))
        }
        _ => None,
    }
}
