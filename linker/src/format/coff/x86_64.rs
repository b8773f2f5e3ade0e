//! The COFF × x86-64 cell: relocation types → x86-64 edge kinds. Addends are in the bytes
//! being fixed up; `REL32_N` counts from N bytes past the end of its field; `SECREL` and
//! `SECTION` write what the target's place in its section is, not its address.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{Decoded, Of};
use crate::arch::x86_64::Kind;
use object::pe::*;

fn read(bytes: &[u8], offset: usize, width: usize) -> Option<i64> {
    let field = bytes.get(offset..offset.checked_add(width)?)?;
    Some(match width {
        8 => i64::from_le_bytes(field.try_into().ok()?),
        2 => i64::from(i16::from_le_bytes(field.try_into().ok()?)),
        _ => i64::from(i32::from_le_bytes(field.try_into().ok()?)),
    })
}

/// Enters a Microsoft x64 function from the System V convention: the first four integer
/// arguments move to the registers the callee reads them from (rdi, rsi, rdx, rcx → rcx,
/// rdx, r8, r9), 32 bytes of home space the callee may write are reserved with the stack
/// aligned as it expects, and the callee's address is an absolute pointer (at
/// `CALL_THUNK_CALLEE`), so it reaches anything.
///
/// `mov %rcx,%r9; mov %rdx,%r8; mov %rsi,%rdx; mov %rdi,%rcx; sub $40,%rsp;
/// movabs $callee,%rax; call *%rax; add $40,%rsp; ret`
pub const CALL_THUNK: [u8; 33] = [
    0x49, 0x89, 0xc9, 0x49, 0x89, 0xd0, 0x48, 0x89, 0xf2, 0x48, 0x89, 0xf9, 0x48, 0x83, 0xec, 0x28, 0x48, 0xb8, 0, 0,
    0, 0, 0, 0, 0, 0, 0xff, 0xd0, 0x48, 0x83, 0xc4, 0x28, 0xc3,
];

/// `ret`: a function that does nothing.
pub const RETURN: [u8; 1] = [0xc3];

/// Where `CALL_THUNK` holds its callee's address, and the field's kind.
pub fn call_thunk_callee() -> (u32, crate::graph::EdgeKind) {
    (18, Kind::Pointer64.into())
}

pub fn decode(r_type: u16, bytes: &[u8], offset: usize) -> Result<Option<Decoded>, String> {
    let value = |width| read(bytes, offset, width).ok_or("relocation past the end of its section");
    let edge = |kind: Kind, addend: i64| Ok(Some(Decoded { kind: kind.into(), addend, of: Of::Address }));
    let of = |kind: Kind, addend: i64, of| Ok(Some(Decoded { kind: kind.into(), addend, of }));
    match r_type {
        IMAGE_REL_AMD64_ABSOLUTE => Ok(None),
        IMAGE_REL_AMD64_ADDR64 => edge(Kind::Pointer64, value(8)?),
        // 32-bit addresses (zero-extended where they are used); the addend is signed, as in
        // `.long x-8`: link.exe adds it modulo 2^32, which only a signed one keeps in range.
        IMAGE_REL_AMD64_ADDR32 => edge(Kind::Pointer32, value(4)?),
        IMAGE_REL_AMD64_ADDR32NB => edge(Kind::ImageRelative32, value(4)?),
        IMAGE_REL_AMD64_REL32..=IMAGE_REL_AMD64_REL32_5 => {
            let trailing = i64::from(r_type.wrapping_sub(IMAGE_REL_AMD64_REL32));
            let addend = value(4)?.wrapping_sub(4).wrapping_sub(trailing);
            // A `call`/`jmp rel32` may go through a stub when its target is far.
            let opcode = offset.checked_sub(1).and_then(|o| bytes.get(o));
            let kind =
                if trailing == 0 && matches!(opcode, Some(0xe8 | 0xe9)) { Kind::BranchPCRel32 } else { Kind::Delta32 };
            edge(kind, addend)
        }
        IMAGE_REL_AMD64_SECTION => of(Kind::Pointer16, i64::from(value(2)? as u16), Of::SectionIndex),
        IMAGE_REL_AMD64_SECREL => of(Kind::Pointer32, i64::from(value(4)? as u32), Of::SectionOffset),
        other => Err(format!("relocation type {other:#x}")),
    }
}
