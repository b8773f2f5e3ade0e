//! `--dump-relocs`: every fix-up of every linked graph, with the bytes it wrote.
//!
//! Deterministic with a slab address: graphs are listed in input order, and values that
//! depend on where the process's own libraries were loaded are shown as `<process>`.

use crate::error::Result;
use crate::layers::LinkPlugin;
use crate::session::InstanceId;
use jitld_linker::graph::Definition;
use jitld_linker::memory::Allocation;
use jitld_linker::LinkGraph;
use std::fmt::Write;
use std::sync::Mutex;

pub struct RelocationDump {
    graphs: Mutex<Vec<(u64, String, String)>>,
}

impl Default for RelocationDump {
    fn default() -> Self {
        Self::new()
    }
}

impl RelocationDump {
    pub fn new() -> Self {
        RelocationDump { graphs: Mutex::new(Vec::new()) }
    }

    pub fn render(&self) -> String {
        let mut graphs = self.graphs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        graphs.sort();
        graphs.into_iter().map(|(_, _, text)| text).collect()
    }

    /// Whether an address belongs to a library the dynamic loader mapped (libc, jitld
    /// itself): such values change from run to run. JIT memory and `--abs` values don't.
    fn is_loaded_library(addr: u64) -> bool {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the loader's tables and fills `info`.
        addr != 0 && unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) } != 0
    }
}

impl LinkPlugin for RelocationDump {
    fn notify_finalized(&self, _: InstanceId, ordinal: u64, graph: &LinkGraph, alloc: &Allocation) -> Result<()> {
        let mut out = String::new();
        let _ = writeln!(out, "graph {} at {:#x}", graph.name, alloc.addr);
        for section in &graph.sections {
            for &block in &section.blocks {
                let b = &graph.blocks[block.index()];
                for edge in &b.edges {
                    let Some(info) = graph.arch.edge_info(edge.kind()) else { continue };
                    let site = b.addr + edge.offset as u64;
                    let target = &graph.symbols[edge.target().index()];
                    let external = matches!(target.def, Definition::External { .. });
                    let width = u64::from(info.width);
                    let value = match alloc.bytes_at(site, width) {
                        Some(_) if external && Self::is_loaded_library(target.addr) => "<process>".to_string(),
                        Some(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
                        None => "?".into(),
                    };
                    let _ = writeln!(
                        out,
                        "  {}+{:#x} @{site:#x} {} -> {} {} = [{value}]",
                        section.name,
                        b.input_offset + edge.offset as u64,
                        info.name,
                        graph.symbol_name(edge.target()),
                        LinkGraph::format_addend(edge.addend)
                    );
                }
            }
        }
        self.graphs.lock().unwrap_or_else(|e| e.into_inner()).push((ordinal, graph.name.to_string(), out));
        Ok(())
    }
}
