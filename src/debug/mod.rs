//! Making JIT'd code visible to the tools people debug and profile with: a table of linked
//! functions (`CodeTable`) feeds the perf map, the fault reporter and the GDB JIT interface.

mod alt_stack;
mod faults;
mod gdb;
mod perf_map;

pub use alt_stack::jitld_pthread_create;
pub use faults::{install_fault_reporter, report_executor_fault};
pub use gdb::{debugger_attached, GdbRegistration};
pub use perf_map::PerfMap;

use crate::error::Result;
use crate::layers::LinkPlugin;
use crate::session::InstanceId;
use jitld_linker::graph::{Definition, SectionRole};
use jitld_linker::memory::Allocation;
use jitld_linker::names::{NamePool, SymbolName};
use jitld_linker::LinkGraph;
use std::sync::{Arc, Mutex};

/// A linked function: `[start, end)`, its name and where it came from.
#[derive(Clone)]
pub struct CodeRange {
    pub start: u64,
    pub end: u64,
    /// The name, in the pool it was interned in: recording a function copies no text.
    name: SymbolName,
    names: Arc<NamePool>,
    pub file: Arc<str>,
    pub instance: InstanceId,
}

impl CodeRange {
    pub fn name(&self) -> &str {
        self.names.resolve(self.name)
    }

    /// The name, unless the pool is busy (see `NamePool::try_resolve`).
    pub fn try_name(&self) -> Option<&str> {
        self.names.try_resolve(self.name)
    }
}

/// Every function of every linked graph, in link order (each graph's in symbol-table
/// order); the fault reporter searches it only when a fault happens (`CodeRange::find`), so
/// keeping it sorted would cost every link for nothing.
pub(crate) static CODE: Mutex<Vec<CodeRange>> = Mutex::new(Vec::new());

/// The named functions a finalized graph defines, with their extents, in address order.
pub fn functions(graph: &LinkGraph, instance: InstanceId) -> Vec<CodeRange> {
    let mut ranges: Vec<CodeRange> = code_ranges(graph, instance).collect();
    ranges.sort_by_key(|r| r.start);
    ranges
}

/// The named functions a finalized graph defines, in symbol-table order.
fn code_ranges(graph: &LinkGraph, instance: InstanceId) -> impl Iterator<Item = CodeRange> + '_ {
    graph.symbols.iter().filter_map(move |symbol| {
        let Definition::Block { block, .. } = symbol.def else { return None };
        let name = symbol.name?;
        let section = &graph.sections[graph.blocks[block.index()].section.index()];
        let code = section.prot == jitld_linker::graph::MemProt::ReadExec && section.role != SectionRole::Stubs;
        (code && graph.blocks[block.index()].live).then(|| CodeRange {
            start: symbol.addr,
            end: symbol.addr + symbol.size.max(1),
            name,
            names: graph.names.clone(),
            file: graph.name.clone(),
            instance,
        })
    })
}

impl CodeRange {
    /// The function `pc` is in: of the first graph (in link order) with one there, the one
    /// starting lowest (the first in symbol-table order among equals), as if each graph's
    /// functions were sorted by address. Allocates nothing (a signal handler calls it).
    pub fn find(code: &[CodeRange], pc: u64) -> Option<&CodeRange> {
        let mut best: Option<&CodeRange> = None;
        for range in code.iter().filter(|r| (r.start..r.end).contains(&pc)) {
            match best {
                Some(b) if b.instance != range.instance => break,
                Some(b) if b.start <= range.start => {}
                _ => best = Some(range),
            }
        }
        best
    }
}

/// Keeps `CODE` up to date as graphs are linked and removed.
pub struct CodeTable;

impl LinkPlugin for CodeTable {
    fn notify_finalized(&self, instance: InstanceId, _: u64, graph: &LinkGraph, _: &Allocation) -> Result<()> {
        let mut code = CODE.lock().unwrap_or_else(|e| e.into_inner());
        code.extend(code_ranges(graph, instance));
        Ok(())
    }
}

impl CodeTable {
    pub fn forget(removed: &[InstanceId]) {
        CODE.lock().unwrap_or_else(|e| e.into_inner()).retain(|r| !removed.contains(&r.instance));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_names_the_lowest_function_of_the_first_graph_there() {
        let names = jitld_linker::names::NamePool::new();
        let range = |start, end, name: &str, instance| CodeRange {
            start,
            end,
            name: names.intern(name),
            names: names.clone(),
            file: Arc::from("a.o"),
            instance: InstanceId(instance),
        };
        // Graph 1 in symbol-table order: an inner label listed before its function.
        let code = [range(0x20, 0x30, "inner", 1), range(0x10, 0x40, "outer", 1), range(0x00, 0x80, "later", 2)];
        let found = |pc| CodeRange::find(&code, pc).map(|r| r.name().to_string());
        assert_eq!(found(0x28).as_deref(), Some("outer"));
        assert_eq!(found(0x50).as_deref(), Some("later"));
        assert_eq!(found(0x90), None);
    }
}
