//! Gathered sections: every object's copy of a section named like a C identifier, one after
//! another in one run, bounded by symbols the format names (ELF `__start_NAME` /
//! `__stop_NAME`) — how C programs build registries with `__attribute__((section("NAME")))`.
//!
//! A static linker concatenates the copies; here each object links into memory of its own,
//! so the run is a separate allocation per JITDylib and section. Each object reserves its
//! place in the run when it is added (in the order objects are added, as ld's is the command
//! line's); the run is allocated when its bounds are first looked up or its first copy is
//! linked, whichever comes first, and from then on it is sealed: an object adding to it later
//! is an error, not a silent gap. Each copy is fixed up in place when its object links;
//! the bounds link every object with a copy first (through its root symbol), so a program
//! that walks the run finds every copy written. The run is writable (registries of pointers
//! are, in position-independent code) and lives as long as the layer.

use super::ObjectLinkingLayer;
use crate::error::{JitError, Result};
use crate::session::{DylibId, MaterializationResponsibility, MaterializationUnit, SymbolFlags};
use jitld_linker::format::{Format, GatheredSection};
use jitld_linker::graph::{BlockId, MemProt, SectionRole};
use jitld_linker::memory::{Allocation, Layout, MemoryManager, Segment};
use jitld_linker::passes::PassConfig;
use jitld_linker::{LinkError, LinkGraph, LookupName, Scope, Strength, SymbolName};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Every run of every JITDylib, by (JITDylib, section name).
#[derive(Default)]
pub struct GatheredSections {
    runs: Mutex<HashMap<(DylibId, String), Run>>,
}

#[derive(Default)]
struct Run {
    size: u64,
    align: u64,
    /// Object ordinal → the offset of its copy in the run.
    places: HashMap<u64, u64>,
    /// Looking these up links the objects with a copy (their initializer symbols).
    roots: Vec<SymbolName>,
    /// Set once the run is allocated: its size is final.
    memory: Option<Allocation>,
}

impl Run {
    fn start(&self) -> Option<u64> {
        self.memory.as_ref().map(|m| m.addr)
    }
}

impl GatheredSections {
    /// Reserves the place of the object `ordinal`'s copy of `section`; `root` links the
    /// object. True if the run is new.
    pub fn reserve(
        &self,
        dylib: DylibId,
        section: &GatheredSection,
        ordinal: u64,
        root: SymbolName,
        origin: &str,
    ) -> Result<bool> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let key = (dylib, section.name.clone());
        let new = !runs.contains_key(&key);
        let run = runs.entry(key).or_default();
        if run.memory.is_some() {
            return Err(JitError::other(format!(
                "{origin}: section {} was added after the run it belongs to was placed (its bounds \
                 were already looked up, or another copy already linked); add every object with \
                 this section before linking any",
                section.name
            )));
        }
        let align = section.align.max(1);
        let offset = run.size.next_multiple_of(align);
        run.places.insert(ordinal, offset);
        run.roots.push(root);
        run.size = offset + section.size;
        run.align = run.align.max(align);
        Ok(new)
    }

    fn roots(&self, dylib: DylibId, section: &str) -> Vec<SymbolName> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.get(&(dylib, section.to_string())).map(|run| run.roots.clone()).unwrap_or_default()
    }

    /// The run's address range, allocating it on first need.
    fn place(&self, memory: &dyn MemoryManager, dylib: DylibId, section: &str) -> Result<(u64, u64)> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let run = runs
            .get_mut(&(dylib, section.to_string()))
            .ok_or_else(|| JitError::other(format!("section {section}: no object of this JITDylib has it")))?;
        if run.memory.is_none() {
            let size = run.size.max(1);
            let segment = Segment { prot: MemProt::ReadWrite, offset: 0, size, align: run.align, tables: false };
            let layout = Layout { segments: vec![segment], size, align: run.align, block_offsets: Vec::new() };
            let mut alloc = memory.allocate(&layout)?;
            memory.finalize(&mut alloc)?;
            run.memory = Some(alloc);
        }
        let start = run.start().unwrap_or(0);
        Ok((start, start + run.size))
    }

    /// Where the object `ordinal`'s copy of `section` goes.
    fn copy_address(&self, memory: &dyn MemoryManager, dylib: DylibId, section: &str, ordinal: u64) -> Result<u64> {
        let (start, _) = self.place(memory, dylib, section)?;
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let offset = runs.get(&(dylib, section.to_string())).and_then(|run| run.places.get(&ordinal).copied());
        let offset = offset.ok_or_else(|| {
            JitError::other(format!("section {section}: this copy has no place in its run (added another way)"))
        })?;
        Ok(start + offset)
    }

    /// Copies `block` (placed in the run at its address) and applies its fix-ups there.
    fn write(&self, dylib: DylibId, section: &str, graph: &LinkGraph, block: BlockId) -> jitld_linker::Result<()> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let b = graph.block(block);
        let memory = runs.get_mut(&(dylib, section.to_string())).and_then(|run| run.memory.as_mut());
        let dest = memory.and_then(|m| {
            let offset = b.addr.checked_sub(m.addr)?;
            m.working_at(offset, b.size())
        });
        let Some(dest) = dest else {
            return Err(LinkError::Memory(format!("{}: section {section} lies outside its run", graph.name)));
        };
        if !b.is_zero_fill() {
            dest.copy_from_slice(graph.block_bytes(b));
        }
        graph.arch.apply_fixups(graph, block, dest)
    }

    /// Adds the passes that put the graph's gathered sections in their runs: their addresses
    /// after allocation, their bytes after fix-ups.
    pub fn add_passes(
        self: &Arc<Self>,
        config: &mut PassConfig,
        memory: Arc<dyn MemoryManager>,
        dylib: DylibId,
        ordinal: u64,
    ) {
        let gathered = self.clone();
        config.post_allocation.push(Box::new(move |graph| {
            for (name, blocks) in gathered_blocks(graph) {
                let mut addr = gathered.copy_address(&*memory, dylib, &name, ordinal).map_err(in_link)?;
                let mut placed = Vec::with_capacity(blocks.len());
                for block in blocks {
                    addr = addr.next_multiple_of(graph.block(block).align);
                    placed.push((block, addr));
                    addr += graph.block(block).size();
                }
                graph.move_blocks(&placed);
            }
            Ok(())
        }));
        let gathered = self.clone();
        config.post_fixup.push(Box::new(move |graph| {
            for (name, blocks) in gathered_blocks(graph) {
                for block in blocks {
                    gathered.write(dylib, &name, graph, block)?;
                }
            }
            Ok(())
        }));
    }
}

