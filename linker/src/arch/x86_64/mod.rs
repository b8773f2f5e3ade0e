//! x86-64 (System V psABI).
//!
//! The small code model assumes code and data of one program lie within 2 GiB of each
//! other: calls and RIP-relative loads carry signed 32-bit displacements. A JIT breaks that
//! assumption twice. First, the C library and every other shared library are mapped near the
//! top of the address space, far from anything we allocate, so a `call puts` can't reach:
//! such calls go through a stub (`jmp *GOT(%rip)`) whose GOT slot holds the full address.
//! Second, non-PIC code (`-fno-pic`) uses *absolute* 32-bit addresses (`mov $sym, %edi`),
//! so its image must sit below 2 GiB; the in-process memory manager places every graph
//! there, which also keeps all JIT'd graphs within reach of one another.
//!
//! Data defined in a shared library and accessed with a 32-bit displacement (gcc's
//! `-fPIE` and `-fno-pic` code reads `stdout` that way) cannot reach the library either; the
//! session gives such symbols a copy in JIT memory, like a copy relocation in an executable.
//!
//! GOT entries and stubs are created per graph before allocation, for every external that
//! might need one; once addresses are known, each edge goes straight to its target whenever
//! it fits, and `relax` rewrites GOT loads into `lea` where the psABI allows it.

mod relax;

pub use relax::relax;

use super::{EdgeInfo, Formula, Range, TableUse};
use crate::graph::{BlockId, Edge, EdgeKind, LinkGraph, SymbolId};

pub const PAGE_SIZE: u64 = 4096;

/// x86-64 edge kinds; `EdgeKind` carries them as their number (0 is the generic `KeepAlive`).
/// What each one computes is its row in `Kind::info`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum Kind {
    Pointer64 = 1,
    Pointer32,
    Pointer32Signed,
    Pointer16,
    Pointer8,
    Delta64,
    Delta32,
    Delta16,
    Delta8,
    NegDelta32,
    Delta64FromGot,
    BranchPCRel32,
    Size32,
    Size64,
    RequestGotAndTransformToDelta32,
    RequestGotAndTransformToPCRel32GotLoadRelaxable,
    RequestGotAndTransformToPCRel32GotLoadRexRelaxable,
    RequestGotAndTransformToDelta64,
    RequestGotAndTransformToDelta64FromGot,
    PCRel32GotLoadRelaxable,
    PCRel32GotLoadRexRelaxable,
    TpOff32,
    TpOff64,
    DtpOff32,
    DtpOff64,
    RequestTlsGdAndTransformToDelta32,
    RequestTlsLdAndTransformToDelta32,
    NegDelta64,
    ImageRelative32,
}

/// Every kind, in number order (`ALL[n - 1]` is kind `n`).
const ALL: [Kind; 29] = [
    Kind::Pointer64,
    Kind::Pointer32,
    Kind::Pointer32Signed,
    Kind::Pointer16,
    Kind::Pointer8,
    Kind::Delta64,
    Kind::Delta32,
    Kind::Delta16,
    Kind::Delta8,
    Kind::NegDelta32,
    Kind::Delta64FromGot,
    Kind::BranchPCRel32,
    Kind::Size32,
    Kind::Size64,
    Kind::RequestGotAndTransformToDelta32,
    Kind::RequestGotAndTransformToPCRel32GotLoadRelaxable,
    Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable,
    Kind::RequestGotAndTransformToDelta64,
    Kind::RequestGotAndTransformToDelta64FromGot,
    Kind::PCRel32GotLoadRelaxable,
    Kind::PCRel32GotLoadRexRelaxable,
    Kind::TpOff32,
    Kind::TpOff64,
    Kind::DtpOff32,
    Kind::DtpOff64,
    Kind::RequestTlsGdAndTransformToDelta32,
    Kind::RequestTlsLdAndTransformToDelta32,
    Kind::NegDelta64,
    Kind::ImageRelative32,
];

/// x86-64 fields hold their whole value: the range is the field's width.
const fn cell(name: &'static str, width: u8, formula: Formula, range: Range, table: TableUse) -> EdgeInfo {
    EdgeInfo { name, width, bits: width * 8, formula, range, table }
}

/// The kind lowered to, aimed at a GOT entry.
const fn got(lowered: Kind) -> TableUse {
    TableUse::Got(EdgeKind(lowered as u8))
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
        EdgeKind(kind as u8)
    }
}

impl Kind {
    pub fn from_edge(kind: EdgeKind) -> Option<Kind> {
        ALL.get(usize::from(kind.0).checked_sub(1)?).copied()
    }

