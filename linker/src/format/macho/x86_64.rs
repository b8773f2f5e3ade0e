//! The MachO × x86-64 cell: relocation types → x86-64 edge kinds. Addends are in the bytes
//! being fixed up; pc-relative fields count from the end of the 4-byte field (`SIGNED_N`:
//! N more bytes of instruction follow it).
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{Decoded, RawReloc, Site, Target};
use crate::arch::x86_64::Kind;
use object::macho::*;

pub fn decode(reloc: &RawReloc, site: &Site) -> Result<Decoded, String> {
    let width = 1usize << reloc.length;
    let value = site.read(width).ok_or("relocation past the end of its section")?;
    let edge = |kind: Kind, target: Target, addend: i64| Ok(Decoded::Edge { kind: kind.into(), target, addend });
    let symbol = || {
        if reloc.is_extern {
            Ok(Target::Symbol(reloc.symbolnum))
        } else {
            Err(format!("{} without a symbol", name(reloc.r_type)))
        }
    };
    match (reloc.r_type, reloc.pcrel, width) {
        (X86_64_RELOC_UNSIGNED, false, 8 | 4) => {
            let kind = if width == 8 { Kind::Pointer64 } else { Kind::Pointer32 };
            if reloc.is_extern {
                edge(kind, Target::Symbol(reloc.symbolnum), value)
            } else {
                // The target's address in the object, unsigned.
                let address = if width == 8 { value as u64 } else { u64::from(value as u32) };
                edge(kind, Target::Address(address), 0)
            }
        }
        (X86_64_RELOC_SIGNED | X86_64_RELOC_SIGNED_1 | X86_64_RELOC_SIGNED_2 | X86_64_RELOC_SIGNED_4, true, 4) => {
            let trailing: i64 = match reloc.r_type {
                X86_64_RELOC_SIGNED_1 => 1,
                X86_64_RELOC_SIGNED_2 => 2,
                X86_64_RELOC_SIGNED_4 => 4,
                _ => 0,
            };
            if reloc.is_extern {
                // The assembler already folded the trailing bytes into the value.
                edge(Kind::Delta32, Target::Symbol(reloc.symbolnum), value.wrapping_sub(4))
            } else {
                let end = 4i64.wrapping_add(trailing);
                let address = site.address.wrapping_add(end as u64).wrapping_add(value as u64);
                edge(Kind::Delta32, Target::Address(address), end.wrapping_neg())
            }
        }
        (X86_64_RELOC_BRANCH, true, 4) => {
            if reloc.is_extern {
                edge(Kind::BranchPCRel32, Target::Symbol(reloc.symbolnum), value.wrapping_sub(4))
            } else {
                let address = site.address.wrapping_add(4).wrapping_add(value as u64);
                edge(Kind::BranchPCRel32, Target::Address(address), -4)
            }
        }
        (X86_64_RELOC_GOT_LOAD, true, 4) => {
            edge(Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable, symbol()?, value.wrapping_sub(4))
        }
        (X86_64_RELOC_GOT, true, 4) => edge(Kind::RequestGotAndTransformToDelta32, symbol()?, value.wrapping_sub(4)),
        // `movq _v@TLVP(%rip), %rdi`: the address of `_v`'s descriptor, through the GOT
        // (a `lea` of the descriptor once relaxed).
        (X86_64_RELOC_TLV, true, 4) => {
            edge(Kind::RequestGotAndTransformToPCRel32GotLoadRexRelaxable, symbol()?, value.wrapping_sub(4))
        }
        (X86_64_RELOC_SUBTRACTOR, false, 8 | 4) => Ok(Decoded::Subtractor),
        (r_type, pcrel, width) => {
            let how = if pcrel { "pc-relative" } else { "absolute" };
            Err(format!("relocation {} ({how}, {width} bytes)", name(r_type)))
        }
    }
}

fn name(r_type: u8) -> String {
    let name = match r_type {
        X86_64_RELOC_UNSIGNED => "X86_64_RELOC_UNSIGNED",
        X86_64_RELOC_SIGNED => "X86_64_RELOC_SIGNED",
        X86_64_RELOC_BRANCH => "X86_64_RELOC_BRANCH",
        X86_64_RELOC_GOT_LOAD => "X86_64_RELOC_GOT_LOAD",
        X86_64_RELOC_GOT => "X86_64_RELOC_GOT",
        X86_64_RELOC_SUBTRACTOR => "X86_64_RELOC_SUBTRACTOR",
        X86_64_RELOC_SIGNED_1 => "X86_64_RELOC_SIGNED_1",
        X86_64_RELOC_SIGNED_2 => "X86_64_RELOC_SIGNED_2",
        X86_64_RELOC_SIGNED_4 => "X86_64_RELOC_SIGNED_4",
        X86_64_RELOC_TLV => "X86_64_RELOC_TLV",
        _ => return format!("type {r_type}"),
    };
    name.to_string()
}
