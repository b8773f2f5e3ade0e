//! GOT, stub (PLT) and thread-local table synthesis, run after dead-stripping and before
//! allocation, driven by each edge kind's `TableUse`.
//!
//! Each graph gets its own GOT (`$__GOT`) and stubs (`$__STUBS`), each one block that grows
//! by an entry at a time: a GOT entry is 8 bytes with a pointer edge to its target, a stub
//! is the architecture's pointer-jump through its entry; each entry has a symbol of its own.
//! `Request*` edges are rewritten to target the entry, so after this pass the graph alone
//! says where every byte goes. (One block per table, not per entry: a graph of a large
//! library has thousands.)
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::arch::reach::reaches;
use crate::arch::{EdgeInfo, Formula, TableUse};
use crate::graph::{
    BlockId, Content, Definition, Edge, EdgeKind, LinkGraph, MemProt, SectionId, SectionRole, Symbol, SymbolFlags,
    SymbolId,
};
use crate::Result;

/// The graph's `_GLOBAL_OFFSET_TABLE_`: the start of its GOT, which begins with one reserved
/// entry so that the base is always a real address even in a graph without entries.
pub fn got_base(graph: &mut LinkGraph) -> SymbolId {
    if let Some(base) = graph.got_base {
        return base;
    }
    let section = got_section(graph);
    let header = graph.add_block(section, Content::Owned(vec![0; 8]), 8);
    let base = graph.add_anonymous_symbol(header, 0, 0);
    graph.symbol_mut(base).live = true;
    graph.block_mut(header).live = true;
    graph.got_base = Some(base);
    base
}

fn got_section(graph: &mut LinkGraph) -> SectionId {
    graph.find_section("$__GOT").unwrap_or_else(|| graph.add_section("$__GOT", MemProt::Read, SectionRole::Got))
}

fn got_entry(graph: &mut LinkGraph, target: SymbolId) -> SymbolId {
    if let Some(&entry) = graph.stubs.got.get(&target) {
        return entry;
    }
    let block = match graph.stubs.got_block {
        Some(block) => block,
        None => {
            let section = got_section(graph);
            let block = table_block(graph, section, 8);
            graph.stubs.got_block = Some(block);
            block
        }
    };
    let offset = graph.make_owned(block).len();
    graph.make_owned(block).extend_from_slice(&[0; 8]);
    let edge_offset = u32::try_from(offset).unwrap_or(u32::MAX);
    add_live_edge(graph, block, graph.arch.pointer_kind(), edge_offset, target, 0);
    let entry = graph.add_anonymous_symbol(block, offset as u64, 8);
    graph.stubs.got.insert(target, entry);
    entry
}

fn stub(graph: &mut LinkGraph, target: SymbolId) -> SymbolId {
    if let Some(&stub) = graph.stubs.plt.get(&target) {
        return stub;
    }
    let entry = got_entry(graph, target);
    let block = match graph.stubs.plt_block {
        Some(block) => block,
        None => {
            let section = stub_section(graph);
            let block = table_block(graph, section, graph.arch.stub_align());
            graph.stubs.plt_block = Some(block);
            block
        }
    };
    let stub = graph.arch.append_pointer_jump_stub(graph, block, entry);
    graph.stubs.plt.insert(target, stub);
    stub
}

fn stub_section(graph: &mut LinkGraph) -> SectionId {
    graph
        .find_section("$__STUBS")
        .unwrap_or_else(|| graph.add_section("$__STUBS", MemProt::ReadExec, SectionRole::Stubs))
}

/// An empty, live block for a table's entries.
fn table_block(graph: &mut LinkGraph, section: SectionId, align: u64) -> BlockId {
    let block = graph.add_block(section, Content::Owned(Vec::new()), align);
    graph.block_mut(block).live = true;
    block
}

fn add_live_edge(graph: &mut LinkGraph, block: BlockId, kind: EdgeKind, offset: u32, target: SymbolId, addend: i64) {
    let b = graph.block_mut(block);
    b.live = true;
    b.edges.push(Edge::new(kind, offset, target, addend));
}

/// The graph's thread-local base: an absolute symbol whose address, once the TLS block is
/// placed, is the block's offset from the thread pointer.
pub fn tls_base(graph: &mut LinkGraph) -> SymbolId {
    if let Some(base) = graph.tls_base {
        return base;
    }
    let base = graph.add_symbol(Symbol {
        name: None,
        def: Definition::Absolute,
        size: 0,
        flags: SymbolFlags::local(),
        addr: 0,
        live: true,
    });
    graph.tls_base = Some(base);
    base
}

