//! Where each block goes: live blocks grouped by protection in section and block order,
//! zero-fill after content within each group, each group starting on a page of the memory
//! it goes to. For a memory manager that gathers tables, the GOT is a read-write group of
//! its own, last.

use crate::graph::{LinkGraph, MemProt, SectionRole};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub prot: MemProt,
    /// Offset from the start of the layout (page-aligned).
    pub offset: u64,
    pub size: u64,
    /// The strictest alignment of a block in it: a memory manager may place the segment at
    /// any address so aligned, not only at a page.
    pub align: u64,
    /// The graph's GOT alone (see `MemoryManager::gathers_tables`).
    pub tables: bool,
}

pub struct Layout {
    pub segments: Vec<Segment>,
    pub size: u64,
    pub align: u64,
    /// Block index → offset in the allocation (for live blocks).
    pub block_offsets: Vec<Option<u64>>,
}

pub fn layout(graph: &LinkGraph, page_size: u64, gather_tables: bool) -> Layout {
    let mut block_offsets = vec![None; graph.blocks.len()];
    let mut segments = Vec::new();
    let mut cursor = 0u64;
    let mut max_align = page_size;
    let groups = [(MemProt::ReadExec, false), (MemProt::Read, false), (MemProt::ReadWrite, false)];
    let tables = gather_tables.then_some((MemProt::ReadWrite, true));
    for (prot, in_tables) in groups.into_iter().chain(tables) {
        let start = align_up(cursor, page_size);
        cursor = start;
        let mut segment_align = 1;
        let mut placed_any = false;
        for zero_fill in [false, true] {
            // Thread-local templates and gathered sections live where their owners put them.
            let placed = |s: &&crate::graph::Section| match gather_tables && s.role == SectionRole::Got {
                true => in_tables,
                false => s.prot == prot && !in_tables && !s.role.is_placed_elsewhere(),
            };
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
            segments.push(Segment {
                prot,
                offset: start,
                size: cursor - start,
                align: segment_align,
                tables: in_tables,
            });
        }
    }
    Layout { segments, size: align_up(cursor, page_size).max(page_size), align: max_align, block_offsets }
}

/// Sizes come from inputs; an absurd one saturates here and fails at allocation instead of
/// overflowing.
fn align_up(value: u64, align: u64) -> u64 {
    value.checked_next_multiple_of(align.max(1)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Content, SectionRole};

    /// Code, read-only data and a GOT: the GOT goes with the read-only data, or, for a
    /// manager that gathers tables, into a read-write segment of its own, last.
    #[test]
    fn a_gathered_got_is_a_segment_of_its_own() {
        let input = crate::InputBuffer::from_vec("t.o", vec![0; 64]);
        let mut graph = LinkGraph::new(input, crate::names::NamePool::new(), crate::arch::Arch::X86_64);
        let text = graph.add_section(".text", MemProt::ReadExec, SectionRole::Plain);
        let rodata = graph.add_section(".rodata", MemProt::Read, SectionRole::Plain);
        let got = graph.add_section("$__GOT", MemProt::Read, SectionRole::Got);
        let blocks = [
            graph.add_block(text, Content::Owned(vec![0x90; 16]), 16),
            graph.add_block(rodata, Content::Owned(vec![1; 24]), 8),
            graph.add_block(got, Content::Owned(vec![0; 16]), 8),
        ];
        for &b in &blocks {
            graph.blocks[b.index()].live = true;
        }
        let apart = layout(&graph, 4096, false);
        let kinds: Vec<_> = apart.segments.iter().map(|s| (s.prot, s.tables, s.size)).collect();
        assert_eq!(kinds, [(MemProt::ReadExec, false, 16), (MemProt::Read, false, 40)]);
        assert_eq!(apart.block_offsets[blocks[2].index()], Some(4096 + 24));

        let gathered = layout(&graph, 4096, true);
        let kinds: Vec<_> = gathered.segments.iter().map(|s| (s.prot, s.tables, s.size)).collect();
        assert_eq!(kinds, [(MemProt::ReadExec, false, 16), (MemProt::Read, false, 24), (MemProt::ReadWrite, true, 16)]);
        assert_eq!(gathered.block_offsets[blocks[2].index()], Some(2 * 4096));
    }
}
