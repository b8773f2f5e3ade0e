//! Making JIT'd code visible to the tools people debug and profile with: a table of linked
//! functions (`CodeTable`) feeds the perf map, the fault reporter and the GDB JIT interface.

mod alt_stack;
mod faults;
mod gdb;
mod perf_map;

pub use alt_stack::jitld_pthread_create;
pub use faults::{install_fault_reporter, report_executor_fault};
pub use gdb::{debugger_listens, GdbRegistration};
pub use perf_map::PerfMap;

use crate::error::Result;
use crate::layers::LinkPlugin;
use crate::session::InstanceId;
use jitld_linker::graph::{Definition, SectionRole};
use jitld_linker::memory::Allocation;
use jitld_linker::names::{NamePool, SymbolName};
use jitld_linker::LinkGraph;
use std::sync::{Arc, Mutex};

/// A linked function: `[start, end)` and its name (in its graph's name pool: recording a
/// function copies no text).
#[derive(Clone, Copy)]
pub struct Function {
    pub start: u64,
    pub end: u64,
    pub name: SymbolName,
}

/// The functions of one linked graph, in symbol-table order, and where they came from.
pub struct GraphCode {
    pub file: Arc<str>,
    pub instance: InstanceId,
    names: Arc<NamePool>,
    functions: Vec<Function>,
}

impl GraphCode {
    /// The function `pc` is in: the first graph (in link order) with a function covering
    /// it, and of that graph's functions covering it the one starting lowest (a function
    /// rather than a label inside it; the first in symbol-table order among equals).
    /// Allocates nothing (a signal handler calls it).
    pub fn find(code: &[GraphCode], pc: u64) -> Option<(&GraphCode, Function)> {
        code.iter().find_map(|graph| {
            let covering = graph.functions.iter().filter(|f| (f.start..f.end).contains(&pc));
            covering.min_by_key(|f| f.start).map(|f| (graph, *f))
        })
    }

    /// A function's name, unless the pool is busy (see `NamePool::try_resolve`).
    pub fn try_name(&self, function: Function) -> Option<&str> {
        self.names.try_resolve(function.name)
    }
}

/// The functions of every linked graph, in link order; the fault reporter searches it
/// only when a fault happens (`GraphCode::find`), so keeping it sorted would cost every
/// link for nothing. One entry per graph: a link adds its functions in one push, and
/// shares its file name and name pool instead of counting references per function.
pub(crate) static CODE: Mutex<Vec<GraphCode>> = Mutex::new(Vec::new());

/// The functions of `graph` (linked), sorted by address.
pub fn functions(graph: &LinkGraph) -> Vec<Function> {
    let mut functions: Vec<Function> = code_functions(graph).collect();
    functions.sort_by_key(|f| f.start);
    functions
}

/// Live, named code symbols (not stubs) of a linked graph, in symbol-table order.
fn code_functions(graph: &LinkGraph) -> impl Iterator<Item = Function> + '_ {
    graph.symbols.iter().filter_map(move |symbol| {
        let Definition::Block { block, .. } = symbol.def else { return None };
        let name = symbol.name?;
        let section = &graph.sections[graph.blocks[block.index()].section.index()];
        let code = section.prot == jitld_linker::graph::MemProt::ReadExec && section.role != SectionRole::Stubs;
        (code && graph.blocks[block.index()].live).then(|| Function {
            start: symbol.addr,
            end: symbol.addr + symbol.size.max(1),
            name,
        })
    })
}

/// Records each linked graph's functions for the fault reporter.
pub struct CodeTable;

impl LinkPlugin for CodeTable {
    fn notify_finalized(&self, instance: InstanceId, _: u64, graph: &LinkGraph, _: &Allocation) -> Result<()> {
        let functions: Vec<Function> = code_functions(graph).collect();
        if functions.is_empty() {
            return Ok(());
        }
        let entry = GraphCode { file: graph.name.clone(), instance, names: graph.names.clone(), functions };
        CODE.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
        Ok(())
    }
}

impl CodeTable {
    pub fn forget(removed: &[InstanceId]) {
        CODE.lock().unwrap_or_else(|e| e.into_inner()).retain(|g| !removed.contains(&g.instance));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_names_the_lowest_function_of_the_first_graph_there() {
        let names = jitld_linker::names::NamePool::new();
        let function = |start, end, name: &str| Function { start, end, name: names.intern(name) };
        let graph = |instance, functions| GraphCode {
            file: Arc::from("a.o"),
            instance: InstanceId(instance),
            names: names.clone(),
            functions,
        };
        // Graph 1 in symbol-table order: an inner label listed before its function.
        let code = [
            graph(1, vec![function(0x20, 0x30, "inner"), function(0x10, 0x40, "outer")]),
            graph(2, vec![function(0x00, 0x80, "later")]),
        ];
        let found = |pc| GraphCode::find(&code, pc).map(|(g, f)| g.try_name(f).unwrap().to_string());
        assert_eq!(found(0x28).as_deref(), Some("outer"));
        assert_eq!(found(0x50).as_deref(), Some("later"));
        assert_eq!(found(0x90), None);
    }
}
