//! A unit that defines one symbol over bytes the JIT makes up: `__dso_handle`, the copy of
//! a shared library's variable, or (callable) a thunk into another calling convention.

use super::ObjectLinkingLayer;
use crate::session::{MaterializationResponsibility, MaterializationUnit, SymbolFlags};
use jitld_linker::graph::{Content, Definition, MemProt, SectionRole, Symbol};
use jitld_linker::{InputBuffer, LinkGraph, SymbolName};

pub struct DataUnit {
    pub layer: ObjectLinkingLayer,
    pub origin: String,
    pub name: SymbolName,
    pub bytes: Vec<u8>,
    pub align: u64,
    pub flags: SymbolFlags,
}

impl MaterializationUnit for DataUnit {
    fn name(&self) -> &str {
        &self.origin
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        vec![(self.name, self.flags)]
    }

    fn defines_in_session_memory(&self) -> bool {
        true
    }

    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        let layer = self.layer.clone();
        let graph = self.graph();
        layer.emit(mr, graph, u64::MAX, None);
    }
}

impl DataUnit {
    /// The graph of one data block holding the bytes, defining the name.
    pub fn graph(self) -> LinkGraph {
        let names = self.layer.session().names().clone();
        let arch = self.layer.session().executor().target().arch;
        let mut graph = LinkGraph::new(InputBuffer::from_vec(self.origin.as_str(), Vec::new()), names, arch);
        let (section, prot) = match self.flags.callable {
            true => (".text.jitld", MemProt::ReadExec),
            false => (".data.jitld", MemProt::ReadWrite),
        };
        let section = graph.add_section(section, prot, SectionRole::Plain);
        let size = self.bytes.len() as u64;
        let block = graph.add_block(section, Content::Owned(self.bytes), self.align);
        graph.add_symbol(Symbol {
            name: Some(self.name),
            def: Definition::Block { block, offset: 0 },
            size,
            flags: self.flags,
            addr: 0,
            live: true,
        });
        self.layer.stats().count(&graph, true);
        graph
    }
}
