//! AArch64 (the Arm 64-bit architecture, AAPCS64).
//!
//! Instructions are 4 bytes, and a reference lives in an instruction's immediate: a branch
//! reaches ±128 MiB (`b`/`bl`), ±1 MiB (`b.cond`, `cbz`, `ldr` literal, `adr`) or ±32 KiB
//! (`tbz`); anything else is reached in two steps, `adrp` (the 4 KiB page, ±4 GiB) and then
//! the low 12 bits in an `add` or a load/store (scaled by its access size). A row's `bits`
//! is what the value may span once the instruction has shifted it; `field` says where it
//! goes.
//!
//! Calls to another graph (another JITDylib, a shared library) may be beyond ±128 MiB: they
//! get a stub, `adrp x16; ldr x16; br x16` through a GOT entry, used only when the direct
//! branch falls short (LLVM's JITLink would fail). GOT loads whose target is within `adrp`'s
//! reach become `adrp; add` (`relax`). Thread-local blocks sit at fixed offsets from the
//! thread pointer (`tpidr_el0`), so TLS descriptors resolve with a two-instruction resolver
//! that returns the descriptor's offset.

mod field;
mod relax;

pub use field::write_field;
pub use relax::relax;

use super::{EdgeInfo, Formula, Range, TableUse};
use crate::graph::{BlockId, Edge, EdgeKind, LinkGraph, SymbolId};
use field::Field;

/// What code is laid out for: Linux on AArch64 runs with 4 KiB pages (Debian's kernels,
/// qemu-user); `adrp` pages are 4 KiB whatever the kernel's.
pub const PAGE_SIZE: u64 = 4096;

macro_rules! kinds {
    ($($kind:ident),* $(,)?) => {
        /// AArch64 edge kinds; `EdgeKind` carries them as their number (0 is the generic
        /// `KeepAlive`). What each one computes is its row in `Kind::info`, where its value
        /// goes its `field`.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(u8)]
        pub enum Kind {
            Pointer64 = 1,
            $($kind),*
        }

        /// Every kind, in number order (`ALL[n - 1]` is kind `n`).
        const ALL: &[Kind] = &[Kind::Pointer64, $(Kind::$kind),*];

        impl Kind {
            const fn name(self) -> &'static str {
                match self {
                    Kind::Pointer64 => "Pointer64",
                    $(Kind::$kind => stringify!($kind)),*
                }
            }
        }
    };
}

kinds!(
    Pointer32,
    Pointer16,
    Delta64,
    Delta32,
    Delta16,
    NegDelta32,
    NegDelta64,
    BranchDelta32,
    Branch26,
    CondBranch19,
    TestBranch14,
    LoadLiteral19,
    Adr21,
    Page21,
    Page21Unchecked,
    AddOffset12,
    LoadStoreOffset12x1,
    LoadStoreOffset12x2,
    LoadStoreOffset12x4,
    LoadStoreOffset12x8,
    LoadStoreOffset12x16,
    MoveWideUnsignedG0,
    MoveWideUnsignedG0Unchecked,
    MoveWideUnsignedG1,
    MoveWideUnsignedG1Unchecked,
    MoveWideUnsignedG2,
    MoveWideUnsignedG2Unchecked,
    MoveWideG3,
    MoveWideSignedG0,
    MoveWideSignedG1,
    MoveWideSignedG2,
    MoveWideRelativeG0,
    MoveWideRelativeG0Unchecked,
    MoveWideRelativeG1,
    MoveWideRelativeG1Unchecked,
    MoveWideRelativeG2,
    MoveWideRelativeG2Unchecked,
    MoveWideRelativeG3,
    GotPage21,
    GotPageOffset12,
    GotPageOffset15,
    RequestGotAndTransformToGotPage21,
    RequestGotAndTransformToGotPageOffset12,
    RequestGotAndTransformToGotPageOffset15,
    RequestGotAndTransformToLoadLiteral19,
    RequestGotAndTransformToDelta32,
    RequestTpOffGotAndTransformToPage21,
    RequestTpOffGotAndTransformToPageOffset12,
    RequestTpOffGotAndTransformToLoadLiteral19,
    TpOffHi12,
    TpOffLo12,
    TpOffLo12Unchecked,
    TpOffLoadStore12x1,
    TpOffLoadStore12x1Unchecked,
    TpOffLoadStore12x2,
    TpOffLoadStore12x2Unchecked,
    TpOffLoadStore12x4,
    TpOffLoadStore12x4Unchecked,
    TpOffLoadStore12x8,
    TpOffLoadStore12x8Unchecked,
    TpOffLoadStore12x16,
    TpOffLoadStore12x16Unchecked,
    TpOffMoveWideG0,
    TpOffMoveWideG0Unchecked,
    TpOffMoveWideG1,
    TpOffMoveWideG1Unchecked,
    TpOffMoveWideG2,
    DtpOffHi12,
    DtpOffLo12,
    DtpOffLo12Unchecked,
    RequestTlsDescAndTransformToPage21,
    RequestTlsDescAndTransformToPageOffset12,
    RequestTlsDescAndTransformToAddOffset12,
    RequestTlsGdAndTransformToPage21,
    RequestTlsGdAndTransformToAddOffset12,
    RequestTlsLdAndTransformToPage21,
    RequestTlsLdAndTransformToAddOffset12,
);