/// A `tls_index` pair `{STATIC_TLS_MODULE, offset}` whose offset is `key`'s from the thread
/// pointer: a variable's (general-dynamic) or the graph's block's (local-dynamic).
fn tls_index_entry(graph: &mut LinkGraph, key: SymbolId) -> SymbolId {
    if let Some(&entry) = graph.stubs.tls_gd.get(&key) {
        return entry;
    }
    let section = graph
        .find_section("$__TLS_INDEX")
        .unwrap_or_else(|| graph.add_section("$__TLS_INDEX", MemProt::Read, SectionRole::Plain));
    let mut pair = crate::tls::STATIC_TLS_MODULE.to_le_bytes().to_vec();
    pair.extend([0; 8]);
    let block = graph.add_block(section, Content::Owned(pair), 16);
    add_live_edge(graph, block, graph.arch.pointer_kind(), 8, key, 0);
    let entry = graph.add_anonymous_symbol(block, 0, 16);
    graph.stubs.tls_gd.insert(key, entry);
    entry
}

/// A TLS descriptor `{resolver, offset}` for `variable`, in the GOT: the resolver answers
/// the second word, the variable's offset from the thread pointer.
fn tls_descriptor(graph: &mut LinkGraph, variable: SymbolId) -> Result<SymbolId> {
    if let Some(&entry) = graph.stubs.tls_desc.get(&variable) {
        return Ok(entry);
    }
    let resolver = tls_descriptor_resolver(graph)?;
    let section = got_section(graph);
    let block = graph.add_block(section, Content::Owned(vec![0; 16]), 8);
    let pointer = graph.arch.pointer_kind();
    add_live_edge(graph, block, pointer, 0, resolver, 0);
    add_live_edge(graph, block, pointer, 8, variable, 0);
    let entry = graph.add_anonymous_symbol(block, 0, 16);
    graph.stubs.tls_desc.insert(variable, entry);
    Ok(entry)
}

/// The graph's resolver for its TLS descriptors (one per graph, in its stubs' section).
fn tls_descriptor_resolver(graph: &mut LinkGraph) -> Result<SymbolId> {
    if let Some(resolver) = graph.stubs.tls_desc_resolver {
        return Ok(resolver);
    }
    let Some(code) = graph.arch.tls_descriptor_resolver() else {
        let at = crate::Location::file(&*graph.name);
        return Err(crate::LinkError::unsupported(at, format!("TLS descriptors on {}", graph.arch.name())));
    };
    let section = stub_section(graph);
    let block = table_block(graph, section, graph.arch.stub_align());
    graph.make_owned(block).extend_from_slice(code);
    let resolver = graph.add_anonymous_symbol(block, 0, code.len() as u64);
    graph.symbol_mut(resolver).flags.callable = true;
    graph.stubs.tls_desc_resolver = Some(resolver);
    Ok(resolver)
}

/// Makes room, once, for what `work` may add: a symbol for each target's entry and one for
/// its stub, and the tables' few blocks. A graph's vectors are sized exactly when it is
/// built, so the first entry would otherwise double them (sqlite3.o's symbols: 550 KB, most
/// of it never used, all of it in the peak).
fn reserve_for_entries(graph: &mut LinkGraph, work: &[(BlockId, usize)]) {
    let mut seen = vec![false; graph.symbols.len()];
    let mut targets: usize = 0;
    for &(block, i) in work {
        let Some(edge) = graph.block(block).edges.get(i) else { continue };
        if let Some(first) = seen.get_mut(edge.target().index()).filter(|s| !**s) {
            *first = true;
            targets = targets.saturating_add(1);
        }
    }
    if targets == 0 {
        return;
    }
    graph.symbols.reserve_exact(targets.saturating_mul(2).saturating_add(4));
    // `tls_index` pairs and descriptors take a block each; they are rare, and grow as usual.
    graph.blocks.reserve_exact(4);
}

/// The target of a GOT entry's pointer edge (the GOT block's edges are in offset order).
pub fn got_entry_target(graph: &LinkGraph, entry: SymbolId) -> Option<SymbolId> {
    let Definition::Block { block, offset } = graph.symbol(entry).def else { return None };
    let edges = &graph.block(block).edges;
    let at = u32::try_from(offset).ok()?;
    let index = edges.binary_search_by_key(&at, |e| e.offset).ok()?;
    edges.get(index).map(|e| e.target())
}

/// Whether `edge`'s field (described by `info`) with its addend reaches from any address of the memory
/// manager's window to any other (`StubIndex::reach`): then a target promised inside the
/// window needs no stub. `last` remembers the answer for the previous kind and addend
/// (nearly every edge that asks is a call with the same addend).
fn reaches_across(graph: &LinkGraph, edge: &Edge, info: &EdgeInfo, last: &mut Option<(EdgeKind, i64, bool)>) -> bool {
    let addend = edge.addend;
    if let Some((kind, a, answer)) = *last {
        if (kind, a) == (edge.kind(), addend) {
            return answer;
        }
    }
    let answer = graph.stubs.reach.as_ref().is_some_and(|reach| {
        // A field's value grows with its target and shrinks (or stays) with its site, so the
        // extremes are the target at one end of the window and the site at the other.
        let (start, end) = reach.span;
        let last = end.saturating_sub(1).max(start);
        reaches(info, start, addend, last) && reaches(info, last, addend, start)
    });
    *last = Some((edge.kind(), addend, answer));
    answer
}

