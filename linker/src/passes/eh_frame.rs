//! Splits `.eh_frame` into one block per CIE and FDE record, where records must go.
//!
//! A section whose every FDE describes code surely kept (in a block holding an exported
//! definition), listed in the order that code is laid out, stays one block: no record
//! would be dropped or moved, and splitting it was a block, a symbol and a vector of edges
//! per function for nothing (most objects built without `-ffunction-sections`). Then the
//! section is kept alive itself, and its edges keep what its records use (LSDAs,
//! personalities).
//!
//! An FDE's second word is the distance back to its CIE; it carries no relocation, so we add
//! an edge for it (the architecture's `P - S` kind), which keeps the distance right after records are dropped. An FDE
//! stays alive only while the function it describes does: the function's block gets a
//! `KeepAlive` edge to the FDE, and nothing else refers to it. A zero terminator closes the
//! section, as unwinders expect.
//!
//! The records are then put in the order of the code they describe (see `order_records`).

use crate::arch::EhFrameKinds;
use crate::graph::{BlockId, Content, Definition, Edge, EdgeKind, LinkGraph, SectionRole};
use crate::{LinkError, Result};

pub fn split_eh_frame(graph: &mut LinkGraph, kinds: &EhFrameKinds) -> Result<()> {
    let sections: Vec<usize> =
        (0..graph.sections.len()).filter(|&s| graph.sections[s].role == SectionRole::EhFrame).collect();
    if sections.is_empty() {
        return Ok(());
    }
    // Blocks surely kept: those of exported definitions and root sections. (Finding
    // liveness proper here too cost objects that are split anyway more than it saved.)
    let kept = rooted_blocks(graph);
    for section in sections {
        if let [block] = graph.sections[section].blocks[..] {
            if keeps_whole(graph, block, &kept) {
                graph.blocks[block.index()].live = true;
                add_terminator(graph, section);
                continue;
            }
        }
        let blocks = std::mem::take(&mut graph.sections[section].blocks);
        let mut records = Vec::new();
        for block in blocks {
            split_block(graph, block, kinds, &mut records)?;
        }
        order_records(graph, section, records);
        add_terminator(graph, section);
    }
    Ok(())
}

/// The little-endian 32-bit word at `at` (a record's length, or its CIE pointer).
fn word(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at.checked_add(4)?).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The zero length that ends the section, as unwinders expect.
fn add_terminator(graph: &mut LinkGraph, section: usize) {
    let terminator = graph.add_block(crate::graph::SectionId(section as u32), Content::Owned(vec![0; 4]), 4);
    graph.blocks[terminator.index()].live = true;
}

/// By block: it holds a definition that is a root of liveness, or is in a root section, or
/// was built live.
fn rooted_blocks(graph: &LinkGraph) -> Vec<bool> {
    let mut rooted: Vec<bool> =
        graph.blocks.iter().map(|b| b.live || graph.sections[b.section.index()].role.is_root()).collect();
    for symbol in &graph.symbols {
        if let (true, Definition::Block { block, .. }) = (symbol.live, symbol.def) {
            rooted[block.index()] = true;
        }
    }
    rooted
}

/// Whether `block`, a whole `.eh_frame`, can stay one block: every FDE's code is in a block
/// of this graph that is `kept`, in layout order (`order_records`'s), and points back at a
/// CIE before it. Anything else, malformed records included, is left to splitting, which
/// drops, orders and reports.
fn keeps_whole(graph: &LinkGraph, block: BlockId, kept: &[bool]) -> bool {
    let b = &graph.blocks[block.index()];
    let bytes = graph.block_bytes(b);
    let edges = &b.edges;
    if !edges.is_sorted_by_key(|e| e.offset) {
        return false;
    }
    let mut cies: Vec<usize> = Vec::new();
    // (code section, block, offset) of the previous FDE.
    let mut last = (0, 0, 0);
    let mut offset = 0;
    while offset < bytes.len() {
        let Some(length) = word(bytes, offset) else { return false };
        let end = offset.saturating_add(4).saturating_add(length as usize);
        if length == 0 || length == 0xffff_ffff || end > bytes.len() {
            return false;
        }
        let Some(id) = word(bytes, offset + 4) else { return false };
        if id == 0 {
            cies.push(offset);
            offset = end;
            continue;
        }
        if (offset + 4).checked_sub(id as usize).is_none_or(|cie| cies.binary_search(&cie).is_err()) {
            return false;
        }
        let Ok(field) = u32::try_from(offset + 8) else { return false };
        let pc_begin = edges.binary_search_by_key(&field, |e| e.offset).ok().map(|i| &edges[i]);
        let Some(edge) = pc_begin else { return false };
        let Definition::Block { block: code, offset: at } = graph.symbols[edge.target().index()].def else {
            return false;
        };
        let code_block = &graph.blocks[code.index()];
        let place = (code_block.section.index(), code.index(), at.wrapping_add_signed(edge.addend));
        if !kept.get(code.index()).copied().unwrap_or(false) || place < last {
            return false;
        }
        last = place;
        offset = end;
    }
    true
}

