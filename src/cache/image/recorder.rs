//! What a cold link records for its image: every segment the memory manager hands out (a
//! wrapper around it), and from each linked graph the edges to symbols outside it, its
//! thread-local block, indirect functions and unwind tables (a link plugin). `snapshot`
//! turns that into a `PrelinkedImage` once the program is linked and before any of its code
//! has run — or says why it cannot.

use super::symbols::ExternalResolver;
use super::{CopiedVariable, ExternalFixup, PrelinkedImage, Segment, TlsBlock};
use crate::error::Result;
use crate::layers::LinkPlugin;
use crate::session::InstanceId;
use jitld_linker::arch::Arch;
use jitld_linker::graph::{Definition, EdgeKind, MemProt};
use jitld_linker::memory::{Allocation, Layout, MemoryManager};
use jitld_linker::LinkGraph;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// An edge whose target the graph does not define, as the link wrote it.
struct ExternalEdge {
    place: u64,
    kind: EdgeKind,
    addend: i64,
    name: String,
    /// Where the target was in this run.
    target: u64,
}

#[derive(Default)]
struct Recorded {
    /// Live segments by address: (size, protection).
    segments: BTreeMap<u64, (u64, MemProt)>,
    externals: Vec<ExternalEdge>,
    tls: Vec<TlsBlock>,
    ifuncs: Vec<(u64, u64)>,
    eh_frames: Vec<crate::executor::EhFrame>,
    unwinder: Option<u64>,
    /// Why the image cannot be kept, once something says so.
    unrepresentable: Option<String>,
}

/// Records a cold link: install `memory` as the executor's memory and `plugin` in the layer.
#[derive(Clone)]
pub struct ImageRecorder {
    recorded: Arc<Mutex<Recorded>>,
    arch: Arch,
}

impl ImageRecorder {
    pub fn new(arch: Arch) -> Self {
        ImageRecorder { recorded: Arc::default(), arch }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `inner`, with every allocation noted.
    pub fn memory(&self, inner: Arc<dyn MemoryManager>) -> Arc<dyn MemoryManager> {
        Arc::new(RecordingMemory { inner, recorder: self.clone() })
    }

    /// The image of what is linked now. `copies` are the library variables copied into it,
    /// `initializers` and `finalizers` in the order they run; `resolver` resolves names over
    /// `libraries`, the shared libraries the link loaded.
    pub fn snapshot(
        &self,
        entry: u64,
        copies: Vec<CopiedVariable>,
        (initializers, finalizers): (Vec<u64>, Vec<u64>),
        resolver: &ExternalResolver,
        libraries: &[String],
    ) -> std::result::Result<PrelinkedImage<'static>, String> {
        let recorded = self.lock();
        if let Some(why) = &recorded.unrepresentable {
            return Err(why.clone());
        }
        let mut segments = Vec::with_capacity(recorded.segments.len());
        for (&addr, &(size, prot)) in &recorded.segments {
            // SAFETY: a live segment of this process's JIT memory; every protection reads.
            let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, size as usize) };
            segments.push(Segment { addr, prot, bytes: bytes.to_vec().into() });
        }
        // One past a segment's end counts: `__stop_X` and other end addresses point there.
        let inside = |addr: u64| {
            let before = recorded.segments.range(..=addr).next_back();
            before.is_some_and(|(&start, &(size, _))| addr <= start.saturating_add(size))
        };
        let thread_local = |addr: u64| {
            let offset = addr as i64;
            recorded.tls.iter().any(|b| offset >= b.tp_offset && offset < b.tp_offset.saturating_add(b.size as i64))
        };
        // Only edges written into the image whose targets lie outside it move between runs.
        let mut moving: Vec<&ExternalEdge> = recorded
            .externals
            .iter()
            .filter(|e| inside(e.place) && e.target != 0 && !inside(e.target) && !thread_local(e.target))
            .collect();
        // In address order: a warm start visits the pages they write in one sweep.
        moving.sort_by_key(|e| e.place);
        let mut names: Vec<String> = moving.iter().map(|e| e.name.clone()).collect();
        names.sort_unstable();
        names.dedup();
        let texts: Vec<&str> = names.iter().map(String::as_str).collect();
        let found = resolver.resolve(&texts).map_err(|e| e.to_string())?;
        let mut externals = Vec::with_capacity(moving.len());
        for edge in moving {
            let index = names.binary_search(&edge.name).map_err(|_| "an external name went missing".to_string())?;
            if found.get(index).copied().flatten() != Some(edge.target) {
                return Err(format!("{} was bound in a way a cached image cannot repeat", edge.name));
            }
            if !jitld_linker::arch::refittable(self.arch, edge.kind) {
                return Err(format!("a fix-up to {} is of a kind a cached image cannot redo", edge.name));
            }
            externals.push(ExternalFixup {
                place: edge.place,
                kind: edge.kind.0,
                addend: edge.addend,
                name: index as u32,
            });
        }
        Ok(PrelinkedImage {
            entry,
            segments,
            names,
            externals,
            copies,
            tls: recorded.tls.clone(),
            ifuncs: recorded.ifuncs.clone(),
            eh_frames: recorded.eh_frames.clone(),
            unwinder: recorded.unwinder,
            initializers,
            finalizers,
            libraries: libraries.to_vec(),
        })
    }
}

