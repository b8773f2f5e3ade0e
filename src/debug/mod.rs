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

/// Every function of every linked graph, in link order; the fault reporter searches it only
/// when a fault happens, so keeping it sorted would cost every link for nothing.
pub(crate) static CODE: Mutex<Vec<CodeRange>> = Mutex::new(Vec::new());

/// The named functions a finalized graph defines, with their extents.
pub fn functions(graph: &LinkGraph, instance: InstanceId) -> Vec<CodeRange> {
    let mut ranges: Vec<CodeRange> = graph
        .symbols
        .iter()
        .filter_map(|symbol| {
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
        .collect();
    ranges.sort_by_key(|r| r.start);
    ranges
}

/// Keeps `CODE` up to date as graphs are linked and removed.
pub struct CodeTable;

impl LinkPlugin for CodeTable {
    fn notify_finalized(&self, instance: InstanceId, _: u64, graph: &LinkGraph, _: &Allocation) -> Result<()> {
        let mut code = CODE.lock().unwrap_or_else(|e| e.into_inner());
        code.extend(functions(graph, instance));
        Ok(())
    }
}

impl CodeTable {
    pub fn forget(removed: &[InstanceId]) {
        CODE.lock().unwrap_or_else(|e| e.into_inner()).retain(|r| !removed.contains(&r.instance));
    }
}