/// A record split out of `.eh_frame`: a CIE, or an FDE and where the code it describes
/// starts (its block and offset), when that is in this graph.
enum Record {
    Cie(BlockId),
    Fde(BlockId, Option<(BlockId, u64)>),
}

fn split_block(graph: &mut LinkGraph, block: BlockId, kinds: &EhFrameKinds, split: &mut Vec<Record>) -> Result<()> {
    let bytes = graph.block_bytes(&graph.blocks[block.index()]).to_vec();
    let mut edges = std::mem::take(&mut graph.blocks[block.index()].edges);
    edges.sort_by_key(|e| e.offset);
    let section = graph.blocks[block.index()].section;
    let base = match graph.blocks[block.index()].content {
        Content::Input { start, .. } => Some(start),
        _ => None,
    };
    let bad = |graph: &LinkGraph, offset: usize, message: &str| {
        LinkError::malformed(graph.location(block, offset as u64), message.to_string())
    };

    // Every record becomes a block and a symbol: grow the graph's vectors once, to size,
    // rather than by doubling (an object with 10,000 functions has 10,000 FDEs, and a
    // doubled vector is briefly held twice while it moves).
    let count = record_count(&bytes);
    graph.blocks.reserve_exact(count + 1);
    graph.symbols.reserve_exact(count);
    graph.sections[section.index()].blocks.reserve_exact(count + 1);
    // Record start → the anonymous symbol at the start of its block, for CIE lookups.
    let mut records: Vec<(usize, crate::graph::SymbolId)> = Vec::with_capacity(count);
    // (function's block, FDE): the keep-alive edges to add once every record is split.
    let mut keep_alive: Vec<(BlockId, crate::graph::SymbolId)> = Vec::with_capacity(count);
    let mut next_edge = 0;
    let mut offset = 0;
    while offset < bytes.len() {
        let length = word(&bytes, offset).ok_or_else(|| bad(graph, offset, "truncated eh_frame record"))? as usize;
        if length == 0 {
            break; // terminator in the input; we add our own
        }
        if length == 0xffff_ffff {
            return Err(LinkError::unsupported(graph.location(block, offset as u64), "64-bit DWARF eh_frame records"));
        }
        let end = offset
            .checked_add(4 + length)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad(graph, offset, "eh_frame record runs past the section end"))?;
        let id = word(&bytes, offset + 4).ok_or_else(|| bad(graph, offset, "eh_frame record too short"))?;
        let content = match base {
            Some(start) => Content::Input { start: start + offset, len: end - offset },
            None => Content::Owned(bytes[offset..end].to_vec()),
        };
        let record = graph.add_block(section, content, 4);
        graph.blocks[record.index()].input_offset = offset as u64;
        let symbol = graph.add_anonymous_symbol(record, 0, (end - offset) as u64);
        // Edges are sorted by offset, and records come in order: take this record's run.
        while edges.get(next_edge).is_some_and(|e| (e.offset as usize) < offset) {
            next_edge += 1;
        }
        let run = edges[next_edge..].iter().take_while(|e| (e.offset as usize) < end).count();
        // With room for the CIE pointer an FDE adds.
        let mut own = Vec::with_capacity(run + 1);
        own.extend(edges[next_edge..next_edge + run].iter().map(|e| e.at(e.offset - offset as u32)));
        next_edge += own.len();
        graph.blocks[record.index()].edges = own;
        if id != 0 {
            // FDE: point back at its CIE, and let the described function keep it alive.
            let cie_start = (offset + 4).checked_sub(id as usize);
            // `records` is in offset order.
            let found = cie_start.and_then(|c| records.binary_search_by_key(&c, |r| r.0).ok());
            let cie = found.map(|i| records[i].1);
            let cie = cie.ok_or_else(|| bad(graph, offset, "FDE refers to no CIE before it"))?;
            graph.blocks[record.index()].edges.push(Edge::new(kinds.cie_pointer, 4, cie, 0));
            let pc_begin =
                graph.blocks[record.index()].edges.iter().find(|e| e.offset == 8).map(|e| (e.target(), e.addend));
            let code = match pc_begin.map(|(t, addend)| (graph.symbols[t.index()].def, addend)) {
                Some((Definition::Block { block: function, offset }, addend)) => {
                    keep_alive.push((function, symbol));
                    Some((function, offset.wrapping_add_signed(addend)))
                }
                _ => None,
            };
            split.push(Record::Fde(record, code));
        } else {
            split.push(Record::Cie(record));
        }
        records.push((offset, symbol));
        offset = end;
    }
    // The functions' blocks were built with room for their own edges only: one push each
    // would double every vector (a megabyte for a large C++ object), so each grows once, to
    // size. Within a block, the edges keep the FDEs' order.
    keep_alive.sort_by_key(|&(function, _)| function);
    for run in keep_alive.chunk_by(|a, b| a.0 == b.0) {
        let edges = &mut graph.blocks[run[0].0.index()].edges;
        edges.reserve_exact(run.len());
        edges.extend(run.iter().map(|&(_, fde)| Edge::new(EdgeKind::KEEP_ALIVE, 0, fde, 0)));
    }
    Ok(())
}

