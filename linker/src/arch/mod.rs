//! Architectures: the columns of the format × architecture grid.
//!
//! Each architecture module owns its edge kinds (one table row per kind: name, width,
//! formula, range, what table it needs), how fix-ups are written, its GOT and stub tables,
//! its relaxations, the one pointer-jump stub that tables, ifuncs and lazy calls share, and
//! its page size. Generic code asks `Arch`, never a module by name: adding an architecture
//! is a module plus one arm in each `match` below (the compiler lists them).
//!
//! What every architecture shares is here and beside it: evaluating a row's formula and
//! checking its range (`fixup.rs`), building GOT, stub and thread-local tables from each
//! kind's `TableUse` (`tables.rs`), and sending a reference through its stub only when it
//! falls short (`reach.rs`). An architecture says how a value goes into its fields.

pub mod aarch64;
mod fixup;
mod reach;
pub mod tables;
pub mod x86_64;

pub use fixup::{apply_fixups, field_width, refit, refittable};

use crate::graph::{BlockId, EdgeKind, LinkGraph, SectionId, SymbolId};
use crate::passes::PassConfig;
use crate::Result;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Arch {
    X86_64,
    AArch64,
}

/// How a fix-up's value is computed. `S` target, `A` addend, `P` fix-up address, `GOT` the
/// graph's `_GLOBAL_OFFSET_TABLE_`, `Z` the target's size, `TLS` the graph's thread-local
/// block (thread-local targets' addresses are offsets from the thread pointer), `Page(X)`
/// `X` with its low 12 bits cleared (the 4 KiB pages of page-relative addressing).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Formula {
    /// `S + A`.
    Absolute,
    /// `S + A - P`.
    Relative,
    /// `Page(S + A) - Page(P)`.
    PageRelative,
    /// `S + A - Page(GOT)`.
    FromGotPage,
    /// `S + A - BASE`, `BASE` the graph's image base.
    ImageRelative,
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

/// The values an edge accepts, as a number of `bits` read one way or the other.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Range {
    Signed,
    Unsigned,
    /// Either reading of the bits (what `ld` accepts for 8- and 16-bit absolutes).
    SignedOrUnsigned,
}

impl Range {
    /// Whether `value` fits in `bits` bits (1 to 64) read this way. On every fix-up, so
    /// in 64-bit arithmetic: a value no `i64` or `u64` holds fits no field.
    pub fn contains(self, value: i128, bits: u8) -> bool {
        let bits = u32::from(bits);
        let signed = || i64::try_from(value).is_ok_and(|v| bits >= 64 || matches!(v >> (bits - 1), 0 | -1));
        let unsigned = || u64::try_from(value).is_ok_and(|v| bits >= 64 || v >> bits == 0);
        match self {
            Range::Signed => signed(),
            Range::Unsigned => unsigned(),
            Range::SignedOrUnsigned => signed() || unsigned(),
        }
    }
}

/// What table building does for an edge of this kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TableUse {
    None,
    /// The target gets a GOT entry; the edge becomes this kind, aimed at the entry.
    Got(EdgeKind),
    /// An external target gets a stub to fall back on when the field cannot reach it; the
    /// reference goes through the stub only if the target is code.
    StubIfFar,
    /// As `StubIfFar`, for branches: the target is code.
    BranchStubIfFar,
    /// As `StubIfFar`, for the page half of an address built in two instructions (AArch64
    /// `adrp`): the architecture's relaxation sends the page and every low-bits edge to the
    /// same target through the stub together, or none of them.
    PageStubIfFar,
    /// A `tls_index` pair for the variable (general-dynamic); the edge becomes this kind.
    TlsIndexForSymbol(EdgeKind),
    /// A `tls_index` pair for the graph's thread-local block (local-dynamic).
    TlsIndexForBlock(EdgeKind),
    /// A TLS descriptor `{resolver, offset}` for the variable; the edge becomes this kind.
    TlsDescriptor(EdgeKind),
}

