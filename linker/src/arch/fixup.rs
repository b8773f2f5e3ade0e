//! Applies edges to a block's bytes in working memory: each kind's row (`EdgeInfo`) says
//! what to compute, what it accepts and how many bytes it patches; the architecture says
//! how the value goes into those bytes. An error names site, target and kind whenever a
//! value doesn't fit.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::Formula;
use crate::graph::{BlockId, Edge, LinkGraph};
use crate::{LinkError, Result};

/// The 4 KiB page of an address, as page-relative addressing sees it.
pub fn page(address: i128) -> i128 {
    address & !0xfff
}

/// Writes every edge of `block` into `memory`, which holds the block's final bytes.
pub fn apply_fixups(graph: &LinkGraph, block: BlockId, memory: &mut [u8]) -> Result<()> {
    let b = graph.block(block);
    for edge in &b.edges {
        let Some(info) = graph.arch.edge_info(edge.kind()) else { continue };
        let at = || graph.location(block, u64::from(edge.offset));
        let value = edge_value(graph, block, edge, info.formula)
            .map_err(|message| LinkError::malformed(at(), format!("{}: {message}", info.name)))?;
        // Addresses are 64-bit: the ABIs compute modulo 2^64, so an absolute symbol at
        // 0xffff_ffff_ffff_fff0 is -16 to a signed field.
        let value = i128::from(value as i64);
        if !info.accepts(value) {
            return Err(LinkError::OutOfRange {
                at: Box::new(at()),
                kind: info.name.to_string(),
                target: graph.symbol_name(edge.target()),
                value,
            });
        }
        let start = edge.offset as usize;
        let field = start
            .checked_add(usize::from(info.width))
            .and_then(|end| memory.get_mut(start..end))
            .ok_or_else(|| LinkError::malformed(at(), "relocation extends past the end of its section"))?;
        graph.arch.write_field(edge.kind(), value, field).map_err(|message| {
            LinkError::malformed(at(), format!("{} to {}: {message}", info.name, graph.symbol_name(edge.target())))
        })?;
    }
    Ok(())
}

/// What the edge's formula computes, once every address is known.
pub fn edge_value(
    graph: &LinkGraph,
    block: BlockId,
    edge: &Edge,
    formula: Formula,
) -> std::result::Result<i128, String> {
    let target = graph.symbol(edge.target());
    let (s, a) = (i128::from(target.addr), i128::from(edge.addend));
    let p = sum(&[i128::from(graph.block(block).addr), i128::from(edge.offset)]);
    let got = || {
        let base = graph.got_base.map(|g| i128::from(graph.symbol_addr(g)));
        base.ok_or_else(|| "GOT-relative relocation without a GOT".to_string())
    };
    Ok(match formula {
        Formula::Absolute => sum(&[s, a]),
        Formula::Relative => sum(&[s, a, p.saturating_neg()]),
        Formula::PageRelative => sum(&[page(sum(&[s, a])), page(p).saturating_neg()]),
        Formula::NegRelative => sum(&[p, s.saturating_neg(), a]),
        Formula::FromGot => sum(&[s, a, got()?.saturating_neg()]),
        Formula::FromGotPage => sum(&[s, a, page(got()?).saturating_neg()]),
        Formula::ImageRelative => {
            let base = graph.image_base.map(|b| i128::from(graph.symbol_addr(b)));
            sum(&[s, a, base.ok_or("image-relative relocation without an image base")?.saturating_neg()])
        }
        // Thread-local addresses are offsets from the thread pointer: read them signed.
        Formula::ThreadPointerOffset => sum(&[i128::from(target.addr as i64), a]),
        Formula::ThreadBlockOffset => {
            let base = graph.tls_base.map_or(0, |b| graph.symbol_addr(b)) as i64;
            sum(&[i128::from(target.addr as i64), i128::from(base).saturating_neg(), a])
        }
        Formula::Size => sum(&[i128::from(target.size), a]),
        Formula::Request => return Err("not lowered by table building".to_string()),
    })
}

/// Writes one edge again for a new target address `s`, with the place `p` and addend `a`
/// it had: how a cached image follows symbols that moved (a library under ASLR). Only
/// kinds whose value is computed from the target, addend and place qualify; `None` for
/// the others, which a cached image must not hold for a moving target.
pub fn refit(
    arch: super::Arch,
    kind: crate::graph::EdgeKind,
    s: u64,
    a: i64,
    p: u64,
    field: &mut [u8],
) -> Option<Result<()>> {
    let info = arch.edge_info(kind)?;
    let (s, a, p) = (i128::from(s), i128::from(a), i128::from(p));
    let value = match info.formula {
        Formula::Absolute => sum(&[s, a]),
        Formula::Relative => sum(&[s, a, p.saturating_neg()]),
        Formula::PageRelative => sum(&[page(sum(&[s, a])), page(p).saturating_neg()]),
        Formula::NegRelative => sum(&[p, s.saturating_neg(), a]),
        _ => return None,
    };
    let value = i128::from(value as i64);
    let out_of_range = || LinkError::Memory(format!("{} at {p:#x}: {value:#x} out of range", info.name));
    if !info.accepts(value) {
        return Some(Err(out_of_range()));
    }
    let field = field.get_mut(..usize::from(info.width));
    Some(match field {
        Some(field) => arch.write_field(kind, value, field).map_err(|_| out_of_range()),
        None => Err(out_of_range()),
    })
}

/// Whether `refit` can rewrite edges of `kind`.
pub fn refittable(arch: super::Arch, kind: crate::graph::EdgeKind) -> bool {
    arch.edge_info(kind).is_some_and(|info| {
        matches!(info.formula, Formula::Absolute | Formula::Relative | Formula::PageRelative | Formula::NegRelative)
    })
}

/// The width in bytes of `kind`'s field.
pub fn field_width(arch: super::Arch, kind: crate::graph::EdgeKind) -> usize {
    arch.edge_info(kind).map_or(0, |info| usize::from(info.width))
}

/// The sum of 64-bit quantities widened to i128: a few of them cannot overflow it, so the
/// additions wrap (never, in fact) rather than check, on every fix-up.
fn sum(terms: &[i128]) -> i128 {
    terms.iter().fold(0i128, |total, &term| total.wrapping_add(term))
}