    /// The kind's row: what it computes, how wide it is, what it accepts and what table it
    /// needs (read from a table built at compile time by `row`).
    pub fn info(self) -> &'static EdgeInfo {
        &ROWS[self as usize - 1]
    }

    /// The one place that says what each kind is.
    const fn row(self) -> EdgeInfo {
        use Formula::*;
        use Range::{Signed, SignedOrUnsigned as Either, Unsigned};
        let name = self.name();
        match self {
            Kind::Pointer64 => cell(name, 8, Absolute, Either, TableUse::None),
            // Zero-extended by the instruction: the value must be below 4 GiB.
            Kind::Pointer32 => cell(name, 4, Absolute, Unsigned, TableUse::StubIfFar),
            Kind::Pointer32Signed => cell(name, 4, Absolute, Signed, TableUse::StubIfFar),
            Kind::Pointer16 => cell(name, 2, Absolute, Either, TableUse::None),
            Kind::Pointer8 => cell(name, 1, Absolute, Either, TableUse::None),
            Kind::Delta64 => cell(name, 8, Relative, Either, TableUse::None),
            Kind::Delta32 => cell(name, 4, Relative, Signed, TableUse::StubIfFar),
            Kind::Delta16 => cell(name, 2, Relative, Signed, TableUse::None),
            Kind::Delta8 => cell(name, 1, Relative, Signed, TableUse::None),
            // eh_frame CIE pointers.
            Kind::NegDelta32 => cell(name, 4, NegRelative, Signed, TableUse::None),
            // MachO `B - A` where the fix-up is in `B`'s block.
            Kind::NegDelta64 => cell(name, 8, NegRelative, Either, TableUse::None),
            // COFF `ADDR32NB`: an address relative to the image base (unwind tables, RVAs).
            Kind::ImageRelative32 => cell(name, 4, ImageRelative, Unsigned, TableUse::None),
            Kind::Delta64FromGot => cell(name, 8, FromGot, Either, TableUse::None),
            // A call or jump; through the target's stub when it doesn't reach.
            Kind::BranchPCRel32 => cell(name, 4, Relative, Signed, TableUse::BranchStubIfFar),
            Kind::Size32 => cell(name, 4, Size, Unsigned, TableUse::None),
            Kind::Size64 => cell(name, 8, Size, Either, TableUse::None),
            Kind::RequestGotAndTransformToDelta32 => cell(name, 4, Request, Signed, got(Kind::Delta32)),
            // `mov foo@GOTPCREL(%rip), %reg` (`R_X86_64_[REX_]GOTPCRELX`): may become a `lea`.
            Kind::RequestGotAndTransformToPCRel32GotLoadRelaxable => {
                cell(name, 4, Request, Signed, got(Kind::PCRel32GotLoadRelaxable))
            }
            Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable => {
                cell(name, 4, Request, Signed, got(Kind::PCRel32GotLoadRexRelaxable))
            }
            Kind::RequestGotAndTransformToDelta64 => cell(name, 8, Request, Either, got(Kind::Delta64)),
            Kind::RequestGotAndTransformToDelta64FromGot => cell(name, 8, Request, Either, got(Kind::Delta64FromGot)),
            Kind::PCRel32GotLoadRelaxable | Kind::PCRel32GotLoadRexRelaxable => {
                cell(name, 4, Relative, Signed, TableUse::None)
            }
            // Local-exec: `mov %fs:x@tpoff, %eax`.
            Kind::TpOff32 => cell(name, 4, ThreadPointerOffset, Signed, TableUse::None),
            Kind::TpOff64 => cell(name, 8, ThreadPointerOffset, Either, TableUse::None),
            // Local-dynamic: the variable's offset within its graph's block.
            Kind::DtpOff32 => cell(name, 4, ThreadBlockOffset, Signed, TableUse::None),
            Kind::DtpOff64 => cell(name, 8, ThreadBlockOffset, Either, TableUse::None),
            // General-dynamic `leaq x@tlsgd(%rip), %rdi` / local-dynamic `leaq x@tlsld(%rip), %rdi`.
            Kind::RequestTlsGdAndTransformToDelta32 => {
                cell(name, 4, Request, Signed, TableUse::TlsIndexForSymbol(EdgeKind(Kind::Delta32 as u8)))
            }
            Kind::RequestTlsLdAndTransformToDelta32 => {
                cell(name, 4, Request, Signed, TableUse::TlsIndexForBlock(EdgeKind(Kind::Delta32 as u8)))
            }
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Kind::Pointer64 => "Pointer64",
            Kind::Pointer32 => "Pointer32",
            Kind::Pointer32Signed => "Pointer32Signed",
            Kind::Pointer16 => "Pointer16",
            Kind::Pointer8 => "Pointer8",
            Kind::Delta64 => "Delta64",
            Kind::Delta32 => "Delta32",
            Kind::Delta16 => "Delta16",
            Kind::Delta8 => "Delta8",
            Kind::NegDelta32 => "NegDelta32",
            Kind::NegDelta64 => "NegDelta64",
            Kind::ImageRelative32 => "ImageRelative32",
            Kind::Delta64FromGot => "Delta64FromGot",
            Kind::BranchPCRel32 => "BranchPCRel32",
            Kind::Size32 => "Size32",
            Kind::Size64 => "Size64",
            Kind::RequestGotAndTransformToDelta32 => "RequestGotAndTransformToDelta32",
            Kind::RequestGotAndTransformToPCRel32GotLoadRelaxable => "RequestGotAndTransformToPCRel32GotLoadRelaxable",
            Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable => {
                "RequestGotAndTransformToPCRel32GotLoadRexRelaxable"
            }
            Kind::RequestGotAndTransformToDelta64 => "RequestGotAndTransformToDelta64",
            Kind::RequestGotAndTransformToDelta64FromGot => "RequestGotAndTransformToDelta64FromGot",
            Kind::PCRel32GotLoadRelaxable => "PCRel32GotLoadRelaxable",
            Kind::PCRel32GotLoadRexRelaxable => "PCRel32GotLoadRexRelaxable",
            Kind::TpOff32 => "TpOff32",
            Kind::TpOff64 => "TpOff64",
            Kind::DtpOff32 => "DtpOff32",
            Kind::DtpOff64 => "DtpOff64",
            Kind::RequestTlsGdAndTransformToDelta32 => "RequestTlsGdAndTransformToDelta32",
            Kind::RequestTlsLdAndTransformToDelta32 => "RequestTlsLdAndTransformToDelta32",
        }
    }

    /// Width of the patched field in bytes.
    pub fn width(self) -> u64 {
        u64::from(self.info().width)
    }
}

