//! Thread-local storage: the layout of a graph's TLS block and its initial image.
//!
//! `.tdata` and `.tbss` are not placed in the graph's memory. They are the template every
//! thread's copy starts from: `.tdata` content first, then `.tbss` zeros, each block at its
//! alignment. Where the block lives is the platform's business (its passes reserve the
//! block after allocation and write its image after fix-ups): the block's offset from the
//! thread pointer is the same in every thread, and from then on a thread-local symbol's
//! "address" in the graph is its own offset from the thread pointer. The memory layout
//! leaves `SectionRole::ThreadLocal` sections out. Every access model reduces to that:
//! - local-exec (`TPOFF32/64`) writes the offset into the instruction;
//! - initial-exec (`GOTTPOFF`) loads it from an ordinary GOT entry;
//! - general- and local-dynamic (`TLSGD`, `TLSLD` + `DTPOFF`) pass a `tls_index` pair to
//!   `__tls_get_addr`; ours carry `STATIC_TLS_MODULE` as module id and the offset as the
//!   second word, and the `__tls_get_addr` the context provides answers `tp + offset`.

use crate::graph::{BlockId, LinkGraph, SectionRole};
use crate::Result;

/// Module id of `tls_index` pairs whose offset is relative to the thread pointer.
pub const STATIC_TLS_MODULE: u64 = 0x6a69_746c_6454_4c53;

pub struct TlsLayout {
    /// Bytes of initial content (`.tdata`), at the start of the block.
    pub init_size: u64,
    /// Bytes in all, including zero-fill.
    pub size: u64,
    pub align: u64,
    /// Each live thread-local block and its offset in the block.
    pub offsets: Vec<(BlockId, u64)>,
}

/// The graph's thread-local block, if it has one.
pub fn layout_tls(graph: &LinkGraph) -> Option<TlsLayout> {
    let mut layout = TlsLayout { init_size: 0, size: 0, align: 1, offsets: Vec::new() };
    for zero_fill in [false, true] {
        for section in graph.sections.iter().filter(|s| s.role == SectionRole::ThreadLocal) {
            for &id in &section.blocks {
                let block = &graph.blocks[id.index()];
                if block.is_zero_fill() != zero_fill {
                    continue;
                }
                let offset = layout.size.checked_next_multiple_of(block.align)?;
                layout.offsets.push((id, offset));
                layout.size = offset.checked_add(block.size())?;
                layout.align = layout.align.max(block.align);
                if !zero_fill {
                    layout.init_size = layout.size;
                }
            }
        }
    }
    (!layout.offsets.is_empty()).then_some(layout)
}

/// Gives thread-local blocks and symbols their addresses: offsets from the thread pointer.
pub fn assign_tls_addresses(graph: &mut LinkGraph, layout: &TlsLayout, tp_offset: i64) {
    let placed: Vec<(BlockId, u64)> =
        layout.offsets.iter().map(|&(block, offset)| (block, (tp_offset as u64).wrapping_add(offset))).collect();
    graph.move_blocks(&placed);
    if let Some(base) = graph.tls_base {
        graph.symbols[base.index()].addr = tp_offset as u64;
    }
}

/// The fixed-up initial content of the block (`.tdata`; `.tbss` is zero and not included).
pub fn tls_image(graph: &LinkGraph, layout: &TlsLayout) -> Result<Vec<u8>> {
    let mut image = vec![0; layout.init_size as usize];
    for &(block, offset) in &layout.offsets {
        let b = &graph.blocks[block.index()];
        if b.is_zero_fill() {
            continue;
        }
        let range = offset as usize..(offset + b.size()) as usize;
        image[range.clone()].copy_from_slice(graph.block_bytes(b));
        graph.arch.apply_fixups(graph, block, &mut image[range])?;
    }
    Ok(image)
}