/// Puts a section's records in the order the code they describe is laid out: CIEs first
/// (an FDE points back at its CIE), then FDEs by the section, block and offset of their
/// code; FDEs for code elsewhere go last. `memory::layout` places sections in graph order
/// and a section's blocks in its order, which is the order they were made in (block ids),
/// so the key needs no lookup; were it ever off, only the unwinder's sorting would cost.
/// Unwinders that sort a registered `.eh_frame` on first use (libgcc) find it sorted: in
/// input order, a function split into hot and cold parts alternates between two sections,
/// and half the FDEs were heap-sorted.
fn order_records(graph: &mut LinkGraph, section: usize, records: Vec<Record>) {
    let elsewhere = graph.sections.len();
    let mut cies = Vec::new();
    // (code section, (block, offset, input position)): within a section the key is a total
    // order, so the result is the same however a sort goes.
    let mut fdes: Vec<(usize, (usize, u64, usize), BlockId)> = Vec::with_capacity(records.len());
    for record in records {
        match record {
            Record::Cie(block) => cies.push(block),
            Record::Fde(block, code) => {
                let (code_section, place) = code.map_or((elsewhere, (0, 0)), |(code, offset)| {
                    (graph.blocks[code.index()].section.index(), (code.index(), offset))
                });
                fdes.push((code_section, (place.0, place.1, fdes.len()), block));
            }
        }
    }
    // By code section (a counting sort: an object has far fewer sections than FDEs), then
    // within each section, where its FDEs are nearly always in order already.
    // Bucket s (0..=elsewhere) counts at s + 2, then starts at s + 1.
    let mut starts = vec![0usize; elsewhere + 3];
    for &(code_section, ..) in &fdes {
        starts[code_section + 2] += 1;
    }
    for s in 2..starts.len() {
        starts[s] += starts[s - 1];
    }
    let mut by_section = vec![(0, (0, 0, 0), BlockId(0)); fdes.len()];
    for fde in fdes {
        let slot = &mut starts[fde.0 + 1];
        by_section[*slot] = fde;
        *slot += 1;
    }
    for run in by_section.chunk_by_mut(|a, b| a.0 == b.0) {
        if !run.is_sorted_by_key(|fde| fde.1) {
            run.sort_unstable_by_key(|fde| fde.1);
        }
    }
    let blocks = &mut graph.sections[section].blocks;
    blocks.clear();
    blocks.extend(cies);
    blocks.extend(by_section.into_iter().map(|(.., block)| block));
}

/// How many records the section holds, by their lengths (up to a terminator or a length
/// that does not fit; `split_block` reports those). A builder that knows its graph will be
/// split sizes the graph's vectors with it.
pub fn record_count(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut offset = 0usize;
    while let Some(length) = word(bytes, offset) {
        if length == 0 || length == 0xffff_ffff {
            break;
        }
        count += 1;
        offset = offset.saturating_add(4 + length as usize);
    }
    count
}