/// A field holds its value's low bytes, little-endian (the range was checked).
pub fn write_field(value: i128, field: &mut [u8]) -> Result<(), String> {
    // The common widths as single stores (a copy of unknown length is a call to memcpy).
    match field.len() {
        4 => field.copy_from_slice(&(value as u32).to_le_bytes()),
        8 => field.copy_from_slice(&(value as u64).to_le_bytes()),
        len => {
            let bytes = (value as u64).to_le_bytes();
            field.copy_from_slice(bytes.get(..len).ok_or("field wider than 8 bytes")?);
        }
    }
    Ok(())
}

/// `jmp *slot(%rip)`: six bytes, the displacement at offset 2.
const POINTER_JUMP: [u8; 6] = [0xff, 0x25, 0, 0, 0, 0];

/// Appends a stub to `block`, a block of stubs (they need no alignment beyond 2).
pub fn append_pointer_jump_stub(graph: &mut LinkGraph, block: BlockId, slot: SymbolId) -> SymbolId {
    let bytes = graph.make_owned(block);
    let offset = bytes.len();
    bytes.extend_from_slice(&POINTER_JUMP);
    let edge = Edge::new(Kind::Delta32.into(), offset as u32 + 2, slot, -4);
    graph.block_mut(block).edges.push(edge);
    let stub = graph.add_anonymous_symbol(block, offset as u64, POINTER_JUMP.len() as u64);
    graph.symbol_mut(stub).flags.callable = true;
    stub
}

/// `mov 0x10(%rdi), %rax; add %fs:0, %rax; ret` (`%fs:0` holds the thread pointer).
pub const TLV_THUNK: [u8; 14] = [0x48, 0x8b, 0x47, 0x10, 0x64, 0x48, 0x03, 0x04, 0x25, 0, 0, 0, 0, 0xc3];

/// `movabs $context, %r11; push %r11; movabs $reentry, %r11; jmp *%r11`
pub fn lazy_trampoline(context: u64, reentry: u64) -> Vec<u8> {
    let mut code = vec![0x49, 0xbb];
    code.extend(context.to_le_bytes());
    code.extend([0x41, 0x53, 0x49, 0xbb]);
    code.extend(reentry.to_le_bytes());
    code.extend([0x41, 0xff, 0xe3]);
    code
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
}
