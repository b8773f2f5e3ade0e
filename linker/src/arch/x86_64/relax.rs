//! Pre-fix-up optimizations, once every address is known.
//!
//! - A 32-bit reference to an external goes straight to it when it fits, and through the
//!   target's stub only when it doesn't (and the target is code).
//! - `mov foo@GOTPCREL(%rip), %reg` becomes `lea foo(%rip), %reg`, and `call/jmp
//!   *foo@GOTPCREL(%rip)` becomes a direct `call`/`jmp`, when `foo` is within reach
//!   (psABI "GOTPCRELX" relaxation).

use super::Kind;
use crate::graph::{Definition, EdgeKind, LinkGraph, SymbolId};
use crate::Result;

fn fits_delta32(target: u64, addend: i64, site: u64) -> bool {
    let value = target as i128 + addend as i128 - site as i128;
    i32::try_from(value).is_ok()
}

fn fits_field(kind: Kind, target: u64, addend: i64, site: u64) -> bool {
    let absolute = target as i128 + addend as i128;
    match kind {
        Kind::Pointer32 => u32::try_from(absolute).is_ok(),
        Kind::Pointer32Signed => i32::try_from(absolute).is_ok(),
        _ => fits_delta32(target, addend, site),
    }
}

/// The target of a GOT entry's `Pointer64` edge.
fn got_entry_target(graph: &LinkGraph, entry: SymbolId) -> Option<SymbolId> {
    let Definition::Block { block, .. } = graph.symbols[entry.index()].def else { return None };
    graph.blocks[block.index()].edges.first().map(|e| e.target)
}

pub fn relax(graph: &mut LinkGraph) -> Result<()> {
    for b in 0..graph.blocks.len() {
        if !graph.blocks[b].live {
            continue;
        }
        for i in 0..graph.blocks[b].edges.len() {
            let edge = graph.blocks[b].edges[i];
            let EdgeKind::X86_64(kind) = edge.kind else { continue };
            let site = graph.blocks[b].addr + edge.offset as u64;
            match kind {
                Kind::BranchPCRel32 | Kind::Delta32 | Kind::Pointer32 | Kind::Pointer32Signed => {
                    let target = &graph.symbols[edge.target.index()];
                    let far = !fits_field(kind, target.addr, edge.addend, site);
                    // A branch always goes to code; an address taken of code may use the stub
                    // as the function's address (as a non-PIE executable's PLT entry is).
                    let code = kind == Kind::BranchPCRel32 || target.callable;
                    if let (true, true, Some(&stub)) = (far, code, graph.stubs.plt.get(&edge.target)) {
                        graph.blocks[b].edges[i].target = stub;
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

fn relax_got_load(graph: &mut LinkGraph, b: usize, i: usize) -> Result<()> {
    let edge = graph.blocks[b].edges[i];
    let Some(target) = got_entry_target(graph, edge.target) else { return Ok(()) };
    let site = graph.blocks[b].addr + edge.offset as u64;
    if !fits_delta32(graph.symbols[target.index()].addr, edge.addend, site) || edge.offset < 2 {
        return Ok(());
    }
    let at = edge.offset as usize;
    let bytes = graph.make_owned(crate::graph::BlockId(b as u32));
    let (Some(&op), Some(&modrm)) = (bytes.get(at - 2), bytes.get(at - 1)) else { return Ok(()) };
    let new_offset = match (op, modrm) {
        // mov disp(%rip), %reg  →  lea disp(%rip), %reg
        (0x8b, _) => {
            bytes[at - 2] = 0x8d;
            edge.offset
        }
        // call *disp(%rip)  →  addr32 call rel32
        (0xff, 0x15) => {
            bytes[at - 2] = 0x67;
            bytes[at - 1] = 0xe8;
            edge.offset
        }
        // jmp *disp(%rip)  →  jmp rel32; nop
        (0xff, 0x25) if at + 4 <= bytes.len() => {
            bytes[at - 2] = 0xe9;
            bytes.copy_within(at..at + 3, at - 1);
            bytes[at + 3] = 0x90;
            edge.offset - 1
        }
        _ => return Ok(()),
    };
    let e = &mut graph.blocks[b].edges[i];
    e.kind = EdgeKind::X86_64(Kind::Delta32);
    e.target = target;
    e.offset = new_offset;
    Ok(())
}
