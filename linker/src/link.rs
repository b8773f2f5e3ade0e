//! Drives one graph through the phases, in order:
//!
//! 1. pre-prune passes, then dead-stripping, then post-prune passes (tables);
//! 2. layout and allocation: every block and defined symbol gets its address;
//! 3. post-allocation passes, then `notify_resolved`: the context may now hand our addresses
//!    to others (this is what lets two graphs that refer to each other both link);
//! 4. external lookup through the context — `link` asks `LinkContext::lookup` and waits;
//!    a caller that resolves asynchronously runs `begin`, keeps the `PendingLink`, and
//!    calls `PendingLink::finish` when the answers come;
//! 5. pre-fix-up passes (relaxation), copy content into working memory, apply fix-ups;
//! 6. post-fix-up passes, protect, `notify_finalized`.
//!
//! Nothing here knows a format, an architecture or a platform: the graph's target supplies
//! the passes (`PassConfig::for_graph`) and the fix-ups (`Arch::apply_fixups`), the context
//! adds its own passes (thread-local storage, initializers, unwind tables).
//!
//! On any failure after allocation the memory is given back before the error is returned.

use crate::flags::LookupName;
use crate::graph::{Definition, KnownReach, LinkGraph, SymbolId};
use crate::memory::{layout, Allocation, Layout, MemoryManager};
use crate::names::SymbolName;
use crate::passes::{self, PassConfig};
use crate::{LinkError, Result};

/// What an external name resolved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedSymbol {
    pub addr: u64,
    pub callable: bool,
    pub size: u64,
}

/// The linker's view of whoever asked for the link (the session, in `jitld`).
pub trait LinkContext {
    fn memory(&self) -> &dyn MemoryManager;

    /// Adds passes (platform support, plugins) to the default pipeline.
    fn modify_passes(&mut self, _config: &mut PassConfig) {}

    /// Which of `names` (the graph's live externals, asked before allocation) will resolve
    /// to an address inside `span`, the window the memory manager places everything in: one
    /// answer per name, or an empty vector for "not known". A `true` is a promise: the
    /// linker makes no far-call stub for that name, so if it then resolves outside the
    /// window, a call that cannot reach it fails the link. An error (a generator failed
    /// while finding the names) fails the link.
    fn resolve_within(&mut self, _graph: &LinkGraph, _names: &[LookupName], _span: (u64, u64)) -> Result<Vec<bool>> {
        Ok(Vec::new())
    }

    /// Every defined symbol now has its final address.
    fn notify_resolved(&mut self, graph: &LinkGraph) -> Result<()>;

    /// Resolves external names. `weak` names may be missing (`None`); for any other missing
    /// name the context returns an error that names every one.
    fn lookup(&mut self, graph: &LinkGraph, names: &[LookupName]) -> Result<Vec<Option<ResolvedSymbol>>>;

    /// The graph is fixed up and its memory protected; the allocation now belongs to the
    /// context.
    fn notify_finalized(&mut self, graph: LinkGraph, alloc: Allocation, layout: Layout) -> Result<()>;

    /// Time spent in a phase of this link (for statistics).
    fn record_phase(&mut self, _phase: &'static str, _elapsed: std::time::Duration) {}
}

/// Runs `step`, reporting its duration to the context as `phase`.
fn timed<T>(ctx: &mut dyn LinkContext, phase: &'static str, step: impl FnOnce(&mut dyn LinkContext) -> T) -> T {
    let started = std::time::Instant::now();
    let result = step(ctx);
    ctx.record_phase(phase, started.elapsed());
    result
}

/// An edge names its target in 24 bits (`graph::Edge`): a graph with more symbols than
/// that cannot be linked.
fn within_symbol_limit(graph: &LinkGraph) -> Result<()> {
    match graph.symbols.len() > crate::graph::MAX_SYMBOLS as usize {
        true => Err(LinkError::malformed(
            crate::Location::file(&*graph.name),
            format!("{} symbols; jitld links at most {} per object", graph.symbols.len(), crate::graph::MAX_SYMBOLS),
        )),
        false => Ok(()),
    }
}

/// Links `graph` in one go, asking the context for externals (`LinkContext::lookup`).
pub fn link(graph: LinkGraph, ctx: &mut dyn LinkContext) -> Result<()> {
    let pending = begin(graph, ctx)?;
    let names = pending.externals();
    let started = std::time::Instant::now();
    let found = if names.is_empty() { Ok(Vec::new()) } else { ctx.lookup(&pending.graph, &names) };
    ctx.record_phase("resolve externals", started.elapsed());
    match found {
        Ok(found) => pending.finish(ctx, found),
        Err(e) => {
            pending.abandon(ctx.memory());
            Err(e)
        }
    }
}

/// A link stopped where it needs its externals: every block and defined symbol has its
/// address, and the context has been told (`notify_resolved`). A caller that resolves
/// names asynchronously keeps this until the answers come, then calls `finish`.
pub struct PendingLink {
    graph: LinkGraph,
    config: PassConfig,
    layout: Layout,
    alloc: Allocation,
    /// The live external symbols, in the order `externals` names them.
    wanted: Vec<(SymbolId, SymbolName, bool)>,
}

/// Runs the phases up to external lookup: passes, pruning, layout, allocation, addresses.
pub fn begin(mut graph: LinkGraph, ctx: &mut dyn LinkContext) -> Result<PendingLink> {
    let mut config = PassConfig::for_graph(&graph);
    ctx.modify_passes(&mut config);

    timed(ctx, "prune and tables", |ctx| -> Result<()> {
        // Before passes read edges, and again once they have added symbols of their own.
        within_symbol_limit(&graph)?;
        passes::run(&mut config.pre_prune, &mut graph)?;
        passes::prune(&mut graph)?;
        note_reach(&mut graph, ctx)?;
        passes::run(&mut config.post_prune, &mut graph)?;
        within_symbol_limit(&graph)
    })?;

    let layout = layout(&graph, ctx.memory().page_size(), ctx.memory().gathers_tables());
    let alloc = timed(ctx, "allocate", |ctx| ctx.memory().allocate(&layout))?;
    match place(&mut graph, ctx, &mut config, &layout, &alloc) {
        Ok(()) => {
            let wanted = live_externals(&graph);
            Ok(PendingLink { graph, config, layout, alloc, wanted })
        }
        Err(e) => {
            ctx.memory().deallocate(alloc);
            Err(e)
        }
    }
}

impl PendingLink {
    pub fn graph(&self) -> &LinkGraph {
        &self.graph
    }