const fn cell(name: &'static str, width: u8, bits: u8, formula: Formula, range: Range, table: TableUse) -> EdgeInfo {
    EdgeInfo { name, width, bits, formula, range, table }
}

/// An instruction field: 4 bytes, the value checked to `bits`.
const fn insn(name: &'static str, bits: u8, formula: Formula, range: Range) -> EdgeInfo {
    cell(name, 4, bits, formula, range, TableUse::None)
}

/// The low 12 bits of an address, or an unchecked move-wide group: no range.
const fn unchecked(name: &'static str, formula: Formula) -> EdgeInfo {
    cell(name, 4, 64, formula, Range::SignedOrUnsigned, TableUse::None)
}

/// A request table building lowers (the instruction is 4 bytes).
const fn request(name: &'static str, table: TableUse) -> EdgeInfo {
    cell(name, 4, 64, Formula::Request, Range::SignedOrUnsigned, table)
}

const fn to(kind: Kind) -> EdgeKind {
    EdgeKind(kind as u8)
}

/// Every kind's row, in number order.
static ROWS: [EdgeInfo; ALL.len()] = {
    let mut rows = [Kind::Pointer64.row(); ALL.len()];
    let mut index = 0;
    while index < ALL.len() {
        rows[index] = ALL[index].row();
        index += 1;
    }
    rows
};

impl From<Kind> for EdgeKind {
    fn from(kind: Kind) -> EdgeKind {
        to(kind)
    }
}

impl Kind {
    pub fn from_edge(kind: EdgeKind) -> Option<Kind> {
        ALL.get(usize::from(kind.0).checked_sub(1)?).copied()
    }

