//! A deterministic text form of a graph, for `jitld graph`, debugging and snapshots.

use super::{Definition, LinkGraph, MemProt, Scope};
use std::fmt::Write;

pub fn dump_graph(graph: &LinkGraph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph {}", graph.name);
    for section in &graph.sections {
        let prot = match section.prot {
            MemProt::ReadExec => "r-x",
            MemProt::Read => "r--",
            MemProt::ReadWrite => "rw-",
        };
        let _ = writeln!(out, "section {} {prot} {:?}", section.name, section.role);
        for &id in &section.blocks {
            let block = &graph.blocks[id.index()];
            let fill = if block.is_zero_fill() { " zero-fill" } else { "" };
            let _ = writeln!(out, "  block {:#x} size {:#x} align {}{fill}", block.addr, block.size(), block.align);
            let mut symbols: Vec<_> = graph
                .symbols
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s.def, Definition::Block { block, .. } if block == id) && s.name.is_some())
                .collect();
            symbols.sort_by_key(|(i, s)| (s.def_offset(), *i));
            for (i, symbol) in symbols {
                let scope = match symbol.flags.scope {
                    Scope::Default => "global",
                    Scope::Hidden => "hidden",
                    Scope::Local => "local",
                };
                let weak = if symbol.flags.is_weak() { " weak" } else { "" };
                let code = if symbol.flags.callable { " code" } else { "" };
                let _ = writeln!(
                    out,
                    "    symbol {} +{:#x} size {:#x} {scope}{weak}{code}",
                    graph.symbol_name(super::SymbolId(i as u32)),
                    symbol.def_offset(),
                    symbol.size
                );
            }
            for edge in &block.edges {
                let target = graph.symbol_name(edge.target());
                let addend = LinkGraph::format_addend(edge.addend);
                let kind = graph.arch.edge_name(edge.kind());
                let _ = writeln!(out, "    edge +{:#x} {kind} -> {target} {addend}", edge.offset);
            }
        }
    }
    for (_, &id) in &graph.externals {
        let symbol = &graph.symbols[id.index()];
        if let Definition::External { weak_ref } = symbol.def {
            let weak = if weak_ref { " weak" } else { "" };
            let _ = writeln!(out, "external {}{weak}", graph.symbol_name(id));
        }
    }
    out
}

impl super::Symbol {
    fn def_offset(&self) -> u64 {
        match self.def {
            Definition::Block { offset, .. } => offset,
            _ => 0,
        }
    }
}
