//! Lazy re-exports: names whose code is linked on first *call*.
//!
//! Each name gets a stub in JIT memory, `jmp *slot(%rip)`. The slot first points at the
//! stub's trampoline, which enters the JIT (`reentry`); the JIT looks the body up through the
//! ordinary session lookup, which materializes it exactly once however many threads call at
//! the same time (the others wait in the lookup), stores the body's address in the slot, and
//! continues into the body. Later calls go through the slot straight to the body. The stub's
//! address is what everyone links against: stable, and different from the body's.

mod reentry;

pub use reentry::reentry_address;

use crate::error::{JitError, Result};
use crate::layers::ObjectLinkingLayer;
use crate::session::{
    DylibId, LookupFlags, MaterializationResponsibility, MaterializationUnit, ReexportsUnit, SymbolFlags,
};
use jitld_linker::graph::{Content, Edge, MemProt, SectionRole, Symbol};
use jitld_linker::{InputBuffer, LinkGraph, SymbolName};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counts for `--stats`, shared by every stub of one manager.
#[derive(Default)]
pub struct LazyStats {
    pub created: AtomicU64,
    /// Stubs whose body was looked up (first calls).
    pub hit: AtomicU64,
}

/// What a stub needs to find its body: kept alive with the stub's memory.
pub struct LazyStub {
    session: crate::session::ExecutionSession,
    source: Vec<(DylibId, LookupFlags)>,
    body: SymbolName,
    name: Arc<str>,
    /// Address of the slot the stub jumps through, once linked.
    slot: AtomicU64,
    stats: Arc<LazyStats>,
}

impl LazyStub {
    fn resolve(&self) -> Result<u64> {
        let found = self.session.lookup(&self.source, &[self.body])?;
        let addr = found[0].addr;
        let slot = self.slot.load(Ordering::Acquire);
        let executor = self.session.executor();
        if executor.in_this_process() {
            // SAFETY: the slot is an aligned 8-byte word in this stub's writable JIT memory.
            let cell = unsafe { &*(slot as *const AtomicU64) };
            if cell.swap(addr, Ordering::AcqRel) != addr {
                self.stats.hit.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            // Another process: one re-entry at a time reaches us, so a plain write will do.
            executor.write(slot, &addr.to_le_bytes())?;
            self.stats.hit.fetch_add(1, Ordering::Relaxed);
        }
        Ok(addr)
    }
}

/// The stubs whose trampolines are linked, by context word: a context an executor process
/// sends back is only followed if it is one of ours.
static LIVE_STUBS: Mutex<Vec<(u64, std::sync::Weak<LazyStub>)>> = Mutex::new(Vec::new());

/// Answers an executor process's re-entry through the stub with context word `context`.
fn resolve_remote(context: u64) -> Result<u64> {
    let stub = {
        let mut live = LIVE_STUBS.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|(_, stub)| stub.strong_count() > 0);
        live.iter().find(|&&(c, _)| c == context).and_then(|(_, stub)| stub.upgrade())
    };
    let stub = stub.ok_or_else(|| JitError::other(format!("lazy re-entry with unknown context {context:#x}")))?;
    stub.resolve()
}

/// Defines lazily linked names: `(new name, body name, flags)`, the bodies looked up in
/// `source` on first call.
pub struct LazyReexportsUnit {
    pub layer: ObjectLinkingLayer,
    pub source: Vec<(DylibId, LookupFlags)>,
    pub names: Vec<(SymbolName, SymbolName, SymbolFlags)>,
    pub stats: Arc<LazyStats>,
    pub origin: String,
}

impl MaterializationUnit for LazyReexportsUnit {
    fn name(&self) -> &str {
        &self.origin
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        self.names.iter().map(|&(new, _, flags)| (new, flags)).collect()
    }

    fn discard(&mut self, name: SymbolName) {
        self.names.retain(|(new, _, _)| *new != name);
    }