/// Points edge `i` of `block` at `target` with `kind`.
fn retarget(graph: &mut LinkGraph, block: BlockId, i: usize, kind: EdgeKind, target: SymbolId) {
    if let Some(e) = graph.block_mut(block).edges.get_mut(i) {
        e.set_kind(kind);
        e.set_target(target);
    }
}

/// The edges of the live blocks that table building must act on, in order (so entries are
/// made in first-use order): requests, thread-local block offsets, and references to
/// externals that may fall short. And whether the graph needs its GOT base. One read-only
/// pass with each edge kind's row looked up once: most edges need nothing.
fn edges_needing_tables(graph: &LinkGraph) -> (Vec<(BlockId, usize)>, bool) {
    const KNOWN: u8 = 1;
    const GOT_BASE: u8 = 2;
    const ACT: u8 = 4;
    const STUB_IF_FAR: u8 = 8;
    let mut class = [0u8; 256];
    let mut needs_got_base = false;
    let mut span_reach = None;
    let mut work = Vec::new();
    for (b, block) in graph.blocks.iter().enumerate().filter(|(_, block)| block.live) {
        for (i, edge) in block.edges.iter().enumerate() {
            let Some(c) = class.get_mut(usize::from(edge.kind().0)) else { continue };
            if *c == 0 {
                *c = KNOWN;
                if let Some(info) = graph.arch.edge_info(edge.kind()) {
                    // `sym@GOTOFF` is relative to the GOT base even when nothing names
                    // `_GLOBAL_OFFSET_TABLE_`.
                    if matches!(info.formula, Formula::FromGot | Formula::FromGotPage) {
                        *c |= GOT_BASE;
                    }
                    match info.table {
                        TableUse::None if info.formula != Formula::ThreadBlockOffset => {}
                        TableUse::StubIfFar | TableUse::BranchStubIfFar | TableUse::PageStubIfFar => *c |= STUB_IF_FAR,
                        _ => *c |= ACT,
                    }
                }
            }
            let c = *c;
            needs_got_base |= c & GOT_BASE != 0;
            let act = if c & STUB_IF_FAR != 0 {
                let external = matches!(graph.symbol(edge.target()).def, Definition::External { .. });
                let inside = graph.stubs.reach.as_ref().is_some_and(|r| r.is_inside(edge.target()));
                external
                    && !(inside
                        && graph
                            .arch
                            .edge_info(edge.kind())
                            .is_some_and(|info| reaches_across(graph, edge, info, &mut span_reach)))
            } else {
                c & ACT != 0
            };
            if act {
                work.push((BlockId(b as u32), i));
            }
        }
    }
    (work, needs_got_base)
}

/// Lowers GOT and `tls_index` requests and gives every external reached by a field that may
/// fall short a stub to fall back on. Runs over the live blocks that existed before it
/// (entries are not revisited).
pub fn build_tables(graph: &mut LinkGraph) -> Result<()> {
    let (work, needs_got_base) = edges_needing_tables(graph);
    reserve_for_entries(graph, &work);
    for (block, i) in work {
        let Some(&edge) = graph.block(block).edges.get(i) else { continue };
        let Some(info) = graph.arch.edge_info(edge.kind()) else { continue };
        if info.formula == Formula::ThreadBlockOffset {
            tls_base(graph);
        }
        match info.table {
            TableUse::None => {}
            TableUse::Got(lowered) => {
                let entry = got_entry(graph, edge.target());
                retarget(graph, block, i, lowered, entry);
            }
            TableUse::TlsIndexForSymbol(lowered) => {
                let entry = tls_index_entry(graph, edge.target());
                retarget(graph, block, i, lowered, entry);
            }
            TableUse::TlsIndexForBlock(lowered) => {
                let base = tls_base(graph);
                let entry = tls_index_entry(graph, base);
                retarget(graph, block, i, lowered, entry);
            }
            TableUse::TlsDescriptor(lowered) => {
                let entry = tls_descriptor(graph, edge.target())?;
                retarget(graph, block, i, lowered, entry);
            }
            // Only those that may fall short are listed.
            TableUse::StubIfFar | TableUse::BranchStubIfFar | TableUse::PageStubIfFar => {
                stub(graph, edge.target());
            }
        }
    }
    if graph.stubs.got.is_empty() && graph.got_base.is_none() && !needs_got_base {
        return Ok(());
    }
    got_base(graph);
    Ok(())
}