impl LinkPlugin for ImageRecorder {
    fn notify_finalized(&self, _: InstanceId, _: u64, graph: &LinkGraph, alloc: &Allocation) -> Result<()> {
        let mut externals = Vec::new();
        for block in &graph.blocks {
            for edge in block.edges.iter().filter(|e| e.kind() != EdgeKind::KEEP_ALIVE) {
                let target = graph.symbol(edge.target());
                let (Definition::External { .. }, Some(name)) = (target.def, target.name) else { continue };
                externals.push(ExternalEdge {
                    place: block.addr.wrapping_add(u64::from(edge.offset)),
                    kind: edge.kind(),
                    addend: edge.addend,
                    name: graph.names.resolve(name).to_string(),
                    target: target.addr,
                });
            }
        }
        let tls = jitld_linker::tls::layout_tls(graph).and_then(|layout| {
            let &(block, offset) = layout.offsets.first()?;
            let tp_offset = graph.blocks[block.index()].addr.wrapping_sub(offset) as i64;
            let image = jitld_linker::tls::tls_image(graph, &layout).ok()?;
            Some(TlsBlock { tp_offset, init_size: layout.init_size, size: layout.size, align: layout.align, image })
        });
        let mut recorded = self.lock();
        recorded.externals.extend(externals);
        recorded.tls.extend(tls);
        recorded.ifuncs.extend(
            graph.ifuncs.iter().map(|&(slot, resolver)| (graph.symbol_addr(slot), graph.symbol_addr(resolver))),
        );
        recorded.eh_frames.extend(crate::platform::eh_frame(graph, alloc));
        // Images start in this process.
        let runtime = crate::platform::runtime_in_this_process;
        if let Some((register, _)) = crate::platform::unwinder_to_register(graph, runtime) {
            recorded.unwinder = Some(register);
        }
        Ok(())
    }
}

/// The executor's memory manager, noting what is live.
struct RecordingMemory {
    inner: Arc<dyn MemoryManager>,
    recorder: ImageRecorder,
}

impl MemoryManager for RecordingMemory {
    fn allocate(&self, layout: &Layout) -> jitld_linker::Result<Allocation> {
        let alloc = self.inner.allocate(layout)?;
        let mut recorded = self.recorder.lock();
        for (part, _) in alloc.segments() {
            recorded.segments.insert(part.addr, (part.size, part.prot));
        }
        Ok(alloc)
    }

    fn finalize(&self, alloc: &mut Allocation) -> jitld_linker::Result<()> {
        self.inner.finalize(alloc)
    }

    fn protect_finalized(&self) -> jitld_linker::Result<()> {
        self.inner.protect_finalized()
    }

    fn deallocate(&self, alloc: Allocation) {
        {
            let mut recorded = self.recorder.lock();
            for (part, _) in alloc.segments() {
                recorded.segments.remove(&part.addr);
            }
            // Edges recorded for that memory would be taken for its next user's.
            recorded.unrepresentable.get_or_insert_with(|| "memory was given back during the link".into());
        }
        self.inner.deallocate(alloc)
    }

    fn executable(&self) -> bool {
        self.inner.executable()
    }

    fn page_size(&self) -> u64 {
        self.inner.page_size()
    }

    fn span(&self) -> Option<(u64, u64)> {
        self.inner.span()
    }

    fn gathers_tables(&self) -> bool {
        self.inner.gathers_tables()
    }
}
