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
//! might need one; once addresses are known, `relax` sends each edge straight to its target
//! whenever it fits and rewrites GOT loads into `lea` where the psABI allows it.

mod elf;
mod fixup;
mod relax;
mod tables;

pub use elf::{edge_kind_for_elf, ElfEdge};
pub use fixup::apply_fixups;
pub use relax::relax;
pub use tables::{build_tables, got_base};

/// x86-64 edge kinds. `P` is the fix-up address, `S` the target's address, `A` the addend,
/// `GOT` the graph's `_GLOBAL_OFFSET_TABLE_`, `Z` the target's size.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    /// `S + A`, 64 bits.
    Pointer64,
    /// `S + A`, zero-extended 32 bits. Error if the value is not in `0..2^32`.
    Pointer32,
    /// `S + A`, sign-extended 32 bits. Error if the value is not in `-2^31..2^31`.
    Pointer32Signed,
    /// `S + A`, 16 bits (either signedness accepted, as ld does).
    Pointer16,
    /// `S + A`, 8 bits (either signedness accepted).
    Pointer8,
    /// `S + A - P`, 64 bits.
    Delta64,
    /// `S + A - P`, signed 32 bits. Falls back to the target's stub when it doesn't fit.
    Delta32,
    /// `S + A - P`, signed 16 bits.
    Delta16,
    /// `S + A - P`, signed 8 bits.
    Delta8,
    /// `P - S + A`, signed 32 bits (eh_frame CIE pointers).
    NegDelta32,
    /// `S + A - GOT`, 64 bits.
    Delta64FromGot,
    /// A call or jump: `S + A - P`, signed 32 bits; through the target's stub if it doesn't fit.
    BranchPCRel32,
    /// `Z + A`, 32 bits.
    Size32,
    /// `Z + A`, 64 bits.
    Size64,
    /// Before table building: the target gets a GOT entry, and the edge becomes a `Delta32`
    /// to that entry (`G + GOT + A - P`).
    RequestGotAndTransformToDelta32,
    /// Like the above for `mov foo@GOTPCREL(%rip), %reg` (`R_X86_64_GOTPCRELX`): may be relaxed.
    RequestGotAndTransformToPCRel32GotLoadRelaxable,
    /// Like the above with a REX prefix (`R_X86_64_REX_GOTPCRELX`).
    RequestGotAndTransformToPCRel32GotLoadRexRelaxable,
    /// The GOT entry's address relative to P, 64 bits (`R_X86_64_GOTPCREL64`).
    RequestGotAndTransformToDelta64,
    /// The GOT entry's offset from GOT, 64 bits (`R_X86_64_GOT64`).
    RequestGotAndTransformToDelta64FromGot,
    /// After table building: a relaxable GOT load, targeting the GOT entry.
    PCRel32GotLoadRelaxable,
    PCRel32GotLoadRexRelaxable,
    /// `S + A`, signed 32 bits, where a thread-local `S` is its offset from the thread
    /// pointer (local-exec: `mov %fs:x@tpoff, %eax`).
    TpOff32,
    /// The same, 64 bits (`R_X86_64_TPOFF64`).
    TpOff64,
    /// `S + A - TLS`, 32 bits: the offset of a thread-local variable within its graph's block
    /// (local-dynamic).
    DtpOff32,
    /// The same, 64 bits.
    DtpOff64,
    /// Before table building: the variable gets a `tls_index` pair and the edge becomes a
    /// `Delta32` to it (general-dynamic, `leaq x@tlsgd(%rip), %rdi`).
    RequestTlsGdAndTransformToDelta32,
    /// The graph's block gets a `tls_index` pair and the edge becomes a `Delta32` to it
    /// (local-dynamic, `leaq x@tlsld(%rip), %rdi`).
    RequestTlsLdAndTransformToDelta32,
}

impl Kind {
    /// Whether table building must give the target a GOT entry.
    pub fn requests_got(self) -> Option<Kind> {
        Some(match self {
            Kind::RequestGotAndTransformToDelta32 => Kind::Delta32,
            Kind::RequestGotAndTransformToPCRel32GotLoadRelaxable => Kind::PCRel32GotLoadRelaxable,
            Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable => Kind::PCRel32GotLoadRexRelaxable,
            Kind::RequestGotAndTransformToDelta64 => Kind::Delta64,
            Kind::RequestGotAndTransformToDelta64FromGot => Kind::Delta64FromGot,
            _ => return None,
        })
    }

    /// Edges whose 32-bit field may fail to reach a far external target, so the target
    /// gets a stub to fall back on.
    pub fn may_need_stub(self) -> bool {
        matches!(self, Kind::BranchPCRel32 | Kind::Delta32 | Kind::Pointer32 | Kind::Pointer32Signed)
    }

    /// Width of the patched field in bytes.
    pub fn width(self) -> u64 {
        match self {
            Kind::Pointer64 | Kind::Delta64 | Kind::Delta64FromGot | Kind::Size64 => 8,
            Kind::RequestGotAndTransformToDelta64 | Kind::RequestGotAndTransformToDelta64FromGot => 8,
            Kind::DtpOff64 | Kind::TpOff64 => 8,
            Kind::Pointer16 | Kind::Delta16 => 2,
            Kind::Pointer8 | Kind::Delta8 => 1,
            _ => 4,
        }
    }
}