/// One edge kind's row in its architecture's table.
#[derive(Clone, Copy, Debug)]
pub struct EdgeInfo {
    pub name: &'static str,
    /// Bytes patched at the fix-up address.
    pub width: u8,
    /// Bits of the value the range applies to (a field's width, or what an instruction's
    /// immediate reaches once shifted).
    pub bits: u8,
    pub formula: Formula,
    pub range: Range,
    pub table: TableUse,
}

impl EdgeInfo {
    /// Whether `value` is in range (the architecture checks alignment when writing it).
    pub fn accepts(&self, value: i128) -> bool {
        self.range.contains(value, self.bits)
    }
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
            Arch::AArch64 => "AArch64",
        }
    }

    /// The page size code is laid out for (protection granule).
    pub const fn page_size(self) -> u64 {
        match self {
            Arch::X86_64 => x86_64::PAGE_SIZE,
            Arch::AArch64 => aarch64::PAGE_SIZE,
        }
    }

    /// The row of `kind` in this architecture's table; `None` for a kind it doesn't have.
    pub fn edge_info(self, kind: EdgeKind) -> Option<EdgeInfo> {
        match self {
            Arch::X86_64 => x86_64::Kind::from_edge(kind).map(x86_64::Kind::info),
            Arch::AArch64 => aarch64::Kind::from_edge(kind).map(aarch64::Kind::info),
        }
    }

    /// Writes `value`, already range-checked, into the field of a `kind` edge: `field` holds
    /// the row's `width` bytes. `Err` says why the value cannot be encoded.
    pub fn write_field(self, kind: EdgeKind, value: i128, field: &mut [u8]) -> std::result::Result<(), String> {
        match self {
            Arch::X86_64 => x86_64::write_field(value, field),
            Arch::AArch64 => aarch64::write_field(kind, value, field),
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
            Arch::AArch64 => aarch64::Kind::Pointer64.into(),
        }
    }

    /// The kinds of a `width`-byte distance, `S + A - P` and `P - S + A`.
    pub fn delta_kinds(self, width: u8) -> Option<(EdgeKind, EdgeKind)> {
        match (self, width) {
            (Arch::X86_64, 8) => Some((x86_64::Kind::Delta64.into(), x86_64::Kind::NegDelta64.into())),
            (Arch::X86_64, 4) => Some((x86_64::Kind::Delta32.into(), x86_64::Kind::NegDelta32.into())),
            (Arch::AArch64, 8) => Some((aarch64::Kind::Delta64.into(), aarch64::Kind::NegDelta64.into())),
            (Arch::AArch64, 4) => Some((aarch64::Kind::Delta32.into(), aarch64::Kind::NegDelta32.into())),
            _ => None,
        }
    }

    pub fn eh_frame_kinds(self) -> EhFrameKinds {
        match self {
            Arch::X86_64 => EhFrameKinds { cie_pointer: x86_64::Kind::NegDelta32.into() },
            Arch::AArch64 => EhFrameKinds { cie_pointer: aarch64::Kind::NegDelta32.into() },
        }
    }

    /// Adds the passes: tables after pruning; before fix-ups, stubs only where a reference
    /// falls short, then the architecture's relaxations.
    pub fn add_passes(self, config: &mut PassConfig) {
        config.post_prune.push(Box::new(tables::build_tables));
        config.pre_fixup.push(Box::new(reach::use_stubs_where_far));
        match self {
            Arch::X86_64 => config.pre_fixup.push(Box::new(x86_64::relax)),
            Arch::AArch64 => config.pre_fixup.push(Box::new(aarch64::relax)),
        }
    }

    /// Writes every edge of `block` into `memory`, which holds the block's bytes.
    pub fn apply_fixups(self, graph: &LinkGraph, block: BlockId, memory: &mut [u8]) -> Result<()> {
        fixup::apply_fixups(graph, block, memory)
    }

    /// Appends to `block` (a block of stubs) a stub that jumps to the address held in the
    /// pointer `slot`; returns the stub's symbol. GOT stubs, ifunc stubs and lazy stubs are
    /// all this one.
    pub fn append_pointer_jump_stub(self, graph: &mut LinkGraph, block: BlockId, slot: SymbolId) -> SymbolId {
        match self {
            Arch::X86_64 => x86_64::append_pointer_jump_stub(graph, block, slot),
            Arch::AArch64 => aarch64::append_pointer_jump_stub(graph, block, slot),
        }
    }

    /// Alignment of a block of stubs.
    pub fn stub_align(self) -> u64 {
        match self {
            Arch::X86_64 => 2,
            Arch::AArch64 => 4,
        }
    }

    /// Adds to `section` a pointer-jump stub (see `append_pointer_jump_stub`) in a block of
    /// its own.
    pub fn add_pointer_jump_stub(self, graph: &mut LinkGraph, section: SectionId, slot: SymbolId) -> SymbolId {
        let block = graph.add_block(section, crate::graph::Content::Owned(Vec::new()), self.stub_align());
        self.append_pointer_jump_stub(graph, block, slot)
    }

    /// Code that enters `reentry` with `context` and the caller's registers intact (x86-64:
    /// `context` as the first stack word; AArch64: in x16): what a lazy stub's slot points
    /// at before its body is linked.
    pub fn lazy_trampoline(self, context: u64, reentry: u64) -> Vec<u8> {
        match self {
            Arch::X86_64 => x86_64::lazy_trampoline(context, reentry),
            Arch::AArch64 => aarch64::lazy_trampoline(context, reentry),
        }
    }

    /// The body of a TLS descriptor's resolver for blocks at fixed offsets from the thread
    /// pointer: given the descriptor's address, it returns the descriptor's second word.
    /// `None` where the architecture's compilers use no descriptors jitld supports.
    pub fn tls_descriptor_resolver(self) -> Option<&'static [u8]> {
        match self {
            Arch::X86_64 => None,
            Arch::AArch64 => Some(&aarch64::TLS_DESCRIPTOR_RESOLVER),
        }
    }

    /// A MachO thread-local variable's accessor for blocks at fixed offsets from the thread
    /// pointer: called with the variable's descriptor `{thunk, key, offset}`, it returns
    /// the thread pointer plus the offset, and changes no other register.
    pub fn tlv_thunk(self) -> &'static [u8] {
        match self {
            Arch::X86_64 => &x86_64::TLV_THUNK,
            Arch::AArch64 => &aarch64::TLV_THUNK,
        }
    }

    /// The graph's `_GLOBAL_OFFSET_TABLE_`, created on first need.
    pub fn got_base(self, graph: &mut LinkGraph) -> SymbolId {
        tables::got_base(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::Range;

    #[test]
    fn ranges_follow_the_field_width() {
        assert!(Range::Signed.contains(-0x8000_0000, 32) && !Range::Signed.contains(0x8000_0000, 32));
        assert!(Range::Unsigned.contains(0xffff_ffff, 32) && !Range::Unsigned.contains(-1, 32));
        assert!(Range::SignedOrUnsigned.contains(-0x80, 8) && Range::SignedOrUnsigned.contains(0xff, 8));
        assert!(!Range::SignedOrUnsigned.contains(0x100, 8));
        assert!(Range::SignedOrUnsigned.contains(u64::MAX as i128, 64) && Range::Signed.contains(i64::MIN as i128, 64));
        assert!(Range::Signed.contains(-(1 << 27), 28) && !Range::Signed.contains(1 << 27, 28));
    }

    /// The bounds, as the ABIs state them, at and around every edge of every width.
    #[test]
    fn ranges_agree_with_their_bounds() {
        for bits in 1..=64u8 {
            let (min, max, umax) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1, (1i128 << bits) - 1);
            for edge in [min, max, umax, 0, -1, i128::from(i64::MIN), i128::from(u64::MAX)] {
                for value in [edge - 1, edge, edge + 1] {
                    assert_eq!(Range::Signed.contains(value, bits), (min..=max).contains(&value), "{value} in {bits}");
                    assert_eq!(Range::Unsigned.contains(value, bits), (0..=umax).contains(&value), "{value} in {bits}");
                    let either = (min..=umax).contains(&value);
                    assert_eq!(Range::SignedOrUnsigned.contains(value, bits), either, "{value} in {bits}");
                }
            }
        }
    }
}