    /// The kind's row (read from a table built at compile time by `row`).
    pub fn info(self) -> &'static EdgeInfo {
        &ROWS[self as usize - 1]
    }

    /// The one place that says what each kind computes and accepts.
    const fn row(self) -> EdgeInfo {
        use Formula::*;
        use Range::{Signed, SignedOrUnsigned as Either, Unsigned};
        use TableUse::{BranchStubIfFar, Got, TlsDescriptor, TlsIndexForBlock, TlsIndexForSymbol};
        let name = self.name();
        match self {
            Kind::Pointer64 => cell(name, 8, 64, Absolute, Either, TableUse::None),
            Kind::Pointer32 => cell(name, 4, 32, Absolute, Either, TableUse::None),
            Kind::Pointer16 => cell(name, 2, 16, Absolute, Either, TableUse::None),
            Kind::Delta64 => cell(name, 8, 64, Relative, Either, TableUse::None),
            Kind::Delta32 => cell(name, 4, 32, Relative, Either, TableUse::None),
            Kind::Delta16 => cell(name, 2, 16, Relative, Either, TableUse::None),
            // eh_frame CIE pointers.
            Kind::NegDelta32 => cell(name, 4, 32, NegRelative, Signed, TableUse::None),
            // MachO `B - A` where the fix-up is in `B`'s block.
            Kind::NegDelta64 => cell(name, 8, 64, NegRelative, Either, TableUse::None),
            // `R_AARCH64_PLT32`: a function's 32-bit offset (relative vtables).
            Kind::BranchDelta32 => cell(name, 4, 32, Relative, Signed, BranchStubIfFar),
            // `b`/`bl`: ±128 MiB, through the target's stub beyond.
            Kind::Branch26 => cell(name, 4, 28, Relative, Signed, BranchStubIfFar),
            Kind::CondBranch19 | Kind::LoadLiteral19 | Kind::Adr21 => insn(name, 21, Relative, Signed),
            Kind::TestBranch14 => insn(name, 16, Relative, Signed),
            // A function's address in non-PIC code (`adrp; add :lo12:`) may take its stub.
            Kind::Page21 => cell(name, 4, 33, PageRelative, Signed, TableUse::PageStubIfFar),
            Kind::GotPage21 => insn(name, 33, PageRelative, Signed),
            Kind::Page21Unchecked => unchecked(name, PageRelative),
            Kind::AddOffset12
            | Kind::LoadStoreOffset12x1
            | Kind::LoadStoreOffset12x2
            | Kind::LoadStoreOffset12x4
            | Kind::LoadStoreOffset12x8
            | Kind::LoadStoreOffset12x16
            | Kind::GotPageOffset12 => unchecked(name, Absolute),
            Kind::MoveWideUnsignedG0 => insn(name, 16, Absolute, Unsigned),
            Kind::MoveWideUnsignedG1 => insn(name, 32, Absolute, Unsigned),
            Kind::MoveWideUnsignedG2 => insn(name, 48, Absolute, Unsigned),
            Kind::MoveWideUnsignedG0Unchecked
            | Kind::MoveWideUnsignedG1Unchecked
            | Kind::MoveWideUnsignedG2Unchecked
            | Kind::MoveWideG3 => unchecked(name, Absolute),
            Kind::MoveWideSignedG0 => insn(name, 17, Absolute, Signed),
            Kind::MoveWideSignedG1 => insn(name, 33, Absolute, Signed),
            Kind::MoveWideSignedG2 => insn(name, 49, Absolute, Signed),
            Kind::MoveWideRelativeG0 => insn(name, 17, Relative, Signed),
            Kind::MoveWideRelativeG1 => insn(name, 33, Relative, Signed),
            Kind::MoveWideRelativeG2 => insn(name, 49, Relative, Signed),
            Kind::MoveWideRelativeG0Unchecked
            | Kind::MoveWideRelativeG1Unchecked
            | Kind::MoveWideRelativeG2Unchecked
            | Kind::MoveWideRelativeG3 => unchecked(name, Relative),
            // `ldr x, [x, :gotpage_lo15:sym]`: the entry's offset from the GOT's page.
            Kind::GotPageOffset15 => insn(name, 15, FromGotPage, Unsigned),
            Kind::RequestGotAndTransformToGotPage21 => request(name, Got(to(Kind::GotPage21))),
            Kind::RequestGotAndTransformToGotPageOffset12 => request(name, Got(to(Kind::GotPageOffset12))),
            Kind::RequestGotAndTransformToGotPageOffset15 => request(name, Got(to(Kind::GotPageOffset15))),
            Kind::RequestGotAndTransformToLoadLiteral19 => request(name, Got(to(Kind::LoadLiteral19))),
            // MachO `POINTER_TO_GOT`, pc-relative: the entry's 32-bit distance.
            Kind::RequestGotAndTransformToDelta32 => request(name, Got(to(Kind::Delta32))),
            // Initial-exec: an ordinary GOT entry holding the variable's offset from the
            // thread pointer (never relaxed: the entry holds no address).
            Kind::RequestTpOffGotAndTransformToPage21 => request(name, Got(to(Kind::Page21))),
            Kind::RequestTpOffGotAndTransformToPageOffset12 => request(name, Got(to(Kind::LoadStoreOffset12x8))),
            Kind::RequestTpOffGotAndTransformToLoadLiteral19 => request(name, Got(to(Kind::LoadLiteral19))),
            // Local-exec: `add x0, tp, :tprel_hi12:v, lsl 12; add x0, x0, :tprel_lo12_nc:v`.
            Kind::TpOffHi12 => insn(name, 24, ThreadPointerOffset, Unsigned),
            Kind::TpOffLo12
            | Kind::TpOffLoadStore12x1
            | Kind::TpOffLoadStore12x2
            | Kind::TpOffLoadStore12x4
            | Kind::TpOffLoadStore12x8
            | Kind::TpOffLoadStore12x16 => insn(name, 12, ThreadPointerOffset, Unsigned),
            Kind::TpOffLo12Unchecked
            | Kind::TpOffLoadStore12x1Unchecked
            | Kind::TpOffLoadStore12x2Unchecked
            | Kind::TpOffLoadStore12x4Unchecked
            | Kind::TpOffLoadStore12x8Unchecked
            | Kind::TpOffLoadStore12x16Unchecked
            | Kind::TpOffMoveWideG0Unchecked
            | Kind::TpOffMoveWideG1Unchecked => unchecked(name, ThreadPointerOffset),
            Kind::TpOffMoveWideG0 => insn(name, 17, ThreadPointerOffset, Signed),
            Kind::TpOffMoveWideG1 => insn(name, 33, ThreadPointerOffset, Signed),
            Kind::TpOffMoveWideG2 => insn(name, 49, ThreadPointerOffset, Signed),
            // Local-dynamic: the variable's offset within its graph's block.
            Kind::DtpOffHi12 => insn(name, 24, ThreadBlockOffset, Unsigned),
            Kind::DtpOffLo12 => insn(name, 12, ThreadBlockOffset, Unsigned),
            Kind::DtpOffLo12Unchecked => unchecked(name, ThreadBlockOffset),
            // gcc's default: `adrp x0, :tlsdesc:v; ldr x1, [x0, :tlsdesc_lo12:v];
            // add x0, x0, :tlsdesc_lo12:v; blr x1`.
            Kind::RequestTlsDescAndTransformToPage21 => request(name, TlsDescriptor(to(Kind::Page21))),
            Kind::RequestTlsDescAndTransformToPageOffset12 => {
                request(name, TlsDescriptor(to(Kind::LoadStoreOffset12x8)))
            }
            Kind::RequestTlsDescAndTransformToAddOffset12 => request(name, TlsDescriptor(to(Kind::AddOffset12))),
            // `-mtls-dialect=trad`: a `tls_index` pair passed to `__tls_get_addr`.
            Kind::RequestTlsGdAndTransformToPage21 => request(name, TlsIndexForSymbol(to(Kind::Page21))),
            Kind::RequestTlsGdAndTransformToAddOffset12 => request(name, TlsIndexForSymbol(to(Kind::AddOffset12))),
            Kind::RequestTlsLdAndTransformToPage21 => request(name, TlsIndexForBlock(to(Kind::Page21))),
            Kind::RequestTlsLdAndTransformToAddOffset12 => request(name, TlsIndexForBlock(to(Kind::AddOffset12))),
        }
    }

    /// Where the value goes.
    const fn field(self) -> Field {
        use Field::*;
        match self {
            Kind::Pointer64 | Kind::Pointer32 | Kind::Pointer16 => Data,
            Kind::Delta64 | Kind::Delta32 | Kind::Delta16 | Kind::NegDelta32 | Kind::NegDelta64 => Data,
            Kind::BranchDelta32 => Data,
            Kind::Branch26 => Branch26,
            Kind::CondBranch19 | Kind::LoadLiteral19 => Imm19,
            Kind::TestBranch14 => Imm14,
            Kind::Adr21 => Adr { shift: 0 },
            Kind::Page21 | Kind::Page21Unchecked | Kind::GotPage21 => Adr { shift: 12 },
            Kind::AddOffset12 | Kind::LoadStoreOffset12x1 | Kind::TpOffLo12 | Kind::TpOffLo12Unchecked => {
                Lo12 { scale: 0 }
            }
            Kind::DtpOffLo12 | Kind::DtpOffLo12Unchecked => Lo12 { scale: 0 },
            Kind::TpOffLoadStore12x1 | Kind::TpOffLoadStore12x1Unchecked => Lo12 { scale: 0 },
            Kind::LoadStoreOffset12x2 | Kind::TpOffLoadStore12x2 | Kind::TpOffLoadStore12x2Unchecked => {
                Lo12 { scale: 1 }
            }
            Kind::LoadStoreOffset12x4 | Kind::TpOffLoadStore12x4 | Kind::TpOffLoadStore12x4Unchecked => {
                Lo12 { scale: 2 }
            }
            Kind::LoadStoreOffset12x8 | Kind::GotPageOffset12 => Lo12 { scale: 3 },
            Kind::TpOffLoadStore12x8 | Kind::TpOffLoadStore12x8Unchecked => Lo12 { scale: 3 },
            Kind::LoadStoreOffset12x16 | Kind::TpOffLoadStore12x16 | Kind::TpOffLoadStore12x16Unchecked => {
                Lo12 { scale: 4 }
            }
            Kind::GotPageOffset15 => Scaled12 { scale: 3 },
            Kind::TpOffHi12 | Kind::DtpOffHi12 => Hi12,
            Kind::MoveWideUnsignedG0 | Kind::MoveWideUnsignedG0Unchecked => MoveWide { shift: 0, signed: false },
            Kind::MoveWideUnsignedG1 | Kind::MoveWideUnsignedG1Unchecked => MoveWide { shift: 16, signed: false },
            Kind::MoveWideUnsignedG2 | Kind::MoveWideUnsignedG2Unchecked => MoveWide { shift: 32, signed: false },
            Kind::MoveWideG3 => MoveWide { shift: 48, signed: false },
            // MOV[NZ] by the sign, as the ABI has every checking PC-relative group.
            Kind::MoveWideRelativeG3 => MoveWide { shift: 48, signed: true },
            Kind::MoveWideSignedG0 | Kind::MoveWideRelativeG0 | Kind::TpOffMoveWideG0 => {
                MoveWide { shift: 0, signed: true }
            }
            Kind::MoveWideSignedG1 | Kind::MoveWideRelativeG1 | Kind::TpOffMoveWideG1 => {
                MoveWide { shift: 16, signed: true }
            }
            Kind::MoveWideSignedG2 | Kind::MoveWideRelativeG2 | Kind::TpOffMoveWideG2 => {
                MoveWide { shift: 32, signed: true }
            }
            Kind::MoveWideRelativeG0Unchecked | Kind::TpOffMoveWideG0Unchecked => MoveWide { shift: 0, signed: false },
            Kind::MoveWideRelativeG1Unchecked | Kind::TpOffMoveWideG1Unchecked => MoveWide { shift: 16, signed: false },
            Kind::MoveWideRelativeG2Unchecked => MoveWide { shift: 32, signed: false },
            // Lowered by table building before any field is written.
            Kind::RequestGotAndTransformToGotPage21
            | Kind::RequestGotAndTransformToGotPageOffset12
            | Kind::RequestGotAndTransformToGotPageOffset15
            | Kind::RequestGotAndTransformToLoadLiteral19
            | Kind::RequestGotAndTransformToDelta32
            | Kind::RequestTpOffGotAndTransformToPage21
            | Kind::RequestTpOffGotAndTransformToPageOffset12
            | Kind::RequestTpOffGotAndTransformToLoadLiteral19
            | Kind::RequestTlsDescAndTransformToPage21
            | Kind::RequestTlsDescAndTransformToPageOffset12
            | Kind::RequestTlsDescAndTransformToAddOffset12
            | Kind::RequestTlsGdAndTransformToPage21
            | Kind::RequestTlsGdAndTransformToAddOffset12
            | Kind::RequestTlsLdAndTransformToPage21
            | Kind::RequestTlsLdAndTransformToAddOffset12 => Data,
        }
    }
}

