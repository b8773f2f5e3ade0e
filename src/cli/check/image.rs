//! What the checker sees of the linked program, recorded by a link plugin as each graph is
//! finalized — the same facts llvm-jitlink records:
//! - every named symbol of every graph (globals and file-locals), by name across files;
//! - each file's section starts, GOT entries and stubs, by the file's base name (the
//!   graph's table index names each entry's target), so an entry that relaxation left
//!   unused is still there to be checked, as in llvm-jitlink;
//! - the linked bytes of every segment.

use crate::error::Result;
use crate::layers::LinkPlugin;
use crate::session::InstanceId;
use jitld_linker::arch::Arch;
use jitld_linker::check::LinkedImage;
use jitld_linker::graph::{Definition, Scope, SymbolId};
use jitld_linker::memory::Allocation;
use jitld_linker::LinkGraph;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub struct Image {
    /// The architecture of the linked graphs: how to decode their instructions.
    pub arch: Option<Arch>,
    /// Name → (address, whether a global defined it: a global is not replaced by a local).
    symbols: HashMap<String, (u64, bool)>,
    files: HashMap<String, FileTables>,
    /// Base names that more than one graph had.
    duplicates: HashSet<String>,
    /// Segment start → linked bytes.
    memory: BTreeMap<u64, Vec<u8>>,
}

#[derive(Default)]
struct FileTables {
    sections: HashMap<String, u64>,
    got: HashMap<String, u64>,
    stubs: HashMap<String, u64>,
}

impl Image {
    pub fn define(&mut self, name: &str, address: u64, global: bool) {
        let keep_existing = matches!(self.symbols.get(name), Some(&(_, true))) && !global;
        if !keep_existing {
            self.symbols.insert(name.to_string(), (address, global));
        }
    }

    fn record(&mut self, graph: &LinkGraph, alloc: &Allocation) {
        self.arch.get_or_insert(graph.arch);
        let file = graph.name.rsplit('/').next().unwrap_or(&graph.name).to_string();
        if self.files.contains_key(&file) {
            self.duplicates.insert(file.clone());
        }
        let tables = record_tables(graph);
        self.files.insert(file, tables);
        for symbol in &graph.symbols {
            let Some(name) = symbol.name else { continue };
            let live = match symbol.def {
                Definition::Block { block, .. } => graph.block(block).live,
                Definition::Absolute => true,
                Definition::External { .. } => false,
            };
            if live {
                self.define(graph.names.resolve(name), symbol.addr, symbol.flags.scope != Scope::Local);
            }
        }
        // The graph's GOT base is anonymous to us; llvm-jitlink names it.
        if let Some(base) = graph.got_base {
            self.define("_GLOBAL_OFFSET_TABLE_", graph.symbol(base).addr, false);
        }
        // An empty segment (a section of empty blocks) may start where the next graph's
        // memory does: it must not hide those bytes.
        for (start, end) in alloc.ranges().filter(|(start, end)| end > start) {
            if let Some(bytes) = alloc.bytes_at(start, end - start) {
                self.memory.insert(start, bytes.to_vec());
            }
        }
    }

    fn file(&self, file: &str) -> std::result::Result<&FileTables, String> {
        if self.duplicates.contains(file) {
            return Err(format!("file names must be distinct to be checked (duplicate: \"{file}\")"));
        }
        self.files.get(file).ok_or_else(|| format!("file \"{file}\" not recognized"))
    }
}

fn record_tables(graph: &LinkGraph) -> FileTables {
    let mut tables = FileTables::default();
    for section in &graph.sections {
        let live = section.blocks.iter().filter(|&&b| graph.block(b).live);
        if let Some(start) = live.map(|&b| graph.block(b).addr).min() {
            tables.sections.insert(section.name.clone(), start);
        }
    }
    // The tables the linker built, by target: entries that relaxation left unused are still
    // there, as in llvm-jitlink.
    let named = |symbol: SymbolId| graph.symbol(symbol).name.map(|n| graph.names.resolve(n).to_string());
    for (table, by_target) in [(&mut tables.got, &graph.stubs.got), (&mut tables.stubs, &graph.stubs.plt)] {
        for (&target, &entry) in by_target {
            if let Some(name) = named(target) {
                table.insert(name, graph.symbol(entry).addr);
            }
        }
    }
    tables
}

impl LinkedImage for Image {
    fn symbol_address(&self, name: &str) -> Option<u64> {
        self.symbols.get(name).map(|&(address, _)| address)
    }

    fn section_address(&self, file: &str, section: &str) -> std::result::Result<u64, String> {
        let tables = self.file(file)?;
        tables
            .sections
            .get(section)
            .copied()
            .ok_or_else(|| format!("no section \"{section}\" registered for file \"{file}\""))
    }

    fn got_entry(&self, file: &str, symbol: &str) -> std::result::Result<u64, String> {
        let tables = self.file(file)?;
        tables
            .got
            .get(symbol)
            .copied()
            .ok_or_else(|| format!("no GOT entry for \"{symbol}\" registered for file \"{file}\""))
    }

    /// x86-64 has one kind of stub, which llvm-jitlink's kind names do not name: a filter
    /// matches it only if it accepts any name (empty, or `.*`).
    fn stub(&self, file: &str, symbol: &str, kind: Option<&str>) -> std::result::Result<u64, String> {
        let tables = self.file(file)?;
        let address = tables
            .stubs
            .get(symbol)
            .copied()
            .ok_or_else(|| format!("no stub for \"{symbol}\" registered for file \"{file}\""))?;
        match kind.map(str::trim) {
            None | Some("" | ".*") => Ok(address),
            Some(filter) => Err(format!(
                "\"{symbol}\" has 1 stubs in file \"{file}\", but none of them matches the stub-kind filter \"{filter}\" (all encountered kinds are \"<unknown>\")."
            )),
        }
    }

    fn bytes_from(&self, address: u64) -> Option<&[u8]> {
        let (&start, bytes) = self.memory.range(..=address).next_back()?;
        bytes.get(usize::try_from(address - start).ok()?..).filter(|rest| !rest.is_empty())
    }
}

/// The plugin that fills an `Image`.
#[derive(Default)]
pub struct ImageRecorder {
    image: Mutex<Image>,
}

impl ImageRecorder {
    pub fn image(&self) -> MutexGuard<'_, Image> {
        self.image.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LinkPlugin for ImageRecorder {
    fn notify_finalized(&self, _: InstanceId, _: u64, graph: &LinkGraph, alloc: &Allocation) -> Result<()> {
        self.image().record(graph, alloc);
        Ok(())
    }
}
