//! llvm-jitlink's test conveniences: `-phony-externals`, `-sectcreate` and `-show-graphs`.

use crate::error::{JitError, Result};
use crate::generators::DefinitionGenerator;
use crate::layers::{LinkPlugin, ObjectLinkingLayer};
use crate::session::{
    DylibId, ExecutionSession, InstanceId, LookupFlags, MaterializationResponsibility, MaterializationUnit, SymbolFlags,
};
use jitld_linker::arch::Arch;
use jitld_linker::graph::{Content, Definition, MemProt, SectionRole, Symbol};
use jitld_linker::memory::Allocation;
use jitld_linker::{InputBuffer, LinkGraph, LookupName, SymbolName};

/// `-phony-externals`: whatever `main` and its libraries do not define is at address 0.
pub struct PhonyExternals;

impl DefinitionGenerator for PhonyExternals {
    fn try_to_generate(
        &self,
        session: &ExecutionSession,
        dylib: DylibId,
        _: LookupFlags,
        names: &[LookupName],
    ) -> Result<()> {
        let phony: Vec<_> = names.iter().map(|wanted| (wanted.name, 0, SymbolFlags::strong_data())).collect();
        session.define_absolute(dylib, &phony)
    }
}

/// `-sectcreate SECTION,FILE[@SYM=OFFSET,...]`: a read-only section holding a file's bytes,
/// with symbols at offsets in it.
pub struct SectCreateUnit {
    layer: ObjectLinkingLayer,
    file: String,
    section: String,
    bytes: Vec<u8>,
    symbols: Vec<(SymbolName, u64)>,
}

/// The `-sectcreate` unit's alignment, as llvm-jitlink's.
const SECTCREATE_ALIGN: u64 = 16;

impl SectCreateUnit {
    /// Parses the flag's value and reads the file. With no symbols, the unit gets a hidden
    /// one, so that it can be looked up (and linked) like any other.
    pub fn new(layer: &ObjectLinkingLayer, spec: &str, index: usize) -> Result<SectCreateUnit> {
        let bad = |why: &str| JitError::other(format!("-sectcreate {spec}: {why}"));
        let (section_and_file, extra) = spec.split_once('@').unwrap_or((spec, ""));
        let (section, file) = section_and_file.rsplit_once(',').ok_or_else(|| bad("expected SECTION,FILE"))?;
        if section.is_empty() || file.is_empty() {
            return Err(bad("section and file names cannot be empty"));
        }
        let bytes = std::fs::read(file).map_err(|e| bad(&format!("cannot read {file}: {e}")))?;
        let session = layer.session();
        let mut symbols = Vec::new();
        for pair in extra.split(',').filter(|p| !p.is_empty()) {
            let (name, offset) = pair.split_once('=').ok_or_else(|| bad(&format!("{pair}: expected SYM=OFFSET")))?;
            let offset = super::flags::number(offset).map_err(|e| bad(&e))?;
            if offset > bytes.len() as u64 {
                return Err(bad(&format!("{name} at {offset:#x} is past the end of {file}")));
            }
            symbols.push((session.intern(name), offset));
        }
        if symbols.is_empty() {
            symbols.push((session.intern(&format!("$jitld.sectcreate#{index}")), 0));
        }
        Ok(SectCreateUnit {
            layer: layer.clone(),
            file: file.to_string(),
            section: section.to_string(),
            bytes,
            symbols,
        })
    }

    pub fn names(&self) -> Vec<SymbolName> {
        self.symbols.iter().map(|&(name, _)| name).collect()
    }

    fn graph(self) -> LinkGraph {
        let names = self.layer.session().names().clone();
        let mut graph = LinkGraph::new(InputBuffer::from_vec(self.file.as_str(), Vec::new()), names, Arch::host());
        let section = graph.add_section(&self.section, MemProt::Read, SectionRole::Plain);
        let block = graph.add_block(section, Content::Owned(self.bytes), SECTCREATE_ALIGN);
        for (name, offset) in self.symbols {
            graph.add_symbol(Symbol {
                name: Some(name),
                def: Definition::Block { block, offset },
                size: 0,
                flags: SymbolFlags::strong_data(),
                addr: 0,
                live: true,
            });
        }
        graph
    }
}

impl MaterializationUnit for SectCreateUnit {
    fn name(&self) -> &str {
        &self.file
    }

    fn symbols(&self) -> Vec<(SymbolName, SymbolFlags)> {
        self.symbols.iter().map(|&(name, _)| (name, SymbolFlags::strong_data())).collect()
    }

    fn materialize(self: Box<Self>, mr: MaterializationResponsibility) {
        let layer = self.layer.clone();
        layer.emit(mr, self.graph(), u64::MAX, None);
    }
}

/// `-show-graphs[=REGEX]`: each graph whose name matches, after fix-ups.
pub struct GraphPrinter {
    pub pattern: Option<regex_lite::Regex>,
}

impl LinkPlugin for GraphPrinter {
    fn notify_finalized(&self, _: InstanceId, _: u64, graph: &LinkGraph, _: &Allocation) -> Result<()> {
        if self.pattern.as_ref().is_none_or(|p| p.is_match(&graph.name)) {
            let dump = jitld_linker::graph::dump_graph(graph);
            crate::cli::output::print(&format!("Link graph \"{}\" post-fixup:\n{dump}", graph.name))?;
        }
        Ok(())
    }
}
