//! MachO `__eh_frame` records name the function they describe (and its LSDA) by a
//! pc-relative value in place, with no relocation: the assembler knew the distance. Once
//! blocks can move, that distance is an edge; this adds one wherever a pointer the CIE
//! declares pc-relative has none, so the records split and link like ELF's.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{subtractor_kinds, Builder};
use crate::graph::{BlockId, Edge, LinkGraph, SectionRole};
use crate::{LinkError, Result};
use std::collections::HashMap;

const DW_EH_PE_OMIT: u8 = 0xff;
const DW_EH_PE_PCREL: u8 = 0x10;

/// A pointer encoding's width in bytes, if it is one this can read.
fn width(encoding: u8) -> Option<usize> {
    match encoding & 0x0f {
        0x00 | 0x04 | 0x0c => Some(8), // absptr, udata8, sdata8
        0x03 | 0x0b => Some(4),        // udata4, sdata4
        0x02 | 0x0a => Some(2),        // udata2, sdata2
        _ => None,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at = self.at.checked_add(1)?;
        Some(byte)
    }

    fn uleb(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.at = self.at.checked_add(n).filter(|&end| end <= self.bytes.len())?;
        Some(())
    }

    fn string(&mut self) -> Option<&[u8]> {
        let rest = self.bytes.get(self.at..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        self.skip(len.checked_add(1)?)?;
        rest.get(..len)
    }

    fn value(&self, at: usize, width: usize) -> Option<i64> {
        let bytes = self.bytes.get(at..at.checked_add(width)?)?;
        Some(match width {
            8 => i64::from_le_bytes(bytes.try_into().ok()?),
            4 => i64::from(i32::from_le_bytes(bytes.try_into().ok()?)),
            _ => i64::from(i16::from_le_bytes(bytes.try_into().ok()?)),
        })
    }
}

/// What an FDE needs from its CIE: how its pointers are encoded.
#[derive(Clone, Copy)]
struct Cie {
    augmented: bool,
    fde: u8,
    lsda: u8,
}

fn read_cie(reader: &mut Reader) -> Option<Cie> {
    let version = reader.u8()?;
    let augmentation = reader.string()?.to_vec();
    reader.uleb()?; // code alignment
    reader.uleb()?; // data alignment (sleb: only skipped)
    if version == 1 {
        reader.u8()?;
    } else {
        reader.uleb()?;
    }
    let mut cie = Cie { augmented: augmentation.first() == Some(&b'z'), fde: 0, lsda: DW_EH_PE_OMIT };
    if !cie.augmented {
        return Some(cie);
    }
    reader.uleb()?;
    for &c in augmentation.get(1..)? {
        match c {
            b'R' => cie.fde = reader.u8()?,
            b'L' => cie.lsda = reader.u8()?,
            b'P' => {
                let encoding = reader.u8()?;
                reader.skip(width(encoding)?)?;
            }
            _ => return Some(cie), // unknown: the pointers it declares are not ours to find
        }
    }
    Some(cie)
}

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
            let edge = Edge { kind: delta, offset: offset as u32, target: symbol, addend: addend as i64 };
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