/// `adrp x16, slot; ldr x16, [x16, :lo12:slot]; br x16`.
const POINTER_JUMP: [u32; 3] = [0x9000_0010, 0xf940_0210, 0xd61f_0200];

/// Appends a stub to `block`, a block of stubs (4-aligned).
pub fn append_pointer_jump_stub(graph: &mut LinkGraph, block: BlockId, slot: SymbolId) -> SymbolId {
    let bytes = graph.make_owned(block);
    let offset = bytes.len();
    bytes.extend(POINTER_JUMP.iter().flat_map(|insn| insn.to_le_bytes()));
    let at = offset as u32;
    let edges = &mut graph.block_mut(block).edges;
    edges.push(Edge::new(Kind::Page21.into(), at, slot, 0));
    edges.push(Edge::new(Kind::LoadStoreOffset12x8.into(), at + 4, slot, 0));
    let stub = graph.add_anonymous_symbol(block, offset as u64, 12);
    graph.symbol_mut(stub).flags.callable = true;
    stub
}

/// `ldr x16, context; ldr x17, reentry; br x17; nop; context; reentry`: the re-entry
/// routine finds the context in x16 (a scratch register of calls through stubs).
pub fn lazy_trampoline(context: u64, reentry: u64) -> Vec<u8> {
    let code: [u32; 4] = [0x5800_0090, 0x5800_00b1, 0xd61f_0220, 0xd503_201f];
    let mut bytes: Vec<u8> = code.iter().flat_map(|insn| insn.to_le_bytes()).collect();
    bytes.extend(context.to_le_bytes());
    bytes.extend(reentry.to_le_bytes());
    bytes
}

