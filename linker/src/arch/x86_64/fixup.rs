//! Applies edges to a block's bytes in working memory: each kind's row (`Kind::info`) says
//! what to compute, how wide the field is and what it accepts; an error names site, target
//! and kind whenever a value doesn't fit.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::Kind;
use crate::arch::Formula;
use crate::graph::{BlockId, LinkGraph};
use crate::{LinkError, Result};

/// Writes every edge of `block` into `memory`, which holds the block's final bytes.
pub fn apply_fixups(graph: &LinkGraph, block: BlockId, memory: &mut [u8]) -> Result<()> {
    let b = graph.block(block);
    for edge in &b.edges {
        let Some(kind) = Kind::from_edge(edge.kind) else { continue };
        let info = kind.info();
        let at = || graph.location(block, u64::from(edge.offset));
        let target = graph.symbol(edge.target);
        let (s, a) = (i128::from(target.addr), i128::from(edge.addend));
        let p = sum(&[i128::from(b.addr), i128::from(edge.offset)]);
        let value = match info.formula {
            Formula::Absolute => sum(&[s, a]),
            Formula::Relative => sum(&[s, a, p.saturating_neg()]),
            Formula::NegRelative => sum(&[p, s.saturating_neg(), a]),
            Formula::FromGot => {
                let got = graph.got_base.map(|g| i128::from(graph.symbol_addr(g)));
                let got = got.ok_or_else(|| LinkError::malformed(at(), "GOT-relative relocation without a GOT"))?;
                sum(&[s, a, got.saturating_neg()])
            }
            // Thread-local addresses are offsets below the thread pointer: read them signed.
            Formula::ThreadPointerOffset => sum(&[i128::from(target.addr as i64), a]),
            Formula::ThreadBlockOffset => {
                let base = graph.tls_base.map_or(0, |b| graph.symbol_addr(b)) as i64;
                sum(&[i128::from(target.addr as i64), i128::from(base).saturating_neg(), a])
            }
            Formula::Size => sum(&[i128::from(target.size), a]),
            Formula::Request => {
                return Err(LinkError::malformed(at(), format!("edge {} was not lowered by table building", info.name)))
            }
        };
        if !info.range.contains(value, info.width) {
            return Err(LinkError::OutOfRange {
                at: Box::new(at()),
                kind: info.name.to_string(),
                target: graph.symbol_name(edge.target),
                value,
            });
        }
        let width = usize::from(info.width);
        let start = edge.offset as usize;
        let field = start
            .checked_add(width)
            .and_then(|end| memory.get_mut(start..end))
            .ok_or_else(|| LinkError::malformed(at(), "relocation extends past the end of its section"))?;
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
