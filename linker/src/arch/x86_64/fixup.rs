//! Applies edges to a block's bytes in working memory: checked arithmetic, and an error that
//! names site, target and kind whenever a value doesn't fit its field.

use super::Kind;
use crate::graph::{BlockId, EdgeKind, LinkGraph};
use crate::{LinkError, Result};

/// Writes every edge of `block` into `memory`, which holds the block's final bytes.
pub fn apply_fixups(graph: &LinkGraph, block: BlockId, memory: &mut [u8]) -> Result<()> {
    let b = &graph.blocks[block.index()];
    let got = graph.got_base.map(|s| graph.symbol_addr(s) as i128);
    for edge in &b.edges {
        let EdgeKind::X86_64(kind) = edge.kind else { continue };
        let target = &graph.symbols[edge.target.index()];
        let (s, a) = (target.addr as i128, edge.addend as i128);
        let p = (b.addr + edge.offset as u64) as i128;
        let out_of_range = |value: i128| LinkError::OutOfRange {
            at: Box::new(graph.location(block, edge.offset as u64)),
            kind: format!("{kind:?}"),
            target: graph.symbol_name(edge.target),
            value,
        };
        let value = match kind {
            Kind::Pointer64 | Kind::Pointer32 | Kind::Pointer32Signed | Kind::Pointer16 | Kind::Pointer8 => s + a,
            Kind::Delta64 | Kind::Delta32 | Kind::Delta16 | Kind::Delta8 | Kind::BranchPCRel32 => s + a - p,
            Kind::PCRel32GotLoadRelaxable | Kind::PCRel32GotLoadRexRelaxable => s + a - p,
            Kind::NegDelta32 => p - s + a,
            // Thread-local addresses are offsets below the thread pointer: read them signed.
            Kind::TpOff32 | Kind::TpOff64 => target.addr as i64 as i128 + a,
            Kind::DtpOff32 | Kind::DtpOff64 => {
                let base = graph.tls_base.map_or(0, |b| graph.symbol_addr(b)) as i64 as i128;
                target.addr as i64 as i128 - base + a
            }
            Kind::Size32 | Kind::Size64 => target.size as i128 + a,
            Kind::Delta64FromGot => {
                let got = got.ok_or_else(|| {
                    LinkError::malformed(
                        graph.location(block, edge.offset as u64),
                        "GOT-relative relocation without a GOT",
                    )
                })?;
                s + a - got
            }
            _ => {
                return Err(LinkError::malformed(
                    graph.location(block, edge.offset as u64),
                    format!("edge {kind:?} was not lowered by table building"),
                ))
            }
        };
        let fits = match kind {
            Kind::Pointer64 | Kind::Delta64 | Kind::Delta64FromGot | Kind::Size64 | Kind::TpOff64 | Kind::DtpOff64 => {
                i64::try_from(value).is_ok() || u64::try_from(value).is_ok()
            }
            Kind::Pointer32 | Kind::Size32 => u32::try_from(value).is_ok(),
            Kind::Pointer16 => (-0x8000..=0xffff).contains(&value),
            Kind::Pointer8 => (-0x80..=0xff).contains(&value),
            Kind::Delta16 => i16::try_from(value).is_ok(),
            Kind::Delta8 => i8::try_from(value).is_ok(),
            _ => i32::try_from(value).is_ok(),
        };
        if !fits {
            return Err(out_of_range(value));
        }
        let width = kind.width() as usize;
        let at = edge.offset as usize;
        let field = memory.get_mut(at..at + width).ok_or_else(|| {
            LinkError::malformed(
                graph.location(block, edge.offset as u64),
                "relocation extends past the end of its section",
            )
        })?;
        field.copy_from_slice(&(value as u64).to_le_bytes()[..width]);
    }
    Ok(())
}
