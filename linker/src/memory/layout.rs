//! Where each block goes: live blocks grouped by protection in section and block order,
//! zero-fill after content within each group, each group starting on a page of the memory
//! it goes to.

use crate::graph::{LinkGraph, MemProt};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub prot: MemProt,
    /// Offset from the start of the layout (page-aligned).
    pub offset: u64,
    pub size: u64,
    /// The strictest alignment of a block in it: a memory manager may place the segment at
    /// any address so aligned, not only at a page.
    pub align: u64,
}

pub struct Layout {
    pub segments: Vec<Segment>,
    pub size: u64,
    pub align: u64,
    /// Block index → offset in the allocation (for live blocks).
    pub block_offsets: Vec<Option<u64>>,
}

pub fn layout(graph: &LinkGraph, page_size: u64) -> Layout {
    let mut block_offsets = vec![None; graph.blocks.len()];
    let mut segments = Vec::new();
    let mut cursor = 0u64;
    let mut max_align = page_size;
    for prot in [MemProt::ReadExec, MemProt::Read, MemProt::ReadWrite] {
        let start = align_up(cursor, page_size);
        cursor = start;
        let mut segment_align = 1;
        let mut placed_any = false;
        for zero_fill in [false, true] {
            // Thread-local templates and gathered sections live where their owners put them.
            let placed = |s: &&crate::graph::Section| s.prot == prot && !s.role.is_placed_elsewhere();
            for section in graph.sections.iter().filter(placed) {
                for &id in &section.blocks {
                    let block = &graph.blocks[id.index()];
                    if block.is_zero_fill() != zero_fill {
                        continue;
                    }
                    cursor = align_up(cursor, block.align);
                    max_align = max_align.max(block.align);
                    segment_align = segment_align.max(block.align);
                    placed_any = true;
                    block_offsets[id.index()] = Some(cursor);
                    cursor = cursor.saturating_add(block.size());
                }
            }
        }
        // Even empty blocks need an address in some segment (symbols may sit on them).
        if placed_any {
            segments.push(Segment { prot, offset: start, size: cursor - start, align: segment_align });
        }
    }
    Layout { segments, size: align_up(cursor, page_size).max(page_size), align: max_align, block_offsets }
}

/// Sizes come from inputs; an absurd one saturates here and fails at allocation instead of
/// overflowing.
fn align_up(value: u64, align: u64) -> u64 {
    value.checked_next_multiple_of(align.max(1)).unwrap_or(u64::MAX)
}