/// The graph's gathered sections and their live blocks.
fn gathered_blocks(graph: &LinkGraph) -> Vec<(String, Vec<BlockId>)> {
    graph
        .sections
        .iter()
        .filter(|s| s.role == SectionRole::Gathered)
        .map(|s| (s.name.clone(), s.blocks.iter().copied().filter(|&b| graph.block(b).live).collect()))
        .collect()
}

fn in_link(e: JitError) -> LinkError {
    LinkError::Context(Box::new(e))
}

/// Defines the bounds of one run: hidden (each JITDylib has its own run) and weak (an
/// object's own definition of the name wins, as it does over ld's).
pub struct SectionBoundsUnit {
    layer: ObjectLinkingLayer,
    dylib: DylibId,
    section: String,
    bounds: [SymbolName; 2],
    origin: String,
}

impl SectionBoundsUnit {
    pub fn new(layer: &ObjectLinkingLayer, dylib: DylibId, format: Format, section: &str) -> Self {
        let bounds = format.section_bounds(section).map(|name| layer.session().intern(&name));
        let origin = format!("bounds of section {section}");
        SectionBoundsUnit { layer: layer.clone(), dylib, section: section.to_string(), bounds, origin }
    }
}

impl MaterializationUnit for SectionBoundsUnit {
    fn name(&self) -> &str {
        &self.origin
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        let flags = SymbolFlags { strength: Strength::Weak, scope: Scope::Hidden, callable: false };
        self.bounds.iter().map(|&name| (name, flags)).collect()
    }

    /// Links every object with a copy (the bounds depend on them, so code that uses the
    /// bounds runs only once every copy is written), then places the run.
    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        let roots: Vec<LookupName> =
            self.layer.gathered().roots(self.dylib, &self.section).into_iter().map(LookupName::required).collect();
        let resolver = mr.resolver();
        resolver.lookup_then(&roots, &self.origin.clone(), move |linked| {
            let memory = self.layer.session().memory().clone();
            let placed = linked.and_then(|_| self.layer.gathered().place(&*memory, self.dylib, &self.section));
            let resolved = placed.and_then(|(start, end)| {
                let [first, last] = self.bounds;
                let owned: Vec<_> =
                    [(first, start), (last, end)].into_iter().filter(|(name, _)| mr.flags(*name).is_some()).collect();
                mr.notify_resolved(&owned)
            });
            match resolved {
                Ok(()) => {
                    let _ = mr.notify_emitted(Vec::new());
                }
                Err(e) => mr.fail(e),
            }
        });
    }
}