    /// The names to resolve, each with whether a missing definition is allowed (weak).
    pub fn externals(&self) -> Vec<LookupName> {
        self.wanted.iter().map(|&(_, name, weak)| LookupName { name, weak }).collect()
    }

    /// Completes the link with what each of `externals` resolved to (`None`: a weak
    /// reference nobody defines, which is null as in a static link).
    pub fn finish(mut self, ctx: &mut dyn LinkContext, found: Vec<Option<ResolvedSymbol>>) -> Result<()> {
        for (&(id, _, _), result) in self.wanted.iter().zip(found) {
            let symbol = &mut self.graph.symbols[id.index()];
            let resolved = result.unwrap_or(ResolvedSymbol { addr: 0, callable: false, size: 0 });
            symbol.addr = resolved.addr;
            symbol.flags.callable = resolved.callable;
            symbol.size = resolved.size;
        }
        match fix_up(&mut self.graph, ctx, &mut self.config, &self.layout, &mut self.alloc) {
            Ok(()) => ctx.notify_finalized(self.graph, self.alloc, self.layout),
            Err(e) => {
                ctx.memory().deallocate(self.alloc);
                Err(e)
            }
        }
    }

    /// Gives the memory back: the link will not finish.
    pub fn abandon(self, memory: &dyn MemoryManager) {
        memory.deallocate(self.alloc);
    }
}

/// Assigns addresses, runs post-allocation passes and publishes the addresses.
fn place(
    graph: &mut LinkGraph,
    ctx: &mut dyn LinkContext,
    config: &mut PassConfig,
    layout: &Layout,
    alloc: &Allocation,
) -> Result<()> {
    assign_addresses(graph, layout, alloc);
    passes::run(&mut config.post_allocation, graph)?;
    ctx.notify_resolved(graph)
}

fn fix_up(
    graph: &mut LinkGraph,
    ctx: &mut dyn LinkContext,
    config: &mut PassConfig,
    layout: &Layout,
    alloc: &mut Allocation,
) -> Result<()> {
    let started = std::time::Instant::now();
    passes::run(&mut config.pre_fixup, graph)?;
    graph.sort_patches();

    for (index, offset) in layout.block_offsets.iter().enumerate() {
        let Some(offset) = *offset else { continue };
        let block = crate::graph::BlockId(index as u32);
        let Some(dest) = alloc.working_at(offset, graph.blocks[index].size()) else {
            return Err(LinkError::Memory(format!("block {index} lies outside its allocation")));
        };
        graph.write_block(block, dest);
        graph.arch.apply_fixups(graph, block, dest)?;
    }
    passes::run(&mut config.post_fixup, graph)?;
    ctx.record_phase("fix up", started.elapsed());
    timed(ctx, "finalize", |ctx| ctx.memory().finalize(alloc))
}

fn assign_addresses(graph: &mut LinkGraph, layout: &Layout, alloc: &Allocation) {
    for (block, offset) in graph.blocks.iter_mut().zip(&layout.block_offsets) {
        if let Some(addr) = offset.and_then(|offset| alloc.address_of(offset)) {
            block.addr = addr;
        }
    }
    for symbol in &mut graph.symbols {
        if let Definition::Block { block, offset } = symbol.def {
            symbol.addr = graph.blocks[block.index()].addr + offset;
        }
    }
}

/// Asks the context which live externals will land in the memory manager's window, so that
/// table building leaves their stubs out (`StubIndex::reach`).
fn note_reach(graph: &mut LinkGraph, ctx: &mut dyn LinkContext) -> Result<()> {
    let Some(span) = ctx.memory().span() else { return Ok(()) };
    let wanted = live_externals(graph);
    if wanted.is_empty() {
        return Ok(());
    }
    let names: Vec<LookupName> = wanted.iter().map(|&(_, name, weak)| LookupName { name, weak }).collect();
    let answers = ctx.resolve_within(graph, &names, span)?;
    if answers.len() != wanted.len() || !answers.contains(&true) {
        return Ok(());
    }
    let mut inside = vec![false; graph.symbols.len()];
    for (&(id, _, _), answer) in wanted.iter().zip(answers) {
        inside[id.index()] = answer;
    }
    graph.stubs.reach = Some(KnownReach { span, inside });
    Ok(())
}

/// The external symbols that survived pruning: what the link must look up.
fn live_externals(graph: &LinkGraph) -> Vec<(SymbolId, SymbolName, bool)> {
    let mut live = Vec::with_capacity(graph.externals.len());
    live.extend(graph.externals.iter().filter_map(|(&name, &id)| match graph.symbols[id.index()].def {
        Definition::External { weak_ref } if graph.symbols[id.index()].live => Some((id, name, weak_ref)),
        _ => None,
    }));
    live
}
