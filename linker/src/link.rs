//! Drives one graph through the phases, in order:
//!
//! 1. pre-prune passes, then dead-stripping, then post-prune passes (tables);
//! 2. layout and allocation: every block and defined symbol gets its address;
//! 3. post-allocation passes, then `notify_resolved`: the context may now hand our addresses
//!    to others (this is what lets two graphs that refer to each other both link);
//! 4. external lookup through the context;
//! 5. pre-fix-up passes (relaxation), copy content into working memory, apply fix-ups;
//! 6. post-fix-up passes, protect, `notify_finalized`.
//!
//! On any failure after allocation the memory is given back before the error is returned.

use crate::graph::{Content, Definition, LinkGraph, SymbolId};
use crate::memory::{layout, Allocation, Layout, MemoryManager};
use crate::names::SymbolName;
use crate::passes::{self, PassConfig};
use crate::tls::{self, TlsLayout};
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

    /// Every defined symbol now has its final address.
    fn notify_resolved(&mut self, graph: &LinkGraph) -> Result<()>;

    /// Resolves external names. `weak` names may be missing (`None`); for any other missing
    /// name the context returns an error that names every one.
    fn lookup(&mut self, graph: &LinkGraph, names: &[(SymbolName, bool)]) -> Result<Vec<Option<ResolvedSymbol>>>;

    /// The graph is fixed up and its memory protected; the allocation now belongs to the
    /// context.
    fn notify_finalized(&mut self, graph: LinkGraph, alloc: Allocation, layout: Layout) -> Result<()>;

    /// Reserves a thread-local block of `layout.size` bytes in every thread; returns its
    /// offset from the thread pointer, the same in all threads.
    fn allocate_tls(&mut self, graph: &LinkGraph, _layout: &TlsLayout) -> Result<i64> {
        Err(LinkError::unsupported(crate::Location::file(&*graph.name), "thread-local storage in this context"))
    }

    /// The block's fixed-up initial content (`image` covers `.tdata`; the rest is zero).
    fn initialize_tls(&mut self, _graph: &LinkGraph, _tp_offset: i64, _image: &[u8]) -> Result<()> {
        Ok(())
    }

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

pub fn link(mut graph: LinkGraph, ctx: &mut dyn LinkContext) -> Result<()> {
    let mut config = PassConfig::x86_64_elf();
    ctx.modify_passes(&mut config);

    timed(ctx, "prune and tables", |_| -> Result<()> {
        passes::run(&mut config.pre_prune, &mut graph)?;
        passes::prune(&mut graph)?;
        passes::run(&mut config.post_prune, &mut graph)
    })?;

    let layout = layout(&graph);
    let mut alloc = timed(ctx, "allocate", |ctx| ctx.memory().allocate(layout.size, layout.align))?;
    match fix_up(&mut graph, ctx, &mut config, &layout, &mut alloc) {
        Ok(()) => ctx.notify_finalized(graph, alloc, layout),
        Err(e) => {
            ctx.memory().deallocate(alloc);
            Err(e)
        }
    }
}

fn fix_up(
    graph: &mut LinkGraph,
    ctx: &mut dyn LinkContext,
    config: &mut PassConfig,
    layout: &Layout,
    alloc: &mut Allocation,
) -> Result<()> {
    assign_addresses(graph, layout, alloc.addr);
    let tls = tls::layout_tls(graph);
    let tp_offset = match &tls {
        Some(tls_layout) => {
            let tp_offset = ctx.allocate_tls(graph, tls_layout)?;
            tls::assign_tls_addresses(graph, tls_layout, tp_offset);
            Some(tp_offset)
        }
        None => None,
    };
    passes::run(&mut config.post_allocation, graph)?;
    ctx.notify_resolved(graph)?;
    timed(ctx, "resolve externals", |ctx| resolve_externals(graph, ctx))?;
    let started = std::time::Instant::now();
    passes::run(&mut config.pre_fixup, graph)?;

    let memory = alloc.working_mut();
    for (index, offset) in layout.block_offsets.iter().enumerate() {
        let Some(offset) = *offset else { continue };
        let block = &graph.blocks[index];
        let size = block.size() as usize;
        let Some(dest) = memory.get_mut(offset as usize..offset as usize + size) else {
            return Err(LinkError::Memory(format!("block {index} lies outside its allocation")));
        };
        if !matches!(block.content, Content::Zero(_)) {
            dest.copy_from_slice(graph.block_bytes(block));
        }
        crate::arch::x86_64::apply_fixups(graph, crate::graph::BlockId(index as u32), dest)?;
    }
    if let (Some(tls_layout), Some(tp_offset)) = (&tls, tp_offset) {
        let image = tls::tls_image(graph, tls_layout)?;
        ctx.initialize_tls(graph, tp_offset, &image)?;
    }
    passes::run(&mut config.post_fixup, graph)?;
    ctx.record_phase("fix up", started.elapsed());
    timed(ctx, "finalize", |ctx| ctx.memory().finalize(alloc, &layout.segments))
}

fn assign_addresses(graph: &mut LinkGraph, layout: &Layout, base: u64) {
    for (block, offset) in graph.blocks.iter_mut().zip(&layout.block_offsets) {
        if let Some(offset) = offset {
            block.addr = base + offset;
        }
    }
    for symbol in &mut graph.symbols {
        if let Definition::Block { block, offset } = symbol.def {
            symbol.addr = graph.blocks[block.index()].addr + offset;
        }
    }
}

fn resolve_externals(graph: &mut LinkGraph, ctx: &mut dyn LinkContext) -> Result<()> {
    let wanted: Vec<(SymbolId, SymbolName, bool)> = graph
        .externals
        .iter()
        .filter_map(|(&name, &id)| match graph.symbols[id.index()].def {
            Definition::External { weak_ref } if graph.symbols[id.index()].live => Some((id, name, weak_ref)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let names: Vec<(SymbolName, bool)> = wanted.iter().map(|&(_, name, weak)| (name, weak)).collect();
    let results = ctx.lookup(graph, &names)?;
    for ((id, _, _), result) in wanted.into_iter().zip(results) {
        let symbol = &mut graph.symbols[id.index()];
        // A weak reference nobody defines is null, as in a static link.
        let resolved = result.unwrap_or(ResolvedSymbol { addr: 0, callable: false, size: 0 });
        symbol.addr = resolved.addr;
        symbol.callable = resolved.callable;
        symbol.size = resolved.size;
    }
    Ok(())
}
