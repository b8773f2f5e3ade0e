//! MachO `__eh_frame` records name the function they describe (and its LSDA) by a
//! pc-relative value in place, with no relocation: the assembler knew the distance. Once
//! blocks can move, that distance is an edge; this adds one wherever a pointer the CIE
//! declares pc-relative has none, so the records split and link like ELF's.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{subtractor_kinds, Builder};
use crate::cfi::{read_cie, width, Cie, Reader, DW_EH_PE_OMIT, DW_EH_PE_PCREL};
use crate::graph::{BlockId, Edge, LinkGraph, SectionRole};
use crate::{LinkError, Result};
use std::collections::HashMap;

/// Adds the missing pc-relative edges of every `__eh_frame` block.
pub fn add_implicit_edges(graph: &mut LinkGraph, builder: &mut Builder) -> Result<()> {
    let blocks: Vec<BlockId> = graph
        .sections
        .iter()
        .filter(|s| s.role == SectionRole::EhFrame)
        .flat_map(|s| s.blocks.iter().copied())
        .collect();
    for block in blocks {
        let Some(start) = builder.map.start(block) else { continue };
        let pointers = implicit_pointers(graph, block)
            .ok_or_else(|| LinkError::malformed(graph.location(block, 0), "unreadable __eh_frame record"))?;
        for (offset, width, value) in pointers {
            let field = u8::try_from(width).unwrap_or(0);
            let Some((delta, _)) = subtractor_kinds(graph.arch, field) else { continue };
            let target = start.wrapping_add(offset as u64).wrapping_add(value as u64);
            let Some((symbol, addend)) = builder.address(graph, None, target) else {
                return Err(LinkError::malformed(
                    graph.location(block, offset as u64),
                    format!("__eh_frame points at {target:#x}, which no section holds"),
                ));
            };
            let edge = Edge::new(delta, offset as u32, symbol, addend as i64);
            let edges = &mut graph.block_mut(block).edges;
            let at = edges.partition_point(|e| e.offset < edge.offset);
            edges.insert(at, edge);
        }
    }
    Ok(())
}

/// `(offset, width, value)` of each pc-relative pointer without an edge.
fn implicit_pointers(graph: &LinkGraph, block: BlockId) -> Option<Vec<(usize, usize, i64)>> {
    let b = graph.block(block);
    let has_edge = |offset: usize| b.edges.binary_search_by_key(&(offset as u32), |e| e.offset).is_ok();
    let mut reader = Reader { bytes: graph.block_bytes(b), at: 0 };
    let mut cies: HashMap<usize, Cie> = HashMap::new();
    let mut found = Vec::new();
    while reader.at < reader.bytes.len() {
        let record = reader.at;
        let length = usize::try_from(reader.value(record, 4)? as u32).ok()?;
        if length == 0 {
            break;
        }
        let end = record.checked_add(4)?.checked_add(length)?;
        reader.skip(4)?;
        let id_at = reader.at;
        let id = usize::try_from(reader.value(id_at, 4)? as u32).ok()?;
        reader.skip(4)?;
        if id == 0 {
            cies.insert(record, read_cie(&mut reader)?);
        } else {
            let cie = *cies.get(&id_at.checked_sub(id)?)?;
            let pc_width = width(cie.fde)?;
            let pc_begin = reader.at;
            if cie.fde & DW_EH_PE_PCREL != 0 && !has_edge(pc_begin) {
                found.push((pc_begin, pc_width, reader.value(pc_begin, pc_width)?));
            }
            reader.skip(pc_width.checked_mul(2)?)?;
            if cie.augmented {
                reader.uleb()?;
                if cie.lsda != DW_EH_PE_OMIT && cie.lsda & DW_EH_PE_PCREL != 0 {
                    let lsda_width = width(cie.lsda)?;
                    let lsda = reader.at;
                    let value = reader.value(lsda, lsda_width)?;
                    if value != 0 && !has_edge(lsda) {
                        found.push((lsda, lsda_width, value));
                    }
                }
            }
        }
        reader.at = end;
    }
    Some(found)
}
