//! The MachO × arm64 cell: relocation types → AArch64 edge kinds. Data fields hold their
//! addend; instructions get theirs from a preceding `ARM64_RELOC_ADDEND`. A page offset's
//! scale is the access size of the instruction it is in.
// Parsing and fix-ups read untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use super::{Decoded, RawReloc, Site, Target};
use crate::arch::aarch64::Kind;
use object::macho::*;

pub fn decode(reloc: &RawReloc, site: &Site) -> Result<Decoded, String> {
    let width = 1usize << reloc.length;
    let edge = |kind: Kind, target: Target, addend: i64| Ok(Decoded::Edge { kind: kind.into(), target, addend });
    let symbol = || {
        if reloc.is_extern {
            Ok(Target::Symbol(reloc.symbolnum))
        } else {
            Err(format!("{} without a symbol", name(reloc.r_type)))
        }
    };
    let addend = site.addend.unwrap_or(0);
    match (reloc.r_type, reloc.pcrel, width) {
        (ARM64_RELOC_UNSIGNED, false, 8 | 4) => {
            let value = site.read(width).ok_or("relocation past the end of its section")?;
            let kind = if width == 8 { Kind::Pointer64 } else { Kind::Pointer32 };
            if reloc.is_extern {
                edge(kind, Target::Symbol(reloc.symbolnum), value)
            } else {
                let address = if width == 8 { value as u64 } else { u64::from(value as u32) };
                edge(kind, Target::Address(address), 0)
            }
        }
        (ARM64_RELOC_SUBTRACTOR, false, 8 | 4) => Ok(Decoded::Subtractor),
        (ARM64_RELOC_ADDEND, false, 4) => {
            // A signed 24-bit addend in the symbol-number field.
            Ok(Decoded::Addend(i64::from(((reloc.symbolnum << 8) as i32) >> 8)))
        }
        (ARM64_RELOC_BRANCH26, true, 4) => edge(Kind::Branch26, symbol()?, addend),
        (ARM64_RELOC_PAGE21, true, 4) => edge(Kind::Page21, symbol()?, addend),
        (ARM64_RELOC_PAGEOFF12, false, 4) => {
            let insn = site.instruction().ok_or("relocation past the end of its section")?;
            edge(page_offset_kind(insn), symbol()?, addend)
        }
        (ARM64_RELOC_GOT_LOAD_PAGE21, true, 4) => edge(Kind::RequestGotAndTransformToGotPage21, symbol()?, addend),
        (ARM64_RELOC_GOT_LOAD_PAGEOFF12, false, 4) => {
            edge(Kind::RequestGotAndTransformToGotPageOffset12, symbol()?, addend)
        }
        // A thread-local variable's descriptor, through the GOT like any address.
        (ARM64_RELOC_TLVP_LOAD_PAGE21, true, 4) => edge(Kind::RequestGotAndTransformToGotPage21, symbol()?, addend),
        (ARM64_RELOC_TLVP_LOAD_PAGEOFF12, false, 4) => {
            edge(Kind::RequestGotAndTransformToGotPageOffset12, symbol()?, addend)
        }
        // The bytes in place hold the assembler's scratch, not an addend.
        (ARM64_RELOC_POINTER_TO_GOT, true, 4) => edge(Kind::RequestGotAndTransformToDelta32, symbol()?, 0),
        (r_type, pcrel, width) => {
            let how = if pcrel { "pc-relative" } else { "absolute" };
            Err(format!("relocation {} ({how}, {width} bytes)", name(r_type)))
        }
    }
}

/// The kind for the low 12 bits of an address in `insn`: an `add`, or a load/store scaled
/// by its access size (bits 30..32, and 16 bytes for a 128-bit vector access).
fn page_offset_kind(insn: u32) -> Kind {
    let load_store = insn & 0x3b00_0000 == 0x3900_0000;
    if !load_store {
        return Kind::AddOffset12;
    }
    match insn >> 30 {
        0 if insn & 0x0480_0000 == 0x0480_0000 => Kind::LoadStoreOffset12x16,
        0 => Kind::LoadStoreOffset12x1,
        1 => Kind::LoadStoreOffset12x2,
        2 => Kind::LoadStoreOffset12x4,
        _ => Kind::LoadStoreOffset12x8,
    }
}

fn name(r_type: u8) -> String {
    let name = match r_type {
        ARM64_RELOC_UNSIGNED => "ARM64_RELOC_UNSIGNED",
        ARM64_RELOC_SUBTRACTOR => "ARM64_RELOC_SUBTRACTOR",
        ARM64_RELOC_BRANCH26 => "ARM64_RELOC_BRANCH26",
        ARM64_RELOC_PAGE21 => "ARM64_RELOC_PAGE21",
        ARM64_RELOC_PAGEOFF12 => "ARM64_RELOC_PAGEOFF12",
        ARM64_RELOC_GOT_LOAD_PAGE21 => "ARM64_RELOC_GOT_LOAD_PAGE21",
        ARM64_RELOC_GOT_LOAD_PAGEOFF12 => "ARM64_RELOC_GOT_LOAD_PAGEOFF12",
        ARM64_RELOC_POINTER_TO_GOT => "ARM64_RELOC_POINTER_TO_GOT",
        ARM64_RELOC_TLVP_LOAD_PAGE21 => "ARM64_RELOC_TLVP_LOAD_PAGE21",
        ARM64_RELOC_TLVP_LOAD_PAGEOFF12 => "ARM64_RELOC_TLVP_LOAD_PAGEOFF12",
        ARM64_RELOC_ADDEND => "ARM64_RELOC_ADDEND",
        _ => return format!("type {r_type}"),
    };
    name.to_string()
}