    /// The names are the stubs' addresses, and the stubs are linked into the session's memory.
    fn defines_in_session_memory(&self) -> bool {
        true
    }

    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        let session = self.layer.session().clone();
        // The stubs run in the executor, and re-enter it through its re-entry routine.
        let executor = session.executor().clone();
        let arch = executor.target().arch;
        let reentry = match executor.lazy_reentry() {
            Ok(reentry) => reentry,
            Err(e) => return mr.fail(e),
        };
        if !executor.in_this_process() {
            executor.set_lazy_handler(Box::new(resolve_remote));
        }
        let mut graph =
            LinkGraph::new(InputBuffer::from_vec(self.origin.as_str(), Vec::new()), session.names().clone(), arch);
        let code = graph.add_section("$__LAZY_STUBS", MemProt::ReadExec, SectionRole::Stubs);
        let slots = graph.add_section("$__LAZY_SLOTS", MemProt::ReadWrite, SectionRole::Plain);
        let mut stubs = Vec::new();
        for &(new, body, _) in &self.names {
            let stub = Arc::new(LazyStub {
                session: session.clone(),
                source: self.source.clone(),
                body,
                name: session.names().resolve(new).into(),
                slot: AtomicU64::new(0),
                stats: self.stats.clone(),
            });
            let context = Arc::as_ptr(&stub) as u64;
            if !executor.in_this_process() {
                LIVE_STUBS.lock().unwrap_or_else(|e| e.into_inner()).push((context, Arc::downgrade(&stub)));
            }
            let trampoline = arch.lazy_trampoline(context, reentry);
            let tramp_block = graph.add_block(code, Content::Owned(trampoline), 16);
            let tramp = graph.add_anonymous_symbol(tramp_block, 0, 0);
            let slot_block = graph.add_block(slots, Content::Owned(vec![0; 8]), 8);
            let pointer = Edge::new(arch.pointer_kind(), 0, tramp, 0);
            graph.blocks[slot_block.index()].edges.push(pointer);
            let slot = graph.add_anonymous_symbol(slot_block, 0, 8);
            let entry = arch.add_pointer_jump_stub(&mut graph, code, slot);
            let def = graph.symbol(entry).def;
            let size = graph.symbol(entry).size;
            graph.add_symbol(Symbol {
                name: Some(new),
                def,
                size,
                flags: SymbolFlags::strong_function(),
                addr: 0,
                live: true,
            });
            stubs.push((stub, slot));
        }
        self.stats.created.fetch_add(stubs.len() as u64, Ordering::Relaxed);
        self.layer.stats().count(&graph, true);
        self.layer.emit_with(mr, graph, u64::MAX, None, move |graph| {
            for (stub, slot) in &stubs {
                stub.slot.store(graph.symbol_addr(*slot), Ordering::Release);
            }
            let keep: Box<dyn std::any::Any + Send> = Box::new(stubs);
            keep
        });
    }
}

/// Adds an object behind lazy stubs: the object goes into `implementation`, and `dylib` gets
/// a stub for each of its functions and a plain re-export for its data.
pub fn add_lazy_object(
    layer: &ObjectLinkingLayer,
    dylib: DylibId,
    implementation: DylibId,
    input: InputBuffer,
    stats: &Arc<LazyStats>,
) -> Result<()> {
    let session = layer.session();
    let interface = jitld_linker::format::object_format(&input)?.interface(&input, session.names())?;
    let origin = input.name.to_string();
    layer.add(implementation, input)?;
    let source = vec![(implementation, LookupFlags::MatchAllSymbols)];
    let (mut functions, mut data) = (Vec::new(), Vec::new());
    for symbol in &interface.symbols {
        let target = if symbol.flags.callable { &mut functions } else { &mut data };
        target.push((symbol.name, symbol.name, symbol.flags));
    }
    let stubs = LazyReexportsUnit {
        layer: layer.clone(),
        source: source.clone(),
        names: functions,
        stats: stats.clone(),
        origin: format!("lazy stubs for {origin}"),
    };
    session.define(dylib, Box::new(stubs))?;
    session.define(dylib, Box::new(ReexportsUnit::new(source, data, format!("data of {origin}"))))
}

/// Makes `implementation` search `dylib` (where the stubs are) before itself, so calls
/// between lazy objects go through stubs too; then `dylib`'s own link order.
pub fn link_implementation(session: &crate::session::ExecutionSession, dylib: DylibId, implementation: DylibId) {
    let mut order = vec![(dylib, LookupFlags::MatchAllSymbols)];
    order.extend(session.link_order(dylib));
    order.push((implementation, LookupFlags::MatchAllSymbols));
    session.set_link_order_with(implementation, order, false);
}
