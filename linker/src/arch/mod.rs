//! Architectures: the columns of the format × architecture grid.
//!
//! Each architecture module owns its edge kinds (one table row per kind: name, width,
//! formula, range, what table it needs), how fix-ups are written, its GOT and stub tables,
//! its relaxations, the one pointer-jump stub that tables, ifuncs and lazy calls share, and
//! its page size. Generic code asks `Arch`, never a module by name: adding an architecture
//! is a module plus one arm in each `match` below (the compiler lists them).

pub mod x86_64;

use crate::graph::{BlockId, EdgeKind, LinkGraph, SectionId, SymbolId};
use crate::passes::PassConfig;
use crate::Result;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Arch {
    X86_64,
}

/// How a fix-up's value is computed. `S` target, `A` addend, `P` fix-up address, `GOT` the
/// graph's `_GLOBAL_OFFSET_TABLE_`, `Z` the target's size, `TLS` the graph's thread-local
/// block (thread-local targets' addresses are offsets from the thread pointer).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Formula {
    /// `S + A`.
    Absolute,
    /// `S + A - P`.
    Relative,
    /// `P - S + A`.
    NegRelative,
    /// `S + A - GOT`.
    FromGot,
    /// `S + A`, `S` read as a signed offset from the thread pointer.
    ThreadPointerOffset,
    /// `S + A - TLS`.
    ThreadBlockOffset,
    /// `Z + A`.
    Size,
    /// Not a fix-up yet: table building rewrites the edge first.
    Request,
}

/// The values a field of the edge's width accepts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Range {
    Signed,
    Unsigned,
    /// Either reading of the bits (what `ld` accepts for 8- and 16-bit absolutes).
    SignedOrUnsigned,
}

impl Range {
    pub fn contains(self, value: i128, width_bytes: u8) -> bool {
        let bits = u32::from(width_bytes) * 8;
        let (min_signed, max_signed) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
        let max_unsigned = (1i128 << bits) - 1;
        match self {
            Range::Signed => (min_signed..=max_signed).contains(&value),
            Range::Unsigned => (0..=max_unsigned).contains(&value),
            Range::SignedOrUnsigned => (min_signed..=max_unsigned).contains(&value),
        }
    }
}

/// What table building does for an edge of this kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TableUse {
    None,
    /// The target gets a GOT entry; the edge becomes this kind, aimed at the entry.
    Got(EdgeKind),
    /// An external target gets a stub to fall back on when the field cannot reach it.
    StubIfFar,
    /// A `tls_index` pair for the variable (general-dynamic); the edge becomes this kind.
    TlsIndexForSymbol(EdgeKind),
    /// A `tls_index` pair for the graph's thread-local block (local-dynamic).
    TlsIndexForBlock(EdgeKind),
}

/// One edge kind's row in its architecture's table.
#[derive(Clone, Copy, Debug)]
pub struct EdgeInfo {
    pub name: &'static str,
    /// Bytes patched at the fix-up address.
    pub width: u8,
    pub formula: Formula,
    pub range: Range,
    pub table: TableUse,
}

/// Edge kinds the `.eh_frame` splitter adds (the format's records, the architecture's kinds).
pub struct EhFrameKinds {
    /// An FDE's CIE pointer: `P - S`, 32 bits.
    pub cie_pointer: EdgeKind,
}

impl Arch {
    /// The architecture this process runs on: synthesized graphs (lazy stubs, copies) and
    /// in-process execution are for it.
    pub const fn host() -> Arch {
        Arch::X86_64
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86-64",
        }
    }

    /// The page size code is laid out for (protection granule).
    pub const fn page_size(self) -> u64 {
        match self {
            Arch::X86_64 => x86_64::PAGE_SIZE,
        }
    }

    /// The row of `kind` in this architecture's table; `None` for a kind it doesn't have.
    pub fn edge_info(self, kind: EdgeKind) -> Option<EdgeInfo> {
        match self {
            Arch::X86_64 => x86_64::Kind::from_edge(kind).map(x86_64::Kind::info),
        }
    }

    /// A printable name for `kind` (`KeepAlive` for the generic kind).
    pub fn edge_name(self, kind: EdgeKind) -> &'static str {
        match (kind, self.edge_info(kind)) {
            (EdgeKind::KEEP_ALIVE, _) => "KeepAlive",
            (_, Some(info)) => info.name,
            (_, None) => "unknown",
        }
    }

    /// A pointer-sized absolute edge (`S + A`).
    pub fn pointer_kind(self) -> EdgeKind {
        match self {
            Arch::X86_64 => x86_64::Kind::Pointer64.into(),
        }
    }

    pub fn eh_frame_kinds(self) -> EhFrameKinds {
        match self {
            Arch::X86_64 => EhFrameKinds { cie_pointer: x86_64::Kind::NegDelta32.into() },
        }
    }

    /// Adds the architecture's passes: tables after pruning, relaxation before fix-ups.
    pub fn add_passes(self, config: &mut PassConfig) {
        match self {
            Arch::X86_64 => x86_64::add_passes(config),
        }
    }

    /// Writes every edge of `block` into `memory`, which holds the block's bytes.
    pub fn apply_fixups(self, graph: &LinkGraph, block: BlockId, memory: &mut [u8]) -> Result<()> {
        match self {
            Arch::X86_64 => x86_64::apply_fixups(graph, block, memory),
        }
    }

    /// Adds to `section` a stub that jumps to the address held in the pointer `slot`;
    /// returns the stub's symbol. GOT stubs, ifunc stubs and lazy stubs are all this one.
    pub fn add_pointer_jump_stub(self, graph: &mut LinkGraph, section: SectionId, slot: SymbolId) -> SymbolId {
        match self {
            Arch::X86_64 => x86_64::add_pointer_jump_stub(graph, section, slot),
        }
    }

    /// Code that enters `reentry` with `context` as its first stack word and the caller's
    /// registers intact: what a lazy stub's slot points at before its body is linked.
    pub fn lazy_trampoline(self, context: u64, reentry: u64) -> Vec<u8> {
        match self {
            Arch::X86_64 => x86_64::lazy_trampoline(context, reentry),
        }
    }

    /// The graph's `_GLOBAL_OFFSET_TABLE_`, created on first need.
    pub fn got_base(self, graph: &mut LinkGraph) -> SymbolId {
        match self {
            Arch::X86_64 => x86_64::got_base(graph),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Range;

    #[test]
    fn ranges_follow_the_field_width() {
        assert!(Range::Signed.contains(-0x8000_0000, 4) && !Range::Signed.contains(0x8000_0000, 4));
        assert!(Range::Unsigned.contains(0xffff_ffff, 4) && !Range::Unsigned.contains(-1, 4));
        assert!(Range::SignedOrUnsigned.contains(-0x80, 1) && Range::SignedOrUnsigned.contains(0xff, 1));
        assert!(!Range::SignedOrUnsigned.contains(0x100, 1));
        assert!(Range::SignedOrUnsigned.contains(u64::MAX as i128, 8) && Range::Signed.contains(i64::MIN as i128, 8));
    }
}