/// `ldr x0, [x0, #8]; ret`: a TLS descriptor's resolver returns its second word, the
/// variable's offset from the thread pointer, and preserves every other register.
pub const TLS_DESCRIPTOR_RESOLVER: [u8; 8] = {
    let (load, ret) = (0xf940_0400u32.to_le_bytes(), 0xd65f_03c0u32.to_le_bytes());
    [load[0], load[1], load[2], load[3], ret[0], ret[1], ret[2], ret[3]]
};

/// `mrs x16, tpidr_el0; ldr x0, [x0, #16]; add x0, x0, x16; ret` (x16 is a scratch register
/// of calls).
pub const TLV_THUNK: [u8; 16] = words([0xd53b_d050, 0xf940_0800, 0x8b10_0000, 0xd65f_03c0]);

const fn words(code: [u32; 4]) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        bytes[i] = code[i / 4].to_le_bytes()[i % 4];
        i += 1;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_number() {
        for (index, kind) in ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index + 1);
            assert_eq!(Kind::from_edge((*kind).into()), Some(*kind));
            assert_eq!(kind.info().name, format!("{kind:?}"));
        }
        assert_eq!(Kind::from_edge(EdgeKind::KEEP_ALIVE), None);
        assert_eq!(Kind::from_edge(EdgeKind(ALL.len() as u8 + 1)), None);
    }

    #[test]
    fn requests_lower_to_kinds_that_write_fields() {
        for kind in ALL {
            if let TableUse::Got(lowered) | TableUse::TlsDescriptor(lowered) = kind.info().table {
                let lowered = Kind::from_edge(lowered).unwrap();
                assert_ne!(lowered.info().formula, Formula::Request, "{kind:?}");
            }
        }
    }
}
