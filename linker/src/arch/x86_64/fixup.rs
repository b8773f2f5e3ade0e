//! Applies edges to a block's bytes in working memory: checked arithmetic, and an error that
//! names site, target and kind whenever a value doesn't fit its field.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::Kind;
use crate::graph::{BlockId, EdgeKind, LinkGraph};
use crate::{LinkError, Result};

/// Writes every edge of `block` into `memory`, which holds the block's final bytes.
pub fn apply_fixups(graph: &LinkGraph, block: BlockId, memory: &mut [u8]) -> Result<()> {
    let b = graph.block(block);
    let got = graph.got_base.map(|s| graph.symbol_addr(s) as i128);
    for edge in &b.edges {
        let EdgeKind::X86_64(kind) = edge.kind else { continue };
        let target = graph.symbol(edge.target);
        let (s, a) = (i128::from(target.addr), i128::from(edge.addend));
        let p = sum(&[i128::from(b.addr), i128::from(edge.offset)]);
        let out_of_range = |value: i128| LinkError::OutOfRange {
            at: Box::new(graph.location(block, edge.offset as u64)),
            kind: format!("{kind:?}"),
            target: graph.symbol_name(edge.target),
            value,
        };
        let value = match kind {
            Kind::Pointer64 | Kind::Pointer32 | Kind::Pointer32Signed | Kind::Pointer16 | Kind::Pointer8 => {
                sum(&[s, a])
            }
            Kind::Delta64 | Kind::Delta32 | Kind::Delta16 | Kind::Delta8 | Kind::BranchPCRel32 => {
                sum(&[s, a, p.saturating_neg()])
            }
            Kind::PCRel32GotLoadRelaxable | Kind::PCRel32GotLoadRexRelaxable => sum(&[s, a, p.saturating_neg()]),
            Kind::NegDelta32 => sum(&[p, s.saturating_neg(), a]),
            // Thread-local addresses are offsets below the thread pointer: read them signed.
            Kind::TpOff32 | Kind::TpOff64 => sum(&[i128::from(target.addr as i64), a]),
            Kind::DtpOff32 | Kind::DtpOff64 => {
                let base = graph.tls_base.map_or(0, |b| graph.symbol_addr(b)) as i64 as i128;
                sum(&[i128::from(target.addr as i64), base.saturating_neg(), a])
            }
            Kind::Size32 | Kind::Size64 => sum(&[i128::from(target.size), a]),
            Kind::Delta64FromGot => {
                let got = got.ok_or_else(|| {
                    LinkError::malformed(
                        graph.location(block, edge.offset as u64),
                        "GOT-relative relocation without a GOT",
                    )
                })?;
                sum(&[s, a, got.saturating_neg()])
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
        let field = at.checked_add(width).and_then(|end| memory.get_mut(at..end)).ok_or_else(|| {
            LinkError::malformed(
                graph.location(block, edge.offset as u64),
                "relocation extends past the end of its section",
            )
        })?;
        let bytes = (value as u64).to_le_bytes();
        field.copy_from_slice(bytes.get(..width).unwrap_or(&bytes));
    }
    Ok(())
}

/// The sum of 64-bit quantities widened to i128, which can't overflow for the few terms of a
/// fix-up; saturating all the same, so that a wrong sum fails the range check, never panics.
fn sum(terms: &[i128]) -> i128 {
    terms.iter().fold(0i128, |total, &term| total.saturating_add(term))
}
